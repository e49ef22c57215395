"""Self-tests of the test servers, with plain sockets (no httpr involved).

If these fail, every other result is meaningless.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import pytest
from servers.helpers import fd_count, wait_until
from servers.httpserver import CHUNKED_PARTS, HELLO, HTTPServer, pattern_bytes
from servers.scripted import (
    CLOSE,
    HALF_CLOSE,
    READ,
    RST,
    STALL,
    ScriptedServer,
    response,
    send,
    send_slowly,
    serve,
    sleep,
)


def connect(url_or_port, timeout: float = 5.0) -> socket.socket:
    port = url_or_port if isinstance(url_or_port, int) else int(url_or_port.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_until_close(s: socket.socket) -> bytes:
    out = bytearray()
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        out += d
    return bytes(out)


def read_response(s: socket.socket, buf: bytearray) -> tuple[bytes, dict, bytes]:
    """Minimal client-side parser: Content-Length or chunked only."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "EOF before the end of the head"
        buf += d
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end])
    del buf[:end]
    lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = bytearray()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            i = buf.index(b"\r\n")
            size = int(buf[:i], 16)
            del buf[: i + 2]
            while len(buf) < size + 2:
                buf += s.recv(65536)
            body += buf[:size]
            del buf[: size + 2]
            if size == 0:
                break
    else:
        n = int(headers.get("content-length", "0"))
        while len(buf) < n:
            d = s.recv(65536)
            assert d, "EOF in body"
            buf += d
        body += buf[:n]
        del buf[:n]
    return lines[0], headers, bytes(body)


def get(s, path, method="GET", extra=b"", body=b""):
    req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + extra
    if body:
        req += b"Content-Length: %d\r\n" % len(body)
    s.sendall(req + b"\r\n" + body)


# -- the HTTP server ----------------------------------------------------------


def test_httpserver_hello_and_keepalive(http_server):
    s = connect(http_server.url)
    buf = bytearray()
    ids = []
    for _ in range(3):
        get(s, "/echo")
        status, _, body = read_response(s, buf)
        assert status == b"HTTP/1.1 200 OK"
        ids.append(json.loads(body)["conn_id"])
    get(s, "/hello")
    _, _, body = read_response(s, buf)
    assert body == HELLO and len(body) == 12
    s.close()
    assert len(set(ids)) == 1


def test_httpserver_conn_ids_differ_per_connection(http_server):
    ids = []
    for _ in range(2):
        with connect(http_server.url) as s:
            get(s, "/echo")
            ids.append(json.loads(read_response(s, bytearray())[2])["conn_id"])
    assert ids[0] != ids[1]


def test_httpserver_echo(http_server):
    with connect(http_server.url) as s:
        get(s, "/echo?a=1&b=&a=2", method="POST", extra=b"X-Thing: Yes\r\n", body=b"\x00\xffbody")
        _, headers, body = read_response(s, bytearray())
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["method"] == "POST"
    assert data["path"] == "/echo"
    assert data["query"] == "a=1&b=&a=2"
    assert data["args"] == [["a", "1"], ["b", ""], ["a", "2"]]
    assert ["X-Thing", "Yes"] in data["headers"]
    assert base64.b64decode(data["body_b64"]) == b"\x00\xffbody"
    assert data["body"].encode("latin-1") == b"\x00\xffbody"


def test_httpserver_chunked(http_server):
    with connect(http_server.url) as s:
        get(s, "/chunked")
        _, headers, body = read_response(s, bytearray())
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert body == b"".join(CHUNKED_PARTS)


def test_httpserver_close_delimited(http_server):
    with connect(http_server.url) as s:
        get(s, "/close-delimited")
        raw = recv_until_close(s)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower()
    assert b"transfer-encoding" not in head.lower()
    assert body == b"".join(CHUNKED_PARTS)


@pytest.mark.parametrize("code", [200, 204, 304, 404, 500])
def test_httpserver_status(http_server, code):
    with connect(http_server.url) as s:
        get(s, f"/status/{code}")
        status, headers, body = read_response(s, bytearray())
    assert status.split(b" ")[1] == str(code).encode()
    assert body == b""
    if code in (204, 304):
        assert "content-length" not in headers


def test_httpserver_head_has_no_body(http_server):
    with connect(http_server.url) as s:
        get(s, "/hello", method="HEAD")
        get(s, "/id/after-head")
        time.sleep(0.2)
        raw = s.recv(65536)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 12\r\n" in raw
    # the HEAD response is followed directly by the next response: no body in between
    first_end = raw.index(b"\r\n\r\n") + 4
    assert raw[first_end:].startswith(b"HTTP/1.1 200 OK")
    assert raw.endswith(b"after-head")


def test_httpserver_bytes_and_id(http_server):
    with connect(http_server.url) as s:
        buf = bytearray()
        get(s, "/bytes/100000")
        _, _, body = read_response(s, buf)
        assert body == pattern_bytes(100000)
        get(s, "/id/abc-42")
        _, headers, body = read_response(s, buf)
        assert body == b"abc-42" and headers["x-id"] == "abc-42"


def test_httpserver_slow_head(http_server):
    with connect(http_server.url) as s:
        t0 = time.monotonic()
        get(s, "/slow-head?delay=0.3")
        _, _, body = read_response(s, bytearray())
        assert body == HELLO
        assert time.monotonic() - t0 >= 0.25


def test_httpserver_slow_body(http_server):
    with connect(http_server.url) as s:
        t0 = time.monotonic()
        get(s, "/slow-body?delay=0.3&chunks=3&size=5")
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        _, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert rest == b""  # the head comes before (and without) the first chunk
        assert b"Content-Length: 15\r\n" in buf
        body = bytearray(rest)
        while len(body) < 15:
            body += s.recv(65536)
        assert time.monotonic() - t0 >= 0.85
        assert bytes(body) == b"aaaaabbbbbccccc"


@pytest.mark.timeout(60)
def test_httpserver_many_simultaneous_connections():
    with HTTPServer() as srv:
        socks = [connect(srv.url, timeout=10) for _ in range(1000)]
        try:
            for i, s in enumerate(socks):
                get(s, f"/id/{i}")
            for i, s in enumerate(socks):
                _, _, body = read_response(s, bytearray())
                assert body == str(i).encode()
            assert srv.connections_accepted == 1000
            assert srv.active_connections == 1000
        finally:
            for s in socks:
                s.close()
        assert wait_until(lambda: srv.active_connections == 0)
    assert not srv._thread.is_alive()


# -- the scripted server ------------------------------------------------------


def test_scripted_records_requests_and_conn_ids(scripted_server):
    srv = scripted_server
    srv.set_script(
        [READ, send(response(200, b"one")), READ, send(response(200, b"two"))],
        [serve(response(200, b"later"))],
    )
    with connect(srv.url) as s:
        buf = bytearray()
        get(s, "/a", extra=b"X-A: 1\r\n")
        assert read_response(s, buf)[2] == b"one"
        get(s, "/b", method="POST", body=b"hello")
        assert read_response(s, buf)[2] == b"two"
        assert recv_until_close(s) == b""
    with connect(srv.url) as s:
        get(s, "/c")
        assert read_response(s, bytearray())[2] == b"later"
    assert srv.wait_for_requests(3)
    assert srv.connection_count == 2
    c0, c1 = srv.connections
    assert (c0.id, c1.id) == (0, 1)
    assert [r.target for r in c0.requests] == ["/a", "/b"]
    assert c0.requests[0].header("x-a") == "1"
    assert c0.requests[1].method == "POST" and c0.requests[1].body == b"hello"
    assert srv.received[0] == c0.requests[0].raw + c0.requests[1].raw
    assert srv.received[0].startswith(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n\r\n")
    assert [r.conn_id for r in srv.requests] == [0, 0, 1]


def test_scripted_chunked_request_body(scripted_server):
    with connect(scripted_server.url) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
        )
        assert read_response(s, bytearray())[2] == b"ok"
    assert scripted_server.wait_for_requests(1)
    assert scripted_server.connections[0].requests[0].body == b"abcde"


def test_scripted_close_sends_fin(scripted_server):
    scripted_server.set_script([READ, send(b"partial"), CLOSE])
    with connect(scripted_server.url) as s:
        get(s, "/")
        assert recv_until_close(s) == b"partial"


def test_scripted_rst_sends_reset(scripted_server):
    scripted_server.set_script([READ, send(b"x"), sleep(0.1), RST])
    with connect(scripted_server.url) as s:
        get(s, "/")
        time.sleep(0.3)
        got = b""
        with pytest.raises(ConnectionResetError):
            while True:
                d = s.recv(65536)
                got += d
                if not d:
                    break
        assert got in (b"", b"x")


def test_scripted_half_close_keeps_reading(scripted_server):
    scripted_server.set_script([READ, send(b"bye"), HALF_CLOSE, STALL])
    with connect(scripted_server.url) as s:
        get(s, "/")
        assert recv_until_close(s) == b"bye"  # FIN from the server
        s.sendall(b"more")  # the server still reads
        assert wait_until(lambda: scripted_server.received[0].endswith(b"more"))
    assert scripted_server.connections[0].closed.wait(5)


def test_scripted_stall_records_client_close(scripted_server):
    scripted_server.set_script([READ, STALL])
    s = connect(scripted_server.url)
    get(s, "/")
    assert scripted_server.wait_for_requests(1)
    s.settimeout(0.3)
    with pytest.raises(socket.timeout):
        s.recv(1)
    conn = scripted_server.connections[0]
    assert not conn.closed.is_set()
    s.close()
    assert conn.closed.wait(5)
    assert conn.done.wait(5)


def test_scripted_send_slowly_and_sleep(scripted_server):
    scripted_server.set_script([READ, sleep(0.2), send_slowly(b"abc", 0.05), CLOSE])
    with connect(scripted_server.url) as s:
        t0 = time.monotonic()
        get(s, "/")
        assert recv_until_close(s) == b"abc"
        assert time.monotonic() - t0 >= 0.3


def test_scripted_callable_script(scripted_server):
    def script(conn):
        req = conn.read_request()
        conn.send(response(200, req.target.encode() + b"#" + str(conn.id).encode()))
        conn.close()

    scripted_server.set_script(script)
    with connect(scripted_server.url) as s:
        get(s, "/xyz")
        raw = recv_until_close(s)
    assert raw.endswith(b"/xyz#0")


def test_scripted_eof_before_request_ends_script(scripted_server):
    scripted_server.set_script([READ, send(b"never")])
    s = connect(scripted_server.url)
    s.close()
    assert scripted_server.wait_for_connections(1)
    conn = scripted_server.connections[0]
    assert conn.done.wait(5)
    assert conn.requests == []


def test_scripted_stop_wakes_stalled_connections_and_releases_fds():
    before_threads = set(threading.enumerate())
    base = fd_count()
    srv = ScriptedServer([READ, STALL])
    socks = [connect(srv.url) for _ in range(5)]
    for s in socks:
        get(s, "/")
    assert srv.wait_for_requests(5)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2
    assert not any(t.is_alive() for t in srv.threads())
    assert set(threading.enumerate()) <= before_threads
    for s in socks:
        assert recv_until_close(s) == b""  # server side closed
        s.close()
    assert wait_until(lambda: fd_count() <= base)


def test_scripted_large_send_to_non_reader_does_not_block_stop():
    srv = ScriptedServer([READ, send(b"x" * (64 << 20))])
    s = connect(srv.url)
    get(s, "/")
    assert srv.wait_for_requests(1)
    time.sleep(0.2)
    srv.stop()  # must not hang on the blocked send
    s.close()
