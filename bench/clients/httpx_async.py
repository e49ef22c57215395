"""httpx.AsyncClient on asyncio with Limits(max_connections=--pool,
max_keepalive_connections=--pool), reused. Streams with ``client.stream()`` /
``aiter_bytes()``. Certificates: the default (trust_env: SSL_CERT_FILE).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
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


run_async(
    NAME,
    args,
    new=new,
    **httpx_style.ASYNC,
    version=lambda: versions("httpx", "httpcore", "h11", "anyio"),
)
