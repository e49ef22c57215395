"""niquests ``Session(pool_maxsize=--pool)``, reused and shared by the
threads (niquests documents its Session as thread-safe). Streams with
``stream=True`` / ``iter_content(65536)``. Certificates: ``verify=<path>``
per request (niquests trusts the system store via wassima, not
SSL_CERT_FILE). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import ca_file, fail, parse_args, run_sync, versions

NAME = "niquests-sync"
args = parse_args(__doc__ or NAME)

try:
    import niquests  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)

VERIFY = ca_file() or True


def new(pool: int) -> Any:
    return niquests.Session(pool_maxsize=pool)


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
    version=lambda: versions("niquests", "urllib3-future"),
)
