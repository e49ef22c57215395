"""pycurl: one ``pycurl.Curl`` handle reused (libcurl keeps its connection
alive); with --concurrency N > 1 each thread has its own handle (a handle
must not be used by two threads at once; libcurl's documented way).
``ACCEPT_ENCODING ""`` (every coding libcurl decodes), ``NOSIGNAL``, and no
``Expect: 100-continue`` on uploads (the other clients send none). Bodies
into a BytesIO, streams through a WRITEFUNCTION that counts and drops.
Certificates: libcurl does not read SSL_CERT_FILE, so the CA file is set as
``CAINFO`` (its own option). Prints one JSON line (see _common.py)."""

from __future__ import annotations

import io
from typing import Any

from _common import ca_file, fail, parse_args, run_sync, versions

NAME = "pycurl"
args = parse_args(__doc__ or NAME)

try:
    import pycurl  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)

CA = ca_file()


def new(pool: int) -> Any:
    c = pycurl.Curl()
    c.setopt(pycurl.NOSIGNAL, 1)
    c.setopt(pycurl.ACCEPT_ENCODING, "")
    c.setopt(pycurl.MAXCONNECTS, pool)
    if CA:
        c.setopt(pycurl.CAINFO, CA)
    return c


def get(c: Any, url: str) -> tuple[int, bytes]:
    buf = io.BytesIO()
    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.WRITEDATA, buf)
    c.perform()
    return c.getinfo(pycurl.RESPONSE_CODE), buf.getvalue()


def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0

    def write(chunk: bytes) -> None:
        nonlocal n
        n += len(chunk)

    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.WRITEFUNCTION, write)
    c.perform()
    return c.getinfo(pycurl.RESPONSE_CODE), n


def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    buf = io.BytesIO()
    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.HTTPHEADER, ["Expect:"])
    c.setopt(pycurl.POSTFIELDS, data)
    c.setopt(pycurl.WRITEDATA, buf)
    c.perform()
    return c.getinfo(pycurl.RESPONSE_CODE), buf.getvalue()


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    stream=stream,
    post=post,
    close=lambda c: c.close(),
    thread_safe=False,
    version=lambda: f"{pycurl.version} ({versions('pycurl')})",
)
