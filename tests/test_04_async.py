"""Layer 4: AsyncClient — native futures, concurrency, cancellation.

Every ``async def`` test runs on stock asyncio and on uvloop (conftest).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time

import httpr
import pytest
from servers.cases import FAULTS, FRAMINGS, framing_script
from servers.helpers import fd_count
from servers.httpserver import CHUNKED_PARTS, HELLO
from servers.scripted import CLOSE, READ, STALL, response, send, serve

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def exc_types(names):
    if isinstance(names, str):
        names = (names,)
    return tuple(getattr(httpr, n) for n in names)


def targets(server) -> list[list[str]]:
    return [[r.target for r in c.requests] for c in server.connections]


async def async_wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        await asyncio.sleep(interval)
    return True


async def wait_fds(baseline: int, timeout: float = 5.0) -> int:
    await async_wait_until(lambda: fd_count() <= baseline, timeout)
    return fd_count()


# -- basics ------------------------------------------------------------------------------


def test_asyncclient_is_a_client():
    assert issubclass(httpr.AsyncClient, httpr.Client)


@pytest.mark.asyncio
async def test_async_get_post_head(http_server):
    async with httpr.AsyncClient(timeout=10) as client:
        r = await client.get(http_server.url + "/hello")
        assert r.status_code == 200
        assert r.http_version == "HTTP/1.1"
        assert r.content == HELLO and r.text == "Hello world!"
        r = await client.post(http_server.url + "/echo", content=b"\x00abc", headers={"X-T": "1"})
        data = r.json()
        assert data["method"] == "POST"
        assert base64.b64decode(data["body_b64"]) == b"\x00abc"
        assert ["X-T", "1"] in data["headers"] or ["x-t", "1"] in data["headers"]
        r = await client.head(http_server.url + "/hello")
        assert r.content == b"" and r.headers["content-length"] == "12"
        r = await client.get(http_server.url + "/echo?a=1", params={"b": "2"})
        assert r.json()["query"] == "a=1&b=2"


@pytest.mark.asyncio
async def test_async_keepalive_reuse(http_server):
    async with httpr.AsyncClient(timeout=10) as client:
        ids = [(await client.get(http_server.url + "/echo")).json()["conn_id"] for _ in range(6)]
        assert await client.get(http_server.url + "/chunked") is not None
        ids.append((await client.get(http_server.url + "/echo")).json()["conn_id"])
    assert len(set(ids)) == 1, ids


@pytest.mark.asyncio
async def test_async_chunked_and_close_delimited(http_server):
    async with httpr.AsyncClient(timeout=10) as client:
        r = await client.get(http_server.url + "/chunked")
        assert r.content == b"".join(CHUNKED_PARTS)
        r = await client.get(http_server.url + "/close-delimited")
        assert r.content == b"".join(CHUNKED_PARTS)
        assert (await client.get(http_server.url + "/hello")).content == HELLO


@pytest.mark.asyncio
async def test_event_loop_not_blocked_while_waiting(http_server):
    """A slow response must not block the loop: a heartbeat keeps ticking."""
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async with httpr.AsyncClient(timeout=10) as client:
        hb = asyncio.create_task(heartbeat())
        r = await client.get(http_server.url + "/slow-head?delay=0.5")
        stop.set()
        await hb
    assert r.content == HELLO
    assert ticks > 20, ticks


# -- concurrency ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_1000_concurrent_requests(http_server):
    async with httpr.AsyncClient(max_concurrency=None, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.get(f"{http_server.url}/id/{i}") for i in range(1000))
        )
    assert len(responses) == 1000
    for i, r in enumerate(responses):
        assert r.status_code == 200
        assert r.text == str(i), (i, r.text)
        assert r.headers["x-id"] == str(i)


@pytest.mark.asyncio
async def test_concurrent_requests_overlap(http_server):
    """Ten 0.5 s requests at once take about 0.5 s, not 5 s."""
    async with httpr.AsyncClient(max_concurrency=None, timeout=10) as client:
        t0 = time.monotonic()
        rs = await asyncio.gather(
            *(client.get(http_server.url + "/slow-head?delay=0.5") for _ in range(10))
        )
        elapsed = time.monotonic() - t0
    assert all(r.content == HELLO for r in rs)
    assert elapsed < 2.0, elapsed


def test_two_loops_in_two_threads_share_one_client(http_server, loop_factory, run_in_threads):
    client = httpr.AsyncClient(max_concurrency=None, timeout=20)

    def thread_main(tag):
        async def main():
            rs = await asyncio.gather(
                *(client.get(f"{http_server.url}/id/{tag}-{i}") for i in range(50))
            )
            return [r.text for r in rs]

        loop = loop_factory()
        try:
            return loop.run_until_complete(main())
        finally:
            loop.close()

    try:
        a, b = run_in_threads([lambda: thread_main("A"), lambda: thread_main("B")], timeout=40)
    finally:
        client.close()
    assert a == [f"A-{i}" for i in range(50)]
    assert b == [f"B-{i}" for i in range(50)]


def test_loop_closed_then_client_used_from_a_new_loop(http_server, loop_factory):
    client = httpr.AsyncClient(timeout=10)
    try:
        for _ in range(2):
            loop = loop_factory()
            try:
                r = loop.run_until_complete(client.get(http_server.url + "/hello"))
                assert r.content == HELLO
            finally:
                loop.close()
    finally:
        client.close()


# -- cancellation -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_mid_request(http_server, scripted_server):
    scripted_server.set_script([READ, STALL])
    async with httpr.AsyncClient(timeout=30) as client:
        assert (await client.get(http_server.url + "/hello")).content == HELLO  # warm up
        baseline = fd_count()
        task = asyncio.create_task(client.get(scripted_server.url + "/stall"))
        assert await async_wait_until(lambda: len(scripted_server.requests) == 1)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < 1.0
        # the server observed the connection closed
        conn = scripted_server.connections[0]
        assert await async_wait_until(conn.closed.is_set, 5), "cancelled connection left open"
        # the client still works, and nothing leaked
        for _ in range(3):
            assert (await client.get(http_server.url + "/hello")).content == HELLO
        assert await wait_fds(baseline) <= baseline
    assert scripted_server.connection_count == 1


@pytest.mark.asyncio
async def test_cancel_mid_body(http_server, scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000
    scripted_server.set_script([READ, send(head), STALL], [serve()])
    async with httpr.AsyncClient(timeout=30) as client:
        task = asyncio.create_task(client.get(scripted_server.url + "/body"))
        assert await async_wait_until(lambda: len(scripted_server.requests) == 1)
        await asyncio.sleep(0.2)  # let the head and part of the body arrive
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await async_wait_until(scripted_server.connections[0].closed.is_set, 5)
        r = await client.get(scripted_server.url + "/next")
        assert r.content == b"ok"
    assert targets(scripted_server) == [["/body"], ["/next"]]


@pytest.mark.asyncio
async def test_wait_for_timeout_cancels_request(scripted_server):
    scripted_server.set_script([READ, STALL], [serve()])
    async with httpr.AsyncClient(timeout=30) as client:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.get(scripted_server.url + "/stall"), 0.3)
        assert await async_wait_until(scripted_server.connections[0].closed.is_set, 5)
        assert (await client.get(scripted_server.url + "/next")).content == b"ok"


@pytest.mark.asyncio
async def test_cancelled_requests_release_concurrency_slots(http_server, scripted_server):
    """httpcore #830: cancelled waiters and in-flight requests must give their slots back."""
    scripted_server.set_script([READ, STALL])
    async with httpr.AsyncClient(max_concurrency=2, timeout=30) as client:
        tasks = [asyncio.create_task(client.get(scripted_server.url + f"/s{i}")) for i in range(6)]
        assert await async_wait_until(lambda: len(scripted_server.requests) >= 2)
        await asyncio.sleep(0.1)
        assert len(scripted_server.requests) == 2  # the cap holds
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        for _ in range(5):
            r = await asyncio.wait_for(client.get(http_server.url + "/hello"), 5)
            assert r.content == HELLO
        rs = await asyncio.wait_for(
            asyncio.gather(*(client.get(http_server.url + "/hello") for _ in range(4))), 10
        )
        assert all(r.content == HELLO for r in rs)


@pytest.mark.asyncio
async def test_cancel_storm_leaves_client_healthy(http_server):
    async with httpr.AsyncClient(timeout=10) as warm:  # the reactor and this loop's port exist
        await warm.get(http_server.url + "/hello")
    await asyncio.sleep(0.2)
    baseline = fd_count()
    async with httpr.AsyncClient(max_concurrency=10, timeout=30) as client:
        for round_ in range(5):
            tasks = [
                asyncio.create_task(client.get(http_server.url + "/slow-head?delay=0.2"))
                for _ in range(40)
            ]
            await asyncio.sleep(0.02 * round_)
            for t in tasks[::2]:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results[1::2]:
                assert not isinstance(r, BaseException), r
                assert r.content == HELLO
            for r in results[::2]:
                assert isinstance(r, asyncio.CancelledError) or r.content == HELLO, r
        rs = await asyncio.gather(*(client.get(http_server.url + "/hello") for _ in range(20)))
        assert all(r.content == HELLO for r in rs)
    # after aclose() every socket of this client is gone
    assert await wait_fds(baseline) <= baseline


# -- errors in async code ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_read_timeout(scripted_server):
    scripted_server.set_script([READ, STALL], [serve()])
    async with httpr.AsyncClient(timeout=0.5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout, match="response headers"):
            await client.get(scripted_server.url + "/")
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 2.0, elapsed
        assert (await client.get(scripted_server.url + "/next")).content == b"ok"


@pytest.mark.asyncio
async def test_async_body_read_timeout(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    scripted_server.set_script([READ, send(head), STALL], [serve()])
    async with httpr.AsyncClient(timeout=0.5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout, match="next chunk"):
            await client.get(scripted_server.url + "/")
        assert time.monotonic() - t0 < 2.0


@pytest.mark.asyncio
async def test_async_connect_error(closed_port):
    async with httpr.AsyncClient(timeout=5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port}/")
        assert time.monotonic() - t0 < 2.0


@pytest.mark.asyncio
async def test_async_refusals_before_io(scripted_server):
    async with httpr.AsyncClient(timeout=5) as client:
        with pytest.raises(ValueError):
            await client.request("FOO", scripted_server.url + "/")
        with pytest.raises(httpr.LocalProtocolError):
            await client.get(scripted_server.url + "/", headers={"X-A": "a\r\nB: c"})
        with pytest.raises(httpr.RequestError):
            await client.get("http://")
    await asyncio.sleep(0.3)
    assert scripted_server.connection_count == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("case", FAULTS, ids=[c.id for c in FAULTS])
async def test_async_fault(scripted_server, case):
    scripted_server.set_script(case.steps, [serve()])
    async with httpr.AsyncClient(timeout=3) as client:
        with pytest.raises(exc_types(case.exc)) as info:
            await client.get(scripted_server.url + "/fault")
        if case.match:
            assert info.match(case.match)
        r = await client.get(scripted_server.url + "/after")
        assert r.content == b"ok"
    assert targets(scripted_server)[0] == ["/fault"]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", FRAMINGS, ids=[c.id for c in FRAMINGS])
async def test_async_framing_and_reuse(scripted_server, case):
    scripted_server.set_script(framing_script(case), [serve()])
    async with httpr.AsyncClient(timeout=3) as client:
        r = await client.request(case.method, scripted_server.url + "/first")
        assert (r.status_code, r.content, r.http_version) == (case.status, case.body, case.version)
        assert (await client.get(scripted_server.url + "/second")).content == b"ok"
    expected = [["/first", "/second"]] if case.reusable else [["/first"], ["/second"]]
    assert targets(scripted_server) == expected


@pytest.mark.asyncio
async def test_async_get_retried_on_reused_connection(scripted_server):
    scripted_server.set_script([READ, send(OK), READ, CLOSE], [serve()])
    async with httpr.AsyncClient(timeout=5) as client:
        assert (await client.get(scripted_server.url + "/one")).content == b"ok"
        assert (await client.get(scripted_server.url + "/two")).content == b"ok"
    assert targets(scripted_server) == [["/one", "/two"], ["/two"]]


@pytest.mark.asyncio
async def test_async_post_not_retried(scripted_server):
    scripted_server.set_script([READ, send(OK), READ, CLOSE], [serve()])
    async with httpr.AsyncClient(timeout=5) as client:
        assert (await client.get(scripted_server.url + "/one")).content == b"ok"
        with pytest.raises(httpr.RemoteProtocolError):
            await client.post(scripted_server.url + "/two", content=b"once")
        await asyncio.sleep(0.3)
        assert len([r for r in scripted_server.requests if r.method == "POST"]) == 1


@pytest.mark.asyncio
async def test_exception_in_one_request_does_not_disturb_others(http_server, scripted_server):
    scripted_server.set_script([READ, send(b"garbage\r\n\r\n"), CLOSE])
    async with httpr.AsyncClient(max_concurrency=None, timeout=10) as client:
        good = [client.get(f"{http_server.url}/id/{i}") for i in range(20)]
        bad = [client.get(scripted_server.url + "/bad") for _ in range(5)]
        results = await asyncio.gather(*good, *bad, return_exceptions=True)
    for i, r in enumerate(results[:20]):
        assert not isinstance(r, BaseException), r
        assert r.text == str(i)
    for r in results[20:]:
        assert isinstance(r, httpr.RemoteProtocolError), r


def test_sync_and_async_clients_in_parallel(http_server, run_in_threads):
    """A sync Client in a thread while an AsyncClient runs on a loop in another."""
    sync_client = httpr.Client(timeout=10)
    async_client = httpr.AsyncClient(timeout=10)

    def sync_part():
        return [sync_client.get(f"{http_server.url}/id/s{i}").text for i in range(50)]

    def async_part():
        async def main():
            rs = await asyncio.gather(
                *(async_client.get(f"{http_server.url}/id/a{i}") for i in range(50))
            )
            return [r.text for r in rs]

        return asyncio.run(main())

    try:
        s, a = run_in_threads([sync_part, async_part], timeout=40)
    finally:
        sync_client.close()
        async_client.close()
    assert s == [f"s{i}" for i in range(50)]
    assert a == [f"a{i}" for i in range(50)]


# -- cross-talk oracle (CC-06) ------------------------------------------------------------------


def cross_talk_script(conn):
    """Serve /id/<n>; the fate of each request depends on n % 7 only.

    0: close before any byte   1: truncated body   2: garbage status line
    3: Connection: close       4: a stray extra response after the body (poison)
    5, 6: normal keep-alive answer
    """
    while True:
        req = conn.read_request()
        if req is None:
            return
        ident = req.target.rsplit("/", 1)[-1]
        body = ident.encode()
        kind = int(ident) % 7
        if kind == 0:
            conn.close()
            return
        if kind == 1:
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body)
            conn.close()
            return
        if kind == 2:
            conn.send(b"garbage\r\n\r\n")
            conn.close()
            return
        if kind == 3:
            conn.send(response(200, body, [("Connection", "close")]))
            conn.close()
            return
        if kind == 4:
            conn.send(response(200, body) + response(200, b"POISON"))
            continue
        conn.send(response(200, body))


def check_cross_talk(results) -> None:
    for i, r in enumerate(results):
        if i % 7 < 3:
            assert isinstance(r, httpr.TransportError), (i, r)
        else:
            assert not isinstance(r, BaseException), (i, r)
            assert r.content == str(i).encode(), f"request {i} got the response {r.content!r}"


def large_poison_script(conn):
    """Serve /id/<n>: 256 KiB naming n, and a stray response right behind it, in one send.

    The client reads a body of known length only up to its end, so the stray response is
    still in the socket when the next request (queued behind the cap) takes the connection.
    """
    while True:
        req = conn.read_request()
        if req is None:
            return
        ident = req.target.rsplit("/", 1)[-1]
        conn.send(response(200, ident.encode().rjust(256 * 1024, b".")) + response(200, b"POISON"))


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
async def test_stray_response_behind_a_large_body_reaches_nobody(scripted_server, stream):
    """MR-50/51 when the stray bytes are not in the read that ended the body."""
    scripted_server.set_script(large_poison_script)

    async def one(client: httpr.AsyncClient, i: int) -> bytes:
        url = f"{scripted_server.url}/id/{i}"
        if not stream:
            return (await client.get(url)).content
        async with client.stream("GET", url) as r:
            return b"".join([chunk async for chunk in r.aiter_bytes()])

    async with httpr.AsyncClient(max_concurrency=1, timeout=10) as client:
        bodies = await asyncio.gather(*(one(client, i) for i in range(12)))
    for i, body in enumerate(bodies):
        assert body == str(i).encode().rjust(256 * 1024, b"."), f"request {i}: {body[-40:]!r}"
    assert len(scripted_server.connections) == 12  # none was reused


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_cross_talk_oracle_async(scripted_server):
    scripted_server.set_script(cross_talk_script)
    async with httpr.AsyncClient(max_concurrency=32, timeout=10) as client:
        results = await asyncio.gather(
            *(client.get(f"{scripted_server.url}/id/{i}") for i in range(350)),
            return_exceptions=True,
        )
    check_cross_talk(results)


@pytest.mark.timeout(120)
def test_cross_talk_oracle_threads(scripted_server, run_in_threads):
    scripted_server.set_script(cross_talk_script)
    results = [None] * 280

    def worker(client, t):
        for i in range(t, 280, 8):
            try:
                results[i] = client.get(f"{scripted_server.url}/id/{i}")
            except httpr.HTTPError as e:
                results[i] = e

    with httpr.Client(timeout=10) as client:
        run_in_threads([functools.partial(worker, client, t) for t in range(8)], timeout=100)
    check_cross_talk(results)


@pytest.fixture
def one_record_per_drain():
    """Every drain handles one record and reschedules itself for the rest (as a drain does
    past 1,000 records), so posts keep arriving while a port waits in the poster's batch."""
    from httpr import _httpr

    _httpr._test_hooks(0, 1)
    yield
    _httpr._test_hooks(0, 0)


@pytest.mark.timeout(60)
def test_self_rescheduled_drains_and_new_posts_never_corrupt_the_poster(
    http_server, loop_factory, one_record_per_drain
):
    """A drain that rescheduled itself cleared the port's `scheduled` flag while the poster
    still held the port in its private batch; the next completion linked the port into the
    poster's list a second time, and the poster spun forever (seen with 6,000+ requests in
    flight, where a drain stops at 1,000)."""

    async def main() -> None:
        async with httpr.AsyncClient(timeout=10, max_concurrency=64) as c:
            for _ in range(10):
                rs = await asyncio.gather(*[c.get(http_server.url + "/hello") for _ in range(200)])
                assert all(r.status_code == 200 for r in rs)

    loop = loop_factory()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
