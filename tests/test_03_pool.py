"""Layer 3: the connection pool — threads, reuse, stale connections and retries."""

from __future__ import annotations

import base64
import functools
import threading
import time

import httpr
import pytest
from servers.helpers import fd_count, wait_for_fds
from servers.scripted import CLOSE, READ, RST, ScriptedServer, send, serve

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def targets(server) -> list[list[str]]:
    return [[r.target for r in c.requests] for c in server.connections]


# -- threads ---------------------------------------------------------------------------


def test_one_client_from_8_threads(http_server, run_in_threads):
    url = http_server.url
    barrier = threading.Barrier(8)

    def worker(client, t):
        barrier.wait(10)
        for i in range(25):
            ident = f"t{t}-r{i}"
            r = client.get(f"{url}/id/{ident}")
            assert r.status_code == 200
            assert r.text == ident
            assert r.headers["x-id"] == ident
        body = (f"thread-{t}-".encode()) * 500
        data = client.post(url + "/echo", content=body).json()
        assert base64.b64decode(data["body_b64"]) == body
        return t

    with httpr.Client(timeout=20) as client:
        before = http_server.connections_accepted
        results = run_in_threads(
            [functools.partial(worker, client, t) for t in range(8)], timeout=50
        )
        assert results == list(range(8))
        # 8 threads never need more than 8 connections when the pool reuses them
        assert http_server.connections_accepted - before <= 8


def test_sequential_requests_keep_fd_count_flat(http_server):
    with httpr.Client(timeout=10) as client:
        for _ in range(20):
            client.get(http_server.url + "/hello")
        base = fd_count()
        before = http_server.connections_accepted
        for _ in range(300):
            assert client.get(http_server.url + "/hello").status_code == 200
        assert wait_for_fds(base) <= base
        assert http_server.connections_accepted == before


def test_each_origin_has_its_own_connection(http_server, scripted_server):
    other = ScriptedServer([serve()])
    try:
        with httpr.Client(timeout=10) as client:
            for i in range(3):
                assert client.get(f"{scripted_server.url}/a{i}").content == b"ok"
                assert client.get(f"{other.url}/b{i}").content == b"ok"
        assert targets(scripted_server) == [["/a0", "/a1", "/a2"]]
        assert targets(other) == [["/b0", "/b1", "/b2"]]
    finally:
        other.stop()


# -- stale connections and retries ------------------------------------------------------


@pytest.mark.parametrize("end", [CLOSE, RST], ids=["fin", "rst"])
def test_get_retried_once_when_reused_connection_dies_before_response(scripted_server, end):
    """Keep-alive race: the server drops a reused connection without answering."""
    scripted_server.set_script([READ, send(OK), READ, end], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        r = client.get(scripted_server.url + "/two")
        assert r.status_code == 200 and r.content == b"ok"
    assert targets(scripted_server) == [["/one", "/two"], ["/two"]]


def test_stale_idle_connection_is_replaced(scripted_server):
    """The server closed the idle connection a while ago; the next GET succeeds."""
    scripted_server.set_script([READ, send(OK), CLOSE], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        assert scripted_server.connections[0].done.wait(5)
        time.sleep(0.2)
        assert client.get(scripted_server.url + "/two").content == b"ok"
    assert targets(scripted_server)[-1] == ["/two"]
    assert targets(scripted_server)[0] == ["/one"]


def test_stale_idle_connection_detected_before_post(scripted_server):
    """A POST cannot be retried, so an idle connection the server closed must not be used."""
    scripted_server.set_script([READ, send(OK), CLOSE], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        assert scripted_server.connections[0].done.wait(5)
        time.sleep(0.2)
        r = client.post(scripted_server.url + "/two", content=b"payload")
        assert r.status_code == 200
    posts = [r for r in scripted_server.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].body == b"payload"
    assert targets(scripted_server) == [["/one"], ["/two"]]


@pytest.mark.parametrize(
    "end, exc",
    [(CLOSE, "RemoteProtocolError"), (RST, "TransportError")],
    ids=["fin", "rst"],
)
def test_post_not_retried_on_reused_connection(scripted_server, end, exc):
    scripted_server.set_script([READ, send(OK), READ, end], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        with pytest.raises(getattr(httpr, exc)):
            client.post(scripted_server.url + "/two", content=b"once")
        time.sleep(0.3)
        posts = [r for r in scripted_server.requests if r.method == "POST"]
        assert len(posts) == 1, "a POST was sent twice"
        # still usable afterwards
        assert client.get(scripted_server.url + "/three").content == b"ok"
    assert targets(scripted_server) == [["/one", "/two"], ["/three"]]


def test_retry_happens_at_most_once(scripted_server):
    scripted_server.set_script([READ, send(OK), READ, CLOSE], [READ, CLOSE], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        with pytest.raises(httpr.RemoteProtocolError):
            client.get(scripted_server.url + "/two")
        time.sleep(0.2)
        assert targets(scripted_server) == [["/one", "/two"], ["/two"]]
        assert client.get(scripted_server.url + "/three").content == b"ok"


def test_no_retry_after_response_bytes(scripted_server):
    """Once part of the response arrived, even a GET is not retried."""
    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    scripted_server.set_script([READ, send(OK), READ, send(partial), CLOSE], [serve()])
    with httpr.Client(timeout=5) as client:
        assert client.get(scripted_server.url + "/one").content == b"ok"
        with pytest.raises(httpr.ReadError):
            client.get(scripted_server.url + "/two")
        time.sleep(0.2)
        assert targets(scripted_server) == [["/one", "/two"]]
        assert client.get(scripted_server.url + "/three").content == b"ok"


def test_no_retry_on_fresh_connection(scripted_server):
    """A brand-new connection that fails is not retried (no replay against a dead server)."""
    scripted_server.set_script([READ, CLOSE], [serve()])
    with httpr.Client(timeout=5) as client:
        with pytest.raises(httpr.RemoteProtocolError):
            client.get(scripted_server.url + "/one")
        time.sleep(0.2)
        assert targets(scripted_server) == [["/one"]]
