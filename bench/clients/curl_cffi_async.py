"""curl_cffi (libcurl-impersonate, BoringSSL) ``requests.AsyncSession``,
reused: ``max_clients=--pool``, no impersonation, its default
``Accept-Encoding: gzip, deflate, br``. Streams with ``session.stream()`` /
``aiter_content()``. Certificates: curl_cffi trusts certifi's bundle, not
SSL_CERT_FILE, so the CA file is passed as ``verify=<path>`` (its own option).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
from _common import ca_file, fail, parse_args, run_async, versions

NAME = "curl_cffi-async"
args = parse_args(__doc__ or NAME)

try:
    from curl_cffi import requests as cr  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return cr.AsyncSession(max_clients=pool, verify=ca_file() or True)


async def stream(s: Any, url: str) -> tuple[int, int]:
    n = 0
    async with s.stream("GET", url) as r:
        async for chunk in r.aiter_content():
            n += len(chunk)
        return r.status_code, n


async def post(s: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = await s.post(url, data=data)
    return r.status_code, r.content


async def close(s: Any) -> None:
    await s.close()


run_async(
    NAME,
    args,
    new=new,
    get=httpx_style.ASYNC["get"],  # the same calls as httpx's
    get_json=httpx_style.ASYNC["get_json"],
    stream=stream,
    post=post,
    close=close,
    version=lambda: versions("curl_cffi", "cffi"),
)
