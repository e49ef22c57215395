"""httpr.Client (sync): one reused client; --concurrency N > 1 shares it
between N threads. --mode cold makes a new client per request, --mode stream
reads the body with ``client.stream()`` in chunks and drops them. Prints one
JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import dist_version, fail, guard, measure_sync, parse_args

NAME = "httpr-sync"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import httpr failed: {type(exc).__name__}: {exc}", fatal=True)


def main() -> dict[str, Any]:
    url = args.url
    client = httpr.Client()

    def fetch() -> tuple[int, bytes | int]:
        r = client.get(url)
        return r.status_code, r.content

    def fetch_cold() -> tuple[int, bytes | int]:
        with httpr.Client() as cold:
            r = cold.get(url)
            return r.status_code, r.content

    def fetch_stream() -> tuple[int, bytes | int]:
        n = 0
        with client.stream("GET", url) as r:
            for chunk in r.iter_bytes():
                n += len(chunk)
            return r.status_code, n

    fetches = {"reuse": fetch, "cold": fetch_cold, "stream": fetch_stream}
    try:
        result = measure_sync(fetches[args.mode], args)
    finally:
        client.close()
    result["version"] = f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"
    result["module"] = httpr.__file__
    return result


guard(NAME, main)
