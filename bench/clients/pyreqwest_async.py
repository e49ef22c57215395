"""pyreqwest (Rust reqwest, rustls) async Client, reused:
``ClientBuilder().max_connections(--pool).pool_max_idle_per_host(--pool)``,
gzip on. Bodies with ``await resp.bytes()`` / ``resp.json()``, streams with
``build_streamed()`` and ``body_reader.read_chunk()``. Certificates: its
rustls store reads SSL_CERT_FILE (checked by the harness). Prints one JSON
line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import fail, parse_args, run_async, versions

NAME = "pyreqwest-async"
args = parse_args(__doc__ or NAME)

try:
    from pyreqwest.client import ClientBuilder  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return ClientBuilder().max_connections(pool).pool_max_idle_per_host(pool).gzip(True).build()


async def get(c: Any, url: str) -> tuple[int, bytes]:
    resp = await c.get(url).build().send()
    return resp.status, await resp.bytes()


async def get_json(c: Any, url: str) -> tuple[int, Any]:
    resp = await c.get(url).build().send()
    return resp.status, await resp.json()


async def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    async with c.get(url).build_streamed() as resp:
        reader = resp.body_reader
        while (chunk := await reader.read_chunk()) is not None:
            n += len(chunk)
        return resp.status, n


async def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    resp = await c.post(url).body_bytes(data).build().send()
    return resp.status, await resp.bytes()


async def close(c: Any) -> None:
    await c.close()


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("pyreqwest"),
)
