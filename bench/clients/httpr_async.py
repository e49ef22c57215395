"""httpr.AsyncClient: --concurrency worker tasks, each looping on
``await client.get(url)`` and reading ``.content``; --uvloop runs it on
uvloop. --mode cold makes a new client per request, --mode stream reads the
body with ``client.stream()`` in chunks and drops them. Prints one JSON line
(see _common.py)."""

from __future__ import annotations

import sys
from typing import Any

from _common import dist_version, fail, guard, measure_async, parse_args, run_async

NAME = "httpr-async-uvloop" if "--uvloop" in sys.argv else "httpr-async"
args = parse_args(__doc__ or NAME)

try:
    import httpr
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import httpr failed: {type(exc).__name__}: {exc}", fatal=True)


async def amain() -> dict[str, Any]:
    url = args.url
    async with httpr.AsyncClient() as client:

        async def fetch() -> tuple[int, bytes | int]:
            r = await client.get(url)
            return r.status_code, r.content

        async def fetch_cold() -> tuple[int, bytes | int]:
            async with httpr.AsyncClient() as cold:
                r = await cold.get(url)
                return r.status_code, r.content

        async def fetch_stream() -> tuple[int, bytes | int]:
            n = 0
            async with client.stream("GET", url) as r:
                async for chunk in r.aiter_bytes():
                    n += len(chunk)
                return r.status_code, n

        fetches = {"reuse": fetch, "cold": fetch_cold, "stream": fetch_stream}
        return await measure_async(fetches[args.mode], args)


def main() -> dict[str, Any]:
    result = run_async(amain, args.uvloop)
    version = f"httpr {getattr(httpr, '__version__', None) or dist_version('httpr')}"
    if args.uvloop:
        version += f"; uvloop {dist_version('uvloop')}"
    result["version"] = version
    result["module"] = httpr.__file__
    return result


guard(NAME, main)
