"""httpx.Client (sync) with Limits(max_connections=--pool,
max_keepalive_connections=--pool): one reused client; --concurrency N > 1
shares it between N threads (httpx.Client is thread-safe). Streams with
``client.stream()`` / ``iter_bytes()``. Certificates: the default (trust_env:
SSL_CERT_FILE). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
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


run_sync(
    NAME,
    args,
    new=new,
    **httpx_style.SYNC,
    version=lambda: versions("httpx", "httpcore", "h11"),
)
