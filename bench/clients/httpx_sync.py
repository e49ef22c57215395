"""httpx.Client (sync) with Limits(max_connections=--pool,
max_keepalive_connections=--pool): one reused client; --concurrency N > 1
shares it between N threads (httpx.Client is thread-safe). Streams with
``client.stream()`` / ``iter_bytes()``. Certificates: the default (trust_env:
SSL_CERT_FILE). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import fail, parse_args, run_sync, versions

NAME = "httpx-sync"
args = parse_args(__doc__ or NAME)

try:
    import httpx  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    return httpx.Client(limits=limits)


def get(c: Any, url: str) -> tuple[int, bytes]:
    r = c.get(url)
    return r.status_code, r.content


def get_json(c: Any, url: str) -> tuple[int, Any]:
    r = c.get(url)
    return r.status_code, r.json()


def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    with c.stream("GET", url) as r:
        for chunk in r.iter_bytes():
            n += len(chunk)
        return r.status_code, n


def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = c.post(url, content=data)
    return r.status_code, r.content


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=lambda c: c.close(),
    version=lambda: versions("httpx", "httpcore", "h11"),
)
