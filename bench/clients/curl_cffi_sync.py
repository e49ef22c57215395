"""curl_cffi (libcurl-impersonate, BoringSSL) ``requests.Session``, reused and
shared by the threads (it keeps one curl handle per thread,
``use_thread_local_curl=True``, its default), no impersonation, its default
``Accept-Encoding: gzip, deflate, br``. Streams with ``session.stream()`` /
``iter_content()``. Certificates: ``verify=<SSL_CERT_FILE>`` (curl_cffi trusts
certifi's bundle, not the variable). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

import _httpx_style as httpx_style
from _common import ca_file, fail, parse_args, run_sync, versions

NAME = "curl_cffi-sync"
args = parse_args(__doc__ or NAME)

try:
    from curl_cffi import requests as cr  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def new(pool: int) -> Any:
    return cr.Session(verify=ca_file() or True)


def stream(s: Any, url: str) -> tuple[int, int]:
    n = 0
    with s.stream("GET", url) as r:
        for chunk in r.iter_content():
            n += len(chunk)
        return r.status_code, n


def post(s: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = s.post(url, data=data)
    return r.status_code, r.content


run_sync(
    NAME,
    args,
    new=new,
    get=httpx_style.SYNC["get"],  # the same calls as httpx's
    get_json=httpx_style.SYNC["get_json"],
    stream=stream,
    post=post,
    close=httpx_style.SYNC["close"],
    version=lambda: versions("curl_cffi", "cffi"),
)
