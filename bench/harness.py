"""The httpr benchmark harness (see shared BENCH.md for the method).

Started by ``bash bench/run.sh [options]``, which first builds httpr into
.venv and the peers into bench/.venvs/. This script:

1. writes static payloads and an nginx.conf into bench/run/<pid>/, starts
   nginx on an ephemeral 127.0.0.1 port and stops it at exit, whatever
   happens;
2. runs the ceiling (wrk, same URL, same number of connections) and every
   client, each client in a process of its own (bench/clients/*.py), warm-up
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
import datetime
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
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CLIENTS_DIR = BENCH / "clients"
RUN_BASE = BENCH / "run"
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSON = BENCH / "results" / "latest.json"
PEERS_PYTHON = BENCH / ".venvs" / "aiohttp" / "bin" / "python"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
MD_START, MD_END = "<!-- bench:start -->", "<!-- bench:end -->"

HELLO = b"Hello world!"  # exactly 12 bytes
assert len(HELLO) == 12


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
    ]
}

# The reference a ratio is taken against, per scenario.
PEER_REF = "aiohttp"
CEILING = "wrk"


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    path: str
    concurrency: int
    clients: tuple[str, ...]


SCENARIOS = [
    Scenario(
        "S1",
        "sequential GETs, one reused client",
        "/hello",
        1,
        ("httpr-sync", "httpr-async", "aiohttp", "aiohttp-uvloop"),
    ),
    Scenario(
        "S4-64",
        "64 GETs in flight",
        "/hello",
        64,
        ("httpr-async", "httpr-async-uvloop", "aiohttp", "aiohttp-uvloop"),
    ),
]


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
    return sizes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_conf(run: Path, port: int) -> str:
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
}}
"""


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if the harness dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Nginx:
    def __init__(self, run: Path) -> None:
        self.run = run
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for attempt in range(3):
            self.port = free_port()
            conf = self.run / "nginx.conf"
            conf.write_text(nginx_conf(self.run, self.port))
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
                    if r.status == 200 and r.read() == HELLO:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

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


class Runner:
    def __init__(self, nginx: Nginx, opts: argparse.Namespace, sizes: dict[str, int]) -> None:
        self.nginx = nginx
        self.opts = opts
        self.sizes = sizes
        self.env = child_env()
        self.current: subprocess.Popen[str] | None = None
        self.fatal: dict[str, str] = {}  # client -> reason to skip it

    def python_for(self, spec: ClientSpec) -> Path | None:
        if spec.venv == "main":
            return Path(sys.executable)
        return PEERS_PYTHON if PEERS_PYTHON.exists() else None

    def skip_reason(self, name: str) -> str | None:
        if name in self.fatal:
            return self.fatal[name]
        spec = CLIENTS[name]
        if spec.venv == "main" and os.environ.get("HTTPR_BENCH_BUILD_FAILED"):
            return (
                "httpr build failed in tests/setup.sh (output above); "
                "not benchmarking a stale build"
            )
        if self.python_for(spec) is None:
            return f"no peers venv at {PEERS_PYTHON.parent.parent}: run bash bench/run.sh"
        return None

    def run_client(self, sc: Scenario, name: str) -> dict[str, Any]:
        spec = CLIENTS[name]
        python = self.python_for(spec)
        assert python is not None
        o = self.opts
        cmd = [
            str(python),
            str(CLIENTS_DIR / spec.script),
            "--url",
            self.nginx.base + sc.path,
            "--concurrency",
            str(sc.concurrency),
            "--duration",
            str(o.duration),
            "--warmup",
            str(o.warmup),
            "--expect-bytes",
            str(self.sizes[sc.path]),
            "--pool",
            str(max(64, sc.concurrency)),
            *spec.args,
        ]
        limit = o.warmup + o.duration + 60
        srv = {}
        lines: list[str] = []
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.nginx.run,
            env=self.env,
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
            why = f"killed after {limit:.0f} s" if rc == -9 else f"exit {rc}"
            tail = " / ".join(stderr.strip().splitlines()[-3:])
            result = {"ok": False, "error": f"no result ({why}): {tail}"}
        if "start" in srv and "end" in srv and result.get("requests"):
            result["srv_cpu_us_per_req"] = (srv["end"] - srv["start"]) * 1e6 / result["requests"]
        if not result.get("ok") and result.get("fatal"):
            self.fatal[name] = result.get("error", "failed")
        return result

    def run_wrk(self, sc: Scenario, seconds: float) -> dict[str, Any]:
        url = self.nginx.base + sc.path
        # wrk takes whole seconds only.
        cmd = [WRK, "-t1", f"-c{sc.concurrency}", f"-d{max(1, round(seconds))}s", "--latency", url]
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


def summarize_row(row: Row) -> dict[str, Any]:
    ok = [r for r in row.runs if r.get("ok")]
    out: dict[str, Any] = {
        "scenario": row.scenario.id,
        "client": row.client,
        "concurrency": row.scenario.concurrency,
        "path": row.scenario.path,
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
    for key in ("p50_us", "p99_us", "cpu_us_per_req", "srv_cpu_us_per_req"):
        out[key] = median([r.get(key) for r in ok])
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


def table(scenarios: list[Scenario], summaries: list[dict[str, Any]], sizes: dict[str, int]) -> str:
    head = (
        "| scenario | client | in flight | req/s | ± | p50 µs | p99 µs "
        "| CPU µs/req | nginx CPU µs/req | errors | × aiohttp | × wrk |"
    )
    lines = [head, "|" + "---|" * 12]
    for sc in scenarios:
        label = f"{sc.id} {sc.path} ({sizes[sc.path]} B)"
        for s in (x for x in summaries if x["scenario"] == sc.id):
            client = s["client"]
            if "failed" in s:
                why = s["failed"].split(":")[0][:40]
                lines.append(
                    f"| {label} | {client} | {sc.concurrency} | "
                    f"failed: {why} (see notes) "
                    "|  |  |  |  |  |  |  |  |"
                )
                continue
            lines.append(
                f"| {label} | {client} | {sc.concurrency} "
                f"| {_f(s['rps'], ',.0f')} "
                f"| {_f(s['spread_pct'], '.0f')}% "
                f"| {_f(s['p50_us'], '.0f')} | {_f(s['p99_us'], '.0f')} "
                f"| {_f(s['cpu_us_per_req'], '.1f')} "
                f"| {_f(s['srv_cpu_us_per_req'], '.1f')} "
                f"| {s['errors']} "
                f"| {_f(s.get('x_aiohttp'), '.2f')} "
                f"| {_f(s.get('x_wrk'), '.2f')} |"
            )
    return "\n".join(lines)


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
    for s in summaries:
        if "failed" in s:
            out.append(f"- **{s['scenario']} {s['client']}**: {s['failed']}")
        elif s.get("errors") or s.get("failed_runs"):
            out.append(
                f"- {s['scenario']} {s['client']}: {s['errors']} "
                f"failed requests, {s['failed_runs']} failed runs; "
                f"first: {s.get('first_error')}"
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bash bench/run.sh",
        description="Benchmark httpr against its peers and the wrk ceiling on a local nginx.",
    )
    p.add_argument(
        "--quick", action="store_true", help="short runs (2 s, 0.5 s warm-up): a smoke test"
    )
    p.add_argument(
        "--duration",
        type=float,
        help="measured seconds per run (default 5; wrk rounds it to whole seconds)",
    )
    p.add_argument("--warmup", type=float, help="warm-up seconds per client run (default 1)")
    p.add_argument(
        "--reps", type=int, default=3, help="interleaved repetitions, median reported (default 3)"
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="CLIENT",
        help="run only these clients (repeatable or comma "
        "separated; a prefix like 'httpr' or 'aiohttp' "
        "selects its variants; 'wrk' = only the ceiling). "
        "Clients: " + ", ".join(CLIENTS),
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
        o.duration = 2.0 if o.quick else 5.0
    if o.warmup is None:
        o.warmup = 0.5 if o.quick else 1.0
    if o.only:
        o.only = [x.strip() for arg in o.only for x in arg.split(",") if x.strip()]
        known = list(CLIENTS) + [CEILING]
        for x in o.only:
            if not any(selected(k, [x]) for k in known):
                p.error(f"--only {x}: no such client ({', '.join(known)})")
    if o.reps < 1 or o.duration <= 0 or o.warmup < 0:
        p.error("--reps must be >= 1, --duration > 0, --warmup >= 0")
    return o


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    command = os.environ.get("HTTPR_BENCH_COMMAND") or shlex.join(
        [sys.executable, "bench/harness.py", *argv]
    )

    scenarios = []
    for sc in SCENARIOS:
        clients = tuple(c for c in sc.clients if selected(c, opts.only))
        if clients or selected(CEILING, opts.only):
            scenarios.append(Scenario(sc.id, sc.title, sc.path, sc.concurrency, clients))
    use_wrk = not opts.no_wrk and (
        not opts.only or selected(CEILING, opts.only) or any(sc.clients for sc in scenarios)
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
    nginx = Nginx(run)
    runner: Runner | None = None

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        sizes = make_payloads(run / "html")
        nginx.start()
        log(
            f"nginx {nginx.proc.pid if nginx.proc else '?'} on {nginx.base}"
            f"; {opts.reps} reps x {opts.duration:g} s "
            f"(+{opts.warmup:g} s warm-up per client run)"
        )
        runner = Runner(nginx, opts, sizes)

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
                    why = runner.skip_reason(row.client)
                    if why:
                        row.skipped = why
                        continue
                    res = runner.run_client(row.scenario, row.client)
                row.runs.append(res)
                if res.get("ok"):
                    log(
                        f"rep {rep}/{opts.reps} {row.scenario.id:6} "
                        f"{row.client:18} {res['rps']:>10,.0f} req/s  "
                        f"p50 {res.get('p50_us') or 0:>7.0f} µs  "
                        f"cpu {res.get('cpu_us_per_req') or 0:6.1f} µs/req"
                        + (f"  errors {res['errors']}" if res.get("errors") else "")
                    )
                else:
                    log(
                        f"rep {rep}/{opts.reps} {row.scenario.id:6} "
                        f"{row.client:18} FAILED: {res.get('error')}"
                    )
    finally:
        if runner and runner.current and runner.current.poll() is None:
            runner.current.kill()
        nginx.stop()
        if not opts.keep_run_dir:
            shutil.rmtree(run, ignore_errors=True)
            try:
                RUN_BASE.rmdir()  # only if no other run is using it
            except OSError:
                pass

    summaries = [summarize_row(r) for r in rows]
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

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_facts(),
        "settings": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "reps": opts.reps,
            "quick": opts.quick,
            "only": opts.only,
            "nginx_worker_processes": 1,
        },
    }
    print()
    print(tbl)
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
