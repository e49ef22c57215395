"""httpr.AsyncClient from PyPI, the Rust original, in its own venv: the sync
client run in a thread pool of ``max_concurrency`` = --pool threads (its
design). Streams with ``client.stream()`` / ``aiter_bytes()``. Certificates:
``ca_cert_file`` = SSL_CERT_FILE (rustls does not read the variable).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
from _common import ca_file, dist_version, fail, parse_args, run_async

NAME = "rust-httpr-async"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return httpr.AsyncClient(max_concurrency=pool, ca_cert_file=ca_file())


def version() -> str:
    return f"httpr {dist_version('httpr')} (PyPI)"


run_async(
    NAME,
    args,
    new=new,
    **httpx_style.ASYNC,
    version=version,
)
