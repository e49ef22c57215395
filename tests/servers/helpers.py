"""Small helpers shared by the tests (fd counting, polling)."""

from __future__ import annotations

import os
import time

__all__ = [
    "STALL_BODY_SIZES",
    "body_then_stall",
    "echoed",
    "fd_count",
    "httpbin_header",
    "rss_bytes",
    "wait_for_fds",
    "wait_until",
]


def fd_count() -> int:
    """Number of file descriptors open in this process."""
    return len(os.listdir("/proc/self/fd"))


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def wait_for_fds(baseline: int, timeout: float = 5.0) -> int:
    """Wait until the fd count is back to ``baseline`` (or below); return the last count."""
    wait_until(lambda: fd_count() <= baseline, timeout)
    return fd_count()


def rss_bytes() -> int:
    """Resident set size of this process, in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def echoed(data: dict, name: str) -> list[str]:
    """Values of header ``name`` as received by ``http_server``'s /echo (case-insensitive)."""
    return [v for k, v in data["headers"] if k.lower() == name.lower()]


def httpbin_header(data: dict, name: str) -> str | None:
    """Header ``name`` from an httpbin JSON answer (``/headers``, ``/get``, ``/anything``)."""
    for k, v in data.get("headers", {}).items():
        if k.lower() == name.lower():
            return v
    return None


READ_BUF = 64 * 1024  # the engine's socket read size (src/core/internal.h)
# body sizes around the read buffer, where a read can fill it exactly
STALL_BODY_SIZES = [READ_BUF - 1, READ_BUF, READ_BUF + 1, 2 * READ_BUF, 3 * READ_BUF]


def body_then_stall(body: int) -> list:
    """A scripted_server script: the head, a pause (the client's reader is waiting by then),
    `body` bytes, then nothing: the server stalls with more body promised."""
    from .scripted import READ, STALL, send, sleep

    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * body)
    return [READ, send(head), sleep(0.3), send(b"x" * body), STALL]
