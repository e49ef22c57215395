"""requests ``Session`` with ``HTTPAdapter(pool_connections=1,
pool_maxsize=--pool)`` mounted for http and https, reused and shared by the
threads (the common practice; urllib3's pool is thread-safe). Streams with
``stream=True`` / ``iter_content(65536)``. Certificates: requests trusts
certifi (or REQUESTS_CA_BUNDLE), not SSL_CERT_FILE, so the CA file is passed
per request as ``verify=<path>``. Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import ca_file, fail, parse_args, run_sync, versions

NAME = "requests"
args = parse_args(__doc__ or NAME)

try:
    import requests  # type: ignore[import-not-found, unused-ignore]
    from requests.adapters import HTTPAdapter  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)

VERIFY = ca_file() or True


def new(pool: int) -> Any:
    s = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def get(s: Any, url: str) -> tuple[int, bytes]:
    r = s.get(url, verify=VERIFY)
    return r.status_code, r.content


def get_json(s: Any, url: str) -> tuple[int, Any]:
    r = s.get(url, verify=VERIFY)
    return r.status_code, r.json()


def stream(s: Any, url: str) -> tuple[int, int]:
    n = 0
    with s.get(url, stream=True, verify=VERIFY) as r:
        for chunk in r.iter_content(65536):
            n += len(chunk)
        return r.status_code, n


def post(s: Any, url: str, data: bytes) -> tuple[int, bytes]:
    r = s.post(url, data=data, verify=VERIFY)
    return r.status_code, r.content


run_sync(
    NAME,
    args,
    new=new,
    get=get,
    get_json=get_json,
    stream=stream,
    post=post,
    close=lambda s: s.close(),
    version=lambda: versions("requests", "urllib3"),
)
