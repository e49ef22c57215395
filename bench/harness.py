"""The httpr benchmark harness (see shared BENCH.md for the method).

Started by ``bash bench/run.sh [options]``, which first builds httpr into
.venv and every peer into a venv of its own under bench/.venvs/. This script:

1. writes static payloads (plain and gzip-compressed), a throw-away CA and a
   certificate for localhost (openssl) and an nginx.conf into
   bench/run/<pid>/, starts nginx on two ephemeral 127.0.0.1 ports (HTTP and
   HTTPS), checks that it serves what the scenarios assume (gzip bodies, an
   upload location that reads the whole body before it answers) and stops it
   at exit, whatever happens;
2. checks that every client refuses the certificate when it is not told to
   trust the CA, then runs the ceilings (wrk with the same number of
   connections; curl for the downloads) and every client, each client in a
   process of its own (bench/clients/*.py), warm-up first, repetitions
   interleaved (A B C, A B C, ...), medians reported, one progress line per
   run on stderr;
3. prints the tables and writes them, the issue-5 targets and the charts into
   bench/RESULTS.md (between the ``<!-- bench:start -->`` /
   ``<!-- bench:end -->`` markers), bench/results/latest.json and
   bench/results/*.png.

Only numbers from one run on one machine are comparable: read the ratio
columns (against aiohttp and against the ceilings), not the numbers alone.
The soak test (S10) is bench/soak.py, run by hand.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import dataclasses
import datetime
import gzip
import http.client
import json
import os
import platform
import random
import re
import resource
import select
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
RESULTS_DIR = BENCH / "results"
RESULTS_JSON = RESULTS_DIR / "latest.json"
VENVS = BENCH / ".venvs"
PEER_REQS = BENCH / "requirements-peers"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
CURL = shutil.which("curl") or "/usr/bin/curl"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
MD_START, MD_END = "<!-- bench:start -->", "<!-- bench:end -->"

HELLO = b"Hello world!"  # exactly 12 bytes
assert len(HELLO) == 12
MIB = 1 << 20
KIB = 1 << 10
UPLOAD_REPLY = b"ok"  # what nginx answers to an upload


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- what is measured -------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    name: str
    script: str
    venv: str  # "main" (.venv, where httpr is built) or a bench/.venvs/<venv>
    args: tuple[str, ...] = ()
    describe: str = ""
    sync: bool = False


CLIENTS: dict[str, ClientSpec] = {
    c.name: c
    for c in [
        ClientSpec(
            "httpr-sync",
            "httpr_sync.py",
            "main",
            describe="this project: httpr.Client(), one reused client",
            sync=True,
        ),
        ClientSpec(
            "httpr-async",
            "httpr_async.py",
            "main",
            describe="this project: httpr.AsyncClient(max_concurrency=pool), asyncio",
        ),
        ClientSpec(
            "httpr-async-uvloop",
            "httpr_async.py",
            "main",
            ("--uvloop",),
            describe="the same on uvloop",
        ),
        ClientSpec(
            "aiohttp",
            "aiohttp_async.py",
            "aiohttp",
            describe="aiohttp.ClientSession(connector=TCPConnector(limit=pool))",
        ),
        ClientSpec(
            "aiohttp-uvloop",
            "aiohttp_async.py",
            "aiohttp",
            ("--uvloop",),
            describe="the same on uvloop",
        ),
        ClientSpec(
            "httpx-sync",
            "httpx_sync.py",
            "httpx",
            describe="httpx.Client(limits=Limits(max_connections=pool, "
            "max_keepalive_connections=pool))",
            sync=True,
        ),
        ClientSpec(
            "httpx-async",
            "httpx_async.py",
            "httpx",
            describe="httpx.AsyncClient, same limits, asyncio",
        ),
        ClientSpec(
            "pyreqwest-sync",
            "pyreqwest_sync.py",
            "pyreqwest",
            describe="pyreqwest SyncClientBuilder().max_connections(pool)"
            ".pool_max_idle_per_host(pool).gzip(True).build()",
            sync=True,
        ),
        ClientSpec(
            "pyreqwest-async",
            "pyreqwest_async.py",
            "pyreqwest",
            describe="pyreqwest ClientBuilder(), the same settings, asyncio",
        ),
        ClientSpec(
            "wreq-sync",
            "wreq_sync.py",
            "wreq",
            describe="wreq.blocking.Client(pool_max_size=pool, pool_max_idle_per_host=pool, "
            "gzip=True, tls_verify=Path(ca))",
            sync=True,
        ),
        ClientSpec(
            "wreq-async",
            "wreq_async.py",
            "wreq",
            describe="wreq.Client, the same settings, asyncio",
        ),
        ClientSpec(
            "curl_cffi-sync",
            "curl_cffi_sync.py",
            "curl_cffi",
            describe="curl_cffi.requests.Session(verify=ca) (a curl handle per thread)",
            sync=True,
        ),
        ClientSpec(
            "curl_cffi-async",
            "curl_cffi_async.py",
            "curl_cffi",
            describe="curl_cffi.requests.AsyncSession(max_clients=pool, verify=ca)",
        ),
        ClientSpec(
            "niquests-sync",
            "niquests_sync.py",
            "niquests",
            describe="niquests.Session(pool_maxsize=pool), verify=ca per request",
            sync=True,
        ),
        ClientSpec(
            "niquests-async",
            "niquests_async.py",
            "niquests",
            describe="niquests.AsyncSession(pool_maxsize=pool), verify=ca per request",
        ),
        ClientSpec(
            "rust-httpr-sync",
            "rust_httpr_sync.py",
            "rust-httpr",
            describe="httpr from PyPI (the Rust original): httpr.Client(ca_cert_file=ca)",
            sync=True,
        ),
        ClientSpec(
            "rust-httpr-async",
            "rust_httpr_async.py",
            "rust-httpr",
            describe="httpr from PyPI: httpr.AsyncClient(max_concurrency=pool, "
            "ca_cert_file=ca) (a thread pool)",
        ),
        ClientSpec(
            "requests",
            "requests_sync.py",
            "requests",
            describe="requests.Session + HTTPAdapter(pool_maxsize=pool), verify=ca per request",
            sync=True,
        ),
        ClientSpec(
            "pycurl",
            "pycurl_sync.py",
            "pycurl",
            describe="pycurl.Curl() reused (one per thread), CAINFO=ca",
            sync=True,
        ),
    ]
}

# The reference a ratio is taken against, and the ceilings.
PEER_REF = "aiohttp"
RUST_REF = "rust-httpr-async"
WRK_ROW = "wrk"
CURL_ROW = "curl"
CEILINGS = (WRK_ROW, CURL_ROW)
OURS = ("httpr-sync", "httpr-async", "httpr-async-uvloop")

SYNC = tuple(n for n, c in CLIENTS.items() if c.sync)
ASYNC = tuple(n for n, c in CLIENTS.items() if not c.sync)
ASYNC_BASE = tuple(n for n in ASYNC if not n.endswith("-uvloop"))
ALL = tuple(CLIENTS)
ALL_BASE = SYNC + ASYNC_BASE


# How a client script runs its requests (its --mode; see clients/_common.py):
#   reuse   one client for the whole run, the whole body read per request;
#   cold    a new client for every request (construct, one GET, close);
#   stream  one reused client, the body read in chunks as they arrive and
#           dropped (MiB/s instead of req/s matters);
#   upload  one reused client, POST of a body, the short reply read;
#   batch   (async) N requests gathered at once, repeated: wall time per batch;
#   burst   (async) one gather of N requests: completes? RSS per request.
MODES = ("reuse", "cold", "stream", "upload", "batch", "burst")


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    path: str
    concurrency: int
    clients: tuple[str, ...]
    tls: bool = False  # https://localhost:<tls port> instead of http://127.0.0.1:<port>
    mode: str = "reuse"
    json: bool = False  # decode the body as JSON (S3)
    body_bytes: int = 0  # upload size (S6)
    batch: int = 0  # requests gathered at once (S3, S9)
    quick: bool = True  # part of --quick
    quick_clients: tuple[str, ...] = ()  # with --quick, only these (when given)
    ceilings: tuple[str, ...] = (WRK_ROW,)

    @property
    def group(self) -> str:
        return self.id.split("-")[0]

    @property
    def pool(self) -> int:
        """Connections each client may open: enough that nobody queues."""
        return max(64, self.concurrency, self.batch)


S3_BATCH = 400
S9_BURST = 10_000
S3_QUICK = ("5k", "json1-gz")
S4_LEVELS = (1, 8, 64, 256, 1024)
S4_QUICK = (64, 1024)
S5_LEVELS = (8, 32)

SCENARIOS: list[Scenario] = [
    Scenario("S1", "sequential GETs of /hello, one reused client", "/hello", 1, ALL),
    Scenario(
        "S1-5k",
        "sequential GETs of /5k (served gzip-compressed), one reused client",
        "/5k",
        1,
        ALL,
        quick=False,
    ),
    Scenario(
        "S2-http",
        "cold client: a new client per request (construct, one GET, close), sequential",
        "/hello",
        1,
        ALL_BASE,
        mode="cold",
        quick=False,
    ),
    Scenario(
        "S2-https",
        "cold client over HTTPS: a new client per request, so a new connection and a TLS "
        "handshake each time, sequential",
        "/hello",
        1,
        ALL_BASE,
        tls=True,
        mode="cold",
    ),
    *(
        Scenario(
            f"S3-{cell}",
            f"{S3_BATCH} GETs of {path} gathered at once"
            + (", JSON decoded" if is_json else ", body read")
            + (" (gzip)" if gz else ""),
            path,
            S3_BATCH,
            ASYNC,
            mode="batch",
            json=is_json,
            batch=S3_BATCH,
            quick=cell in S3_QUICK,
            ceilings=(),
        )
        for cell, path, is_json, gz in (
            ("5k", "/5k", False, True),
            ("50k", "/50k", False, True),
            ("200k", "/200k", False, True),
            ("json1", "/json1", True, False),
            ("json10", "/json10", True, False),
            ("json1-gz", "/gz/json1", True, True),
            ("json10-gz", "/gz/json10", True, True),
        )
    ),
    *(
        Scenario(
            f"S4-{n}",
            f"{n} GETs of /hello in flight (bounded concurrency: {n} worker tasks)",
            "/hello",
            n,
            ASYNC,
            quick=n in S4_QUICK,
        )
        for n in S4_LEVELS
    ),
    *(
        Scenario(
            f"S5-{n}",
            f"one sync client shared by {n} threads, GETs of /hello",
            "/hello",
            n,
            SYNC,
            quick=n == 32,
        )
        for n in S5_LEVELS
    ),
    Scenario(
        "S6-10k",
        "POST uploads of 10 KiB, sequential, one reused client (nginx reads the whole body)",
        "/upload",
        1,
        ALL_BASE,
        mode="upload",
        body_bytes=10 * KIB,
        quick=False,
    ),
    Scenario(
        "S6-1m",
        "POST uploads of 1 MiB, sequential, one reused client (nginx reads the whole body)",
        "/upload",
        1,
        ALL_BASE,
        mode="upload",
        body_bytes=MIB,
    ),
    Scenario(
        "S7",
        "streaming download of 100 MiB, one reused client, chunks dropped as they arrive",
        "/100m",
        1,
        ALL_BASE,
        mode="stream",
        ceilings=(CURL_ROW, WRK_ROW),
    ),
    Scenario("S8-S1", "S1 over HTTPS", "/hello", 1, ALL_BASE, tls=True, quick=False),
    Scenario("S8-S4-64", "S4-64 over HTTPS", "/hello", 64, ASYNC, tls=True),
    Scenario(
        "S8-S7",
        "S7 over HTTPS",
        "/100m",
        1,
        ALL_BASE,
        tls=True,
        mode="stream",
        ceilings=(CURL_ROW, WRK_ROW),
    ),
    Scenario(
        "S9",
        f"{S9_BURST:,} GETs of /hello started at once from one client (asyncio.gather): "
        "all must complete; RSS the burst adds per request",
        "/hello",
        S9_BURST,
        ASYNC,
        mode="burst",
        batch=S9_BURST,
        ceilings=(),
        # --quick leaves out the peers that need the whole timeout to fail.
        quick_clients=(
            "httpr-async",
            "httpr-async-uvloop",
            "aiohttp",
            "pyreqwest-async",
            "wreq-async",
            "rust-httpr-async",
        ),
    ),
]
assert all(sc.mode in MODES for sc in SCENARIOS)
assert len({sc.id for sc in SCENARIOS}) == len(SCENARIOS)


@dataclass
class Row:
    scenario: Scenario
    client: str  # a CLIENTS key or a ceiling ("wrk", "curl")
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why there are no runs


# --- payloads and nginx -----------------------------------------------------

# Paths served gzip-compressed (nginx gzip_static always: Content-Encoding:
# gzip whatever the client asks for; every client asks for gzip anyway).
GZIP_PATHS = ("/5k", "/50k", "/200k", "/gz/json1", "/gz/json10")
# JSON payloads: this many arrays of 1024 floats.
JSON_ITEMS = {"/json1": 1, "/json10": 10, "/gz/json1": 1, "/gz/json10": 10}


def make_payloads(html: Path) -> dict[str, int]:
    """Writes every payload; returns each path's (decoded) body length."""
    html.mkdir(parents=True, exist_ok=True)
    (html / "gz").mkdir(exist_ok=True)
    rng = random.Random(20261122)  # same bytes every run

    def b64(n: int) -> bytes:
        return base64.b64encode(rng.randbytes(n))[:n]

    def floats(arrays: int) -> bytes:
        data = [[rng.uniform(-1e6, 1e6) for _ in range(1024)] for _ in range(arrays)]
        return json.dumps(data).encode()

    json1, json10 = floats(1), floats(10)
    payloads = {
        "hello": HELLO,
        "5k": b64(5 * KIB),
        "50k": b64(50 * KIB),
        "200k": b64(200 * KIB),
        "json1": json1,
        "json10": json10,
        "gz/json1": json1,
        "gz/json10": json10,
        "1m": rng.randbytes(MIB),
        "upload": b"",  # exists so that nginx's static handler answers POST with 405
    }
    sizes = {}
    for name, data in payloads.items():
        (html / name).write_bytes(data)
        sizes["/" + name] = len(data)
        if "/" + name in GZIP_PATHS:
            (html / (name + ".gz")).write_bytes(gzip.compress(data, 6, mtime=0))
    sizes["/upload"] = len(UPLOAD_REPLY)
    # S7: 100 MiB of random bytes (incompressible), written in 1 MiB blocks.
    with open(html / "100m", "wb") as f:
        f.writelines(rng.randbytes(MIB) for _ in range(100))
    sizes["/100m"] = 100 * MIB
    return sizes


def expected(sc: Scenario, sizes: dict[str, int]) -> int:
    """What a client must get per request: decoded bytes, or JSON items."""
    return JSON_ITEMS[sc.path] if sc.json else sizes[sc.path]


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


def raise_nofile() -> int:
    """Lift this process's open-file limit to its hard limit (children inherit
    it: nginx and the clients need more than 10,000 sockets in S9)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nginx_conf(run: Path, port: int, tls_port: int, tls: TlsFiles, nofile: int) -> str:
    tmp = run / "tmp"
    # Running as root, nginx workers switch to "nobody", who may not be able
    # to reach a checkout under a private directory: stay root instead (the
    # server only listens on 127.0.0.1).
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conns = max(1024, min(65536, nofile - 64))
    # The same locations in both server blocks.
    locations = f"""\
        root {run / "html"};
        location / {{
            try_files $uri =404;
        }}
        # S1-5k, S3: base64 text served from the .gz file next to it, with
        # Content-Encoding: gzip, whatever the request's Accept-Encoding.
        location ~ ^/(5k|50k|200k)$ {{
            gzip_static always;
            try_files $uri =404;
        }}
        location ~ ^/json(1|10)$ {{
            default_type application/json;
            try_files $uri =404;
        }}
        location ~ ^/gz/json(1|10)$ {{
            default_type application/json;
            gzip_static always;
            try_files $uri =404;
        }}
        # S6: mirror_request_body makes nginx read the whole request body
        # (kept in memory up to client_body_buffer_size) before the content
        # phase; the static handler then refuses the POST with 405, which
        # error_page turns into "200 ok". So the reply is sent only after the
        # last byte of the upload has arrived (checked at start-up).
        location = /upload {{
            client_body_buffer_size 2m;
            mirror /_discard;
            mirror_request_body on;
            error_page 405 =200 @uploaded;
        }}
        location = /_discard {{
            internal;
            return 204;
        }}
        location @uploaded {{
            return 200 "{UPLOAD_REPLY.decode()}";
        }}
"""
    return f"""\
# Written by bench/harness.py; the run directory is deleted at exit.
{user}daemon off;
# 2 cores: one nginx worker, the other core for the client under test.
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {run / "nginx.pid"};
error_log {run / "error.log"} warn;

events {{
    worker_connections {conns};
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
    client_max_body_size 16m;
    gzip off;
{temp_paths}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        server_name localhost;
{locations}
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
{locations}
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


def _read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, from a raw socket."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {buf[:200]!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the body")
        body += chunk
    return status, headers, body[:n]


class Nginx:
    def __init__(self, run: Path, tls: TlsFiles, nofile: int) -> None:
        self.run = run
        self.tls = tls
        self.nofile = nofile
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
            conf.write_text(nginx_conf(self.run, self.port, self.tls_port, self.tls, self.nofile))
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

    def self_check(self, html: Path) -> None:
        """Fails the run when nginx does not serve what the scenarios assume."""
        # gzip: Content-Encoding: gzip even without Accept-Encoding, and the
        # body decodes to the file.
        for path in GZIP_PATHS:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                enc = r.getheader("Content-Encoding")
                if r.status != 200 or enc != "gzip":
                    raise RuntimeError(f"nginx self-check: {path} gave {r.status}, {enc!r}")
                if gzip.decompress(body) != (html / path.lstrip("/")).read_bytes():
                    raise RuntimeError(f"nginx self-check: {path} does not decode to the file")
            finally:
                conn.close()
        # upload: no reply before the whole body has arrived, then "200 ok",
        # and the connection is still good for the next request.
        n = MIB
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(
                f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {n}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            s.sendall(b"u" * (n // 2))
            early, _, _ = select.select([s], [], [], 0.3)
            if early:
                raise RuntimeError(
                    "nginx self-check: /upload answered before the body was complete: "
                    f"{s.recv(200)!r}"
                )
            s.sendall(b"u" * (n - n // 2))
            status, _, body = _read_response(s, 5)
            if status != 200 or body != UPLOAD_REPLY:
                raise RuntimeError(f"nginx self-check: /upload gave {status} {body!r}")
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _, body = _read_response(s, 5)
            if status != 200 or body != HELLO:
                raise RuntimeError("nginx self-check: no keep-alive after an upload")

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
        and k
        not in (
            "PYTHONPATH",
            "PYTHONHOME",
            "HTTPR_CA_BUNDLE",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SSL_CERT_DIR",
        )
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in bench/clients
    return env


# How a client that verified the certificate fails without the CA.
CERT_ERROR = re.compile(r"certificate|verif|issuer|UnknownIssuer", re.IGNORECASE)
CERT_REASON = re.compile(
    r"(certificate verify failed|CERTIFICATE_VERIFY_FAILED|invalid peer certificate|"
    r"unable to get local issuer certificate)[^'\")(\]]*",
    re.IGNORECASE,
)


class Progress:
    """One line per finished run on stderr: position, elapsed time, an ETA."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()

    @staticmethod
    def _clock(s: float) -> str:
        s = int(s)
        return f"{s // 60}:{s % 60:02d}"

    def line(self, msg: str, count: bool = True) -> None:
        if count:
            self.done += 1
        el = time.monotonic() - self.t0
        eta = ""
        if count and 0 < self.done < self.total:
            eta = f" eta {self._clock(el / self.done * (self.total - self.done))}"
        pos = f"{self.done}/{self.total}" if count else "-"
        print(f"[bench {self._clock(el)} {pos}{eta}] {msg}", file=sys.stderr, flush=True)


class Runner:
    def __init__(self, nginx: Nginx, opts: argparse.Namespace, sizes: dict[str, int]) -> None:
        self.nginx = nginx
        self.opts = opts
        self.sizes = sizes
        self.env = child_env()
        # Every client trusts the run's CA: SSL_CERT_FILE for those that read
        # it (httpr: OpenSSL's default paths; aiohttp: ssl.create_default_
        # context(); httpx: trust_env; pyreqwest: its rustls store); the
        # others read the same variable in their script and pass the file
        # through their own API (see bench/clients/*.py). Nothing else is
        # trusted more than usual.
        self.env["SSL_CERT_FILE"] = str(nginx.tls.ca)
        self.current: subprocess.Popen[str] | None = None
        self.fatal: dict[str, str] = {}  # client -> reason to skip it
        self.tls_fatal: dict[str, str] = {}  # client -> reason to skip its HTTPS rows
        self.verify: dict[str, str] = {}  # client -> what the verification probe showed
        self.lua: dict[int, Path] = {}

    def python_for(self, spec: ClientSpec) -> Path | str:
        """The client's Python, or why there is none."""
        if spec.venv == "main":
            return Path(sys.executable)
        venv = VENVS / spec.venv
        failed = venv / ".install-failed"
        if failed.exists():
            why = " / ".join(failed.read_text().strip().splitlines()[-2:])
            return f"not installed (pip failed: {why[:240]})"
        python = venv / "bin" / "python"
        if not python.exists():
            return (
                f"not installed: no venv at {venv.relative_to(ROOT)} "
                f"(bash bench/run.sh installs {PEER_REQS.relative_to(ROOT)}/{spec.venv}.txt)"
            )
        return python

    def skip_reason(self, name: str, sc: Scenario | None = None) -> str | None:
        if name in CEILINGS:
            return None
        if name in self.fatal:
            return self.fatal[name]
        if sc is not None and sc.tls and name in self.tls_fatal:
            return self.tls_fatal[name]
        if sc is not None and sc.mode == "burst" and self.opts.nofile < sc.batch + 300:
            return f"RLIMIT_NOFILE is {self.opts.nofile}, too low for {sc.batch:,} connections"
        spec = CLIENTS[name]
        if spec.venv == "main" and os.environ.get("HTTPR_BENCH_BUILD_FAILED"):
            return (
                "httpr build failed in tests/setup.sh (output above); "
                "not benchmarking a stale build"
            )
        python = self.python_for(spec)
        return python if isinstance(python, str) else None

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
        assert isinstance(python, Path)
        o = self.opts
        warmup = o.warmup if warmup is None else warmup
        duration, grace = o.duration, o.grace
        if sc.mode == "burst":
            duration, grace = o.burst_timeout, 0.0
        elif sc.mode == "batch":
            duration = max(o.duration, 0.5)
            grace = o.batch_timeout  # for the process limit below
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
            str(duration),
            "--warmup",
            str(warmup),
            "--grace",
            str(grace),
            "--count",
            str(count),
            "--expect-bytes",
            str(expected(sc, self.sizes)),
            "--pool",
            str(sc.pool),
            *(["--json"] if sc.json else []),
            *(["--body-bytes", str(sc.body_bytes)] if sc.body_bytes else []),
            *(
                ["--batch", str(sc.batch), "--batches", str(o.batches)]
                + ["--batch-timeout", str(o.batch_timeout)]
                if sc.batch
                else []
            ),
            *spec.args,
        ]
        limit = warmup + duration + grace + 30
        if sc.mode == "batch":
            limit += 2 * o.batch_timeout  # a warm-up batch and an overlong last one
        elif sc.mode == "burst":
            limit = duration + 5
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
        stderr_chunks: list[str] = []
        # Drain stderr concurrently: a chatty client must not block on a full pipe.
        drain = threading.Thread(
            target=lambda: stderr_chunks.append(p.stderr.read() if p.stderr else ""),
            daemon=True,
        )
        drain.start()
        try:
            assert p.stdout is not None
            for line in p.stdout:
                line = line.strip()
                if line == "#measure-start":
                    srv["start"] = self.nginx.worker_cpu()
                elif line == "#measure-end":
                    srv["end"] = self.nginx.worker_cpu()
                elif line:
                    lines.append(line)
            rc = p.wait()
            drain.join(5)
        finally:
            killer.cancel()
            self.current = None
        stderr = "".join(stderr_chunks)
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
            if result.get("batches"):
                result["srv_cpu_ms_per_batch"] = (
                    (srv["end"] - srv["start"]) * 1e3 / result["batches"]
                )
        if not result.get("ok") and result.get("fatal"):
            self.fatal[name] = result.get("error", "failed")
        return result

    def check_verify(self, name: str) -> str:
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
            self.verify[name] = f"refused, reason not shown ({err[:160]})"
        return self.verify[name]

    def _post_lua(self, n: int) -> Path:
        if n not in self.lua:
            path = self.nginx.run / f"post-{n}.lua"
            path.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n'
                f'wrk.body = string.rep("u", {n})\n'
            )
            self.lua[n] = path
        return self.lua[n]

    def run_wrk(self, sc: Scenario, seconds: float) -> dict[str, Any]:
        # wrk takes whole seconds only.
        cmd = [WRK, "-t1", f"-c{sc.concurrency}", f"-d{max(1, round(seconds))}s", "--latency"]
        if sc.mode == "cold":
            # The server closes after each response, wrk reconnects: a new
            # connection per request (for HTTPS wrk resumes its TLS session).
            cmd += ["-H", "Connection: close"]
        elif sc.mode == "stream":
            cmd += ["--timeout", "60s"]
        elif sc.mode == "upload":
            cmd += ["-s", str(self._post_lua(sc.body_bytes))]
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

    def run_curl(self, sc: Scenario, seconds: float) -> dict[str, Any]:
        """The curl CLI downloading the file again and again on one connection.

        One process, the URL given n times (each to -o /dev/null), so curl
        keeps the connection; MiB/s from the transfers' own times, without
        the process start.
        """
        n = max(3, round(seconds * 12))
        cmd = [CURL, "-sS", "--http1.1", "-w", "%{http_code} %{size_download} %{time_total}\\n"]
        if sc.tls:
            cmd += ["--cacert", str(self.nginx.tls.ca)]
        for _ in range(n):
            cmd += ["-o", "/dev/null", self.nginx.url(sc)]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        srv0 = self.nginx.worker_cpu()
        t0 = time.perf_counter()
        try:
            cp = subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                text=True,
                timeout=seconds * 10 + 60,
                env=self.env,
                preexec_fn=_set_pdeathsig,
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": "curl timed out"}
        wall = time.perf_counter() - t0
        srv1 = self.nginx.worker_cpu()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        want = self.sizes[sc.path]
        good, errors, busy = 0, 0, 0.0
        for line in cp.stdout.splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            if parts[0] == "200" and int(parts[1]) == want:
                good += 1
                busy += float(parts[2])
            else:
                errors += 1
        if cp.returncode != 0 or good == 0:
            return {
                "ok": False,
                "error": f"curl exit {cp.returncode}: {cp.stderr.strip()[-300:]}",
            }
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return {
            "ok": True,
            "requests": good,
            "errors": errors,
            "elapsed_s": busy,
            "wall_s": wall,
            "rps": good / busy,
            "cpu_us_per_req": cpu * 1e6 / good,
            "srv_cpu_us_per_req": (srv1 - srv0) * 1e6 / good,
            "version": curl_version(),
        }


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
        "curl": curl_version(),
        "libuv": f"{_cmd(['pkg-config', '--modversion', 'libuv'])} "
        f"(Debian libuv1-dev {_dpkg('libuv1-dev')})",
        "openssl": f"{_cmd(['pkg-config', '--modversion', 'openssl'])} "
        f"(Debian libssl-dev {_dpkg('libssl-dev')})",
    }


_curl_version: str | None = None


def curl_version() -> str:
    global _curl_version
    if _curl_version is None:
        first = _cmd([CURL, "--version"]).splitlines()[:1]
        _curl_version = " ".join(first[0].split()[:4]) if first else "curl unknown"
    return _curl_version


# --- results ----------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return statistics.median(vs) if vs else None


# Per-run numbers whose median a summary reports (when the runs have them).
NUM_KEYS = (
    "p50_us",
    "p99_us",
    "cpu_us_per_req",
    "srv_cpu_us_per_req",
    "maxrss_kb",
    "batch_ms",
    "batch_min_ms",
    "cpu_ms_per_batch",
    "srv_cpu_ms_per_batch",
    "batches",
    "rss_before_kb",
    "rss_peak_kb",
    "rss_per_req_kb",
    "fds_before",
    "requests",
)


def transfer_bytes(sc: Scenario, sizes: dict[str, int]) -> int:
    """Bytes moved per request that MiB/s counts (S6 up, S7 down), else 0."""
    if sc.mode == "upload":
        return sc.body_bytes
    if sc.mode == "stream":
        return sizes[sc.path]
    return 0


def summarize_row(row: Row, sizes: dict[str, int]) -> dict[str, Any]:
    ok = [r for r in row.runs if r.get("ok")]
    sc = row.scenario
    out: dict[str, Any] = {
        "scenario": sc.id,
        "group": sc.group,
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
        if row.skipped:
            out["skipped"] = True
        for r in row.runs:  # a burst that did not complete still tells how far it got
            for key in ("requests", "errors", "cancelled", "rss_per_req_kb", "batch_ms"):
                if r.get(key) is not None:
                    out.setdefault(key, r[key])
        return out
    rps = [r["rps"] for r in ok]
    out["rps"] = median(rps)
    out["best_rps"] = max(rps)
    spread_of = [r["batch_ms"] for r in ok] if sc.mode == "batch" else rps
    mid = statistics.median(spread_of)
    out["spread_pct"] = (
        (max(spread_of) - min(spread_of)) / mid * 100 if mid and len(ok) > 1 else None
    )
    for key in NUM_KEYS:
        if any(r.get(key) is not None for r in ok):
            out[key] = median([r.get(key) for r in ok])
    nbytes = transfer_bytes(sc, sizes)
    if nbytes:
        mib = nbytes / MIB
        out["mib_s"] = out["rps"] * mib
        for key in ("cpu", "srv_cpu"):
            v = out.get(f"{key}_us_per_req")
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
        for ref, key in ((PEER_REF, "x_aiohttp"), (WRK_ROW, "x_wrk"), (CURL_ROW, "x_curl")):
            other = by.get((s["scenario"], ref))
            if s.get("rps") and other and other.get("rps"):
                s[key] = s["rps"] / other["rps"]
        if s["mode"] == "batch" and s.get("batch_ms"):
            for ref, key in ((PEER_REF, "wall_vs_aiohttp"), (RUST_REF, "wall_vs_rust")):
                other = by.get((s["scenario"], ref))
                if other and other.get("batch_ms"):
                    s[key] = s["batch_ms"] / other["batch_ms"]
            a = by.get((s["scenario"], PEER_REF))
            if a and a.get("cpu_ms_per_batch") and s.get("cpu_ms_per_batch") is not None:
                s["cpu_vs_aiohttp"] = s["cpu_ms_per_batch"] / a["cpu_ms_per_batch"]


def _f(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}%"


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:g} MiB"
    if n >= 10 * KIB:
        return f"{n / KIB:.4g} KiB"
    return f"{n} B"


def _label(sc: Scenario, sizes: dict[str, int]) -> str:
    if sc.mode == "upload":
        return f"{sc.id} POST {sc.path} ({_size(sc.body_bytes)})"
    size = _size(sizes[sc.path])
    tags = [f"{JSON_ITEMS[sc.path]}×1024 floats, {size}" if sc.json else size]
    tags += [
        t
        for t, on in (
            ("gzip", sc.path in GZIP_PATHS),
            ("https", sc.tls),
            ("cold", sc.mode == "cold"),
        )
        if on
    ]
    return f"{sc.id} {sc.path} ({'; '.join(tags)})"


def _why(failed: str) -> str:
    """A failed row's reason, short enough for the table (the notes have it all)."""
    if "first error: " in failed:
        why = failed.split("first error: ", 1)[1].split(" | ")[0][:70]
    elif failed.startswith(("not installed", "did not complete", "RLIMIT")):
        why = failed.split(" (")[0][:70]
    else:
        why = failed.split(":")[0][:50]
    return why.replace("|", "/")


def _failed_cell(s: dict[str, Any]) -> str:
    word = "skipped" if s.get("skipped") else "failed"
    return f"{word}: {_why(s['failed'])}"


def tables(
    scenarios: list[Scenario], summaries: list[dict[str, Any]], sizes: dict[str, int]
) -> dict[str, str]:
    """The markdown tables, by kind: requests, transfers, batches (S3), burst (S9)."""
    req = [
        (
            "| scenario | client | in flight | req/s | ± | p50 µs | p99 µs "
            "| CPU µs/req | nginx CPU µs/req | errors | × aiohttp | × wrk |"
        ),
        "|" + "---|" * 12,
    ]
    xfer = [
        (
            "| scenario | client | MiB/s | req/s | ± | CPU µs/MiB | nginx CPU µs/MiB "
            "| peak RSS MiB | errors | × aiohttp | × curl | × wrk |"
        ),
        "|" + "---|" * 12,
    ]
    batch = [
        (
            f"| scenario ({S3_BATCH} at once) | client | ms per batch | ± | CPU ms per batch "
            "| nginx CPU ms per batch | errors | wall ÷ aiohttp's | wall ÷ rust-httpr's "
            "| CPU ÷ aiohttp's |"
        ),
        "|" + "---|" * 10,
    ]
    burst = [
        (
            "| scenario | client | completed | errors | wall ms | RSS before MiB "
            "| RSS peak MiB | KiB per request | CPU µs/req |"
        ),
        "|" + "---|" * 9,
    ]
    for sc in scenarios:
        label = _label(sc, sizes)
        for s in (x for x in summaries if x["scenario"] == sc.id):
            c = s["client"]
            failed = _failed_cell(s) if "failed" in s else None
            if sc.mode == "batch":
                if failed:
                    batch.append(f"| {label} | {c} | {failed} " + "|  " * 7 + "|")
                    continue
                batch.append(
                    f"| {label} | {c} | {_f(s.get('batch_ms'), ',.1f')} "
                    f"| {_pct(s.get('spread_pct'))} "
                    f"| {_f(s.get('cpu_ms_per_batch'), ',.1f')} "
                    f"| {_f(s.get('srv_cpu_ms_per_batch'), ',.1f')} | {s['errors']} "
                    f"| {_f(s.get('wall_vs_aiohttp'), '.2f')} "
                    f"| {_f(s.get('wall_vs_rust'), '.2f')} "
                    f"| {_f(s.get('cpu_vs_aiohttp'), '.2f')} |"
                )
            elif sc.mode == "burst":
                if failed:
                    done = s.get("requests")
                    burst.append(
                        f"| {label} | {c} | {failed}"
                        + (f" ({done:,} done)" if done is not None else "")
                        + " "
                        + "|  " * 6
                        + "|"
                    )
                    continue
                burst.append(
                    f"| {label} | {c} | {_f(s.get('requests'), ',.0f')} | {s['errors']} "
                    f"| {_f(s.get('batch_ms'), ',.0f')} "
                    f"| {_f((s.get('rss_before_kb') or 0) / 1024, '.0f')} "
                    f"| {_f((s.get('rss_peak_kb') or 0) / 1024, '.0f')} "
                    f"| {_f(s.get('rss_per_req_kb'), '.2f')} "
                    f"| {_f(s.get('cpu_us_per_req'), '.1f')} |"
                )
            elif sc.mode in ("stream", "upload"):
                if failed:
                    xfer.append(f"| {label} | {c} | {failed} " + "|  " * 9 + "|")
                    continue
                rss = s.get("maxrss_kb")
                xfer.append(
                    f"| {label} | {c} | {_f(s.get('mib_s'), ',.0f')} "
                    f"| {_f(s['rps'], ',.1f')} "
                    f"| {_pct(s.get('spread_pct'))} "
                    f"| {_f(s.get('cpu_us_per_mib'), ',.0f')} "
                    f"| {_f(s.get('srv_cpu_us_per_mib'), ',.0f')} "
                    f"| {_f(None if rss is None else rss / 1024, '.0f')} "
                    f"| {s['errors']} | {_f(s.get('x_aiohttp'), '.2f')} "
                    f"| {_f(s.get('x_curl'), '.2f')} | {_f(s.get('x_wrk'), '.2f')} |"
                )
            else:
                if failed:
                    req.append(f"| {label} | {c} | {sc.concurrency} | {failed} " + "|  " * 8 + "|")
                    continue
                req.append(
                    f"| {label} | {c} | {sc.concurrency} "
                    f"| {_f(s['rps'], ',.0f')} "
                    f"| {_pct(s.get('spread_pct'))} "
                    f"| {_f(s.get('p50_us'), '.0f')} | {_f(s.get('p99_us'), '.0f')} "
                    f"| {_f(s.get('cpu_us_per_req'), '.1f')} "
                    f"| {_f(s.get('srv_cpu_us_per_req'), '.1f')} "
                    f"| {s['errors']} | {_f(s.get('x_aiohttp'), '.2f')} "
                    f"| {_f(s.get('x_wrk'), '.2f')} |"
                )
    out = {}
    for kind, lines in (
        ("requests", req),
        ("transfers", xfer),
        ("batches", batch),
        ("burst", burst),
    ):
        if len(lines) > 2:
            out[kind] = "\n".join(lines)
    return out


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
            f"- The machine was noisy: the measure varied by more than {NOISY_PCT:.0f}% "
            f"between repetitions for {', '.join(noisy)}. Treat those ratios with care, or "
            "run again (`--reps 5`) on a quieter machine."
        )
    if any(s["client"] == "httpx-async" and s["concurrency"] > 1 for s in summaries):
        out.append(
            "- httpx.AsyncClient's CPU per request grows with the requests in flight (its "
            "connection pool re-examines every connection for each request, under an anyio "
            "lock: httpx issue 3215): its low rows with many in flight are httpx, not the "
            "harness."
        )
    # Skipped clients: one line per client and reason, not one per row.
    skipped: dict[tuple[str, str], list[str]] = {}
    for s in summaries:
        if s.get("skipped"):
            skipped.setdefault((s["client"], s["failed"]), []).append(s["scenario"])
    for (client, why), ids in skipped.items():
        where = "every row" if len(ids) > 3 else ", ".join(ids)
        out.append(f"- **{client}** skipped ({where}): {why}")
    for s in summaries:
        if "failed" in s and not s.get("skipped"):
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
    peers = ("httpr-sync", "httpr-async", "aiohttp", "httpx-sync", "httpx-async")
    cold = [by.get(("S2-https", c)) for c in peers]
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


# --- issue 5's targets --------------------------------------------------------


def targets(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 5's targets, each with what this run measured and whether it is met.

    Every number is a median of this run. ``met`` is None when a row the
    target needs did not run (or failed).
    """
    by = {(s["scenario"], s["client"]): s for s in summaries}

    def val(sc: str, client: str, key: str) -> float | None:
        s = by.get((sc, client))
        return None if s is None or "failed" in s else s.get(key)

    def peers_in(sc: str) -> list[dict[str, Any]]:
        return [
            s
            for s in summaries
            if s["scenario"] == sc
            and s["client"] not in OURS
            and s["client"] not in CEILINGS
            and "failed" not in s
            and s.get("rps")
        ]

    out: list[dict[str, Any]] = []

    def add(tid: str, text: str, measured: str, ok: bool | None) -> None:
        out.append({"id": tid, "target": text, "measured": measured, "met": ok})

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    # 1. AsyncClient /hello with 64 in flight.
    h = val("S4-64", "httpr-async", "rps")
    hu = val("S4-64", "httpr-async-uvloop", "rps")
    uv = f" (on uvloop: {_f(hu, ',.0f')} req/s)" if hu else ""
    w = val("S4-64", WRK_ROW, "rps")
    r = ratio(h, w)
    add(
        "1a",
        "AsyncClient, /hello, 64 in flight: ≥ 50% of wrk's req/s (64 connections)",
        f"httpr-async {_f(h, ',.0f')} vs wrk {_f(w, ',.0f')} req/s = {_f(r, '.0%')}{uv}",
        None if r is None else r >= 0.5,
    )
    a = [v for v in (val("S4-64", c, "rps") for c in ("aiohttp", "aiohttp-uvloop")) if v]
    r = ratio(h, max(a)) if a else None
    add(
        "1b",
        "… ≥ 3× the better of aiohttp and aiohttp+uvloop",
        f"{_f(r, '.2f')}× ({_f(max(a) if a else None, ',.0f')} req/s)",
        None if r is None else r >= 3,
    )
    ps = peers_in("S4-64")
    best = max(ps, key=lambda s: s["rps"]) if ps else None
    r = ratio(h, best["rps"]) if best else None
    add(
        "1c",
        "… ≥ 1.5× the fastest other peer",
        f"{_f(r, '.2f')}× {best['client'] if best else '—'} "
        f"({_f(best['rps'] if best else None, ',.0f')} req/s)",
        None if r is None else r >= 1.5,
    )

    # 2. S3: every cell.
    cells = sorted({s["scenario"] for s in summaries if s["mode"] == "batch"})

    def worst(key: str, ref: str) -> tuple[float | None, str, bool]:
        """The worst (largest) ratio httpr-async / ref over the S3 cells."""
        worst_r, where, complete = None, "—", bool(cells)
        for cell in cells:
            x = ratio(val(cell, "httpr-async", key), val(cell, ref, key))
            if x is None:
                complete = False
                continue
            if worst_r is None or x > worst_r:
                worst_r, where = x, cell
        return worst_r, where, complete

    for tid, key, ref, limit, text in (
        ("2a", "batch_ms", RUST_REF, 0.5, "S3: wall time ≤ 0.5× the Rust httpr's, every cell"),
        ("2b", "batch_ms", PEER_REF, 0.7, "S3: wall time ≤ 0.7× aiohttp's, every cell"),
        ("2c", "cpu_ms_per_batch", PEER_REF, 0.7, "S3: CPU time ≤ 0.7× aiohttp's, every cell"),
    ):
        wr, where, complete = worst(key, ref)
        met = None if wr is None else (wr <= limit and complete)
        add(
            tid,
            text,
            f"worst cell {where}: {_f(wr, '.2f')}× ({len(cells)} cells"
            + ("" if complete else ", some missing")
            + ")",
            met,
        )

    # 3. Sync Client, sequential /hello.
    h = val("S1", "httpr-sync", "rps")
    pc = val("S1", "pycurl", "rps")
    r = ratio(h, pc)
    add(
        "3a",
        "Sync Client, sequential /hello: ≥ 1.5× pycurl's req/s",
        f"httpr-sync {_f(h, ',.0f')} vs pycurl {_f(pc, ',.0f')} req/s = {_f(r, '.2f')}×",
        None if r is None else r >= 1.5,
    )
    hp, wp = val("S1", "httpr-sync", "p50_us"), val("S1", WRK_ROW, "p50_us")
    r = ratio(hp, wp)
    add(
        "3b",
        "… median latency within 2× of `wrk -c1`'s",
        f"p50 {_f(hp, '.0f')} µs vs wrk {_f(wp, '.0f')} µs = {_f(r, '.2f')}×",
        None if r is None else r <= 2,
    )

    # 4. CPU per request at 64 in flight.
    hc, ac = val("S4-64", "httpr-async", "cpu_us_per_req"), val("S4-64", PEER_REF, "cpu_us_per_req")
    r = ratio(hc, ac)
    add(
        "4",
        "CPU per request at 64 in flight ≤ 0.5× aiohttp's",
        f"httpr-async {_f(hc, '.1f')} µs vs aiohttp {_f(ac, '.1f')} µs = {_f(r, '.2f')}×",
        None if r is None else r <= 0.5,
    )

    # 5. /100m streamed vs curl.
    for tid, sc, limit, proto in (("5a", "S7", 0.8, "HTTP"), ("5b", "S8-S7", 0.7, "HTTPS")):
        c = val(sc, CURL_ROW, "mib_s")
        parts, rs = [], []
        for client in ("httpr-sync", "httpr-async"):
            v = ratio(val(sc, client, "mib_s"), c)
            parts.append(f"{client} {_f(val(sc, client, 'mib_s'), ',.0f')} ({_f(v, '.0%')})")
            rs.append(v)
        known = [x for x in rs if x is not None]
        add(
            tid,
            f"/100m streamed over {proto}: ≥ {limit:.0%} of `curl -o /dev/null`'s MiB/s "
            "(sync and async)",
            f"curl {_f(c, ',.0f')} MiB/s; " + ", ".join(parts),
            None if len(known) < 2 else min(known) >= limit,
        )

    # 6. S9.
    s9 = by.get(("S9", "httpr-async"))
    if s9 is None:
        add("6", "S9: 10,000 in flight complete without error; RSS ≤ 4 KiB each", "—", None)
    else:
        kib = s9.get("rss_per_req_kb")
        complete = "failed" not in s9 and not s9.get("errors")
        add(
            "6",
            "S9: 10,000 in flight complete without error; RSS per in-flight request ≤ 4 KiB",
            (
                f"httpr-async: {'completed' if complete else _why(s9.get('failed', 'errors'))}"
                f", {s9.get('errors', 0)} errors, {_f(kib, '.2f')} KiB per request"
            ),
            complete and kib is not None and kib <= 4,
        )

    # 7. S5-32.
    h = val("S5-32", "httpr-sync", "rps")
    ps = peers_in("S5-32")
    best = max(ps, key=lambda s: s["rps"]) if ps else None
    r = ratio(h, best["rps"]) if best else None
    add(
        "7",
        "One Client shared by 32 threads (S5): ahead of every sync peer",
        f"httpr-sync {_f(h, ',.0f')} req/s vs best {best['client'] if best else '—'} "
        f"{_f(best['rps'] if best else None, ',.0f')} = {_f(r, '.2f')}×",
        None if r is None else r > 1,
    )
    return out


def targets_md(rows: list[dict[str, Any]]) -> str:
    lines = ["| # | target | measured (medians of this run) | met |", "|---|---|---|---|"]
    for t in rows:
        met = {True: "**met**", False: "not met", None: "not measured"}[t["met"]]
        lines.append(f"| {t['id']} | {t['target']} | {t['measured']} | {met} |")
    return "\n".join(lines)


# --- charts -----------------------------------------------------------------

OUR_COLOR = "#d62728"
CEIL_COLOR = "#555555"


def _bar_color(client: str) -> str:
    if client in OURS:
        return OUR_COLOR
    if client in CEILINGS:
        return CEIL_COLOR
    return "#1f77b4"


def write_charts(
    summaries: list[dict[str, Any]], outdir: Path
) -> tuple[list[tuple[str, str]], str]:
    """PNG charts next to RESULTS.md; returns [(caption, path from bench/)] and a note."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator
    except Exception as exc:  # noqa: BLE001 - charts are optional
        return [], f"no charts: matplotlib is not importable ({type(exc).__name__}: {exc})"
    outdir.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    good = [s for s in summaries if "failed" not in s and s.get("rps")]

    def log_axis(axis: Any) -> None:
        """Plain numbers at 1, 2 and 5 times each power of ten."""
        label = FuncFormatter(lambda v, _pos: f"{v:,g}")
        axis.set_major_formatter(label)
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(label)

    def save(fig: Any, name: str, caption: str) -> None:
        tmp = outdir / (name + ".tmp")
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, outdir / name)
        made.append((caption, f"{outdir.name}/{name}"))

    # 1. S4: req/s against requests in flight, with the wrk line.
    s4 = [s for s in good if s["group"] == "S4"]
    if s4:
        fig, ax = plt.subplots(figsize=(9, 5.5))
        clients = [WRK_ROW] + [c for c in ASYNC if any(s["client"] == c for s in s4)]
        for c in clients:
            pts = sorted((s["concurrency"], s["rps"]) for s in s4 if s["client"] == c)
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            style: dict[str, Any] = {"marker": "o", "linewidth": 1.5}
            if c == WRK_ROW:
                style = {"marker": "s", "linestyle": "--", "color": "black", "linewidth": 2}
            elif c in OURS:
                style = {"marker": "o", "linewidth": 3}
            ax.plot(xs, ys, label=c, **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        log_axis(ax.yaxis)
        ax.set_xticks(list(S4_LEVELS))
        ax.set_xticklabels([str(n) for n in S4_LEVELS])
        ax.set_xlabel("requests in flight (wrk: connections)")
        ax.set_ylabel("req/s (log scale)")
        ax.set_title("S4: GET /hello, bounded concurrency (medians)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        save(fig, "s4_req_per_s.png", "S4: req/s against requests in flight, wrk dashed")

    # 2. CPU µs per request, S1 and S4-64.
    panels = [
        (sc, [s for s in good if s["scenario"] == sc and s.get("cpu_us_per_req")])
        for sc in ("S1", "S4-64")
    ]
    panels = [(sc, rows) for sc, rows in panels if rows]
    if panels:
        height = max(len(rows) for _, rows in panels) * 0.32 + 1.2
        fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), height), squeeze=False)
        for ax, (sc, rows) in zip(axes[0], panels, strict=True):
            rows = sorted(rows, key=lambda s: s["cpu_us_per_req"], reverse=True)
            names = [s["client"] for s in rows]
            vals = [s["cpu_us_per_req"] for s in rows]
            ax.barh(names, vals, color=[_bar_color(n) for n in names])
            ax.set_xscale("log")
            log_axis(ax.xaxis)
            ax.set_xlabel("client CPU µs per request (user+sys, log scale)")
            ax.set_title(f"{sc}: CPU per request (lower is better)")
            for i, v in enumerate(vals):
                ax.text(v, i, f" {v:,.0f}" if v >= 10 else f" {v:.1f}", va="center", fontsize=7)
            ax.grid(True, axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        save(fig, "cpu_per_request.png", "CPU µs per request, S1 and S4-64")

    # 3. MiB/s of the 100 MiB downloads, HTTP and HTTPS.
    panels = [
        (sc, [s for s in good if s["scenario"] == sc and s.get("mib_s")]) for sc in ("S7", "S8-S7")
    ]
    panels = [(sc, rows) for sc, rows in panels if rows]
    if panels:
        height = max(len(rows) for _, rows in panels) * 0.32 + 1.2
        fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), height), squeeze=False)
        for ax, (sc, rows) in zip(axes[0], panels, strict=True):
            rows = sorted(rows, key=lambda s: s["mib_s"])
            names = [s["client"] for s in rows]
            vals = [s["mib_s"] for s in rows]
            ax.barh(names, vals, color=[_bar_color(n) for n in names])
            ax.set_xlabel("MiB/s")
            ax.set_title(f"{sc}: /100m streamed{' over HTTPS' if sc != 'S7' else ''}")
            for i, v in enumerate(vals):
                ax.text(v, i, f" {v:,.0f}", va="center", fontsize=7)
            ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        save(
            fig,
            "downloads_mib_s.png",
            "MiB/s streaming /100m (S7 HTTP, S8-S7 HTTPS); grey: curl and wrk",
        )

    # 4. S3: ms per batch of 400, per cell.
    cells = [
        sc.id
        for sc in SCENARIOS
        if sc.mode == "batch" and any(s["scenario"] == sc.id for s in good)
    ]
    if cells:
        cols = min(4, len(cells))
        nrows = -(-len(cells) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.6 * nrows), squeeze=False)
        for i, cell in enumerate(cells):
            ax = axes[i // cols][i % cols]
            rows = sorted((s for s in good if s["scenario"] == cell), key=lambda s: s["batch_ms"])
            names = [s["client"] for s in rows]
            vals = [s["batch_ms"] for s in rows]
            ax.barh(names, vals, color=[_bar_color(n) for n in names])
            ax.set_xscale("log")
            log_axis(ax.xaxis)
            ax.set_title(f"{cell}: ms per batch", fontsize=9)
            ax.tick_params(labelsize=7)
            for k, v in enumerate(vals):
                ax.text(v, k, f" {v:,.0f}" if v >= 10 else f" {v:.1f}", va="center", fontsize=6)
            ax.grid(True, axis="x", which="both", alpha=0.3)
        for j in range(len(cells), nrows * cols):
            axes[j // cols][j % cols].axis("off")
        fig.tight_layout()
        save(
            fig,
            "s3_batch_ms.png",
            f"S3: wall ms per batch of {S3_BATCH} gathered requests (log scale, lower is better)",
        )
    return made, ""


# --- RESULTS.md and latest.json ----------------------------------------------

TABLE_TITLES = {
    "requests": "Requests (S1, S2, S4, S5, S8)",
    "transfers": "Transfers (S6 uploads, S7 and S8-S7 downloads)",
    "batches": f"S3: {S3_BATCH} requests gathered at once",
    "burst": f"S9: {S9_BURST:,} requests in flight at once",
}


def render_md(
    meta: dict[str, Any],
    tbls: dict[str, str],
    target_rows: list[dict[str, Any]],
    charts: list[tuple[str, str]],
    note_lines: list[str],
    versions: dict[str, str],
) -> str:
    m = meta["machine"]
    st = meta["settings"]
    client_lines = "\n".join(
        f"  - {k}: {v}" + (f" — {CLIENTS[k].describe}" if k in CLIENTS else "")
        for k, v in versions.items()
    )
    parts = [
        MD_START,
        f"## Latest run: {meta['date']}",
        "",
        f"Command: `{meta['command']}` ({meta['elapsed']} for the harness)",
        "",
    ]
    if st["quick"]:
        parts += [
            (
                "**A `--quick` run**: one short repetition, a subset of the concurrency "
                "levels; a smoke test of the harness, not numbers to quote."
            ),
            "",
        ]
    parts += ["### Issue 5's targets", "", targets_md(target_rows), ""]
    if charts:
        parts += ["### Charts", ""]
        parts += [f"![{cap}]({path})\n\n*{cap}*\n" for cap, path in charts]
    for kind, tbl in tbls.items():
        parts += [f"### {TABLE_TITLES[kind]}", "", tbl, ""]
    parts += [
        "### Method",
        "",
        (
            f"Medians of {st['reps']} interleaved repetitions; each client ran "
            f"{st['duration_s']:g} s after a {st['warmup_s']:g} s warm-up in a fresh "
            f"process; wrk ran {max(1, round(st['duration_s']))} s. `±` is the spread "
            "between repetitions (max − min, as % of the median). CPU is user+sys of "
            "the whole client process (every thread) during the measured phase; nginx "
            "CPU is its worker's. × columns are req/s (or MiB/s) ratios within this "
            "run. Every client's pool holds max(64, requests in flight) connections; "
            "every client accepts gzip and decodes it."
        ),
        "",
        (
            f"S3: one warm-up batch, then up to {st['batches']} measured batches (fewer "
            f"once {max(st['duration_s'], 0.5):g} s have passed); ms per batch is the "
            "median wall time from the first request started to the last body read "
            "(and decoded, for JSON); `wall ÷ …'s` below 1 is faster than that client."
        ),
        "",
        (
            f"S9: a warm-up gather of {S9_BURST // 100} requests, then one gather of "
            f"{S9_BURST:,}; each client may open {S9_BURST:,} connections (nginx "
            f"worker_connections and RLIMIT_NOFILE = {st['nofile']} allow it). KiB per "
            "request is the burst's peak RSS (sampled every millisecond, and the "
            "kernel's high-water mark) minus the RSS just before it, over "
            f"{S9_BURST:,}. A burst still running after {st['burst_timeout_s']:g} s is "
            "cancelled and reported as not completed."
        ),
        "",
        (
            "S6: nginx reads each upload to its last byte before it answers "
            "(`mirror_request_body on`; checked at start-up by sending half a body "
            "and watching for an early reply); wrk posts the same sizes (a Lua script)."
        ),
        "",
        (
            "Downloads: MiB/s is downloads per second × the file's size; each client "
            "reads the body in the chunks its API yields and drops them. curl is one "
            "`curl -o /dev/null` process fetching the file over and over on one "
            "connection (`--cacert` for HTTPS), timed by its own `time_total`. Peak "
            "RSS is the client process's maximum resident set over its whole run."
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
        f"- {m['python']}; {m['wrk']}; {m['curl']}; libuv {m['libuv']}; OpenSSL {m['openssl']}",
        "- clients (each peer in its own venv, `bench/requirements-peers/*.txt`):",
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
        description="Benchmark httpr against its peers and the wrk/curl ceilings on a "
        "local nginx (scenarios S1-S9 of BENCH.md; S10 is bench/soak.py).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test of every scenario group S1-S9 (under 3 minutes): 1 repetition "
        "of short runs, and only "
        + ", ".join(sc.id for sc in SCENARIOS if sc.quick)
        + " (S9 with fewer peers)",
    )
    p.add_argument(
        "--duration",
        type=float,
        help="measured seconds per run (default 1; 0.25 with --quick; wrk rounds it "
        "to whole seconds)",
    )
    p.add_argument(
        "--warmup", type=float, help="warm-up seconds per client run (default 0.3; 0.1 quick)"
    )
    p.add_argument(
        "--reps",
        type=int,
        help="interleaved repetitions, median reported (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--batches",
        type=int,
        help="S3: measured batches per run at most (default 3; 1 with --quick)",
    )
    p.add_argument(
        "--burst-timeout",
        type=float,
        help="S9: seconds before a burst that has not completed is cancelled "
        "(default 15; 5 with --quick)",
    )
    p.add_argument(
        "--batch-timeout",
        type=float,
        help="S3: seconds one batch may take before it is cancelled and the run "
        "fails (default 10; 3 with --quick)",
    )
    p.add_argument(
        "--grace",
        type=float,
        help="seconds after a run's end before requests still in flight are cancelled (default 3)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="CLIENT_OR_SCENARIO",
        help="run only these clients and/or scenarios (repeatable or comma "
        "separated; a prefix like 'httpr', 'aiohttp', 'S4' or 'S3' selects its "
        "variants; 'wrk' or 'curl' = only that ceiling). Clients: "
        + ", ".join(CLIENTS)
        + ". Scenarios: "
        + ", ".join(sc.id for sc in SCENARIOS),
    )
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk and curl ceiling rows")
    p.add_argument(
        "--no-write",
        action="store_true",
        help="print the tables only; leave bench/RESULTS.md and bench/results/ alone",
    )
    p.add_argument(
        "--keep-run-dir", action="store_true", help="keep bench/run/<pid>/ (nginx.conf, error.log)"
    )
    o = p.parse_args(argv)
    defaults = (
        {
            "duration": 0.25,
            "warmup": 0.1,
            "reps": 1,
            "batches": 1,
            "burst_timeout": 5.0,
            "batch_timeout": 3.0,
        }
        if o.quick
        else {
            "duration": 1.0,
            "warmup": 0.3,
            "reps": 3,
            "batches": 3,
            "burst_timeout": 15.0,
            "batch_timeout": 10.0,
        }
    )
    defaults["grace"] = 3.0
    for k, v in defaults.items():
        if getattr(o, k) is None:
            setattr(o, k, v)
    if o.only:
        o.only = [x.strip() for arg in o.only for x in arg.split(",") if x.strip()]
        known = list(CLIENTS) + list(CEILINGS) + [sc.id for sc in SCENARIOS]
        for x in o.only:
            if not any(selected(k, [x]) for k in known):
                p.error(f"--only {x}: no such client or scenario ({', '.join(known)})")
    if o.reps < 1 or o.duration <= 0 or o.warmup < 0 or o.batches < 1 or o.burst_timeout <= 0:
        p.error(
            "--reps and --batches must be >= 1, --duration and --burst-timeout > 0, --warmup >= 0"
        )
    return o


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60} min {s % 60:02d} s"


def run_line(row: Row, res: dict[str, Any], sizes: dict[str, int]) -> str:
    """What one finished run printed on the progress line."""
    sc = row.scenario
    if not res.get("ok"):
        return f"FAILED: {str(res.get('error'))[:160]}"
    err = f"  errors {res['errors']}" if res.get("errors") else ""
    cpu = res.get("cpu_us_per_req") or 0
    nbytes = transfer_bytes(sc, sizes)
    if sc.mode == "batch":
        return (
            f"{res['batch_ms']:8,.1f} ms/batch ({res['batches']} batches)  "
            f"cpu {res['cpu_ms_per_batch']:7,.1f} ms/batch{err}"
        )
    if sc.mode == "burst":
        return (
            f"{res['requests']:,} done in {res['batch_ms']:,.0f} ms  "
            f"rss +{res['rss_per_req_kb']:.2f} KiB/req  cpu {cpu:.1f} µs/req{err}"
        )
    if nbytes:
        mib = nbytes / MIB
        return (
            f"{res['rps'] * mib:>8,.0f} MiB/s  cpu {cpu / mib:6.0f} µs/MiB  "
            f"rss {(res.get('maxrss_kb') or 0) / 1024:5.0f} MiB{err}"
        )
    return (
        f"{res['rps']:>10,.0f} req/s  p50 {res.get('p50_us') or 0:>7.0f} µs  "
        f"cpu {cpu:6.1f} µs/req{err}"
    )


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    command = os.environ.get("HTTPR_BENCH_COMMAND") or shlex.join(
        [sys.executable, "bench/harness.py", *argv]
    )
    t_start = time.monotonic()
    opts.nofile = raise_nofile()

    only_scenarios, only_clients = split_only(opts.only)
    scenarios = []
    for sc in SCENARIOS:
        if not selected(sc.id, only_scenarios):
            continue
        if opts.quick and not sc.quick and not only_scenarios:
            continue
        clients = tuple(
            c
            for c in sc.clients
            if selected(c, only_clients)
            and not (opts.quick and sc.quick_clients and c not in sc.quick_clients)
        )
        ceilings = tuple(
            c
            for c in sc.ceilings
            if not opts.no_wrk and (not only_clients or selected(c, only_clients) or clients)
        )
        if clients or ceilings:
            scenarios.append(dataclasses.replace(sc, clients=clients, ceilings=ceilings))
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
    rows: list[Row] = []
    try:
        nginx = Nginx(run, make_certs(run / "tls"), opts.nofile)
        sizes = make_payloads(run / "html")
        nginx.start()
        nginx.self_check(run / "html")
        log(
            f"nginx {nginx.proc.pid if nginx.proc else '?'} on {nginx.base} and "
            f"{nginx.tls_base} ({nginx.tls_session}); {len(scenarios)} scenarios; "
            f"{opts.reps} reps x {opts.duration:g} s (+{opts.warmup:g} s warm-up per "
            f"client run); RLIMIT_NOFILE {opts.nofile}"
        )
        tls_session = nginx.tls_session
        runner = Runner(nginx, opts, sizes)

        for sc in scenarios:
            rows.extend(Row(sc, c) for c in sc.ceilings)
            rows.extend(Row(sc, c) for c in sc.clients)
        verify = [
            name
            for name in CLIENTS
            if any(sc.tls and name in sc.clients for sc in scenarios)
            and runner.skip_reason(name) is None
        ]

        def reps_of(row: Row) -> int:
            # S9 runs once: it is a pass/fail test with an RSS reading, and
            # a slow client's burst takes many seconds.
            return 1 if row.scenario.mode == "burst" else opts.reps

        progress = Progress(len(verify) + sum(reps_of(r) for r in rows))
        for name in verify:
            progress.line(f"certificate check {name:18} {runner.check_verify(name)}")

        if any(sc.ceilings for sc in scenarios):  # warm the server once
            runner.run_wrk(Scenario("warm", "", "/hello", 64, ()), 1)

        # A row whose run timed out is not tried again in later repetitions,
        # and a client whose batch or burst timed out is not tried on the
        # other cells of that group: it would only burn the time budget.
        gave_up: dict[tuple[str, str], str] = {}
        for rep in range(1, opts.reps + 1):
            for row in rows:
                sc = row.scenario
                if rep > reps_of(row):
                    continue
                head = f"rep {rep}/{opts.reps} {sc.id:12} {row.client:18}"
                why = (
                    runner.skip_reason(row.client, sc)
                    or gave_up.get((sc.id, row.client))
                    or gave_up.get((sc.group, row.client))
                )
                if why:
                    if not row.runs:
                        row.skipped = why
                    progress.line(f"{head} skipped: {why[:120]}")
                    continue
                t0 = time.monotonic()
                if row.client == WRK_ROW:
                    res = runner.run_wrk(sc, opts.duration)
                elif row.client == CURL_ROW:
                    res = runner.run_curl(sc, opts.duration)
                else:
                    res = runner.run_client(sc, row.client)
                row.runs.append(res)
                took = time.monotonic() - t0
                progress.line(f"{head} {run_line(row, res, sizes)}  [{took:.1f} s]")
                err = str(res.get("error") or "")
                if not res.get("ok") and (
                    res.get("cancelled") or "killed after" in err or "did not" in err
                ):
                    gave_up[(sc.id, row.client)] = f"gave up after rep {rep}: {err[:100]}"
                    if sc.mode in ("batch", "burst"):
                        gave_up[(sc.group, row.client)] = f"gave up after {sc.id}: {err[:100]}"
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

    elapsed = _clock(time.monotonic() - t_start)
    summaries = [summarize_row(r, sizes) for r in rows]
    add_ratios(summaries)
    tbls = tables(scenarios, summaries, sizes)
    target_rows = targets(summaries)
    note_lines = acceptance(summaries) + notes(summaries)
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
    for s in summaries:
        if s["client"] not in versions:
            versions[s["client"]] = f"skipped: {s['failed']}" if s.get("skipped") else "did not run"
    order = [*CEILINGS, *CLIENTS]
    versions = dict(sorted(versions.items(), key=lambda kv: order.index(kv[0])))

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "elapsed": elapsed,
        "machine": machine_facts(),
        "scenarios": [
            {"id": sc.id, "title": sc.title, "tls": sc.tls, "mode": sc.mode} for sc in scenarios
        ],
        "settings": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "reps": opts.reps,
            "batches": opts.batches,
            "burst_timeout_s": opts.burst_timeout,
            "batch_timeout_s": opts.batch_timeout,
            "grace_s": opts.grace,
            "quick": opts.quick,
            "only": opts.only,
            "nofile": opts.nofile,
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
                "certificate (no `verify=False` anywhere), trusting the run's CA: httpr, "
                "aiohttp, httpx and pyreqwest through `SSL_CERT_FILE=<ca.pem>` in their "
                "environment, which their default trust store reads; wreq, curl_cffi, "
                "niquests, requests, pycurl and the Rust httpr ignore that variable "
                "(webpki/BoringSSL roots, certifi, the system store), so their scripts "
                "pass the same file through the library's own option (`tls_verify=Path`, "
                "`verify=<path>`, `CAINFO`, `ca_cert_file`) when `SSL_CERT_FILE` is set."
            ),
            "verify": dict(runner.verify) if runner else {},
            "wrk": (
                "wrk does not verify certificates (it sets `SSL_VERIFY_NONE` and has no "
                "option for it), and its new connections in S2-https resume its TLS "
                "session, which a new client cannot: that row is a floor, not a "
                "like-for-like ceiling. curl verifies (`--cacert`)."
            ),
        }
    print()
    print(targets_md(target_rows))
    for kind, tbl in tbls.items():
        print()
        print(f"{TABLE_TITLES[kind]}:")
        print(tbl)
    if runner and runner.verify:
        print()
        print("Certificate checks: " + "; ".join(f"{k}: {v}" for k, v in runner.verify.items()))
    if note_lines:
        print()
        print("\n".join(note_lines))
    print()
    log(f"harness time: {elapsed}")

    if not opts.no_write:
        charts, why = write_charts(summaries, RESULTS_DIR)
        if why:
            log(why)
            note_lines.append(f"- {why}")
        write_results_md(render_md(meta, tbls, target_rows, charts, note_lines, versions))
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
                        "pool": s.pool,
                        "tls": s.tls,
                        "mode": s.mode,
                        "json": s.json,
                        "body_bytes": s.body_bytes,
                        "batch": s.batch,
                        "clients": list(s.clients),
                        "ceilings": list(s.ceilings),
                    }
                    for s in scenarios
                ],
                "versions": versions,
                "targets": target_rows,
                "charts": [p for _, p in charts],
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
        log(
            f"wrote {RESULTS_MD.relative_to(ROOT)}, {RESULTS_JSON.relative_to(ROOT)}"
            + (f" and {len(charts)} charts in {RESULTS_DIR.relative_to(ROOT)}/" if charts else "")
        )
    # Non-zero when one of httpr's own rows failed outright (not merely
    # skipped), so CI notices; a peer that fails a scenario (httpx with 400 in
    # flight, say) is a finding reported in the notes, not a broken run.
    return (
        1
        if any("failed" in s and not s.get("skipped") and s["client"] in OURS for s in summaries)
        else 0
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
