"""httpx.AsyncClient on asyncio with Limits(max_connections=--pool,
max_keepalive_connections=--pool): --concurrency worker tasks, each reading
the whole body. --mode cold makes a new client per request, --mode stream
reads the body with ``client.stream()`` / ``aiter_bytes()`` and drops the
chunks. Certificates are verified the default way (trust_env: SSL_CERT_FILE).
Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import dist_version, fail, guard, measure_async, parse_args, run_async

NAME = "httpx-async"
args = parse_args(__doc__ or NAME)

try:
    import httpx  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


async def amain() -> dict[str, Any]:
    url = args.url
    limits = httpx.Limits(max_connections=args.pool, max_keepalive_connections=args.pool)
    async with httpx.AsyncClient(limits=limits) as client:

        async def fetch() -> tuple[int, bytes | int]:
            r = await client.get(url)
            return r.status_code, r.content

        async def fetch_cold() -> tuple[int, bytes | int]:
            async with httpx.AsyncClient(limits=limits) as cold:
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
    result = run_async(amain, False)
    result["version"] = "; ".join(
        f"{d} {dist_version(d)}" for d in ("httpx", "httpcore", "h11", "anyio")
    )
    return result


guard(NAME, main)
