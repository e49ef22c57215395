"""httpr.Client (sync), this project: one reused client; --concurrency N > 1
shares it between N threads. Streams with ``client.stream()`` /
``iter_bytes()``. Certificates: OpenSSL's default verify paths, which honour
SSL_CERT_FILE. Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import dist_version, fail, parse_args, run_sync

NAME = "httpr-sync"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import httpr failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    # The sync client has no cap on connections per origin: one per thread.
    return httpr.Client()


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


def version() -> str:
    return f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=lambda c: c.close(),
    version=version,
    extra=lambda: {"module": httpr.__file__},
)
