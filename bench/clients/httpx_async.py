"""httpx.AsyncClient on asyncio with Limits(max_connections=--pool,
max_keepalive_connections=--pool), reused. Streams with ``client.stream()`` /
``aiter_bytes()``. Certificates: the default (trust_env: SSL_CERT_FILE).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import fail, parse_args, run_async, versions

NAME = "httpx-async"
args = parse_args(__doc__ or NAME)

try:
    import httpx  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    return httpx.AsyncClient(limits=limits)


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


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("httpx", "httpcore", "h11", "anyio"),
)
