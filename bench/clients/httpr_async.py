"""httpr.AsyncClient, this project (native asyncio, no thread pool):
``max_concurrency`` = the pool size, so every requested in-flight level is
really in flight; --uvloop runs it on uvloop. Streams with ``client.stream()``
/ ``aiter_bytes()``. Certificates: OpenSSL's default verify paths, which
honour SSL_CERT_FILE. Prints one JSON line (see _common.py)."""

from __future__ import annotations

import sys
from typing import Any

from _common import dist_version, fail, parse_args, run_async

NAME = "httpr-async-uvloop" if "--uvloop" in sys.argv else "httpr-async"
args = parse_args(__doc__ or NAME)

try:
    import httpr

    if args.uvloop:
        import uvloop  # noqa: F401 - fail here, not in the middle of a run
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return httpr.AsyncClient(max_concurrency=pool)


async def get(c: Any, url: str) -> tuple[int, bytes]:
    r = await c.get(url)
    return r.status_code, r.content


async def get_json(c: Any, url: str) -> tuple[int, Any]:
    r = await c.get(url)
    return r.status_code, r.json()


async def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    async with c.stream("GET", url) as r:
        async for chunk in r.aiter_bytes():
            n += len(chunk)
        return r.status_code, n


async def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = await c.post(url, content=data)
    return r.status_code, r.content


async def close(c: Any) -> None:
    await c.aclose()


def version() -> str:
    return f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=version,
    extra=lambda: {"module": httpr.__file__},
)
