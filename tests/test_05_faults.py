"""Layer 5: faults — malformed responses, peers that vanish, stalls and timeouts.

Each fault is data (``servers.cases.FAULTS``): the bytes/actions of the server
on the first connection and the exception the client must raise. After every
fault the client must stay usable, on a *new* connection.
"""

from __future__ import annotations

import socket
import time

import httpr
import pytest
from servers.cases import FAULTS
from servers.helpers import fd_count, wait_for_fds
from servers.httpserver import HELLO
from servers.scripted import READ, STALL, send, send_slowly, serve


def exc_types(names):
    if isinstance(names, str):
        names = (names,)
    return tuple(getattr(httpr, n) for n in names)


def targets(server) -> list[list[str]]:
    return [[r.target for r in c.requests] for c in server.connections]


def test_exception_hierarchy():
    assert issubclass(httpr.ReadTimeout, httpr.TimeoutException)
    assert issubclass(httpr.TimeoutException, httpr.TransportError)
    assert issubclass(httpr.ConnectError, httpr.NetworkError)
    assert issubclass(httpr.ReadError, httpr.NetworkError)
    assert issubclass(httpr.NetworkError, httpr.TransportError)
    assert issubclass(httpr.RemoteProtocolError, httpr.ProtocolError)
    assert issubclass(httpr.LocalProtocolError, httpr.ProtocolError)
    assert issubclass(httpr.ProtocolError, httpr.TransportError)
    assert issubclass(httpr.TransportError, httpr.RequestError)
    assert issubclass(httpr.RequestError, httpr.HTTPError)


@pytest.mark.parametrize("case", FAULTS, ids=[c.id for c in FAULTS])
def test_fault(scripted_server, http_server, case):
    scripted_server.set_script(case.steps, [serve()])
    with httpr.Client(timeout=3) as client:
        t0 = time.monotonic()
        with pytest.raises(exc_types(case.exc)) as info:
            client.get(scripted_server.url + "/fault")
        assert time.monotonic() - t0 < 2.5, "the fault was noticed only by the timeout"
        if case.match:
            assert info.match(case.match)
        # usable afterwards, on a new connection to the same origin ...
        r = client.get(scripted_server.url + "/after")
        assert r.status_code == 200 and r.content == b"ok"
        # ... and to another origin
        assert client.get(http_server.url + "/hello").content == HELLO
    assert targets(scripted_server)[0] == ["/fault"], "the faulty connection was reused"


def test_faults_do_not_leak_fds(scripted_server, http_server):
    """Run every fault on one client; the fd count comes back to its baseline."""

    def script(conn):
        case = FAULTS[conn.id % len(FAULTS)]
        conn.run_steps(case.steps)

    scripted_server.set_script(script)
    with httpr.Client(timeout=3) as client:
        client.get(http_server.url + "/hello")
        baseline = fd_count()
        for case in FAULTS:
            with pytest.raises(exc_types(case.exc)):
                client.get(scripted_server.url + "/" + case.id)
        assert client.get(http_server.url + "/hello").content == HELLO
        assert wait_for_fds(baseline) <= baseline
    assert scripted_server.connection_count == len(FAULTS)


# -- timeouts --------------------------------------------------------------------------------


def test_stalled_server_read_timeout(scripted_server):
    scripted_server.set_script([READ, STALL], [serve()])
    with httpr.Client(timeout=0.5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout, match="waiting for the response headers"):
            client.get(scripted_server.url + "/")
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 2.0, elapsed
        assert client.get(scripted_server.url + "/next").content == b"ok"
    assert scripted_server.connections[0].closed.wait(5), "timed-out connection left open"


def test_stalled_body_read_timeout(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    scripted_server.set_script([READ, send(head), STALL], [serve()])
    with httpr.Client(timeout=0.5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout, match="next chunk"):
            client.get(scripted_server.url + "/")
        assert 0.4 <= time.monotonic() - t0 < 2.0
        assert client.get(scripted_server.url + "/next").content == b"ok"
    assert targets(scripted_server) == [["/"], ["/next"]]


def test_stalled_chunked_body_read_timeout(scripted_server):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    scripted_server.set_script([READ, send(head), STALL], [serve()])
    with httpr.Client(timeout=0.5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout, match="next chunk"):
            client.get(scripted_server.url + "/")
        assert time.monotonic() - t0 < 2.0


def test_slow_head_on_http_server(http_server):
    with httpr.Client(timeout=0.3) as client:
        with pytest.raises(httpr.TimeoutException):
            client.get(http_server.url + "/slow-head?delay=2")
        assert client.get(http_server.url + "/hello").content == HELLO


def test_per_request_timeout_overrides_client_timeout(scripted_server):
    scripted_server.set_script([READ, STALL])
    with httpr.Client(timeout=30) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout):
            client.get(scripted_server.url + "/", timeout=0.5)
        assert time.monotonic() - t0 < 2.0


def test_client_timeout_setter_applies_to_next_request(scripted_server):
    scripted_server.set_script([READ, STALL])
    with httpr.Client(timeout=30) as client:
        client.timeout = 0.5
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout):
            client.get(scripted_server.url + "/")
        assert time.monotonic() - t0 < 2.0


def test_timeout_is_per_wait_not_total(http_server):
    """CONTRACT §5.4: 4 chunks 0.3 s apart complete under timeout=0.5 (1.2 s in total)."""
    with httpr.Client(timeout=0.5) as client:
        t0 = time.monotonic()
        r = client.get(http_server.url + "/slow-body?delay=0.3&chunks=4&size=3")
        assert time.monotonic() - t0 >= 1.1
    assert r.content == b"aaabbbcccddd"


def test_slowloris_head_is_bounded(scripted_server):
    """A head trickled one byte at a time must not extend the wait forever."""
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\nContent-Length: 2\r\n\r\nok"
    scripted_server.set_script([READ, send_slowly(head, 0.02)])
    with httpr.Client(timeout=1.0) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.TimeoutException):
            client.get(scripted_server.url + "/")
        assert time.monotonic() - t0 < 3.0


# -- connecting -----------------------------------------------------------------------------------


def test_connect_to_closed_port(closed_port, http_server):
    with httpr.Client(timeout=5) as client:
        t0 = time.monotonic()
        with pytest.raises(httpr.ConnectError):
            client.get(f"http://127.0.0.1:{closed_port}/")
        assert time.monotonic() - t0 < 2.0
        assert client.get(http_server.url + "/hello").content == HELLO


def test_connect_error_is_a_network_and_transport_error(closed_port):
    with pytest.raises(httpr.NetworkError):
        httpr.get(f"http://127.0.0.1:{closed_port}/", timeout=5)
    with pytest.raises(httpr.TransportError):
        httpr.get(f"http://127.0.0.1:{closed_port}/", timeout=5)


def test_connect_timeout_when_syn_is_never_answered():
    """Backlog trick: a listener that never accepts, with its queue full, drops the SYN."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(f)
        time.sleep(0.1)
        with httpr.Client(timeout=0.5) as client:
            t0 = time.monotonic()
            with pytest.raises(httpr.TimeoutException):
                client.get(f"http://127.0.0.1:{port}/")
            assert time.monotonic() - t0 < 3.0
    finally:
        for f in fillers:
            f.close()
        lsock.close()


def test_localhost_name_resolves_without_network(http_server):
    with httpr.Client(timeout=5) as client:
        r = client.get(f"http://localhost:{http_server.port}/hello")
    assert r.content == HELLO
