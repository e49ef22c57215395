"""httpr.Client (sync) from PyPI, the Rust original (reqwest, rustls), in its
own venv: one reused client; --concurrency N > 1 shares it between N threads.
Streams with ``client.stream()`` / ``iter_bytes()``. Certificates: its
rustls trust store does not read SSL_CERT_FILE, so the CA file is passed as
``ca_cert_file`` (the library's own option). Prints one JSON line (see
_common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
from _common import ca_file, dist_version, fail, parse_args, run_sync

NAME = "rust-httpr-sync"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import httpr failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return httpr.Client(ca_cert_file=ca_file())


def version() -> str:
    return f"httpr {dist_version('httpr')} (PyPI)"


run_sync(
    NAME,
    args,
    new=new,
    **httpx_style.SYNC,
    version=version,
)
