"""wreq (Rust, BoringSSL; the successor of rnet) async Client, reused:
``Client(pool_max_size=--pool, pool_max_idle_per_host=--pool, gzip=True)``,
no browser emulation. Responses used as ``async with client.get(url) as
resp`` (the connection goes back to the pool), bodies with ``resp.bytes()``
/ ``resp.json()``, streams with ``resp.stream()``. Certificates: wreq does
not read SSL_CERT_FILE, so the CA file is passed as ``tls_verify=Path(...)``
(its own option). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import ca_file, fail, parse_args, run_async, versions

NAME = "wreq-async"
args = parse_args(__doc__ or NAME)

try:
    import wreq  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    ca = ca_file()
    return wreq.Client(
        pool_max_size=pool,
        pool_max_idle_per_host=pool,
        gzip=True,
        tls_verify=Path(ca) if ca else True,
    )


async def get(c: Any, url: str) -> tuple[int, bytes]:
    async with c.get(url) as resp:
        return resp.status.as_int(), await resp.bytes()


async def get_json(c: Any, url: str) -> tuple[int, Any]:
    async with c.get(url) as resp:
        return resp.status.as_int(), await resp.json()


async def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    async with c.get(url) as resp:
        async with resp.stream() as chunks:
            async for chunk in chunks:
                n += len(chunk)
        return resp.status.as_int(), n


async def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    async with c.post(url, body=data) as resp:
        return resp.status.as_int(), await resp.bytes()


async def close(c: Any) -> None:
    c.close()


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("wreq"),
)
