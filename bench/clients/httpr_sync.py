"""httpr.Client (sync): one reused client; --concurrency N > 1 shares it
between N threads. Prints one JSON line (see _common.py)."""

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
    client = httpr.Client()
    url = args.url

    def fetch() -> tuple[int, bytes]:
        r = client.get(url)
        return r.status_code, r.content

    result = measure_sync(fetch, args)
    result["version"] = f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"
    result["module"] = httpr.__file__
    return result


guard(NAME, main)
