"""CONTRACT §3.3, §6, §13: AsyncClient.stream() and AsyncStreamingResponse.

The async iterators are natively async: the event loop keeps running while a
trickled body is consumed, and two streams overlap. Runs on asyncio and uvloop.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid

import httpr
import pytest
from httpr import _httpr
from servers.helpers import STALL_BODY_SIZES, body_then_stall, rss_bytes
from servers.httpserver import CHUNKED_PARTS, HELLO, pattern_bytes
from servers.scripted import READ, STALL, response, send, serve

CLOSED_MSG = "Response stream has been closed"
CONSUMED_MSG = "Response stream has already been consumed"
MiB = 1 << 20
TRICKLE = "/slow-body?delay=0.1&chunks=5&size=10"  # 5 chunks, 0.5 s in total


def parts_url(server, *parts: bytes, delay: float = 0.1, ct: str | None = None) -> str:
    q = "&".join("p=" + urllib.parse.quote_from_bytes(p, safe="") for p in parts)
    q += f"&delay={delay}&chunked=1"
    if ct is not None:
        q += "&ct=" + urllib.parse.quote(ct, safe="")
    return f"{server.url}/parts?{q}"


async def async_wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        await asyncio.sleep(0.02)
    return True


class Heartbeat:
    """Counts 10 ms ticks of the event loop while active."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1

    async def __aenter__(self) -> Heartbeat:  # noqa: PYI034
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


# -- metadata and body access -----------------------------------------------------------------


async def test_async_stream_metadata(httpbin):
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", httpbin.url + "/stream/2") as r:
        assert isinstance(r, httpr.AsyncStreamingResponse)
        assert r.status_code == 200
        assert r.reason_phrase == "OK"
        assert r.url == httpbin.url + "/stream/2"
        assert r.http_version == "HTTP/1.1"
        assert r.headers["content-type"] == "application/json"
        assert r.cookies == {}
        assert r.is_success and not r.is_error and not r.is_redirect
        assert not r.is_informational and not r.is_client_error and not r.is_server_error
        assert r.has_redirect_location is False
        assert r.raise_for_status() is r
        assert r.is_closed is False and r.is_consumed is False
    assert r.is_closed is True


async def test_async_stream_unsupported_method(scripted_server):
    async with httpr.AsyncClient(timeout=10) as c:
        with pytest.raises(ValueError) as ei:
            async with c.stream("post", scripted_server.url):
                pass
    assert str(ei.value) == "Unsupported HTTP method: post"
    assert scripted_server.connection_count == 0


async def test_aiter_bytes_and_dunder_aiter(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        async with c.stream("GET", http_server.url + "/chunked") as r:
            chunks = [ch async for ch in r.aiter_bytes()]
        assert b"".join(chunks) == b"".join(CHUNKED_PARTS)
        assert all(isinstance(ch, bytes) for ch in chunks)
        async with c.stream("GET", http_server.url + "/chunked") as r:
            chunks = [ch async for ch in r]
        assert b"".join(chunks) == b"".join(CHUNKED_PARTS)


async def test_aread_and_consumed(http_server):
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", http_server.url + "/hello") as r:
        assert await r.aread() == HELLO
        assert r.is_consumed is True
        with pytest.raises(httpr.StreamConsumed) as ei:
            await r.aread()
        assert str(ei.value) == CONSUMED_MSG
        with pytest.raises(httpr.StreamConsumed):
            async for _ in r.aiter_bytes():
                pass


async def test_aread_returns_remaining(http_server):
    async with (
        httpr.AsyncClient(timeout=10) as c,
        c.stream("GET", parts_url(http_server, b"one|", b"two|", b"three")) as r,
    ):
        it = r.aiter_bytes()
        assert await it.__anext__() == b"one|"
        assert await r.aread() == b"two|three"


async def test_aclose_then_stream_closed(http_server):
    async with (
        httpr.AsyncClient(timeout=10) as c,
        c.stream("GET", http_server.url + "/chunked") as r,
    ):
        await r.aclose()
        await r.aclose()  # idempotent
        assert r.is_closed
        with pytest.raises(httpr.StreamClosed) as ei:
            async for _ in r.aiter_bytes():
                pass
        assert str(ei.value) == CLOSED_MSG
        with pytest.raises(httpr.StreamClosed):
            await r.aread()
        with pytest.raises(httpr.StreamClosed):
            async for _ in r.aiter_text():
                pass
        with pytest.raises(httpr.StreamClosed):
            async for _ in r.aiter_lines():
                pass


async def test_aiter_text_incremental(http_server):
    url = parts_url(http_server, b"na\xc3", b"\xafve \xf0\x9f", b"\x98\x80", b"!", delay=0.12)
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", url) as r:
        texts = [t async for t in r.aiter_text()]
    assert all(isinstance(t, str) for t in texts)
    assert "".join(texts) == "naïve 😀!"


async def test_aiter_lines(http_server):
    url = parts_url(http_server, b"data: 1\nda", b"ta: 2\n\nid: 3", delay=0.1)
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", url) as r:
        lines = [line async for line in r.aiter_lines()]
    assert lines == ["data: 1\n", "data: 2\n", "\n", "id: 3"]


async def test_sync_iterators_available_in_async(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        async with c.stream("GET", http_server.url + "/chunked") as r:
            assert b"".join(r.iter_bytes()) == b"".join(CHUNKED_PARTS)
        async with c.stream("GET", http_server.url + "/hello") as r:
            assert r.read() == HELLO
        async with c.stream("GET", parts_url(http_server, b"a\nb")) as r:
            assert list(r.iter_lines()) == ["a\n", "b"]
        async with c.stream("GET", parts_url(http_server, b"xyz")) as r:
            assert "".join(r.iter_text()) == "xyz"
            r.close()
            assert r.is_closed


async def test_async_drip_httpbin(httpbin):
    async with httpr.AsyncClient(timeout=10) as c:
        url = httpbin.url + "/drip?numbytes=4&duration=0.4&delay=0"
        async with c.stream("GET", url) as r:
            body = b"".join([ch async for ch in r.aiter_bytes()])
    assert body == b"****"


# -- the event loop keeps running ------------------------------------------------------------


async def test_event_loop_not_blocked_by_aiter_bytes(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        async with c.stream("GET", http_server.url + TRICKLE) as r, Heartbeat() as hb:
            body = b"".join([ch async for ch in r.aiter_bytes()])
        assert len(body) == 50
        assert hb.ticks > 10, hb.ticks


async def test_event_loop_not_blocked_by_aread_and_aiter_lines(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        async with c.stream("GET", http_server.url + TRICKLE) as r, Heartbeat() as hb:
            assert len(await r.aread()) == 50
        assert hb.ticks > 10, hb.ticks
        async with c.stream("GET", http_server.url + TRICKLE) as r, Heartbeat() as hb:
            lines = [line async for line in r.aiter_lines()]
        assert "".join(lines) == "a" * 10 + "b" * 10 + "c" * 10 + "d" * 10 + "e" * 10
        assert hb.ticks > 10, hb.ticks


async def test_two_streams_overlap(http_server):
    async with httpr.AsyncClient(timeout=10) as c:

        async def consume() -> int:
            async with c.stream("GET", http_server.url + TRICKLE) as r:
                return sum([len(ch) async for ch in r.aiter_bytes()])

        t0 = time.monotonic()
        sizes = await asyncio.gather(consume(), consume())
        elapsed = time.monotonic() - t0
    assert sizes == [50, 50]
    assert elapsed < 0.85, elapsed


# -- timeouts ----------------------------------------------------------------------------------


@pytest.mark.timeout(20)
async def test_async_per_chunk_timeout_trickle_completes(http_server):
    url = http_server.url + "/slow-body?delay=0.3&chunks=5&size=10"
    async with httpr.AsyncClient(timeout=0.5) as c:
        async with c.stream("GET", url) as r:
            n = sum([len(ch) async for ch in r.aiter_bytes()])
        assert n == 50
        assert len((await c.get(url)).content) == 50


@pytest.mark.timeout(20)
async def test_async_stalled_chunk_read_timeout(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"
    scripted_server.set_script([READ, send(head), STALL])
    async with httpr.AsyncClient(timeout=0.3) as c, c.stream("GET", scripted_server.url) as r:
        got = b""
        with pytest.raises(httpr.ReadTimeout) as ei:
            async for ch in r.aiter_bytes():
                got += ch
        assert got == b"partial"
        assert "next chunk" in str(ei.value)


# -- connections, cancellation, backpressure -----------------------------------------------------


@pytest.mark.timeout(30)
async def test_async_early_close_closes_connection(scripted_server):
    big = response(200, b"y" * (32 * MiB))
    scripted_server.set_script([serve(big)])
    async with httpr.AsyncClient(timeout=10) as c:
        async with c.stream("GET", scripted_server.url + "/big") as r:
            await r.aiter_bytes().__anext__()
        conn = scripted_server.connections[0]
        assert await async_wait_until(conn.closed.is_set)
        assert (await c.get(scripted_server.url + "/small")).status_code == 200
    assert scripted_server.connection_count == 2


@pytest.mark.timeout(30)
async def test_cancelling_a_consumer_task_closes_the_stream(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx"
    scripted_server.set_script([READ, send(head), STALL])
    async with httpr.AsyncClient(timeout=30) as c:

        async def consume() -> None:
            async with c.stream("GET", scripted_server.url) as r:
                async for _ in r.aiter_bytes():
                    pass

        task = asyncio.ensure_future(consume())
        assert await async_wait_until(lambda: scripted_server.connection_count == 1)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        conn = scripted_server.connections[0]
        assert await async_wait_until(conn.closed.is_set), "connection not closed after cancel"


@pytest.mark.timeout(60)
async def test_async_backpressure_slow_consumer(http_server):
    size = 128 * MiB
    token = uuid.uuid4().hex
    rss0 = rss_bytes()
    consumed = 0
    async with httpr.AsyncClient(timeout=10) as c:
        url = f"{http_server.url}/firehose?size={size}&token={token}"
        async with c.stream("GET", url) as r:
            t_end = time.monotonic() + 1.5
            async for chunk in r.aiter_bytes():
                consumed += len(chunk)
                await asyncio.sleep(0.05)
                if time.monotonic() > t_end:
                    break
            await asyncio.sleep(0.3)
            ahead = http_server.progress[token] - consumed
            rss_growth = rss_bytes() - rss0
            high_water = r._stream._high_water
    assert ahead < 16 * MiB, f"server got {ahead / MiB:.1f} MiB ahead of the consumer"
    assert high_water == 1 * MiB, f"buffer grew to {high_water / MiB:.1f} MiB (slow consumer)"
    assert rss_growth < 48 * MiB, f"RSS grew by {rss_growth / MiB:.1f} MiB"


@pytest.mark.timeout(60)
async def test_async_buffer_grows_for_a_consumer_that_keeps_up(http_server):
    """As the sync test in test_18: the high-water mark doubles from 1 MiB to 4 MiB for a
    consumer that drains half the buffer soon after each pause, and goes no further."""
    size = 48 * MiB
    url = f"{http_server.url}/firehose?size={size}&token={uuid.uuid4().hex}"
    got, marks = 0, set()
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", url) as r:
        async for chunk in r.aiter_bytes():
            got += len(chunk)
            marks.add(r._stream._high_water)
            await asyncio.sleep(0.001)
    assert got == size
    assert max(marks) == 4 * MiB, f"high-water marks seen: {sorted(marks)}"


@pytest.mark.timeout(60)
async def test_async_stalling_consumer_gets_every_byte_in_bounded_reads(http_server):
    """As the sync test in test_18: pauses, resumes with data still buffered, the taken front
    of the buffer reused; every byte in order, no read larger than 256 KiB."""
    size = 24 * MiB
    want = pattern_bytes(size)
    url = f"{http_server.url}/firehose?size={size}&token={uuid.uuid4().hex}"
    got, sizes = 0, []
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", url) as r:
        i = 0
        async for chunk in r.aiter_bytes():
            assert chunk == want[got : got + len(chunk)], f"wrong bytes at {got}"
            got += len(chunk)
            sizes.append(len(chunk))
            if i % 16 == 0:
                await asyncio.sleep(0.03)  # a full buffer: the engine pauses
            i += 1
    assert got == size
    assert max(sizes) == 256 * 1024, f"largest read {max(sizes)}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", STALL_BODY_SIZES)
async def test_async_bytes_before_a_stall_reach_the_reader(scripted_server, body):
    """As test_18's: bytes followed by a stall arrive at once (the waiting reader is woken when
    the socket has nothing more, even when a read filled the 64 KiB buffer exactly)."""
    scripted_server.set_script(body_then_stall(body))
    async with httpr.AsyncClient(timeout=5) as c, c.stream("GET", scripted_server.url) as r:
        t0, got = time.monotonic(), 0
        async for chunk in r.aiter_bytes():
            got += len(chunk)
            if got >= body:
                break
        assert got == body
        assert time.monotonic() - t0 < 2.5, "the reader waited for bytes that were not coming"


async def test_open_stream_survives_aclose(http_server):
    c = httpr.AsyncClient(timeout=10)
    async with c.stream("GET", http_server.url + TRICKLE) as r:
        first = await r.aiter_bytes().__anext__()
        await c.aclose()
        assert c.is_closed
        rest = await r.aread()
    assert len(first + rest) == 50


# -- the completion racing a data notification ------------------------------------------------


@pytest.fixture
def completion_delay():
    """Delays, on the reactor, every stream completion's post by 20 ms after `done` is visible."""
    before = _httpr._test_hooks(20000)
    yield lambda: _httpr._test_hooks(20000) - before
    _httpr._test_hooks(0)


@pytest.mark.timeout(60)
async def test_stream_record_outlives_the_completion_post(http_server, completion_delay):
    """A drain that took the record for an earlier data notification may already see the end
    and let the reader finish; the record must stay alive until the engine's completion post
    (releasing it on `done` was a use-after-free that aborted the process ~1 time in 100
    streams). The hook holds the reactor inside that window for 20 ms on every stream."""
    size = 256 * 1024
    async with httpr.AsyncClient(timeout=10) as c:
        for _ in range(30):
            n = 0
            async with c.stream("GET", f"{http_server.url}/bytes/{size}") as r:
                async for chunk in r.aiter_bytes():
                    n += len(chunk)
            del r  # the last Python reference: only the engine's keeps the record alive now
            assert n == size
    assert completion_delay() == 0, "a stream record was freed before its completion post"


@pytest.mark.timeout(120)
async def test_stale_notification_does_not_end_a_stream(http_server):
    """A notification can reach the consumer after the read it was queued for already took
    the data (a stale event); resolving the waiting read then gave it b"", which reads as the
    end of the body: streams ended early, silently (about once in 100 large streams on
    uvloop). The reader must keep waiting until there is data or the real end.

    The body comes in small pieces close together, and the reactor waits 2 ms before each
    tick decides whether to notify (a test hook): meanwhile the consumer takes the data of
    the previous notification and of the queued one, and waits again."""
    chunks, size = 60, 1000
    url = f"{http_server.url}/slow-body?delay=0.0005&chunks={chunks}&size={size}"
    short = []
    _httpr._test_hooks(0, 0, 2000)
    try:
        async with httpr.AsyncClient(timeout=20) as c:
            for i in range(10):
                async with c.stream("GET", url) as r:
                    n = sum([len(chunk) async for chunk in r.aiter_bytes()])
                if n != chunks * size:
                    short.append((i, n))
    finally:
        _httpr._test_hooks(0, 0, 0)
    assert short == []


async def test_aread_after_a_cancelled_aread(http_server):
    # a read cancelled while waiting leaves nothing behind: the next one works
    url = parts_url(http_server, b"first|", b"second", delay=0.3)
    async with httpr.AsyncClient(timeout=10) as c, c.stream("GET", url) as r:
        it = r.aiter_bytes()
        assert await it.__anext__() == b"first|"
        waiting = r._stream._aread()
        waiting.cancel()
        assert await r._stream._aread() == b"second"
