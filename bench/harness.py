"""The httpr benchmark harness (see shared BENCH.md for the method).

Started by ``bash bench/run.sh [options]``, which first builds httpr into
.venv and the peers into bench/.venvs/. This script:

1. writes static payloads, a throw-away CA and a certificate for localhost
   (openssl) and an nginx.conf into bench/run/<pid>/, starts nginx on two
   ephemeral 127.0.0.1 ports (HTTP and HTTPS) and stops it at exit, whatever
   happens;
2. checks that every client refuses the certificate when it is not told to
   trust the CA, then runs the ceiling (wrk, same URL, same number of
   connections) and every client, each client in a process of its own
   (bench/clients/*.py, trusting the CA through SSL_CERT_FILE), warm-up
   first, repetitions interleaved (A B C, A B C, ...), medians reported;
3. prints the table and writes it into bench/RESULTS.md (between the
   ``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers) and
   bench/results/latest.json.

Only numbers from one run on one machine are comparable: read the ratio
columns (against aiohttp and against wrk), not the absolute numbers alone.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import dataclasses
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CLIENTS_DIR = BENCH / "clients"
RUN_BASE = BENCH / "run"
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSON = BENCH / "results" / "latest.json"
PEERS_PYTHON = BENCH / ".venvs" / "aiohttp" / "bin" / "python"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
MD_START, MD_END = "<!-- bench:start -->", "<!-- bench:end -->"

HELLO = b"Hello world!"  # exactly 12 bytes
assert len(HELLO) == 12
MIB = 1 << 20


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# --- what is measured -------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    name: str
    script: str
    venv: str  # "main" (.venv, where httpr is built) or "peers"
    args: tuple[str, ...] = ()
    describe: str = ""


CLIENTS: dict[str, ClientSpec] = {
    c.name: c
    for c in [
        ClientSpec(
            "httpr-sync",
            "httpr_sync.py",
            "main",
            describe="httpr.Client().get(url), one reused client",
        ),
        ClientSpec("httpr-async", "httpr_async.py", "main", describe="httpr.AsyncClient, asyncio"),
        ClientSpec(
            "httpr-async-uvloop",
            "httpr_async.py",
            "main",
            ("--uvloop",),
            describe="httpr.AsyncClient on uvloop",
        ),
        ClientSpec(
            "aiohttp",
            "aiohttp_async.py",
            "peers",
            describe="aiohttp.ClientSession, TCPConnector(limit=64)",
        ),
        ClientSpec(
            "aiohttp-uvloop",
            "aiohttp_async.py",
            "peers",
            ("--uvloop",),
            describe="aiohttp on uvloop",
        ),
        ClientSpec(
            "httpx-sync",
            "httpx_sync.py",
            "peers",
            describe="httpx.Client(limits=Limits(max_connections=64, "
            "max_keepalive_connections=64))",
        ),
        ClientSpec(
            "httpx-async",
            "httpx_async.py",
            "peers",
            describe="httpx.AsyncClient, same limits, asyncio",
        ),
    ]
}

# The reference a ratio is taken against, per scenario.
PEER_REF = "aiohttp"
CEILING = "wrk"


# How a client script runs its requests (its --mode):
#   reuse   one client for the whole run, the whole body read per request;
#   cold    a new client for every request (construct, one GET, close);
#   stream  one reused client, the body read in chunks as they arrive and
#           dropped (MiB/s instead of req/s matters).
MODES = ("reuse", "cold", "stream")


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    path: str
    concurrency: int
    clients: tuple[str, ...]
    tls: bool = False  # https://localhost:<tls port> instead of http://127.0.0.1:<port>
    mode: str = "reuse"


SEQ = ("httpr-sync", "httpr-async", "aiohttp", "httpx-sync", "httpx-async")
IN_FLIGHT = ("httpr-async", "httpr-async-uvloop", "aiohttp", "aiohttp-uvloop", "httpx-async")

SCENARIOS = [
    Scenario(
        "S1",
        "sequential GETs, one reused client",
        "/hello",
        1,
        ("httpr-sync", "httpr-async", "aiohttp", "aiohttp-uvloop", "httpx-sync", "httpx-async"),
    ),
    Scenario("S4-64", "64 GETs in flight", "/hello", 64, IN_FLIGHT),
    Scenario(
        "S2-http",
        "cold client: a new client per request (construct, one GET, close), sequential",
        "/hello",
        1,
        SEQ,
        mode="cold",
    ),
    Scenario(
        "S2-https",
        "cold client over HTTPS: a new client per request, so a new connection and a TLS "
        "handshake each time, sequential",
        "/hello",
        1,
        SEQ,
        tls=True,
        mode="cold",
    ),
    Scenario(
        "S7",
        "streaming download of 100 MiB, one reused client, chunks dropped as they arrive",
        "/100m",
        1,
        SEQ,
        mode="stream",
    ),
    Scenario("S8-S1", "S1 over HTTPS", "/hello", 1, SEQ, tls=True),
    Scenario(
        "S8-S4-64",
        "S4-64 over HTTPS",
        "/hello",
        64,
        ("httpr-async", "aiohttp", "aiohttp-uvloop", "httpx-async"),
        tls=True,
    ),
    Scenario("S8-S7", "S7 over HTTPS", "/100m", 1, SEQ, tls=True, mode="stream"),
]
assert all(sc.mode in MODES for sc in SCENARIOS)


@dataclass
class Row:
    scenario: Scenario
    client: str  # a CLIENTS key or "wrk"
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why there are no runs


# --- payloads and nginx -----------------------------------------------------


def make_payloads(html: Path) -> dict[str, int]:
    html.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261122)  # same bytes every run
    payloads = {
        "hello": HELLO,
        "5k": base64.b64encode(rng.randbytes(4096))[: 5 * 1024],
    }
    sizes = {}
    for name, data in payloads.items():
        (html / name).write_bytes(data)
        sizes["/" + name] = len(data)
    assert sizes["/5k"] == 5120
    # S7: 100 MiB of random bytes (incompressible), written in 1 MiB blocks.
    with open(html / "100m", "wb") as f:
        f.writelines(rng.randbytes(MIB) for _ in range(100))
    sizes["/100m"] = 100 * MIB
    return sizes


# --- TLS: a CA and a leaf for localhost, made at every run ------------------

TLS_HOST = "localhost"  # in /etc/hosts; SNI and the name every client verifies


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # what the clients trust (SSL_CERT_FILE)
    cert: Path  # the leaf nginx serves
    key: Path


def _openssl(*args: str | Path) -> None:
    cp = subprocess.run(
        [OPENSSL, *map(str, args)], check=False, capture_output=True, text=True, timeout=30
    )
    if cp.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {(cp.stderr or cp.stdout).strip()}")


def make_certs(d: Path) -> TlsFiles:
    """An ECDSA P-256 CA and a leaf for localhost/127.0.0.1 signed by it.

    New keys at every run, in the run directory (deleted at exit): nothing
    secret is ever committed. The CA is trusted only by the client processes
    (SSL_CERT_FILE), never installed into the system store.
    """
    d.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(d / "ca.pem", d / "localhost.pem", d / "localhost.key")
    ca_key = d / "ca.key"
    ec = ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    _openssl("genpkey", *ec, "-out", ca_key)
    _openssl("genpkey", *ec, "-out", files.key)
    # An explicit config: nothing comes from the machine's openssl.cnf.
    cnf = d / "openssl.cnf"
    cnf.write_text(
        "[req]\n"
        "distinguished_name = dn\n"
        "prompt = no\n"
        "[dn]\n"
        "[ca]\n"
        "basicConstraints = critical, CA:TRUE, pathlen:0\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "[leaf]\n"
        f"subjectAltName = DNS:{TLS_HOST}, IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n"
    )
    days = ("-days", "7", "-sha256")
    _openssl(
        "req", "-config", cnf, "-new", "-x509", "-key", ca_key, "-subj", "/CN=httpr bench CA",
        "-extensions", "ca", *days, "-out", files.ca,
    )  # fmt: skip
    csr = d / "localhost.csr"
    _openssl("req", "-config", cnf, "-new", "-key", files.key, "-subj", f"/CN={TLS_HOST}",
             "-out", csr)  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", files.ca, "-CAkey", ca_key,
        "-set_serial", str(random.getrandbits(63)), *days,
        "-extfile", cnf, "-extensions", "leaf", "-out", files.cert,
    )  # fmt: skip
    return files


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_conf(run: Path, port: int, tls_port: int, tls: TlsFiles) -> str:
    tmp = run / "tmp"
    # Running as root, nginx workers switch to "nobody", who may not be able
    # to reach a checkout under a private directory: stay root instead (the
    # server only listens on 127.0.0.1).
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Written by bench/harness.py; the run directory is deleted at exit.
{user}daemon off;
# 2 cores: one nginx worker, the other core for the client under test.
worker_processes 1;
pid {run / "nginx.pid"};
error_log {run / "error.log"} warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    open_file_cache max=64 inactive=300s;
    open_file_cache_valid 300s;
    default_type text/plain;
{temp_paths}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        server_name localhost;
        root {run / "html"};
        location / {{
            try_files $uri =404;
        }}
    }}

    # The same files over TLS: HTTP/1.1 only (no http2), the keep-alive
    # settings above, the usual production session settings (a shared
    # session cache and tickets, so clients that keep a session can resume;
    # a new client has none), TLS 1.2 and 1.3, Mozilla's "intermediate"
    # ciphers for TLS 1.2.
    server {{
        listen 127.0.0.1:{tls_port} ssl backlog=4096;
        server_name {TLS_HOST};
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {TLS12_CIPHERS};
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:SSL:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets on;
        root {run / "html"};
        location / {{
            try_files $uri =404;
        }}
    }}
}}
"""


TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if the harness dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Nginx:
    def __init__(self, run: Path, tls: TlsFiles) -> None:
        self.run = run
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.tls_port = 0
        self.tls_session = ""  # what a default Python client negotiates

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_base(self) -> str:
        return f"https://{TLS_HOST}:{self.tls_port}"

    def url(self, sc: Scenario) -> str:
        return (self.tls_base if sc.tls else self.base) + sc.path

    def start(self) -> None:
        for attempt in range(3):
            self.port = free_port()
            self.tls_port = free_port()
            while self.tls_port == self.port:
                self.tls_port = free_port()
            conf = self.run / "nginx.conf"
            conf.write_text(nginx_conf(self.run, self.port, self.tls_port, self.tls))
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (self.run / "tmp" / kind).mkdir(parents=True, exist_ok=True)
            err = self.run / "error.log"
            # -e: Debian's nginx would otherwise open its default error log
            # before reading the config.
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.run) + "/", "-c", str(conf), "-e", str(err)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                # No thread runs yet when nginx starts, so preexec_fn is safe.
                preexec_fn=_set_pdeathsig,  # noqa: PLW1509
            )
            if self._wait_ready(10.0):
                return
            text = err.read_text() if err.exists() else ""
            self.stop()
            if "Address already in use" in text and attempt < 2:
                continue
            raise RuntimeError(f"nginx did not start; {err}:\n{text[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.base + "/hello", timeout=1) as r:
                    if r.status == 200 and r.read() == HELLO and self._tls_ready():
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _tls_ready(self) -> bool:
        """One verified HTTPS request, as the clients will make it."""
        ctx = ssl.create_default_context(cafile=str(self.tls.ca))
        conn = http.client.HTTPSConnection(TLS_HOST, self.tls_port, timeout=1, context=ctx)
        try:
            conn.request("GET", "/hello")
            r = conn.getresponse()
            ok = r.status == 200 and r.read() == HELLO
            if ok and conn.sock is not None:
                sock = cast(ssl.SSLSocket, conn.sock)
                cipher = sock.cipher()
                self.tls_session = f"{sock.version()} {cipher[0] if cipher else '?'}"
            return ok
        except http.client.HTTPException:
            return False
        finally:
            conn.close()

    def worker_cpu(self) -> float:
        """CPU seconds (user+sys) used so far by nginx's worker processes."""
        if self.proc is None:
            return 0.0
        master = self.proc.pid
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == master:  # ppid
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()  # SIGTERM: fast shutdown
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


# --- running things ---------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy")
        and k not in ("PYTHONPATH", "PYTHONHOME", "HTTPR_CA_BUNDLE")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in bench/clients
    return env


# How a client that verified the certificate fails without the CA.
CERT_ERROR = re.compile(r"certificate|verif|issuer", re.IGNORECASE)
CERT_REASON = re.compile(r"certificate verify failed[^'\")(\]]*", re.IGNORECASE)


class Runner:
    def __init__(self, nginx: Nginx, opts: argparse.Namespace, sizes: dict[str, int]) -> None:
        self.nginx = nginx
        self.opts = opts
        self.sizes = sizes
        self.env = child_env()
        # Every client trusts the run's CA through its default path: OpenSSL's
        # default verify paths (httpr), ssl.create_default_context() (aiohttp),
        # httpx's trust_env. Nothing else is trusted more than usual.
        self.env["SSL_CERT_FILE"] = str(nginx.tls.ca)
        self.current: subprocess.Popen[str] | None = None
        self.fatal: dict[str, str] = {}  # client -> reason to skip it
        self.tls_fatal: dict[str, str] = {}  # client -> reason to skip its HTTPS rows
        self.verify: dict[str, str] = {}  # client -> what the verification probe showed

    def python_for(self, spec: ClientSpec) -> Path | None:
        if spec.venv == "main":
            return Path(sys.executable)
        return PEERS_PYTHON if PEERS_PYTHON.exists() else None

    def skip_reason(self, name: str, sc: Scenario | None = None) -> str | None:
        if name in self.fatal:
            return self.fatal[name]
        if sc is not None and sc.tls and name in self.tls_fatal:
            return self.tls_fatal[name]
        spec = CLIENTS[name]
        if spec.venv == "main" and os.environ.get("HTTPR_BENCH_BUILD_FAILED"):
            return (
                "httpr build failed in tests/setup.sh (output above); "
                "not benchmarking a stale build"
            )
        if self.python_for(spec) is None:
            return f"no peers venv at {PEERS_PYTHON.parent.parent}: run bash bench/run.sh"
        return None

    def run_client(
        self,
        sc: Scenario,
        name: str,
        env: dict[str, str] | None = None,
        warmup: float | None = None,
        count: int = 0,
    ) -> dict[str, Any]:
        spec = CLIENTS[name]
        python = self.python_for(spec)
        assert python is not None
        o = self.opts
        warmup = o.warmup if warmup is None else warmup
        cmd = [
            str(python),
            str(CLIENTS_DIR / spec.script),
            "--url",
            self.nginx.url(sc),
            "--mode",
            sc.mode,
            "--concurrency",
            str(sc.concurrency),
            "--duration",
            str(o.duration),
            "--warmup",
            str(warmup),
            "--count",
            str(count),
            "--expect-bytes",
            str(self.sizes[sc.path]),
            "--pool",
            str(max(64, sc.concurrency)),
            *spec.args,
        ]
        limit = warmup + o.duration + 60
        srv = {}
        lines: list[str] = []
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.nginx.run,
            env=self.env if env is None else env,
        )
        self.current = p
        killer = threading.Timer(limit, p.kill)
        killer.start()
        try:
            assert p.stdout is not None and p.stderr is not None
            for line in p.stdout:
                line = line.strip()
                if line == "#measure-start":
                    srv["start"] = self.nginx.worker_cpu()
                elif line == "#measure-end":
                    srv["end"] = self.nginx.worker_cpu()
                elif line:
                    lines.append(line)
            stderr = p.stderr.read()
            rc = p.wait()
        finally:
            killer.cancel()
            self.current = None
        result: dict[str, Any] | None = None
        for line in reversed(lines):
            if line.startswith("{"):
                try:
                    result = json.loads(line)
                    break
                except ValueError:
                    pass
        if result is None:
            if rc == -signal.SIGKILL:
                why = f"killed after {limit:.0f} s"
            elif rc < 0:
                why = f"died of {signal.Signals(-rc).name}"
            else:
                why = f"exit {rc}"
            tail = " / ".join(stderr.strip().splitlines()[-3:])
            result = {"ok": False, "error": f"no result ({why})" + (f": {tail}" if tail else "")}
        if "start" in srv and "end" in srv and result.get("requests"):
            result["srv_cpu_us_per_req"] = (srv["end"] - srv["start"]) * 1e6 / result["requests"]
        if not result.get("ok") and result.get("fatal"):
            self.fatal[name] = result.get("error", "failed")
        return result

    def check_verify(self, name: str) -> None:
        """Let a client's HTTPS rows count only if it verifies certificates.

        One request to the HTTPS server with SSL_CERT_FILE (and SSL_CERT_DIR)
        unset: the run's CA is then in no trust store the client reads, so a
        client that verifies must refuse the connection. The measured runs
        are the other half of the check: with the CA they must succeed.
        """
        env = {k: v for k, v in self.env.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        probe = Scenario("verify", "", "/hello", 1, (), tls=True)
        res = self.run_client(probe, name, env=env, warmup=0, count=1)
        err = str(res.get("first_error") or res.get("error") or "")
        if res.get("ok"):
            self.verify[name] = "ACCEPTED a certificate from an unknown CA: it does not verify"
            self.tls_fatal[name] = "does not verify certificates (see notes); HTTPS rows not run"
        elif CERT_ERROR.search(err):
            m = CERT_REASON.search(err)
            reason = m.group(0).strip() if m else err
            kind = err.split(":")[0]
            self.verify[name] = f"refused the unknown CA ({kind}: {reason[:100]})"
        else:
            self.verify[name] = f"not shown (the request failed otherwise: {err[:160]})"
        log(f"certificate check {name}: {self.verify[name]}")

    def run_wrk(self, sc: Scenario, seconds: float) -> dict[str, Any]:
        # wrk takes whole seconds only.
        cmd = [WRK, "-t1", f"-c{sc.concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
        if sc.mode == "cold":
            # The server closes after each response, wrk reconnects: a new
            # connection per request (for HTTPS wrk resumes its TLS session).
            cmd += ["-H", "Connection: close"]
        elif sc.mode == "stream":
            cmd += ["--timeout", "60s"]
        cmd.append(self.nginx.url(sc))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        srv0 = self.nginx.worker_cpu()
        try:
            cp = subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                text=True,
                timeout=seconds + 30,
                env=self.env,
                # No other thread runs between client runs: preexec_fn is safe.
                preexec_fn=_set_pdeathsig,
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": "wrk timed out"}
        srv1 = self.nginx.worker_cpu()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = parse_wrk(cp.stdout)
        if cp.returncode != 0 or "rps" not in res:
            return {
                "ok": False,
                "error": f"wrk exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()[-300:]}",
            }
        n = res["requests"]
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        res.update(
            ok=n > 0,
            concurrency=sc.concurrency,
            cpu_us_per_req=cpu * 1e6 / n if n else None,
            srv_cpu_us_per_req=(srv1 - srv0) * 1e6 / n if n else None,
            version=wrk_version(),
        )
        return res


_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def _to_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    res: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        res["requests"] = int(m.group(1))
        res["elapsed_s"] = float(m.group(2)) * _UNITS[m.group(3)] / 1e6
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.MULTILINE)
        if m:
            res[key] = _to_us(m.group(1))
    errors = 0
    m = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        out,
    )
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    res["errors"] = errors
    return res


# --- facts about the machine ------------------------------------------------


def _cmd(args: list[str]) -> str:
    try:
        cp = subprocess.run(args, check=False, capture_output=True, text=True, timeout=10)
        return (cp.stdout + cp.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


_wrk_version: str | None = None


def wrk_version() -> str:
    global _wrk_version
    if _wrk_version is None:
        first = _cmd([WRK, "-v"]).splitlines()[:1]
        m = re.match(r"(wrk \S+)", first[0]) if first else None
        _wrk_version = m.group(1) if m else "wrk unknown"
    return _wrk_version


def _dpkg(pkg: str) -> str:
    return _cmd(["dpkg-query", "-W", "-f=${Version}", pkg])


def machine_facts() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nginx_v = _cmd([NGINX, "-v"]).replace("nginx version: ", "").replace("nginx/", "")
    return {
        "uname": _cmd(["uname", "-a"]),
        "nproc": _cmd(["nproc"]),
        "cpu_model": cpu_model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "nginx": nginx_v,
        "wrk": wrk_version(),
        "libuv": f"{_cmd(['pkg-config', '--modversion', 'libuv'])} "
        f"(Debian libuv1-dev {_dpkg('libuv1-dev')})",
        "openssl": f"{_cmd(['pkg-config', '--modversion', 'openssl'])} "
        f"(Debian libssl-dev {_dpkg('libssl-dev')})",
    }


# --- results ----------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return statistics.median(vs) if vs else None


def summarize_row(row: Row, sizes: dict[str, int]) -> dict[str, Any]:
    ok = [r for r in row.runs if r.get("ok")]
    sc = row.scenario
    out: dict[str, Any] = {
        "scenario": sc.id,
        "client": row.client,
        "concurrency": sc.concurrency,
        "path": sc.path,
        "tls": sc.tls,
        "mode": sc.mode,
        "reps": len(ok),
    }
    if not ok:
        errs = [r.get("error") for r in row.runs if r.get("error")]
        out["failed"] = row.skipped or (errs[0] if errs else "no run")
        return out
    rps = [r["rps"] for r in ok]
    out["rps"] = median(rps)
    out["best_rps"] = max(rps)
    out["spread_pct"] = (max(rps) - min(rps)) / out["rps"] * 100 if out["rps"] else None
    for key in ("p50_us", "p99_us", "cpu_us_per_req", "srv_cpu_us_per_req", "maxrss_kb"):
        out[key] = median([r.get(key) for r in ok])
    if sc.mode == "stream":
        mib = sizes[sc.path] / MIB
        out["mib_s"] = out["rps"] * mib
        for key in ("cpu", "srv_cpu"):
            v = out[f"{key}_us_per_req"]
            out[f"{key}_us_per_mib"] = None if v is None else v / mib
    out["errors"] = sum(int(r.get("errors") or 0) for r in row.runs)
    out["failed_runs"] = len(row.runs) - len(ok)
    first = [
        r.get("first_error") or r.get("error")
        for r in row.runs
        if r.get("first_error") or not r.get("ok")
    ]
    if first and first[0]:
        out["first_error"] = first[0]
    out["version"] = ok[-1].get("version")
    if ok[-1].get("module"):
        out["module"] = ok[-1]["module"]
    return out


def add_ratios(summaries: list[dict[str, Any]]) -> None:
    by = {(s["scenario"], s["client"]): s for s in summaries}
    for s in summaries:
        for ref, key in ((PEER_REF, "x_aiohttp"), (CEILING, "x_wrk")):
            other = by.get((s["scenario"], ref))
            if s.get("rps") and other and other.get("rps"):
                s[key] = s["rps"] / other["rps"]


def _f(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n} B"


def _label(sc: Scenario, sizes: dict[str, int]) -> str:
    tags = [_size(sizes[sc.path])]
    tags += [t for t, on in (("https", sc.tls), ("cold", sc.mode == "cold")) if on]
    return f"{sc.id} {sc.path} ({'; '.join(tags)})"


def _why(failed: str) -> str:
    """A failed row's reason, short enough for the table (the notes have it all)."""
    if "first error: " in failed:
        why = failed.split("first error: ", 1)[1].split(" | ")[0][:70]
    else:
        why = failed.split(":")[0][:40]
    return why.replace("|", "/")


def table(scenarios: list[Scenario], summaries: list[dict[str, Any]], sizes: dict[str, int]) -> str:
    """The requests table and, when streaming scenarios ran, the downloads table."""
    head = (
        "| scenario | client | in flight | req/s | ± | p50 µs | p99 µs "
        "| CPU µs/req | nginx CPU µs/req | errors | × aiohttp | × wrk |"
    )
    lines = [head, "|" + "---|" * 12]
    stream_head = (
        "| scenario | client | MiB/s | ± | CPU µs/MiB | nginx CPU µs/MiB | peak RSS MiB "
        "| errors | × aiohttp | × wrk |"
    )
    stream = [stream_head, "|" + "---|" * 10]
    for sc in scenarios:
        label = _label(sc, sizes)
        is_stream = sc.mode == "stream"
        for s in (x for x in summaries if x["scenario"] == sc.id):
            client = s["client"]
            if "failed" in s:
                failed = f"failed: {_why(s['failed'])} (see notes)"
                if is_stream:
                    stream.append(f"| {label} | {client} | {failed} " + "|  " * 7 + "|")
                else:
                    lines.append(
                        f"| {label} | {client} | {sc.concurrency} | {failed} " + "|  " * 8 + "|"
                    )
                continue
            ratios = f"| {_f(s.get('x_aiohttp'), '.2f')} | {_f(s.get('x_wrk'), '.2f')} |"
            if is_stream:
                rss = s.get("maxrss_kb")
                stream.append(
                    f"| {label} | {client} "
                    f"| {_f(s['mib_s'], ',.0f')} "
                    f"| {_f(s['spread_pct'], '.0f')}% "
                    f"| {_f(s['cpu_us_per_mib'], ',.0f')} "
                    f"| {_f(s['srv_cpu_us_per_mib'], ',.0f')} "
                    f"| {_f(None if rss is None else rss / 1024, '.0f')} "
                    f"| {s['errors']} " + ratios
                )
                continue
            lines.append(
                f"| {label} | {client} | {sc.concurrency} "
                f"| {_f(s['rps'], ',.0f')} "
                f"| {_f(s['spread_pct'], '.0f')}% "
                f"| {_f(s['p50_us'], '.0f')} | {_f(s['p99_us'], '.0f')} "
                f"| {_f(s['cpu_us_per_req'], '.1f')} "
                f"| {_f(s['srv_cpu_us_per_req'], '.1f')} "
                f"| {s['errors']} " + ratios
            )
    out = lines if len(lines) > 2 else []
    if len(stream) > 2:
        out += ([""] if out else []) + stream
    return "\n".join(out)


NOISY_PCT = 25.0


def notes(summaries: list[dict[str, Any]]) -> list[str]:
    out = []
    noisy = [
        f"{s['scenario']} {s['client']}"
        for s in summaries
        if (s.get("spread_pct") or 0) > NOISY_PCT and s.get("reps", 0) > 1
    ]
    if noisy:
        out.append(
            f"- The machine was noisy: req/s varied by more than {NOISY_PCT:.0f}% between "
            f"repetitions for {', '.join(noisy)}. Treat those ratios with care, or run again "
            "(`--reps 5`) on a quieter machine."
        )
    if any(s["client"] == "httpx-async" and s["concurrency"] > 1 for s in summaries):
        out.append(
            "- httpx.AsyncClient's CPU per request grows with the requests in flight (its "
            "connection pool re-examines every connection for each request, under an anyio "
            "lock: httpx issue 3215): its low rows at 64 in flight are httpx, not the harness."
        )
    for s in summaries:
        if "failed" in s:
            out.append(f"- **{s['scenario']} {s['client']}**: {s['failed']}")
        elif s.get("errors") or s.get("failed_runs"):
            # A run that died of a signal is a crash: make it stand out.
            name = f"{s['scenario']} {s['client']}"
            if "died of SIG" in str(s.get("first_error")):
                name = f"**{name}** (a client process crashed)"
            out.append(
                f"- {name}: {s['errors']} "
                f"failed requests, {s['failed_runs']} failed runs; "
                f"first: {s.get('first_error')}"
            )
    return out


def acceptance(summaries: list[dict[str, Any]]) -> list[str]:
    """Issue 4's acceptance points, read off this run's rows."""
    by = {(s["scenario"], s["client"]): s for s in summaries}
    out = []
    cold = [by.get(("S2-https", c)) for c in SEQ]
    if any(x and x.get("rps") for x in cold):
        cells = [
            f"{x['client']} {_f(x.get('cpu_us_per_req'), ',.0f')} µs ({_f(x['rps'], ',.0f')} req/s)"
            if x and x.get("rps")
            else f"{x['client'] if x else '?'} did not run"
            for x in cold
            if x
        ]
        out.append(
            "- Acceptance (issue 4), a cold HTTPS request costs httpr less than aiohttp and "
            "httpx: S2-https CPU per request " + ", ".join(cells) + "."
        )
    h, a = by.get(("S8-S4-64", "httpr-async")), by.get(("S8-S4-64", PEER_REF))
    if h and a:
        ratio = h.get("x_aiohttp")
        out.append(
            "- Acceptance (issue 4), httpr's HTTPS req/s at 64 in flight ≥ 2× aiohttp's: "
            f"S8-S4-64 httpr-async {_f(h.get('rps'), ',.0f')} vs aiohttp "
            f"{_f(a.get('rps'), ',.0f')} req/s = {_f(ratio, '.2f')}×"
            + ("" if ratio is None else (" (met)" if ratio >= 2 else " (NOT met)"))
            + "."
        )
    return out


def render_md(
    meta: dict[str, Any], tbl: str, note_lines: list[str], versions: dict[str, str]
) -> str:
    m = meta["machine"]
    st = meta["settings"]
    client_lines = "\n".join(f"  - {k}: {v}" for k, v in versions.items())
    parts = [
        MD_START,
        f"## Latest run: {meta['date']}",
        "",
        f"Command: `{meta['command']}`",
        "",
        tbl,
        "",
        (
            f"Medians of {st['reps']} interleaved repetitions; each client ran "
            f"{st['duration_s']:g} s after a {st['warmup_s']:g} s warm-up in a fresh "
            f"process; wrk ran {max(1, round(st['duration_s']))} s. `±` is the spread "
            "of req/s between repetitions (max − min, as % of the median). CPU µs/req "
            "is user+sys of the whole client process (every thread) during the "
            "measured phase; nginx CPU µs/req is its worker's. × columns are req/s "
            "ratios within this run."
        ),
        "",
        "Scenarios:",
        "",
        *(f"- {sc['id']}: {sc['title']}" for sc in meta["scenarios"]),
        "",
    ]
    if any(sc["mode"] == "cold" for sc in meta["scenarios"]):
        parts += [
            (
                "In the cold scenarios wrk sends `Connection: close`: the server closes "
                "after each response and wrk reconnects, a new connection per request."
            ),
            "",
        ]
    if any(sc["mode"] == "stream" for sc in meta["scenarios"]):
        parts += [
            (
                "Downloads (the second table): MiB/s is downloads per second × the file's "
                "size; each client reads the body in the chunks its API yields as they "
                "arrive and drops them. CPU is per MiB received; peak RSS is the client "
                "process's maximum resident set over its whole run."
            ),
            "",
        ]
    tls = meta.get("tls")
    if tls:
        parts += [
            (
                f"HTTPS: {tls['server']}. Negotiated by a default Python client: "
                f"{tls['session'] or 'unknown'}. {tls['trust']} {tls['wrk']} "
                "Certificate check of this run (one request with `SSL_CERT_FILE` unset "
                "must be refused):"
            ),
            "",
            *(f"- {k}: {v}" for k, v in tls["verify"].items()),
            "",
        ]
    if note_lines:
        parts += ["Notes:", "", *note_lines, ""]
    parts += [
        "Machine and versions:",
        "",
        f"- machine: `{m['uname']}`",
        (
            f"- cores: {m['nproc']} ({m['cpu_model']}); nginx runs 1 worker process, "
            "leaving the other core to the client (wrk: 1 thread)"
        ),
        (
            f"- server: nginx {m['nginx']} on 127.0.0.1, HTTP/1.1 keep-alive, "
            "access_log off, static files"
        ),
        f"- {m['python']}; {m['wrk']}; libuv {m['libuv']}; OpenSSL {m['openssl']}",
        "- clients:",
        client_lines or "  - (none ran)",
        MD_END,
    ]
    return "\n".join(parts) + "\n"


PROSE = """\
# Benchmark results

Written by `bash bench/run.sh` (see `bench/harness.py` for the method). Only
the section between the markers below is rewritten; text outside it is kept.
Numbers are comparable only within one run on one machine: read the ratio
columns.

"""


def write_results_md(section: str) -> None:
    old = RESULTS_MD.read_text() if RESULTS_MD.exists() else PROSE
    if MD_START in old and MD_END in old:
        before = old[: old.index(MD_START)]
        after = old[old.index(MD_END) + len(MD_END) :].lstrip("\n")
        new = before + section + ("\n" + after if after else "")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    tmp = RESULTS_MD.with_suffix(".md.tmp")
    tmp.write_text(new)
    os.replace(tmp, RESULTS_MD)


def write_json(data: dict[str, Any]) -> None:
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_JSON.with_name(RESULTS_JSON.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, RESULTS_JSON)


# --- main -------------------------------------------------------------------


def selected(name: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(name == o or name.startswith(o + "-") for o in only)


def split_only(only: list[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """--only terms naming scenarios (S2, S8-S1, ...) and those naming clients."""
    if not only:
        return None, None
    ids = [sc.id for sc in SCENARIOS]
    scen = [o for o in only if any(selected(i, [o]) for i in ids)]
    clients = [o for o in only if o not in scen]
    return scen or None, clients or None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bash bench/run.sh",
        description="Benchmark httpr against its peers and the wrk ceiling on a local nginx.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 1 repetition of 1.5 s runs after a 0.3 s warm-up",
    )
    p.add_argument(
        "--duration",
        type=float,
        help="measured seconds per run (default 5; wrk rounds it to whole seconds)",
    )
    p.add_argument("--warmup", type=float, help="warm-up seconds per client run (default 1)")
    p.add_argument(
        "--reps",
        type=int,
        help="interleaved repetitions, median reported (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="CLIENT_OR_SCENARIO",
        help="run only these clients and/or scenarios (repeatable or comma "
        "separated; a prefix like 'httpr', 'aiohttp' or 'S2' selects its variants; "
        "'wrk' = only the ceiling). Clients: "
        + ", ".join(CLIENTS)
        + ". Scenarios: "
        + ", ".join(sc.id for sc in SCENARIOS),
    )
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk ceiling rows")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="print the table only; leave bench/RESULTS.md and bench/results/latest.json alone",
    )
    p.add_argument(
        "--keep-run-dir", action="store_true", help="keep bench/run/<pid>/ (nginx.conf, error.log)"
    )
    o = p.parse_args(argv)
    if o.duration is None:
        o.duration = 1.5 if o.quick else 5.0
    if o.warmup is None:
        o.warmup = 0.3 if o.quick else 1.0
    if o.reps is None:
        o.reps = 1 if o.quick else 3
    if o.only:
        o.only = [x.strip() for arg in o.only for x in arg.split(",") if x.strip()]
        known = list(CLIENTS) + [CEILING] + [sc.id for sc in SCENARIOS]
        for x in o.only:
            if not any(selected(k, [x]) for k in known):
                p.error(f"--only {x}: no such client or scenario ({', '.join(known)})")
    if o.reps < 1 or o.duration <= 0 or o.warmup < 0:
        p.error("--reps must be >= 1, --duration > 0, --warmup >= 0")
    return o


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    command = os.environ.get("HTTPR_BENCH_COMMAND") or shlex.join(
        [sys.executable, "bench/harness.py", *argv]
    )

    only_scenarios, only_clients = split_only(opts.only)
    scenarios = []
    for sc in SCENARIOS:
        if not selected(sc.id, only_scenarios):
            continue
        clients = tuple(c for c in sc.clients if selected(c, only_clients))
        if clients or selected(CEILING, only_clients):
            scenarios.append(dataclasses.replace(sc, clients=clients))
    use_wrk = not opts.no_wrk and (
        not only_clients or selected(CEILING, only_clients) or any(sc.clients for sc in scenarios)
    )
    if not scenarios:
        log("nothing selected")
        return 2

    # Remove run dirs left by a harness that was killed (SIGKILL skips cleanup).
    if RUN_BASE.is_dir():
        for old in RUN_BASE.iterdir():
            if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
                shutil.rmtree(old, ignore_errors=True)
    run = RUN_BASE / str(os.getpid())
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    runner: Runner | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    nginx: Nginx | None = None
    try:
        nginx = Nginx(run, make_certs(run / "tls"))
        sizes = make_payloads(run / "html")
        nginx.start()
        log(
            f"nginx {nginx.proc.pid if nginx.proc else '?'} on {nginx.base} and "
            f"{nginx.tls_base} ({nginx.tls_session}); {opts.reps} reps x {opts.duration:g} s "
            f"(+{opts.warmup:g} s warm-up per client run)"
        )
        tls_session = nginx.tls_session
        runner = Runner(nginx, opts, sizes)
        for name in CLIENTS:
            tls_rows = any(sc.tls and name in sc.clients for sc in scenarios)
            if tls_rows and runner.skip_reason(name) is None:
                runner.check_verify(name)

        rows: list[Row] = []
        for sc in scenarios:
            if use_wrk:
                rows.append(Row(sc, CEILING))
            rows.extend(Row(sc, c) for c in sc.clients)

        if use_wrk:  # warm the server once (page cache, worker, sockets)
            runner.run_wrk(Scenario("warm", "", "/hello", 64, ()), 1)

        for rep in range(1, opts.reps + 1):
            for row in rows:
                if row.client == CEILING:
                    res = runner.run_wrk(row.scenario, opts.duration)
                else:
                    why = runner.skip_reason(row.client, row.scenario)
                    if why:
                        row.skipped = why
                        continue
                    res = runner.run_client(row.scenario, row.client)
                row.runs.append(res)
                head = f"rep {rep}/{opts.reps} {row.scenario.id:8} {row.client:18}"
                if res.get("ok") and row.scenario.mode == "stream":
                    mib = sizes[row.scenario.path] / MIB
                    log(
                        f"{head} {res['rps'] * mib:>8,.0f} MiB/s  "
                        f"cpu {(res.get('cpu_us_per_req') or 0) / mib:6.0f} µs/MiB  "
                        f"rss {(res.get('maxrss_kb') or 0) / 1024:5.0f} MiB"
                        + (f"  errors {res['errors']}" if res.get("errors") else "")
                    )
                elif res.get("ok"):
                    log(
                        f"{head} {res['rps']:>10,.0f} req/s  "
                        f"p50 {res.get('p50_us') or 0:>7.0f} µs  "
                        f"cpu {res.get('cpu_us_per_req') or 0:6.1f} µs/req"
                        + (f"  errors {res['errors']}" if res.get("errors") else "")
                    )
                else:
                    log(f"{head} FAILED: {res.get('error')}")
    finally:
        if runner and runner.current and runner.current.poll() is None:
            runner.current.kill()
        if nginx is not None:
            nginx.stop()
        if not opts.keep_run_dir:
            shutil.rmtree(run, ignore_errors=True)
            try:
                RUN_BASE.rmdir()  # only if no other run is using it
            except OSError:
                pass

    summaries = [summarize_row(r, sizes) for r in rows]
    add_ratios(summaries)
    tbl = table(scenarios, summaries, sizes)
    note_lines = notes(summaries)
    versions: dict[str, str] = {}
    for s in summaries:
        if s.get("version"):
            v = s["version"]
            if s.get("module"):
                module = Path(s["module"])
                if module.is_relative_to(ROOT):
                    module = module.relative_to(ROOT)
                v += f" (`{module}`)"
            versions.setdefault(s["client"], v)
    for name in CLIENTS:
        if name in versions:
            continue
        if any(s["client"] == name for s in summaries):
            versions[name] = "did not run"
    order = [CEILING, *CLIENTS]
    versions = dict(sorted(versions.items(), key=lambda kv: order.index(kv[0])))

    note_lines = acceptance(summaries) + note_lines
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_facts(),
        "scenarios": [
            {"id": sc.id, "title": sc.title, "tls": sc.tls, "mode": sc.mode} for sc in scenarios
        ],
        "settings": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "reps": opts.reps,
            "quick": opts.quick,
            "only": opts.only,
            "nginx_worker_processes": 1,
        },
    }
    if any(sc.tls for sc in scenarios):
        meta["tls"] = {
            "server": (
                "the same nginx, a second server block on 127.0.0.1: HTTP/1.1 only (no "
                "HTTP/2), the same keep-alive settings, TLS 1.2 and 1.3, "
                "`ssl_session_cache shared:SSL:10m`, `ssl_session_tickets on`; an ECDSA "
                "P-256 certificate for localhost (SAN DNS:localhost, IP:127.0.0.1) signed "
                "by a CA made with `openssl` for this run"
            ),
            "session": tls_session,
            "trust": (
                f"Every client connects to `https://{TLS_HOST}:<port>` and verifies the "
                "certificate, trusting the run's CA through its default path: "
                "`SSL_CERT_FILE=<ca.pem>` in its environment (no `verify=False` anywhere)."
            ),
            "verify": dict(runner.verify) if runner else {},
            "wrk": (
                "wrk does not verify certificates (it sets `SSL_VERIFY_NONE` and has no "
                "option for it), and its new connections in S2-https resume its TLS "
                "session (checked in nginx's log), which a new client cannot: that "
                "row is a floor, not a like-for-like ceiling."
            ),
        }
    print()
    print(tbl)
    if runner and runner.verify:
        print()
        print("Certificate checks: " + "; ".join(f"{k}: {v}" for k, v in runner.verify.items()))
    if note_lines:
        print()
        print("\n".join(note_lines))
    print()

    if not opts.no_write:
        write_results_md(render_md(meta, tbl, note_lines, versions))
        write_json(
            {
                **meta,
                "clients": {k: v.describe for k, v in CLIENTS.items()},
                "scenarios": [
                    {
                        "id": s.id,
                        "title": s.title,
                        "path": s.path,
                        "bytes": sizes[s.path],
                        "concurrency": s.concurrency,
                        "tls": s.tls,
                        "mode": s.mode,
                        "clients": list(s.clients),
                    }
                    for s in scenarios
                ],
                "versions": versions,
                "summary": summaries,
                "runs": [
                    {
                        "scenario": r.scenario.id,
                        "client": r.client,
                        "runs": r.runs,
                        "skipped": r.skipped,
                    }
                    for r in rows
                ],
            }
        )
        log(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    # Non-zero when a selected client failed outright, so CI notices.
    return 1 if any("failed" in s for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
