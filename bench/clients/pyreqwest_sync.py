"""pyreqwest (Rust reqwest, rustls) SyncClient, reused and shared by the
threads: ``SyncClientBuilder().max_connections(--pool)
.pool_max_idle_per_host(--pool)``, gzip on. Streams with
``build_streamed()`` and ``body_reader.read_chunk()``. Certificates: its
rustls store reads SSL_CERT_FILE (checked by the harness). Prints one JSON
line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import fail, parse_args, run_sync, versions

NAME = "pyreqwest-sync"
args = parse_args(__doc__ or NAME)

try:
    from pyreqwest.client import SyncClientBuilder  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    b = SyncClientBuilder().max_connections(pool).pool_max_idle_per_host(pool)
    return b.gzip(True).build()


def get(c: Any, url: str) -> tuple[int, bytes]:
    resp = c.get(url).build().send()
    return resp.status, resp.bytes()


def get_json(c: Any, url: str) -> tuple[int, Any]:
    resp = c.get(url).build().send()
    return resp.status, resp.json()


def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    with c.get(url).build_streamed() as resp:
        reader = resp.body_reader
        while (chunk := reader.read_chunk()) is not None:
            n += len(chunk)
        return resp.status, n


def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    resp = c.post(url).body_bytes(data).build().send()
    return resp.status, resp.bytes()


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=lambda c: c.close(),
    version=lambda: versions("pyreqwest"),
)
