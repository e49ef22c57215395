"""Layer 2: message framing and keep-alive (sync Client).

Reuse is proved by connection ids: the HTTP server reports the id of the TCP
connection a request came on, the scripted server records requests per
connection.
"""

from __future__ import annotations

import httpr
import pytest
from servers.cases import FRAMINGS, framing_script
from servers.httpserver import CHUNKED_PARTS, HELLO
from servers.scripted import READ, send, serve


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def conn_id(client, http_server) -> int:
    return client.get(http_server.url + "/echo").json()["conn_id"]


def test_keepalive_sequential_requests_share_one_connection(client, http_server):
    before = http_server.connections_accepted
    ids = [conn_id(client, http_server) for _ in range(10)]
    assert len(set(ids)) == 1, ids
    assert http_server.connections_accepted - before == 1


def test_keepalive_across_every_framing(client, http_server):
    """Each kind of response leaves the connection in a state fit for the next one."""
    u = http_server.url
    first = conn_id(client, http_server)
    assert client.get(u + "/hello").content == HELLO
    assert client.get(u + "/chunked").content == b"".join(CHUNKED_PARTS)
    assert client.head(u + "/hello").content == b""
    assert client.head(u + "/chunked").content == b""
    assert client.get(u + "/status/204").status_code == 204
    assert client.get(u + "/status/304").status_code == 304
    assert client.get(u + "/bytes/70000").content[:3] == b"\x00\x01\x02"
    assert client.post(u + "/echo", content=b"x" * 1000).json()["conn_id"] == first
    assert conn_id(client, http_server) == first


def test_chunked_response(client, http_server):
    r = client.get(http_server.url + "/chunked")
    assert r.status_code == 200
    assert r.content == b"".join(CHUNKED_PARTS)


def test_close_delimited_response(client, http_server):
    before = conn_id(client, http_server)
    r = client.get(http_server.url + "/close-delimited")
    assert r.status_code == 200
    assert r.content == b"".join(CHUNKED_PARTS)
    after = conn_id(client, http_server)  # a new connection, and no error
    assert after != before


def test_head_never_reads_a_body(client, http_server):
    first = conn_id(client, http_server)
    r = client.head(http_server.url + "/bytes/5000")
    assert r.content == b""
    assert r.headers["content-length"] == "5000"
    assert conn_id(client, http_server) == first


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(client, http_server, code):
    first = conn_id(client, http_server)
    r = client.get(http_server.url + f"/status/{code}")
    assert r.status_code == code
    assert r.content == b""
    assert conn_id(client, http_server) == first


def test_response_header_values_are_trimmed(scripted_server):
    """RFC 9110 §5.5: a field value excludes leading and trailing whitespace."""
    wire = b"HTTP/1.1 200 OK\r\nX-Pad:  \t padded value \t \r\nContent-Length: 2  \r\n\r\nok"
    scripted_server.set_script([READ, send(wire), serve()])
    with httpr.Client(timeout=3) as client:
        r = client.get(scripted_server.url + "/")
    assert r.content == b"ok"
    assert r.headers["x-pad"] == "padded value"
    assert r.headers["content-length"] == "2"


def test_response_header_obs_text_is_latin1(scripted_server):
    wire = b"HTTP/1.1 200 OK\r\nX-A: caf\xe9 \xff\r\nContent-Length: 2\r\n\r\nok"
    scripted_server.set_script([READ, send(wire), serve()])
    with httpr.Client(timeout=3) as client:
        r = client.get(scripted_server.url + "/")
    assert r.headers["x-a"] == "caf\xe9 \xff"


def test_response_header_order_and_repeats(scripted_server):
    """CONTRACT §3.4: one value per name, the last one wins; names lowercase."""
    wire = (
        b"HTTP/1.1 200 OK\r\nX-B: 1\r\nX-A: first\r\nx-a: second\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok"
    )
    scripted_server.set_script([READ, send(wire), serve()])
    with httpr.Client(timeout=3) as client:
        r = client.get(scripted_server.url + "/")
    assert r.headers["X-A"] == "second"
    assert r.headers["set-cookie"] == "b=2"
    assert r.headers.keys()[0] == "x-b"
    assert all(k == k.lower() for k in r.headers)


@pytest.mark.parametrize("case", FRAMINGS, ids=[c.id for c in FRAMINGS])
def test_framing_and_reuse(scripted_server, case):
    """A valid response is read correctly; the connection is reused only when framing is sure."""
    scripted_server.set_script(framing_script(case), [serve()])
    with httpr.Client(timeout=3) as client:
        r = client.request(case.method, scripted_server.url + "/first")
        assert r.status_code == case.status
        assert r.content == case.body
        assert r.http_version == case.version
        r2 = client.get(scripted_server.url + "/second")
        assert r2.status_code == 200 and r2.content == b"ok"
    conns = scripted_server.connections
    targets = [[req.target for req in c.requests] for c in conns]
    if case.reusable:
        assert targets == [["/first", "/second"]], "connection should have been reused"
    else:
        assert targets[0] == ["/first"], "connection with unsure framing was reused"
        assert targets[1] == ["/second"]
        assert len(conns) == 2
