"""niquests ``AsyncSession(pool_maxsize=--pool)``, reused (HTTP/1.1 here:
the servers offer nothing else). Streams with ``stream=True`` /
``iter_content(65536)``. Certificates: niquests trusts the system store
(wassima), not SSL_CERT_FILE, so the CA file is passed per request as
``verify=<path>`` (its own option). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import ca_file, fail, parse_args, run_async, versions

NAME = "niquests-async"
args = parse_args(__doc__ or NAME)

try:
    import niquests  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)

VERIFY = ca_file() or True


def new(pool: int) -> Any:
    return niquests.AsyncSession(pool_maxsize=pool)


async def get(s: Any, url: str) -> tuple[int, bytes]:
    r = await s.get(url, verify=VERIFY)
    return r.status_code, r.content


async def get_json(s: Any, url: str) -> tuple[int, Any]:
    r = await s.get(url, verify=VERIFY)
    return r.status_code, r.json()


async def stream(s: Any, url: str) -> tuple[int, int]:
    n = 0
    r = await s.get(url, stream=True, verify=VERIFY)
    async for chunk in await r.iter_content(65536):
        n += len(chunk)
    return r.status_code, n


async def post(s: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = await s.post(url, data=data, verify=VERIFY)
    return r.status_code, r.content


async def close(s: Any) -> None:
    await s.close()


run_async(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("niquests", "urllib3-future"),
)
