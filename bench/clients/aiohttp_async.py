"""aiohttp.ClientSession with TCPConnector(limit=--pool), reused; --uvloop
runs it on uvloop. Bodies with ``resp.read()`` / ``resp.json()``, streams
with ``resp.content.iter_any()``. Certificates: ssl.create_default_context(),
which honours SSL_CERT_FILE. Prints one JSON line (see _common.py)."""

from __future__ import annotations

import sys
from typing import Any

from _common import fail, parse_args, run_async, versions

NAME = "aiohttp-uvloop" if "--uvloop" in sys.argv else "aiohttp"
args = parse_args(__doc__ or NAME)

try:
    import aiohttp  # type: ignore[import-not-found, unused-ignore]

    if args.uvloop:
        import uvloop  # noqa: F401 - fail here, not in the middle of a run
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))


async def get(s: Any, url: str) -> tuple[int, bytes]:
    async with s.get(url) as resp:
        return resp.status, await resp.read()


async def get_json(s: Any, url: str) -> tuple[int, Any]:
    async with s.get(url) as resp:
        return resp.status, await resp.json()


async def stream(s: Any, url: str) -> tuple[int, int]:
    n = 0
    async with s.get(url) as resp:
        async for chunk in resp.content.iter_any():
            n += len(chunk)
        return resp.status, n


async def post(s: Any, url: str, data: bytes) -> tuple[int, bytes]:
    async with s.post(url, data=data) as resp:
        return resp.status, await resp.read()


async def close(s: Any) -> None:
    await s.close()


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("aiohttp", "multidict", "yarl"),
)
