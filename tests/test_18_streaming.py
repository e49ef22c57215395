"""CONTRACT §3.2, §5.4, §13: Client.stream() and StreamingResponse (synchronous).

Incremental text decoding, per-chunk timeouts, backpressure (observed as the bytes the
server managed to send while the consumer is slow) and early close.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid

import httpr
import pytest
from servers.helpers import STALL_BODY_SIZES, body_then_stall, rss_bytes, wait_until
from servers.httpserver import CHUNKED_PARTS, HELLO, pattern_bytes
from servers.scripted import READ, RST, STALL, response, send, serve

CLOSED_MSG = "Response stream has been closed"
CONSUMED_MSG = "Response stream has already been consumed"
MiB = 1 << 20


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def parts_url(server, *parts: bytes, delay: float = 0.1, ct: str | None = None) -> str:
    q = "&".join("p=" + urllib.parse.quote_from_bytes(p, safe="") for p in parts)
    q += f"&delay={delay}&chunked=1"
    if ct is not None:
        q += "&ct=" + urllib.parse.quote(ct, safe="")
    return f"{server.url}/parts?{q}"


# -- metadata --------------------------------------------------------------------------------


def test_metadata_before_body(client, httpbin):
    with client.stream("GET", httpbin.url + "/stream/3") as r:
        assert isinstance(r, httpr.StreamingResponse)
        assert r.status_code == 200
        assert r.reason_phrase == "OK"
        assert r.url == httpbin.url + "/stream/3"
        assert r.http_version == "HTTP/1.1"
        assert r.headers["content-type"] == "application/json"
        assert r.cookies == {}
        assert r.is_success and not r.is_error and not r.is_redirect
        assert not r.is_informational and not r.is_client_error and not r.is_server_error
        assert r.has_redirect_location is False
        assert r.raise_for_status() is r
        assert repr(r) == "<StreamingResponse [200 OK]>"
        assert r.is_closed is False and r.is_consumed is False
    assert r.is_closed is True


def test_stream_error_status_raise_for_status(client, httpbin):
    with client.stream("GET", httpbin.url + "/status/404") as r:
        assert r.status_code == 404
        with pytest.raises(httpr.HTTPStatusError):
            r.raise_for_status()


def test_stream_follows_redirects(client, httpbin):
    with client.stream("GET", httpbin.url + "/redirect/2") as r:
        assert r.status_code == 200
        assert r.url == httpbin.url + "/get"
        assert b'"url"' in r.read()


def test_stream_cookies(client, http_server):
    with client.stream("GET", http_server.url + "/set-cookie?c=s%3D1") as r:
        assert r.cookies == {"s": "1"}


def test_stream_unsupported_method(client, scripted_server):
    with pytest.raises(ValueError) as ei, client.stream("get", scripted_server.url):
        pass
    assert str(ei.value) == "Unsupported HTTP method: get"
    assert scripted_server.connection_count == 0


def test_stream_unknown_kwarg_type_error(client, scripted_server):
    with pytest.raises(TypeError), client.stream("GET", scripted_server.url, verify=False):
        pass


# -- iteration -----------------------------------------------------------------------------------


def test_iter_bytes_returns_self_and_yields_chunks(client, http_server):
    with client.stream("GET", http_server.url + "/chunked") as r:
        assert r.iter_bytes() is r
        assert iter(r) is r
        chunks = list(r.iter_bytes())
    assert all(isinstance(c, bytes) and c for c in chunks)
    assert b"".join(chunks) == b"".join(CHUNKED_PARTS)


def test_end_of_stream_then_stream_consumed(client, http_server):
    with client.stream("GET", http_server.url + "/hello") as r:
        body = b""
        for chunk in r:
            body += chunk
        assert body == HELLO
        assert r.is_consumed is True
        with pytest.raises(httpr.StreamConsumed) as ei:
            next(r)
        assert str(ei.value) == CONSUMED_MSG
        for call in (r.read, r.iter_text, r.iter_lines):
            with pytest.raises(httpr.StreamConsumed):
                call()


def test_read_returns_remaining(client, http_server):
    with client.stream("GET", parts_url(http_server, b"first|", b"second|", b"third")) as r:
        first = next(r)
        assert first == b"first|"
        assert r.read() == b"second|third"
        assert r.is_consumed
        with pytest.raises(httpr.StreamConsumed) as ei:
            r.read()
        assert str(ei.value) == CONSUMED_MSG


def test_read_whole_body(client, httpbin):
    with client.stream("GET", httpbin.url + "/bytes/5000?seed=1") as r:
        body = r.read()
    assert len(body) == 5000
    assert body == client.get(httpbin.url + "/bytes/5000?seed=1").content


def test_close_then_every_access_is_stream_closed(client, http_server):
    with client.stream("GET", http_server.url + "/chunked") as r:
        next(r)
        r.close()
        r.close()  # idempotent
        assert r.is_closed is True
        with pytest.raises(httpr.StreamClosed) as ei:
            next(r)
        assert str(ei.value) == CLOSED_MSG
        for call in (r.read, r.iter_text, r.iter_lines):
            with pytest.raises(httpr.StreamClosed) as ei:
                call()
            assert str(ei.value) == CLOSED_MSG


def test_stream_errors_hierarchy():
    assert issubclass(httpr.StreamClosed, httpr.StreamError)
    assert issubclass(httpr.StreamConsumed, httpr.StreamError)
    assert not issubclass(httpr.StreamError, httpr.HTTPError)


def test_after_with_block_stream_is_closed(client, http_server):
    with client.stream("GET", http_server.url + "/chunked") as r:
        pass
    with pytest.raises(httpr.StreamClosed):
        r.read()


# -- text and lines ------------------------------------------------------------------------------


def test_iter_text_incremental_utf8_across_chunks(client, http_server):
    # "é" = c3 a9 and "€" = e2 82 ac, each split between two network chunks
    url = parts_url(http_server, b"caf\xc3", b"\xa9 costs 5 \xe2\x82", b"\xac", b" ok", delay=0.15)
    with client.stream("GET", url) as r:
        assert r.iter_bytes() is r
        texts = list(r.iter_text())
    assert all(isinstance(t, str) for t in texts)
    assert "".join(texts) == "café costs 5 € ok"
    assert "\ufffd" not in "".join(texts)


def test_iter_text_uses_charset(client, http_server):
    url = parts_url(http_server, "h\xe9llo".encode("latin-1"), ct="text/plain; charset=iso-8859-1")
    with client.stream("GET", url) as r:
        assert "".join(r.iter_text()) == "héllo"


def test_iter_lines_keeps_newlines_across_chunks(client, http_server):
    url = parts_url(http_server, b"line1\nli", b"ne2\r\nline", b"3\n\nlast", delay=0.1)
    with client.stream("GET", url) as r:
        lines = list(r.iter_lines())
    assert lines == ["line1\n", "line2\r\n", "line3\n", "\n", "last"]


def test_iter_lines_httpbin_stream(client, httpbin):
    with client.stream("GET", httpbin.url + "/stream/4") as r:
        lines = list(r.iter_lines())
    assert len(lines) == 4
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2, 3]
    assert all(line.endswith("\n") for line in lines)


def test_iter_lines_multibyte_split(client, http_server):
    url = parts_url(http_server, b"\xe2\x82", b"\xac\n\xc3", b"\xa9", delay=0.1)
    with client.stream("GET", url) as r:
        assert list(r.iter_lines()) == ["€\n", "é"]


def test_drip_httpbin(client, httpbin):
    t0 = time.monotonic()
    with client.stream("GET", httpbin.url + "/drip?numbytes=5&duration=0.5&delay=0") as r:
        chunks = list(r)
    assert b"".join(chunks) == b"*****"
    assert time.monotonic() - t0 >= 0.3


# -- timeouts ------------------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_per_chunk_timeout_trickle_completes(http_server):
    url = http_server.url + "/slow-body?delay=0.3&chunks=5&size=10"
    with httpr.Client(timeout=0.5) as c:
        t0 = time.monotonic()
        with c.stream("GET", url) as r:
            n = sum(len(ch) for ch in r)
        assert n == 50
        assert time.monotonic() - t0 >= 1.4  # longer than the timeout in total
        assert len(c.get(url).content) == 50  # buffered too


@pytest.mark.timeout(20)
def test_stalled_chunk_read_timeout(http_server):
    url = http_server.url + "/slow-body?delay=1.5&chunks=2&size=10"
    with httpr.Client(timeout=0.4) as c, c.stream("GET", url) as r:
        assert r.status_code == 200  # head arrived in time
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout) as ei:
            r.read()
        assert time.monotonic() - t0 < 1.4
        assert "next chunk" in str(ei.value)


@pytest.mark.timeout(20)
def test_stalled_chunk_iter_text_and_lines_timeout(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nabc\n"
    scripted_server.set_script([READ, send(head), STALL])
    with httpr.Client(timeout=0.3) as c:
        with c.stream("GET", scripted_server.url) as r, pytest.raises(httpr.ReadTimeout):
            list(r.iter_lines())
        with c.stream("GET", scripted_server.url) as r, pytest.raises(httpr.ReadTimeout):
            list(r.iter_text())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", STALL_BODY_SIZES)
def test_bytes_before_a_stall_reach_the_reader(scripted_server, body):
    """A waiting reader is woken for a worthwhile amount or when the socket has nothing more:
    bytes followed by a stall (sizes around the read buffer, where a read fills it exactly)
    must arrive at once, not at the read timeout."""
    scripted_server.set_script(body_then_stall(body))
    with httpr.Client(timeout=5) as c, c.stream("GET", scripted_server.url) as r:
        t0, got = time.monotonic(), 0
        for chunk in r.iter_bytes():
            got += len(chunk)
            if got >= body:
                break
        assert got == body
        assert time.monotonic() - t0 < 2.5, "the reader waited for bytes that were not coming"


# -- connection handling ---------------------------------------------------------------------------


def test_consumed_stream_returns_connection_to_pool(client, http_server):
    with client.stream("GET", http_server.url + "/echo") as r:
        first = r.read()
    conn = json.loads(first)["conn_id"]
    assert client.get(http_server.url + "/echo").json()["conn_id"] == conn


@pytest.mark.timeout(30)
def test_early_close_closes_the_connection(client, scripted_server):
    big = response(200, b"x" * (32 * MiB), headers=[("Content-Type", "application/octet-stream")])
    scripted_server.set_script([serve(big)])
    with client.stream("GET", scripted_server.url + "/big") as r:
        assert len(next(r)) > 0
    conn = scripted_server.connections[0]
    assert wait_until(conn.closed.is_set, 5), "the server never saw the connection close"
    # the next request needs a new connection
    assert client.get(scripted_server.url + "/small").status_code == 200
    assert scripted_server.connection_count == 2


@pytest.mark.timeout(30)
def test_early_close_firehose_aborts_server_send(client, http_server):
    token = uuid.uuid4().hex
    with client.stream("GET", f"{http_server.url}/firehose?size={256 * MiB}&token={token}") as r:
        next(r)
        r.close()
    assert wait_until(lambda: token in http_server.finished, 5)
    assert http_server.finished[token].wait(5)
    assert http_server.aborted[token] is True
    assert http_server.progress[token] < 64 * MiB


@pytest.mark.timeout(60)
def test_backpressure_slow_consumer(client, http_server):
    size = 128 * MiB
    token = uuid.uuid4().hex
    rss0 = rss_bytes()
    consumed = 0
    peak_ahead = 0
    with client.stream("GET", f"{http_server.url}/firehose?size={size}&token={token}") as r:
        t_end = time.monotonic() + 1.5
        for chunk in r:
            consumed += len(chunk)
            time.sleep(0.05)
            ahead = http_server.progress.get(token, 0) - consumed
            peak_ahead = max(peak_ahead, ahead)
            if time.monotonic() > t_end:
                break
        time.sleep(0.3)  # give a non-pausing engine every chance to race ahead
        ahead = http_server.progress[token] - consumed
        rss_growth = rss_bytes() - rss0
        high_water = r._high_water
    assert consumed < size
    # a consumer this slow takes far longer than the grow window to drain half the buffer
    assert high_water == HIGH_MIN, f"buffer grew to {high_water / MiB:.1f} MiB"
    assert max(ahead, peak_ahead) < 16 * MiB, f"server got {ahead / MiB:.1f} MiB ahead"
    assert rss_growth < 48 * MiB, f"RSS grew by {rss_growth / MiB:.1f} MiB"


TAKE_MAX = 256 * 1024  # most bytes one read hands out (src/py/module.c)
HIGH_MIN, HIGH_MAX = 1 * MiB, 4 * MiB  # a stream buffer's high-water mark, first and largest


@pytest.mark.timeout(60)
def test_buffer_grows_for_a_consumer_that_keeps_up(client, http_server):
    """A consumer slower than the server, but one that drains half the buffer soon after each
    pause, doubles the buffer's high-water mark up to HIGH_MAX (fewer pauses and resumes), and
    never past it."""
    size = 48 * MiB
    url = f"{http_server.url}/firehose?size={size}&token={uuid.uuid4().hex}"
    got, marks = 0, set()
    with client.stream("GET", url) as r:
        for chunk in r.iter_bytes():
            got += len(chunk)
            marks.add(r._high_water)
            time.sleep(0.001)  # slower than the server: the buffer fills and the engine pauses
    assert got == size
    assert max(marks) == HIGH_MAX, f"high-water marks seen: {sorted(marks)}"


@pytest.mark.timeout(60)
def test_stalling_consumer_gets_every_byte_in_bounded_reads(client, http_server):
    """A consumer that stalls now and then lets the buffer fill to its high-water mark, so the
    engine pauses, resumes while data is still buffered and reuses the taken front of the
    buffer: every byte arrives, in order, and no read hands out more than TAKE_MAX."""
    size = 24 * MiB
    want = pattern_bytes(size)
    url = f"{http_server.url}/firehose?size={size}&token={uuid.uuid4().hex}"
    got, sizes = 0, []
    with client.stream("GET", url) as r:
        for i, chunk in enumerate(r.iter_bytes()):
            assert chunk == want[got : got + len(chunk)], f"wrong bytes at {got}"
            got += len(chunk)
            sizes.append(len(chunk))
            if i % 16 == 0:
                time.sleep(0.03)  # a full buffer: the engine pauses
    assert got == size
    assert max(sizes) == TAKE_MAX, f"largest read {max(sizes)}"


@pytest.mark.timeout(60)
def test_slow_consumer_still_gets_every_byte(http_server):
    size = 8 * MiB
    token = uuid.uuid4().hex
    url = f"{http_server.url}/firehose?size={size}&token={token}"
    with httpr.Client(timeout=0.4) as c, c.stream("GET", url) as r:
        n = 0
        for i, chunk in enumerate(r):
            n += len(chunk)
            if i < 4:
                # the consumer pauses longer than the timeout: the engine is paused by
                # backpressure, not waiting on the server, so this is not a timeout
                time.sleep(0.6)
    assert n == size


def test_stream_while_other_requests_run(client, http_server):
    with client.stream("GET", http_server.url + "/slow-body?delay=0.1&chunks=3&size=5") as r:
        assert client.get(http_server.url + "/hello").content == HELLO
        assert r.read() == b"aaaaabbbbbccccc"


@pytest.mark.timeout(20)
def test_chunk_read_error_is_runtime_error_and_read_error(scripted_server):
    # CONTRACT §3.2: "Error reading chunk: …" as RuntimeError; our class is kept as well
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"
    scripted_server.set_script([READ, send(head), RST])
    with httpr.Client(timeout=5) as c, c.stream("GET", scripted_server.url) as r:
        with pytest.raises(RuntimeError) as ei:
            r.read()
        assert isinstance(ei.value, httpr.ReadError)
        assert str(ei.value).startswith("Error reading chunk: ")
