"""aiohttp ClientSession with TCPConnector(limit=--pool): --concurrency
worker tasks, each reading the whole body; --uvloop runs it on uvloop.
Prints one JSON line (see _common.py)."""

from __future__ import annotations

import sys
from typing import Any

from _common import dist_version, fail, guard, measure_async, parse_args, run_async

NAME = "aiohttp-uvloop" if "--uvloop" in sys.argv else "aiohttp"
args = parse_args(__doc__ or NAME)

try:
    import aiohttp  # type: ignore[import-not-found, unused-ignore]

    if args.uvloop:
        import uvloop  # noqa: F401 - fail here, not in the middle of a run
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


async def amain() -> dict[str, Any]:
    url = args.url
    connector = aiohttp.TCPConnector(limit=args.pool)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch() -> tuple[int, bytes]:
            async with session.get(url) as resp:
                body = await resp.read()
                return int(resp.status), bytes(body)

        return await measure_async(fetch, args)


def main() -> dict[str, Any]:
    result = run_async(amain, args.uvloop)
    version = f"aiohttp {dist_version('aiohttp')}"
    if args.uvloop:
        version += f"; uvloop {dist_version('uvloop')}"
    result["version"] = version
    return result


guard(NAME, main)
