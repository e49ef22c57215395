"""httpx.Client (sync) with Limits(max_connections=--pool,
max_keepalive_connections=--pool): one reused client; --concurrency N > 1
shares it between N threads. --mode cold makes a new client per request,
--mode stream reads the body with ``client.stream()`` / ``iter_bytes()`` and
drops the chunks. Certificates are verified the default way (trust_env:
SSL_CERT_FILE). Prints one JSON line (see _common.py)."""

from __future__ import annotations

from typing import Any

from _common import dist_version, fail, guard, measure_sync, parse_args

NAME = "httpx-sync"
args = parse_args(__doc__ or NAME)

try:
    import httpx  # type: ignore[import-not-found, unused-ignore]
except Exception as exc:  # noqa: BLE001 - any import failure is reported
    fail(NAME, f"import failed: {type(exc).__name__}: {exc}", fatal=True)


def versions() -> str:
    return "; ".join(f"{d} {dist_version(d)}" for d in ("httpx", "httpcore", "h11"))


def main() -> dict[str, Any]:
    url = args.url
    limits = httpx.Limits(max_connections=args.pool, max_keepalive_connections=args.pool)
    client = httpx.Client(limits=limits)

    def fetch() -> tuple[int, bytes | int]:
        r = client.get(url)
        return r.status_code, r.content

    def fetch_cold() -> tuple[int, bytes | int]:
        with httpx.Client(limits=limits) as cold:
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
    result["version"] = versions()
    return result


guard(NAME, main)
