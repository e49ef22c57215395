"""wreq (Rust, BoringSSL; the successor of rnet) ``wreq.blocking.Client``,
reused and shared by the threads: ``pool_max_size=--pool``,
``pool_max_idle_per_host=--pool``, gzip on, no browser emulation. Responses
used as ``with client.get(url) as resp``, streams with ``resp.stream()``.
Certificates: ``tls_verify=Path(SSL_CERT_FILE)`` (wreq does not read the
variable). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import ca_file, fail, parse_args, run_sync, versions

NAME = "wreq-sync"
args = parse_args(__doc__ or NAME)

try:
    import wreq.blocking  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    ca = ca_file()
    return wreq.blocking.Client(
        pool_max_size=pool,
        pool_max_idle_per_host=pool,
        gzip=True,
        tls_verify=Path(ca) if ca else True,
    )


def get(c: Any, url: str) -> tuple[int, bytes]:
    with c.get(url) as resp:
        return resp.status.as_int(), resp.bytes()


def get_json(c: Any, url: str) -> tuple[int, Any]:
    with c.get(url) as resp:
        return resp.status.as_int(), resp.json()


def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    with c.get(url) as resp:
        with resp.stream() as chunks:
            for chunk in chunks:
                n += len(chunk)
        return resp.status.as_int(), n


def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    with c.post(url, body=data) as resp:
        return resp.status.as_int(), resp.bytes()


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=lambda c: c.close(),
    version=lambda: versions("wreq"),
)
