"""Layer 1: basic requests with the synchronous Client, and refusals before I/O."""

from __future__ import annotations

import asyncio
import base64
import time

import httpr
import pytest
from servers.httpserver import HELLO, pattern_bytes
from servers.scripted import READ, send, serve, sleep


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def sent_headers(echo: dict, name: str) -> list[str]:
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


def assert_nothing_sent(server, settle: float = 0.3) -> None:
    """The scripted server saw no connection at all (not even one without data)."""
    time.sleep(settle)
    assert server.connection_count == 0, f"client connected: {server.received!r}"


# -- responses --------------------------------------------------------------------


def test_get_hello(client, http_server):
    r = client.get(http_server.url + "/hello")
    assert r.status_code == 200
    assert r.http_version == "HTTP/1.1"
    assert r.content == HELLO
    assert r.text == "Hello world!"


def test_response_headers_map(client, http_server):
    r = client.get(http_server.url + "/id/hdr-test")
    h = r.headers
    assert h["x-id"] == "hdr-test"
    assert h["X-Id"] == "hdr-test"
    assert h["X-ID"] == "hdr-test"
    assert h["content-length"] == "8"
    assert h["Content-Type"] == "text/plain"
    assert "content-type" in h and "CONTENT-TYPE" in h
    assert "x-missing" not in h
    with pytest.raises(KeyError):
        h["x-missing"]
    assert h.get("x-id") == "hdr-test"
    assert h.get("x-missing", "dflt") == "dflt"
    assert h.get("x-missing") == ""  # CONTRACT §3.4: "" when missing and default is None
    assert "x-id" in list(h.keys())  # names are lowercase
    assert ("x-id", "hdr-test") in h.items()


def test_response_json(client, http_server):
    r = client.get(http_server.url + "/echo")
    data = r.json()
    assert data["method"] == "GET"
    assert data["path"] == "/echo"
    assert isinstance(data["conn_id"], int)


def test_request_line_and_host_header(client, scripted_server):
    r = client.get(scripted_server.url + "/some/path?x=1")
    assert r.status_code == 200 and r.content == b"ok"
    raw = scripted_server.received[0]
    assert raw.startswith(b"GET /some/path?x=1 HTTP/1.1\r\n")
    req = scripted_server.connections[0].requests[0]
    assert req.header("host") == f"127.0.0.1:{scripted_server.port}"
    assert req.header_list("host") == [f"127.0.0.1:{scripted_server.port}"]
    assert req.body == b""
    # a GET without a body sends neither Content-Length nor Transfer-Encoding
    assert req.header("transfer-encoding") is None
    assert req.header("content-length") in (None, "0")


def test_head(client, http_server):
    r = client.head(http_server.url + "/hello")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "12"


def test_post_content_bytes(client, http_server):
    body = bytes(range(256)) * 17
    r = client.post(http_server.url + "/echo", content=body)
    assert r.status_code == 200
    data = r.json()
    assert data["method"] == "POST"
    assert base64.b64decode(data["body_b64"]) == body
    assert sent_headers(data, "content-length") == [str(len(body))]
    assert sent_headers(data, "transfer-encoding") == []
    assert sent_headers(data, "content-type") == []  # content= adds no Content-Type


def test_post_empty_content(client, scripted_server):
    r = client.post(scripted_server.url + "/", content=b"")
    assert r.status_code == 200
    req = scripted_server.connections[0].requests[0]
    assert req.method == "POST" and req.body == b""
    assert req.header("content-length") == "0"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_with_body(client, http_server, method):
    r = client.request(method, http_server.url + "/echo", content=b"payload")
    data = r.json()
    assert data["method"] == method
    assert data["body"] == "payload"


def test_request_headers_reach_server(client, http_server):
    r = client.get(
        http_server.url + "/echo",
        headers={"X-Custom": "Value 1", "X-Other": "two\tthree", "Accept": "text/x-test"},
    )
    data = r.json()
    assert sent_headers(data, "x-custom") == ["Value 1"]
    assert sent_headers(data, "x-other") == ["two\tthree"]
    assert sent_headers(data, "accept") == ["text/x-test"]


def test_client_headers_reach_server(http_server):
    with httpr.Client(headers={"X-Client": "c1"}, timeout=10) as c:
        data = c.get(http_server.url + "/echo", headers={"X-Req": "r1"}).json()
    assert sent_headers(data, "x-client") == ["c1"]
    assert sent_headers(data, "x-req") == ["r1"]


def test_params_appended_to_query(client, http_server):
    r = client.get(http_server.url + "/echo?inline=1", params={"q": "2", "n": 5})
    data = r.json()
    assert data["query"] == "inline=1&q=2&n=5"


def test_params_are_encoded(client, http_server):
    r = client.get(http_server.url + "/echo", params={"sp": "a b", "amp": "x&y=z", "u": "é"})
    data = r.json()
    assert data["args"] == [["sp", "a b"], ["amp", "x&y=z"], ["u", "é"]]
    assert " " not in data["target"]
    assert "amp=x%26y%3Dz" in data["target"].replace("%3d", "%3D")


def test_no_params_no_question_mark(client, scripted_server):
    client.get(scripted_server.url + "/plain", params={})
    assert scripted_server.received[0].startswith(b"GET /plain HTTP/1.1\r\n")


@pytest.mark.parametrize("code", [201, 404, 418, 500, 503])
def test_status_codes_returned_not_raised(client, http_server, code):
    r = client.get(http_server.url + f"/status/{code}")
    assert r.status_code == code
    assert r.content == b""


def test_large_body(client, http_server):
    n = 3 * 1024 * 1024 + 17
    r = client.get(http_server.url + f"/bytes/{n}")
    assert len(r.content) == n
    assert r.content == pattern_bytes(n)


@pytest.mark.parametrize(
    "n", [1, 4095, 4096, 4097, 65535, 65537, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 5 << 20]
)
def test_body_of_known_length_read_in_place(client, http_server, n):
    """A plain body with a Content-Length is read straight into its buffer (pre-sized up to
    1 MiB, then grown): every size around the edges arrives whole, and the connection is
    reused for the next response."""
    for _ in range(2):
        r = client.get(http_server.url + f"/bytes/{n}")
        assert r.content == pattern_bytes(n)
    r = client.get(http_server.url + "/echo")
    assert r.status_code == 200


async def test_async_bodies_of_known_length_read_in_place(http_server):
    sizes = [4096, 70_000, (1 << 20) + 5, 3 << 20] * 4
    async with httpr.AsyncClient(timeout=30) as c:
        rs = await asyncio.gather(*(c.get(http_server.url + f"/bytes/{n}") for n in sizes))
    assert [r.content == pattern_bytes(n) for r, n in zip(rs, sizes)] == [True] * len(sizes)


def test_bytes_after_a_body_read_in_place_are_not_body(client, scripted_server):
    """The rest of a body is read in place only up to its length: what the server sends
    after it (here in the same write) is not taken for body, and the connection is not
    pooled (its framing is no longer certain)."""
    body = pattern_bytes(20_000)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n"
    scripted_server.set_script(
        [READ, send(head + body[:100]), sleep(0.2), send(body[100:] + b"HTTP/1.1 200 OK\r\n")],
        [serve()],
    )
    assert client.get(scripted_server.url + "/a").content == body
    assert client.get(scripted_server.url + "/b").content == b"ok"
    assert scripted_server.connection_count == 2


def test_large_request_body(client, http_server):
    body = pattern_bytes(2 * 1024 * 1024 + 3)
    data = client.post(http_server.url + "/echo", content=body).json()
    assert base64.b64decode(data["body_b64"]) == body


def test_module_level_get(http_server):
    r = httpr.get(http_server.url + "/hello")
    assert r.status_code == 200 and r.content == HELLO


def test_per_request_timeout_kwarg_accepted(client, http_server):
    r = client.get(http_server.url + "/hello", timeout=5)
    assert r.status_code == 200


# -- refusals before any I/O ---------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "Get", "FOO", "TRACE", "CONNECT", "GET ", ""])
def test_unsupported_method_raises_valueerror_before_io(client, scripted_server, method):
    with pytest.raises(ValueError, match="Unsupported HTTP method"):
        client.request(method, scripted_server.url + "/")
    assert_nothing_sent(scripted_server)


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http:///path",
        "http://:8080/",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:12ab/",
        "not a url",
        "",
        "127.0.0.1/path",
        "ftp://127.0.0.1/file",
    ],
)
def test_bad_url_raises_requesterror(client, url):
    with pytest.raises(httpr.RequestError):
        client.get(url)


def test_client_usable_after_bad_url(client, http_server):
    with pytest.raises(httpr.RequestError):
        client.get("http://")
    assert client.get(http_server.url + "/hello").content == HELLO


def test_crlf_in_url_never_reaches_the_wire(client, scripted_server):
    url = scripted_server.url + "/a\r\nX-Injected: 1\r\n\r\nGET /smuggled"
    try:
        client.get(url)
    except httpr.RequestError:
        assert_nothing_sent(scripted_server)
        return
    # if the client percent-encoded instead, the raw bytes must show no injected line
    raw = b"".join(scripted_server.received)
    assert b"\r\nX-Injected" not in raw
    assert b"GET /smuggled" not in raw


BAD_HEADERS = [
    pytest.param({"X-A": "a\r\nX-Injected: 1"}, id="value-crlf"),
    pytest.param({"X-A": "a\rb"}, id="value-cr"),
    pytest.param({"X-A": "a\nb"}, id="value-lf"),
    pytest.param({"X-A": "a\r\n folded"}, id="value-fake-fold"),
    pytest.param({"X-A": "a\x00b"}, id="value-nul"),
    pytest.param({"X-A\r\nX-Injected": "1"}, id="name-crlf"),
    pytest.param({"X-A\x00": "1"}, id="name-nul"),
    pytest.param({"X A": "1"}, id="name-space"),
    pytest.param({"X:A": "1"}, id="name-colon"),
    pytest.param({"": "1"}, id="name-empty"),
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_bad_request_header_refused_before_io(client, scripted_server, http_server, headers):
    with pytest.raises(httpr.LocalProtocolError):
        client.get(scripted_server.url + "/", headers=headers)
    assert_nothing_sent(scripted_server)
    # the client is still usable
    assert client.get(http_server.url + "/hello").content == HELLO


def test_bad_header_refused_even_with_pooled_connection(client, scripted_server):
    """With a live pooled connection, a refused request must not write a byte on it."""
    scripted_server.set_script([serve()])
    assert client.get(scripted_server.url + "/first").content == b"ok"
    before = scripted_server.received[0]
    with pytest.raises(httpr.LocalProtocolError):
        client.get(scripted_server.url + "/second", headers={"X-A": "a\r\nX-Injected: 1"})
    time.sleep(0.3)
    assert scripted_server.received[0] == before
    assert scripted_server.connection_count == 1
    assert client.get(scripted_server.url + "/third").content == b"ok"


REQUEST_FRAMING_CONFLICTS = [
    pytest.param("POST", {"Content-Length": "3"}, b"0123456789", id="content-length-too-small"),
    pytest.param("POST", {"Content-Length": "10"}, b"abc", id="content-length-too-large"),
    pytest.param("GET", {"Content-Length": "3"}, None, id="content-length-without-body"),
    pytest.param("POST", {"Transfer-Encoding": "chunked"}, b"hello", id="chunked-but-raw-body"),
    pytest.param(
        "POST",
        {"Content-Length": "5", "Transfer-Encoding": "chunked"},
        b"hello",
        id="content-length-and-transfer-encoding",
    ),
    pytest.param("POST", {"Transfer-Encoding": "gzip"}, b"hello", id="transfer-encoding-gzip"),
]


@pytest.mark.parametrize("method, headers, body", REQUEST_FRAMING_CONFLICTS)
def test_user_framing_headers_never_desync_the_request(scripted_server, method, headers, body):
    """RQ-09/RQ-10: user Content-Length/Transfer-Encoding that disagree with the body.

    Either the request is refused before any I/O (LocalProtocolError), or what
    goes on the wire is exactly one well-framed request carrying the body; never
    a short/long body that smuggles bytes or leaves the server waiting.
    """
    scripted_server.set_script([serve()])
    try:
        with httpr.Client(timeout=2) as client:
            r = client.request(method, scripted_server.url + "/", headers=headers, content=body)
    except httpr.LocalProtocolError:
        assert_nothing_sent(scripted_server)
        return
    assert r.status_code == 200
    time.sleep(0.2)
    reqs = scripted_server.requests
    assert len(reqs) == 1
    assert reqs[0].body == (body or b"")
    assert scripted_server.received[0] == reqs[0].raw, "bytes left over after the request"
