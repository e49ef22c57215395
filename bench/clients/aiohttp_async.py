"""aiohttp ClientSession with TCPConnector(limit=--pool): --concurrency
worker tasks, each reading the whole body; --uvloop runs it on uvloop.
--mode cold opens a new ClientSession per request, --mode stream reads the
body with ``resp.content.iter_any()`` and drops the chunks. Prints one JSON
line (see _common.py)."""

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

        async def fetch() -> tuple[int, bytes | int]:
            async with session.get(url) as resp:
                body = await resp.read()
                return int(resp.status), bytes(body)

        async def fetch_cold() -> tuple[int, bytes | int]:
            cold_connector = aiohttp.TCPConnector(limit=args.pool)
            async with (
                aiohttp.ClientSession(connector=cold_connector) as cold,
                cold.get(url) as resp,
            ):
                body = await resp.read()
                return int(resp.status), bytes(body)

        async def fetch_stream() -> tuple[int, bytes | int]:
            n = 0
            async with session.get(url) as resp:
                async for chunk in resp.content.iter_any():
                    n += len(chunk)
                return int(resp.status), n

        fetches = {"reuse": fetch, "cold": fetch_cold, "stream": fetch_stream}
        return await measure_async(fetches[args.mode], args)


def main() -> dict[str, Any]:
    result = run_async(amain, args.uvloop)
    version = f"aiohttp {dist_version('aiohttp')}"
    if args.uvloop:
        version += f"; uvloop {dist_version('uvloop')}"
    result["version"] = version
    return result


guard(NAME, main)
