"""S10, the soak test: one httpr.AsyncClient, 1,000,000 requests, does memory
or the number of open files grow?

Run by hand, not part of ``bench/run.sh`` (it takes a minute or more):

    bash tests/setup.sh                      # builds httpr into .venv
    .venv/bin/python bench/soak.py           # 1,000,000 GETs of /hello, 64 in flight
    .venv/bin/python bench/soak.py --requests 200000 --https --uvloop

It starts the benchmark's nginx (bench/harness.py: same configuration,
payloads and throw-away CA), then runs ``--concurrency`` worker tasks on one
client until ``--requests`` have completed, and reports this process's RSS
and open file descriptors: before the client exists (after a first client
has started httpr's process-wide reactor and been closed), after the warm-up
(the first ``--warmup`` requests), at every tenth of the run, at the end,
and after the client is closed. It exits non-zero when a request failed,
when RSS grew by more than ``--max-growth-kib`` between the end of the
warm-up and the end, or when the descriptors after close differ from those
before the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "clients"))

import harness
from _common import open_fds, rss_kb


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=".venv/bin/python bench/soak.py", description=__doc__)
    p.add_argument("--requests", type=int, default=1_000_000, help="requests in all")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    p.add_argument(
        "--warmup", type=int, default=20_000, help="requests before the reference reading"
    )
    p.add_argument("--https", action="store_true", help="over TLS (the harness's CA)")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop")
    p.add_argument(
        "--max-seconds", type=float, default=900.0, help="stop (and fail) after this long"
    )
    p.add_argument(
        "--max-growth-kib",
        type=int,
        default=2048,
        help="RSS growth from the end of the warm-up to the end that still passes",
    )
    return p.parse_args(argv)


def reading(label: str, done: int, t0: float) -> dict[str, Any]:
    r = {
        "at": label,
        "requests": done,
        "seconds": round(time.monotonic() - t0, 1),
        "rss_kib": rss_kb(),
        "fds": open_fds(),
    }
    print(
        f"[soak] {label:>14}: {done:>9,} requests  {r['seconds']:7.1f} s  "
        f"RSS {r['rss_kib']:>8,} KiB  fds {r['fds']}",
        file=sys.stderr,
        flush=True,
    )
    return r


async def soak(opts: argparse.Namespace, url: str) -> tuple[list[dict[str, Any]], int, str]:
    import httpr

    t0 = time.monotonic()
    readings = [reading("no client yet", 0, t0)]
    # httpr's reactor (its thread, loop and wake-up descriptors) lives for
    # the whole process once started: a first client, closed, starts it, so
    # the reference reading holds those and a leak shows as a difference.
    async with httpr.AsyncClient() as first:
        await first.get(url)
    await asyncio.sleep(0.2)
    readings.append(reading("before client", 0, t0))
    done = errors = 0
    first_error = ""
    marks = sorted({opts.warmup, *(opts.requests * k // 10 for k in range(1, 11))})
    next_mark = 0
    deadline = t0 + opts.max_seconds
    client = httpr.AsyncClient(max_concurrency=max(64, opts.concurrency))
    started = 0

    async def worker() -> None:
        nonlocal done, errors, first_error, started, next_mark
        while started < opts.requests and time.monotonic() < deadline:
            started += 1
            try:
                r = await client.get(url)
                if r.status_code != 200 or r.content != harness.HELLO:
                    raise RuntimeError(f"status {r.status_code}, {len(r.content)} bytes")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
            done += 1
            while next_mark < len(marks) and done >= marks[next_mark]:
                m = marks[next_mark]
                readings.append(reading("warm-up" if m == opts.warmup else f"{m:,}", done, t0))
                next_mark += 1

    await asyncio.gather(*(worker() for _ in range(opts.concurrency)))
    readings.append(reading("end", done, t0))
    await client.aclose()
    await asyncio.sleep(0.5)  # let the reactor release what the close freed
    readings.append(reading("after close", done, t0))
    if done < opts.requests:
        first_error = first_error or f"stopped after {opts.max_seconds:g} s"
        errors += opts.requests - done
    return readings, errors, first_error


def main(argv: list[str]) -> int:
    opts = parse_args(argv)
    nofile = harness.raise_nofile()
    run = harness.RUN_BASE / str(os.getpid())
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    nginx = None
    try:
        tls = harness.make_certs(run / "tls")
        html = run / "html"
        html.mkdir()
        (html / "hello").write_bytes(harness.HELLO)
        nginx = harness.Nginx(run, tls, nofile)
        nginx.start()
        os.environ["SSL_CERT_FILE"] = str(tls.ca)
        base = nginx.tls_base if opts.https else nginx.base
        url = base + "/hello"
        print(
            f"[soak] {opts.requests:,} GETs of {url}, {opts.concurrency} in flight", file=sys.stderr
        )
        if opts.uvloop:
            import uvloop

            readings, errors, first = uvloop.run(soak(opts, url))
        else:
            readings, errors, first = asyncio.run(soak(opts, url))
    finally:
        if nginx is not None:
            nginx.stop()
        shutil.rmtree(run, ignore_errors=True)
        try:
            harness.RUN_BASE.rmdir()
        except OSError:
            pass

    by = {r["at"]: r for r in readings}
    warm, end, before, after = by["warm-up"], by["end"], by["before client"], by["after close"]
    growth = end["rss_kib"] - warm["rss_kib"]
    seconds = end["seconds"] - warm["seconds"]
    rate = (end["requests"] - warm["requests"]) / seconds if seconds > 0 else 0.0
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print()
    print("| at | requests | seconds | RSS KiB | open fds |")
    print("|---|---|---|---|---|")
    for r in readings:
        print(f"| {r['at']} | {r['requests']:,} | {r['seconds']} | {r['rss_kib']:,} | {r['fds']} |")
    print()
    print(
        f"RSS after warm-up {warm['rss_kib']:,} KiB, at the end {end['rss_kib']:,} KiB: "
        f"{growth:+,} KiB over {end['requests'] - warm['requests']:,} requests "
        f"({growth * 1024 / max(1, end['requests'] - warm['requests']):+.3f} B per request); "
        f"{rate:,.0f} req/s after warm-up; CPU {cpu.ru_utime + cpu.ru_stime:.1f} s in all"
    )
    print(
        f"open fds: {by['no client yet']['fds']} before httpr started, {before['fds']} "
        f"before the client, {after['fds']} after close"
    )
    ok = True
    if errors:
        print(f"FAIL: {errors:,} failed requests; first: {first}")
        ok = False
    if growth > opts.max_growth_kib:
        print(f"FAIL: RSS grew by {growth:,} KiB (> {opts.max_growth_kib:,} KiB allowed)")
        ok = False
    if after["fds"] != before["fds"]:
        print(f"FAIL: {after['fds'] - before['fds']:+d} open fds after close")
        ok = False
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
