"""The stream buffer's copy-free paths (src/py/module.c, STREAM_SLAB; hr_stream_cb_t.get_buffer).

A streamed body is read straight into the stream's buffer, and once the consumer takes large
pieces it lends the reactor slabs (unshared bytes objects) that become chunks whole. These
tests drive every path a byte can take: read in place or copied (TLS records, chunked
framing), slabs handed over whole or copied out when partly filled, the reactor's own
segments before lending starts; for Content-Length, close-delimited and chunked bodies, plain
and over TLS, with consumers that keep up, lag, or stall. The body is a counter (no two 8-byte
words alike), so a chunk out of order, doubled or lost fails the comparison. And a stream
abandoned with slabs lent leaks nothing.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid

import httpr
import pytest
from servers.helpers import rss_bytes
from servers.httpserver import counter_bytes

MiB = 1 << 20
SIZE = 24 * MiB
SLAB = 256 * 1024  # STREAM_SLAB in src/py/module.c
FRAMINGS = ("length", "close", "chunked")


def firehose(server, framing: str, size: int = SIZE) -> str:
    token = uuid.uuid4().hex
    return f"{server.url}/firehose?size={size}&token={token}&pattern=count&framing={framing}"


@pytest.fixture(scope="module")
def want():
    return counter_bytes(0, SIZE)


class Check:
    """Compares each chunk with the body as it should be; counts the chunk sizes."""

    def __init__(self, want: bytes) -> None:
        self.want = want
        self.got = 0
        self.sizes: list[int] = []

    def feed(self, chunk: bytes) -> None:
        assert chunk, "an empty chunk before the end"
        end = self.got + len(chunk)
        assert chunk == self.want[self.got : end], f"wrong bytes in [{self.got}, {end})"
        self.got = end
        self.sizes.append(len(chunk))


def lag(i: int, consumer: str) -> float:
    """Seconds the consumer sleeps after chunk i."""
    if consumer == "slow":
        return 0.002  # the buffer fills: slabs fill up and are handed over whole
    if consumer == "pausing":
        # behind even the TLS terminator (a Python process relaying, slower than a socket):
        # the buffer fills to the high-water mark, slabs fill up and are handed over whole
        return 0.25 if i % 8 == 7 else 0.0
    if consumer == "stalling":
        return 0.05 if i % 32 == 31 else 0.0  # the engine pauses and resumes
    return 0.0  # keeps up: slabs are closed partly filled and copied out


def check_whole(check: Check, stats: tuple[int, int], framing: str, consumer: str) -> None:
    """Every byte arrived; read in place unless chunked; slabs handed over when it lagged."""
    in_place, handed = stats
    assert check.got == SIZE
    assert max(check.sizes) <= SLAB
    if framing == "chunked":
        assert in_place == 0, "chunk framing in the buffer: it must be copied, not read there"
    else:  # (over TLS: records decrypted straight into the buffer)
        assert in_place > SIZE // 2, f"only {in_place} bytes were read in place"
    if consumer in ("slow", "pausing"):
        assert handed > 8, f"only {handed} slabs were handed over whole"


# -- synchronous ----------------------------------------------------------------------------


def consume(r: httpr.StreamingResponse, check: Check, consumer: str) -> tuple[int, int]:
    for i, chunk in enumerate(r.iter_bytes()):
        check.feed(chunk)
        if delay := lag(i, consumer):
            time.sleep(delay)
    return r._buffer_stats


@pytest.mark.timeout(120)
@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("consumer", ["fast", "slow", "stalling"])
def test_every_byte_in_order(http_server, want, framing, consumer):
    check = Check(want)
    with httpr.Client(timeout=10) as c, c.stream("GET", firehose(http_server, framing)) as r:
        stats = consume(r, check, consumer)
    check_whole(check, stats, framing, consumer)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("consumer", ["fast", "pausing"])
def test_every_byte_in_order_over_tls(https_server, tls_certs, want, consumer):
    check = Check(want)
    url = firehose(https_server, "length")
    with (
        httpr.Client(timeout=10, ca_cert_file=str(tls_certs.ca_pem)) as c,
        c.stream("GET", url) as r,
    ):
        stats = consume(r, check, consumer)
    check_whole(check, stats, "length", consumer)


def test_small_stream_lends_nothing(http_server):
    """A body the consumer takes in small pieces never makes it lend slabs."""
    with httpr.Client(timeout=10) as c:
        url = http_server.url + "/slow-body?delay=0.02&chunks=20&size=1000"
        with c.stream("GET", url) as r:
            assert b"".join(r.iter_bytes()) == b"".join(bytes([97 + i]) * 1000 for i in range(20))
            assert r._buffer_stats[1] == 0


@pytest.mark.timeout(120)
def test_abandoned_streams_with_slabs_lent_leak_nothing(http_server):
    """Streams left in the middle (closed, or just dropped) with slabs lent and buffered give
    them all back: RSS settles instead of growing with every stream."""

    def one(c: httpr.Client, k: int) -> None:
        # what `stream()` yields, without the context manager that would close it
        r = c._stream("GET", *c._prepare(firehose(http_server, "length", 64 * MiB), {}))
        for i, _ in enumerate(r.iter_bytes()):
            time.sleep(0.002)
            if i == 12:
                break
        time.sleep(0.05)  # the buffer fills behind the consumer: slabs lent and queued
        if k % 2:
            r.close()
        del r

    with httpr.Client(timeout=10) as c:
        for k in range(6):
            one(c, k)
        gc.collect()
        rss0 = rss_bytes()
        for k in range(40):
            one(c, k)
        gc.collect()
        growth = rss_bytes() - rss0
    assert growth < 24 * MiB, f"RSS grew by {growth / MiB:.1f} MiB over 40 abandoned streams"


# -- asyncio --------------------------------------------------------------------------------


async def aconsume(r: httpr.AsyncStreamingResponse, check: Check, consumer: str) -> tuple[int, int]:
    i = 0
    async for chunk in r.aiter_bytes():
        check.feed(chunk)
        if delay := lag(i, consumer):
            await asyncio.sleep(delay)
        i += 1
    return r._stream._buffer_stats


@pytest.mark.timeout(120)
@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("consumer", ["fast", "slow", "stalling"])
async def test_async_every_byte_in_order(http_server, want, framing, consumer):
    check = Check(want)
    async with (
        httpr.AsyncClient(timeout=10) as c,
        c.stream("GET", firehose(http_server, framing)) as r,
    ):
        stats = await aconsume(r, check, consumer)
    check_whole(check, stats, framing, consumer)


@pytest.mark.timeout(120)
async def test_async_every_byte_over_tls(https_server, tls_certs, want):
    check = Check(want)
    async with (
        httpr.AsyncClient(timeout=10, ca_cert_file=str(tls_certs.ca_pem)) as c,
        c.stream("GET", firehose(https_server, "length")) as r,
    ):
        stats = await aconsume(r, check, "pausing")
    check_whole(check, stats, "length", "pausing")


@pytest.mark.timeout(120)
async def test_async_abandoned_streams_leak_nothing(http_server):
    """As the sync test: streams cancelled, closed or dropped mid-body with slabs lent."""

    async def one(c: httpr.AsyncClient, k: int) -> None:
        async with c.stream("GET", firehose(http_server, "length", 64 * MiB)) as r:
            i = 0
            async for _ in r.aiter_bytes():
                await asyncio.sleep(0.002)
                i += 1
                if i == 12:
                    break
            await asyncio.sleep(0.05)
            if k % 2:
                await r.aclose()

    async with httpr.AsyncClient(timeout=10) as c:
        for k in range(6):
            await one(c, k)
        gc.collect()
        rss0 = rss_bytes()
        for k in range(40):
            await one(c, k)
        await asyncio.sleep(0.1)  # the last completions come back through the loop
        gc.collect()
        growth = rss_bytes() - rss0
    assert growth < 24 * MiB, f"RSS grew by {growth / MiB:.1f} MiB over 40 abandoned streams"
