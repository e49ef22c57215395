"""Shared by the bench client scripts: arguments, timing loops, the JSON line.

Every client runs in a process of its own (peers live in their own venvs, and
the Rust ``httpr`` from PyPI has our import name). A client script prints
``#measure-start`` and ``#measure-end`` around the measured phase (the harness
samples the server's CPU time there) and then exactly one JSON line:

    {"ok": true, "client": ..., "version": ..., "requests": n, "errors": n,
     "rps": ..., "p50_us": ..., "p99_us": ..., "cpu_us_per_req": ..., ...}

or, when the client cannot run at all, ``{"ok": false, "error": ...}`` with
exit status 3 (``"fatal": true`` when retrying is pointless, e.g. an import
failure).

Only this module and the standard library are imported here, so the same file
works under every venv's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

# A client that fails this many requests stops early: a broken client must not
# spin for the whole duration.
MAX_ERRORS = 1000

# A fetch returns (status, body), or (status, body length) when it streamed
# the body and dropped it.
Fetch = Callable[[], "tuple[int, bytes | int]"]
AsyncFetch = Callable[[], "Awaitable[tuple[int, bytes | int]]"]


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", required=True)
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight: worker tasks (async) or "
        "threads sharing one client (sync); 1 = sequential",
    )
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    p.add_argument(
        "--count",
        type=int,
        default=0,
        help="stop after this many measured requests (0 = duration only)",
    )
    p.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of the same load before measuring"
    )
    p.add_argument(
        "--expect-bytes", type=int, default=-1, help="body length every response must have"
    )
    p.add_argument(
        "--pool", type=int, default=64, help="connection pool size, equal for every client"
    )
    p.add_argument(
        "--mode",
        choices=("reuse", "cold", "stream"),
        default="reuse",
        help="reuse: one client, whole bodies; cold: a new client per request "
        "(construct, one GET, close); stream: one client, the body read in chunks "
        "as they arrive and dropped (fetch returns the byte count)",
    )
    p.add_argument("--uvloop", action="store_true", help="run the asyncio client on uvloop")
    return p.parse_args()


def dist_version(dist: str) -> str:
    """Installed version of a distribution, "?" when unknown."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def marker(name: str) -> None:
    sys.stdout.write("#" + name + "\n")
    sys.stdout.flush()


def fail(client: str, message: str, fatal: bool = False) -> None:
    emit(
        {
            "ok": False,
            "client": client,
            "error": message,
            "fatal": fatal,
            "python": platform.python_version(),
        }
    )
    sys.exit(3)


def guard(client: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run ``fn`` and print its result, or a failure line with the reason."""
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - report it, never a bare traceback
        tail = traceback.format_exc().strip().splitlines()[-3:]
        fail(client, f"{type(exc).__name__}: {exc} | " + " / ".join(tail))
        return
    result.setdefault("client", client)
    result["python"] = platform.python_version()
    emit(result)
    if not result.get("ok"):
        sys.exit(3)


class Recorder:
    """Latencies and errors of one phase. Not shared between threads."""

    __slots__ = ("errors", "first_error", "lat", "remaining")

    def __init__(self, count: int) -> None:
        self.lat: list[int] = []
        self.errors = 0
        self.first_error: str | None = None
        self.remaining = count if count > 0 else -1

    def take(self) -> bool:
        """Claim one request; False once a --count budget is spent."""
        if self.remaining < 0:
            return True
        if self.remaining == 0:
            return False
        self.remaining -= 1
        return True

    def error(self, message: str) -> bool:
        """Count an error; True when the phase should stop."""
        self.errors += 1
        if self.first_error is None:
            self.first_error = message
        return self.errors >= MAX_ERRORS


def check(status: int, body: bytes | int, expect: int) -> str | None:
    if status != 200:
        return f"status {status}"
    n = body if isinstance(body, int) else len(body)
    if expect >= 0 and n != expect:
        return f"body of {n} bytes, expected {expect}"
    return None


def _exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# --- synchronous clients ----------------------------------------------------


def _sync_worker(fetch: Fetch, deadline: int, rec: Recorder, expect: int) -> None:
    pc = time.perf_counter_ns
    lat = rec.lat
    while rec.take():
        t0 = pc()
        if t0 >= deadline:
            break
        try:
            status, body = fetch()
        except Exception as exc:  # noqa: BLE001 - any failure is a failed request
            if rec.error(_exc(exc)):
                break
            continue
        t1 = pc()
        err = check(status, body, expect)
        if err is None:
            lat.append(t1 - t0)
        elif rec.error(err):
            break


def _sync_phase(
    fetch: Fetch, seconds: float, threads: int, count: int, expect: int
) -> list[Recorder]:
    deadline = time.perf_counter_ns() + int(seconds * 1e9)
    if threads <= 1:
        rec = Recorder(count)
        _sync_worker(fetch, deadline, rec, expect)
        return [rec]
    share = -(-count // threads) if count > 0 else 0
    recs = [Recorder(share) for _ in range(threads)]
    ts = [threading.Thread(target=_sync_worker, args=(fetch, deadline, r, expect)) for r in recs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return recs


def measure_sync(fetch: Fetch, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then measure; every thread shares the one client."""
    if args.warmup > 0:
        _sync_phase(fetch, args.warmup, args.concurrency, 0, args.expect_bytes)
    marker("measure-start")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    recs = _sync_phase(fetch, args.duration, args.concurrency, args.count, args.expect_bytes)
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    marker("measure-end")
    return summarize(recs, t1 - t0, ru0, ru1, args)


# --- asyncio clients --------------------------------------------------------


async def _async_phase(
    fetch: AsyncFetch, seconds: float, conc: int, count: int, expect: int
) -> Recorder:
    deadline = time.perf_counter_ns() + int(seconds * 1e9)
    rec = Recorder(count)
    pc = time.perf_counter_ns
    lat = rec.lat

    async def worker() -> None:
        while rec.take():
            t0 = pc()
            if t0 >= deadline:
                return
            try:
                status, body = await fetch()
            except Exception as exc:  # noqa: BLE001 - any failure is a failed request
                if rec.error(_exc(exc)):
                    return
                continue
            t1 = pc()
            err = check(status, body, expect)
            if err is None:
                lat.append(t1 - t0)
            elif rec.error(err):
                return

    await asyncio.gather(*(worker() for _ in range(max(1, conc))))
    return rec


async def measure_async(fetch: AsyncFetch, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then measure, with ``concurrency`` worker tasks."""
    if args.warmup > 0:
        await _async_phase(fetch, args.warmup, args.concurrency, 0, args.expect_bytes)
    marker("measure-start")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rec = await _async_phase(fetch, args.duration, args.concurrency, args.count, args.expect_bytes)
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    marker("measure-end")
    return summarize([rec], t1 - t0, ru0, ru1, args)


def run_async(
    main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], use_uvloop: bool
) -> dict[str, Any]:
    if use_uvloop:
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


# --- the summary ------------------------------------------------------------


def _pct(sorted_ns: list[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    i = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[i] / 1000.0


def summarize(
    recs: list[Recorder],
    elapsed: float,
    ru0: resource.struct_rusage,
    ru1: resource.struct_rusage,
    args: argparse.Namespace,
) -> dict[str, Any]:
    lat: list[int] = []
    errors = 0
    first_error = None
    for r in recs:
        lat.extend(r.lat)
        errors += r.errors
        first_error = first_error or r.first_error
    lat.sort()
    n = len(lat)
    # RUSAGE_SELF covers every thread of the process (a client's own I/O
    # threads included).
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out: dict[str, Any] = {
        "ok": n > 0,
        "requests": n,
        "errors": errors,
        "first_error": first_error,
        "elapsed_s": round(elapsed, 4),
        "rps": n / elapsed if elapsed > 0 else 0.0,
        "p50_us": _pct(lat, 0.50),
        "p99_us": _pct(lat, 0.99),
        "cpu_s": round(cpu, 4),
        "cpu_us_per_req": cpu * 1e6 / n if n else None,
        "maxrss_kb": ru1.ru_maxrss,
        "concurrency": args.concurrency,
        "pool": args.pool,
    }
    if n == 0:
        out["error"] = "no successful request" + (
            f"; first error: {first_error}" if first_error else ""
        )
    return out
