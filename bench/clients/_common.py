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

A client script only says how its library does each operation (make a
client, GET a whole body, GET and decode JSON, stream a body, POST bytes,
close) and hands those to ``run_sync`` or ``run_async``, which pick the loop
for ``--mode``:

    reuse   one client for the whole run, the whole body read per request
            (``--json``: decoded with the library's own ``json()``);
    cold    a new client for every request (construct, one GET, close);
    stream  one client, the body read in chunks as they arrive and dropped;
    upload  one client, POST of ``--body-bytes`` bytes, the reply read;
    batch   (async) ``--batch`` requests started at once with
            ``asyncio.gather``, repeated; wall time per batch;
    burst   (async) one gather of ``--batch`` requests, all in flight at once:
            errors, and the RSS the burst added.

Only this module and the standard library are imported here, so the same file
works under every venv's Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

# A client that fails this many requests stops early: a broken client must not
# spin for the whole duration.
MAX_ERRORS = 1000

# A fetch returns (status, body), or (status, n) when it streamed the body and
# dropped it (n bytes) or decoded JSON (n top-level items).
Fetch = Callable[[], "tuple[int, bytes | int]"]
AsyncFetch = Callable[[], "Awaitable[tuple[int, bytes | int]]"]

MODES = ("reuse", "cold", "stream", "upload", "batch", "burst")


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
        "--expect-bytes",
        type=int,
        default=-1,
        help="body length every response must have (with --json: top-level items)",
    )
    p.add_argument(
        "--pool", type=int, default=64, help="connection pool size, equal for every client"
    )
    p.add_argument(
        "--mode", choices=MODES, default="reuse", help="what is measured (see _common.py)"
    )
    p.add_argument("--json", action="store_true", help="decode the body as JSON")
    p.add_argument("--body-bytes", type=int, default=0, help="upload size (--mode upload)")
    p.add_argument(
        "--batch", type=int, default=400, help="requests gathered at once (batch, burst)"
    )
    p.add_argument("--batches", type=int, default=5, help="measured batches at most (--mode batch)")
    p.add_argument(
        "--batch-timeout",
        type=float,
        default=10.0,
        help="seconds one batch may take before its requests are cancelled (batch)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds past the deadline (async: past --duration; burst: the whole "
        "burst) after which requests still in flight are cancelled and the run ends",
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


def versions(*dists: str) -> str:
    return "; ".join(f"{d} {dist_version(d)}" for d in dists)


def ca_file() -> str | None:
    """The CA bundle the harness trusts (``SSL_CERT_FILE``), for the clients
    that do not read that variable themselves and take a CA file through
    their API instead. None when unset: the library's default trust."""
    return os.environ.get("SSL_CERT_FILE") or None


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
    sys.stdout.flush()
    # Skip interpreter teardown: some libraries' background threads make it
    # slow or noisy, and everything worth keeping has been printed.
    os._exit(0 if result.get("ok") else 3)


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
        return f"body of {n} bytes/items, expected {expect}"
    return None


def _exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def upload_body(n: int) -> bytes:
    """The bytes every client uploads: printable, incompressible enough."""
    seed = b"httpr bench upload 0123456789abcdefghijklmnopqrstuvwxyz\n"
    return (seed * (n // len(seed) + 1))[:n]


def rss_kb() -> int:
    """Current resident set of this process, KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


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


def run_sync(
    name: str,
    args: argparse.Namespace,
    *,
    new: Callable[[int], Any],
    get: Callable[[Any, str], tuple[int, bytes]],
    stream: Callable[[Any, str], tuple[int, int]],
    post: Callable[[Any, str, bytes], tuple[int, bytes]],
    close: Callable[[Any], None],
    get_json: Callable[[Any, str], tuple[int, Any]] | None = None,
    thread_safe: bool = True,
    version: Callable[[], str],
    extra: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Run a synchronous client in ``args.mode`` and print its JSON line.

    ``new(pool)`` makes a client whose connection pool holds ``pool``
    connections. With ``thread_safe=False`` every thread of a shared-client
    run gets its own client from ``new`` (the library's documented way to use
    it from several threads); otherwise all threads share one.
    """

    def main() -> dict[str, Any]:
        if args.mode in ("batch", "burst"):
            raise RuntimeError(f"--mode {args.mode} is for asyncio clients")
        url = args.url
        made: list[Any] = []
        lock = threading.Lock()
        local = threading.local()

        def make() -> Any:
            c = new(args.pool)
            with lock:
                made.append(c)
            return c

        if thread_safe or args.concurrency <= 1:
            shared = make()

            def client() -> Any:
                return shared

        else:

            def client() -> Any:
                c = getattr(local, "c", None)
                if c is None:
                    c = local.c = make()
                return c

        data = upload_body(args.body_bytes)

        def fetch_reuse() -> tuple[int, bytes | int]:
            return get(client(), url)

        def fetch_json() -> tuple[int, bytes | int]:
            assert get_json is not None
            status, obj = get_json(client(), url)
            return status, len(obj)

        def fetch_cold() -> tuple[int, bytes | int]:
            c = new(args.pool)
            try:
                return get(c, url)
            finally:
                close(c)

        def fetch_stream() -> tuple[int, bytes | int]:
            return stream(client(), url)

        def fetch_upload() -> tuple[int, bytes | int]:
            return post(client(), url, data)

        fetches: dict[str, Fetch] = {
            "reuse": fetch_json if args.json else fetch_reuse,
            "cold": fetch_cold,
            "stream": fetch_stream,
            "upload": fetch_upload,
        }
        try:
            result = measure_sync(fetches[args.mode], args)
        finally:
            for c in made:
                close(c)
        result["version"] = version()
        if extra:
            result.update(extra())
        return result

    guard(name, main)


# --- asyncio clients --------------------------------------------------------


async def _wait_all(tasks: list[asyncio.Task[Any]], timeout: float) -> int:
    """Wait for the tasks; cancel those still running after ``timeout``.

    Returns how many were cancelled. A client that cannot finish its
    in-flight requests within the grace period would otherwise hold the
    run (and the whole benchmark) hostage.
    """
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
    return len(pending)


async def _async_phase(
    fetch: AsyncFetch, seconds: float, conc: int, count: int, expect: int, grace: float
) -> tuple[Recorder, int]:
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
            except asyncio.CancelledError:
                raise
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

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, conc))]
    cancelled = await _wait_all(tasks, seconds + grace)
    return rec, cancelled


async def measure_async(fetch: AsyncFetch, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then measure, with ``concurrency`` worker tasks."""
    g = args.grace
    if args.warmup > 0:
        await _async_phase(fetch, args.warmup, args.concurrency, 0, args.expect_bytes, g)
    marker("measure-start")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rec, cancelled = await _async_phase(
        fetch, args.duration, args.concurrency, args.count, args.expect_bytes, g
    )
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    marker("measure-end")
    out = summarize([rec], t1 - t0, ru0, ru1, args)
    if cancelled:
        out["cancelled"] = cancelled
        out["first_error"] = out.get("first_error") or (
            f"{cancelled} requests still in flight {g:g} s after the deadline (cancelled)"
        )
    return out


async def _gather_batch(
    fetch: AsyncFetch, n: int, expect: int, rec: Recorder, timeout: float
) -> int:
    """Start ``n`` requests at once, wait for all; returns how many were cancelled."""

    async def one() -> None:
        try:
            status, body = await fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is a failed request
            rec.error(_exc(exc))
            return
        err = check(status, body, expect)
        if err is None:
            rec.lat.append(0)
        else:
            rec.error(err)

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    return await _wait_all(tasks, timeout)


async def measure_batches(
    fetch: AsyncFetch, args: argparse.Namespace, warm: AsyncFetch | None = None
) -> dict[str, Any]:
    """S3: ``--batch`` requests gathered at once, batch after batch.

    One warm-up batch (opens the connections; with ``warm``, the same GETs
    without the JSON decoding, which only costs time), then up to
    ``--batches`` measured ones, stopping early once ``--duration`` has
    passed (at least one is always measured). Reports the median wall time
    and the CPU time per batch. A batch still running after
    ``--batch-timeout`` is cancelled and fails the run.
    """
    n, limit = args.batch, args.batch_timeout
    expect = args.expect_bytes
    if args.warmup > 0:
        wrec = Recorder(0)
        if warm is not None:
            # The warm-up reads bytes: their length is not the item count.
            w_cancelled = await _gather_batch(warm, n, -1, wrec, limit)
        else:
            w_cancelled = await _gather_batch(fetch, n, expect, wrec, limit)
        if w_cancelled:
            return {
                "ok": False,
                "cancelled": w_cancelled,
                "requests": len(wrec.lat),
                "error": f"the warm-up batch did not finish within {limit:g} s "
                f"({w_cancelled} of {n} cancelled)",
            }
    marker("measure-start")
    rec = Recorder(0)
    times: list[int] = []
    cancelled = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    deadline = t0 + args.duration
    while True:
        tb = time.perf_counter_ns()
        cancelled += await _gather_batch(fetch, n, expect, rec, limit)
        times.append(time.perf_counter_ns() - tb)
        if cancelled or len(times) >= args.batches or time.perf_counter() >= deadline:
            break
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    marker("measure-end")
    out = summarize([rec], t1 - t0, ru0, ru1, args)
    out["p50_us"] = out["p99_us"] = None  # no per-request latencies in a batch
    cpu = out["cpu_s"]
    out.update(
        batches=len(times),
        batch_ms=statistics.median(times) / 1e6,
        batch_min_ms=min(times) / 1e6,
        cpu_ms_per_batch=cpu * 1e3 / len(times),
    )
    if cancelled:
        out["ok"] = False
        out["cancelled"] = cancelled
        out["error"] = f"a batch did not finish within {limit:g} s ({cancelled} cancelled)"
    elif rec.errors:
        out["ok"] = False
        out["error"] = f"{rec.errors} failed requests; first: {rec.first_error}"
    return out


class _RssSampler(threading.Thread):
    """Samples this process's RSS every millisecond or so while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_kb()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.001):
            self.peak = max(self.peak, rss_kb())


async def measure_burst(fetch: AsyncFetch, args: argparse.Namespace) -> dict[str, Any]:
    """S9: ``--batch`` requests started at once from one client.

    A warm-up gather of a hundredth of them first (imports, caches, the
    client's first connections), then the burst. The RSS the burst added is
    its peak (sampled, and the kernel's high-water mark when that moved
    during the burst) minus the RSS just before it.
    """
    n, expect = args.batch, args.expect_bytes
    limit = args.duration + args.grace
    if args.warmup > 0:
        await _gather_batch(fetch, max(1, n // 100), expect, Recorder(0), limit)
    fds0 = open_fds()
    rss0 = rss_kb()
    sampler = _RssSampler()
    marker("measure-start")
    rec = Recorder(0)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    sampler.start()
    t0 = time.perf_counter()
    cancelled = await _gather_batch(fetch, n, expect, rec, limit)
    t1 = time.perf_counter()
    sampler.stop.set()
    sampler.join()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    marker("measure-end")
    peak = sampler.peak
    if ru1.ru_maxrss > ru0.ru_maxrss:
        peak = max(peak, ru1.ru_maxrss)
    out = summarize([rec], t1 - t0, ru0, ru1, args)
    out["p50_us"] = out["p99_us"] = None
    out.update(
        burst=n,
        rss_before_kb=rss0,
        rss_peak_kb=peak,
        rss_per_req_kb=max(0, peak - rss0) / n,
        fds_before=fds0,
        batch_ms=(t1 - t0) * 1e3,
    )
    if cancelled:
        out["ok"] = False
        out["cancelled"] = cancelled
        out["error"] = (
            f"did not complete: {len(rec.lat)} of {n} done, {cancelled} still in flight "
            f"after {limit:g} s"
        )
    elif rec.errors:
        out["ok"] = False
        out["error"] = f"{rec.errors} of {n} failed; first: {rec.first_error}"
    return out


def run_async_main(
    main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], use_uvloop: bool
) -> dict[str, Any]:
    if use_uvloop:
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def run_async(
    name: str,
    args: argparse.Namespace,
    *,
    new: Callable[[int], Any],
    get: Callable[[Any, str], Awaitable[tuple[int, bytes]]],
    stream: Callable[[Any, str], Awaitable[tuple[int, int]]],
    post: Callable[[Any, str, bytes], Awaitable[tuple[int, bytes]]],
    close: Callable[[Any], Awaitable[None]],
    get_json: Callable[[Any, str], Awaitable[tuple[int, Any]]] | None = None,
    version: Callable[[], str],
    extra: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Run an asyncio client in ``args.mode`` and print its JSON line.

    ``new(pool)`` is called inside the running loop and makes one client
    whose pool holds ``pool`` connections (and lets ``pool`` requests be in
    flight); ``close`` is awaited at the end.
    """

    async def amain() -> dict[str, Any]:
        url = args.url
        client = new(args.pool)
        data = upload_body(args.body_bytes)
        try:

            async def fetch_reuse() -> tuple[int, bytes | int]:
                return await get(client, url)

            async def fetch_json() -> tuple[int, bytes | int]:
                assert get_json is not None
                status, obj = await get_json(client, url)
                return status, len(obj)

            async def fetch_cold() -> tuple[int, bytes | int]:
                c = new(args.pool)
                try:
                    return await get(c, url)
                finally:
                    await close(c)

            async def fetch_stream() -> tuple[int, bytes | int]:
                return await stream(client, url)

            async def fetch_upload() -> tuple[int, bytes | int]:
                return await post(client, url, data)

            fetch: AsyncFetch = {
                "reuse": fetch_json if args.json else fetch_reuse,
                "batch": fetch_json if args.json else fetch_reuse,
                "burst": fetch_reuse,
                "cold": fetch_cold,
                "stream": fetch_stream,
                "upload": fetch_upload,
            }[args.mode]
            if args.mode == "batch":
                return await measure_batches(fetch, args, fetch_reuse if args.json else None)
            if args.mode == "burst":
                return await measure_burst(fetch, args)
            return await measure_async(fetch, args)
        finally:
            await close(client)

    def main() -> dict[str, Any]:
        result = run_async_main(amain, args.uvloop)
        v = version()
        if args.uvloop:
            v += f"; uvloop {dist_version('uvloop')}"
        result["version"] = v
        if extra:
            result.update(extra())
        return result

    guard(name, main)


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
