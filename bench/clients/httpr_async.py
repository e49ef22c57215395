"""httpr.AsyncClient, this project (native asyncio, no thread pool):
``max_concurrency`` = the pool size, so every requested in-flight level is
really in flight; --uvloop runs it on uvloop. Streams with ``client.stream()``
/ ``aiter_bytes()``. Certificates: OpenSSL's default verify paths, which
honour SSL_CERT_FILE. Prints one JSON line (see _common.py)."""

from __future__ import annotations

import sys
from typing import Any

import _httpx_style as httpx_style
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


def version() -> str:
    return f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"


run_async(
    NAME,
    args,
    new=new,
    **httpx_style.ASYNC,
    version=version,
    extra=lambda: {"module": httpr.__file__},
)
