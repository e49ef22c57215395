"""httpr.Client (sync), this project: one reused client; --concurrency N > 1
shares it between N threads. Streams with ``client.stream()`` /
``iter_bytes()``. Certificates: OpenSSL's default verify paths, which honour
SSL_CERT_FILE. Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
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


def version() -> str:
    return f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"


run_sync(
    NAME,
    args,
    new=new,
    **httpx_style.SYNC,
    version=version,
    extra=lambda: {"module": httpr.__file__},
)
