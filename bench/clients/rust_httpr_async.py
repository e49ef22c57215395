"""httpr.AsyncClient from PyPI, the Rust original, in its own venv: the sync
client run in a thread pool of ``max_concurrency`` = --pool threads (its
design). Streams with ``client.stream()`` / ``aiter_bytes()``. Certificates:
``ca_cert_file`` = SSL_CERT_FILE (rustls does not read the variable).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import ca_file, dist_version, fail, parse_args, run_async

NAME = "rust-httpr-async"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return httpr.AsyncClient(max_concurrency=pool, ca_cert_file=ca_file())


async def get(c: Any, url: str) -> tuple[int, bytes]:
    r = await c.get(url)
    return r.status_code, r.content


async def get_json(c: Any, url: str) -> tuple[int, Any]:
    r = await c.get(url)
    return r.status_code, r.json()


async def stream(c: Any, url: str) -> tuple[int, int]:
    n = 0
    async with c.stream("GET", url) as r:
        async for chunk in r.aiter_bytes():
            n += len(chunk)
        return r.status_code, n


async def post(c: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = await c.post(url, content=data)
    return r.status_code, r.content


async def close(c: Any) -> None:
    await c.aclose()


def version() -> str:
    return f"httpr {dist_version('httpr')} (PyPI)"


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=version,
)
