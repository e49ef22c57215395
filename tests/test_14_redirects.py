"""CONTRACT §5.7 and reliability §2.4: redirects, method rewriting, Referer, credential stripping.

Credential stripping is observed where it matters: at the *receiving* server. Two
scripted servers on 127.0.0.1 with different ports are two origins.
"""

from __future__ import annotations

import base64
import json

import httpr
import pytest
from servers.scripted import response, serve

REDIRECT_STATUSES = [301, 302, 303, 307, 308]


def redirector(routes: dict[str, tuple[int, str]]):
    """A scripted-server responder: ``routes[target] = (status, location)`` (exact request
    target, query included); any other target -> 200 "final"."""

    def respond(req):
        if req.target in routes:
            status, location = routes[req.target]
            return response(status, b"moved", headers=[("Location", location)], reason="Moved")
        if req.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        return response(200, b"final", headers=[("Content-Type", "text/plain")])

    return [serve(respond)]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


# -- following -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["redirect", "relative-redirect", "absolute-redirect"])
def test_follow_httpbin_chains(client, httpbin, kind):
    r = client.get(f"{httpbin.url}/{kind}/3")
    assert r.status_code == 200
    assert r.url == httpbin.url + "/get"
    assert isinstance(r.url, str)
    assert r.json()["url"].endswith("/get")


def test_redirect_to_on_httpbin(client, httpbin):
    r = client.get(httpbin.url + "/redirect-to", params={"url": "/anything/landed"})
    assert r.status_code == 200
    assert r.url == httpbin.url + "/anything/landed"


def test_max_redirects_limit(httpbin):
    with httpr.Client(max_redirects=2, timeout=10) as c:
        assert c.get(httpbin.url + "/redirect/2").status_code == 200
        with pytest.raises(httpr.TooManyRedirects) as ei:
            c.get(httpbin.url + "/redirect/5")
        assert str(ei.value) == "Exceeded maximum allowed redirects."
        # the client is still usable
        assert c.get(httpbin.url + "/get").status_code == 200


def test_default_max_redirects_is_20(client, httpbin):
    assert client.get(httpbin.url + "/redirect/20").status_code == 200
    with pytest.raises(httpr.TooManyRedirects):
        client.get(httpbin.url + "/redirect/21")


def test_too_many_redirects_is_a_request_error():
    assert issubclass(httpr.TooManyRedirects, httpr.RequestError)


def test_redirect_loop_stops_after_max(scripted_server):
    scripted_server.set_script(redirector({"/loop": (302, "/loop")}))
    with httpr.Client(max_redirects=5, timeout=10) as c, pytest.raises(httpr.TooManyRedirects):
        c.get(scripted_server.url + "/loop")
    assert len(scripted_server.requests) == 6  # the first request + 5 followed hops


def test_max_redirects_zero(scripted_server):
    scripted_server.set_script(redirector({"/a": (301, "/b")}))
    with httpr.Client(max_redirects=0, timeout=10) as c, pytest.raises(httpr.TooManyRedirects):
        c.get(scripted_server.url + "/a")


def test_follow_redirects_false_returns_3xx(httpbin):
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(httpbin.url + "/redirect/1")
    assert r.status_code == 302
    assert r.headers["location"] == "/get"
    assert r.is_redirect and r.has_redirect_location
    assert r.url == httpbin.url + "/redirect/1"


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_follow_redirects_false_every_status(scripted_server, status):
    scripted_server.set_script(redirector({"/a": (status, "/b")}))
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(scripted_server.url + "/a")
    assert r.status_code == status
    assert len(scripted_server.requests) == 1


def test_3xx_without_location_is_final(scripted_server, client):
    scripted_server.set_script([serve(response(302, b"no location", reason="Found"))])
    r = client.get(scripted_server.url + "/a")
    assert r.status_code == 302
    assert not r.has_redirect_location
    assert len(scripted_server.requests) == 1


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("next", "/a/b/next"),
        ("../up", "/a/up"),
        ("/abs/path?x=1", "/abs/path?x=1"),
        ("?q=2", "/a/b/start?q=2"),
        ("./same#frag", "/a/b/same"),
    ],
)
def test_relative_locations_resolved(scripted_server, client, location, expected):
    scripted_server.set_script(redirector({"/a/b/start": (302, location)}))
    r = client.get(scripted_server.url + "/a/b/start")
    assert r.status_code == 200
    assert scripted_server.requests[-1].target == expected
    assert r.url.split("#", 1)[0] == scripted_server.url + expected


def test_network_path_location(scripted_server, other_scripted_server, client):
    other_scripted_server.set_script(redirector({}))
    scripted_server.set_script(
        redirector({"/start": (302, f"//127.0.0.1:{other_scripted_server.port}/net")})
    )
    r = client.get(scripted_server.url + "/start")
    assert r.status_code == 200
    assert r.url == other_scripted_server.url + "/net"
    assert other_scripted_server.requests[0].target == "/net"


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://x/"])
def test_redirect_to_non_http_scheme_is_error(scripted_server, client, location):
    scripted_server.set_script(redirector({"/a": (302, location)}))
    with pytest.raises(httpr.RequestError):
        client.get(scripted_server.url + "/a")
    assert len(scripted_server.requests) == 1


# -- method and body rewriting -------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_301_302_303_become_get_without_body(client, httpbin, status, method):
    r = client.request(
        method,
        httpbin.url + "/redirect-to",
        params={"url": "/anything", "status_code": status},
        json={"dropped": True},
    )
    assert r.status_code == 200
    data = r.json()
    assert data["method"] == "GET"
    assert data["data"] == "" and data["json"] is None
    headers = {k.lower() for k in data["headers"]}
    assert "content-type" not in headers
    assert "content-length" not in headers or data["headers"].get("Content-Length") == "0"


@pytest.mark.parametrize("status", [301, 302, 303])
def test_body_headers_dropped_at_the_server(scripted_server, client, status):
    scripted_server.set_script(redirector({"/a": (status, "/b")}))
    client.post(
        scripted_server.url + "/a",
        data={"x": "1"},
        headers={"Content-Encoding": "identity", "X-Other": "kept"},
    )
    first, second = scripted_server.requests
    assert first.method == "POST" and first.body == b"x=1"
    assert second.method == "GET" and second.target == "/b"
    assert second.body == b""
    for name in ("content-type", "content-length", "transfer-encoding", "content-encoding"):
        assert second.header(name) is None, name
    assert second.header("x-other") == "kept"


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_head_stays_head(scripted_server, client, status):
    scripted_server.set_script(redirector({"/a": (status, "/b")}))
    r = client.head(scripted_server.url + "/a")
    assert r.status_code == 200
    assert [q.method for q in scripted_server.requests] == ["HEAD", "HEAD"]


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_307_308_keep_method_and_body(client, httpbin, status, method):
    r = client.request(
        method,
        httpbin.url + "/redirect-to",
        params={"url": "/anything", "status_code": status},
        json={"kept": method},
    )
    assert r.status_code == 200
    data = r.json()
    assert data["method"] == method
    assert data["json"] == {"kept": method}


@pytest.mark.parametrize("status", [307, 308])
def test_307_308_replay_bytes_form_and_json_at_the_server(scripted_server, client, status):
    scripted_server.set_script(redirector({"/a": (status, "/b")}))
    client.put(scripted_server.url + "/a", content=b"raw-body")
    client.post(scripted_server.url + "/a", data={"f": "1"})
    client.patch(scripted_server.url + "/a", json={"j": 1})
    reqs = scripted_server.requests
    assert [(q.method, q.target, q.body) for q in reqs] == [
        ("PUT", "/a", b"raw-body"),
        ("PUT", "/b", b"raw-body"),
        ("POST", "/a", b"f=1"),
        ("POST", "/b", b"f=1"),
        ("PATCH", "/a", b'{"j":1}'),
        ("PATCH", "/b", b'{"j":1}'),
    ]
    assert reqs[3].header("content-type") == "application/x-www-form-urlencoded"
    assert reqs[5].header("content-type") == "application/json"


@pytest.mark.parametrize("status", [307, 308])
def test_multipart_body_and_307_308_returns_the_3xx(scripted_server, client, test_files, status):
    scripted_server.set_script(redirector({"/upload": (status, "/elsewhere")}))
    r = client.post(scripted_server.url + "/upload", files={"f": test_files[0]})
    assert r.status_code == status
    assert r.headers["location"] == "/elsewhere"
    assert r.url == scripted_server.url + "/upload"
    assert [q.target for q in scripted_server.requests] == ["/upload"]
    assert b"aaa111" in scripted_server.requests[0].body


def test_multipart_body_and_302_is_followed_as_get(scripted_server, client, test_files):
    scripted_server.set_script(redirector({"/upload": (302, "/done")}))
    r = client.post(scripted_server.url + "/upload", files={"f": test_files[0]})
    assert r.status_code == 200
    assert [(q.method, q.target) for q in scripted_server.requests] == [
        ("POST", "/upload"),
        ("GET", "/done"),
    ]


# -- Referer -----------------------------------------------------------------------------------


def test_referer_set_on_hops(scripted_server, client):
    scripted_server.set_script(redirector({"/a?x=1": (302, "/b"), "/b": (302, "/c")}))
    client.get(scripted_server.url + "/a?x=1#frag")
    a, b, c = scripted_server.requests
    assert a.header("referer") is None
    assert b.header("referer") == scripted_server.url + "/a?x=1"
    assert c.header("referer") == scripted_server.url + "/b"


def test_referer_false(scripted_server):
    scripted_server.set_script(redirector({"/a": (302, "/b")}))
    with httpr.Client(referer=False, timeout=10) as c:
        c.get(scripted_server.url + "/a")
    assert [q.header("referer") for q in scripted_server.requests] == [None, None]


def test_referer_never_contains_userinfo(scripted_server, client):
    scripted_server.set_script(redirector({"/a": (302, "/b")}))
    client.get(scripted_server.url.replace("http://", "http://user:pw@") + "/a")
    ref = scripted_server.requests[1].header("referer")
    assert ref == scripted_server.url + "/a"


# -- credential stripping, observed at the receiving servers ----------------------------------


CRED_HEADERS = ("authorization", "cookie", "proxy-authorization", "www-authenticate")


def _chain(a, b):
    """A/start -> B/hop -> B/hop2 -> A/back -> 200 (A and B differ by port)."""
    a.set_script(redirector({"/start": (302, b.url + "/hop"), "/same": (302, "/back")}))
    b.set_script(redirector({"/hop": (307, "/hop2"), "/hop2": (302, a.url + "/back")}))


@pytest.mark.parametrize(
    "setup",
    ["client-basic", "request-basic", "client-bearer", "request-bearer", "url-credentials"],
)
def test_credentials_stripped_cross_origin_and_not_restored(
    scripted_server, other_scripted_server, setup
):
    a, b = scripted_server, other_scripted_server
    _chain(a, b)
    client_kw: dict = {
        "cookies": {"session": "s1"},
        "headers": {
            "Proxy-Authorization": "Basic cHJveHk6cHc=",
            "WWW-Authenticate": "x",
            "X-Keep": "1",
        },
    }
    req_kw: dict = {}
    url = a.url + "/start"
    if setup == "client-basic":
        client_kw["auth"] = ("u", "p")
    elif setup == "request-basic":
        req_kw["auth"] = ("u", "p")
    elif setup == "client-bearer":
        client_kw["auth_bearer"] = "tok"
    elif setup == "request-bearer":
        req_kw["auth_bearer"] = "tok"
    else:
        url = a.url.replace("http://", "http://u:p@") + "/start"
    with httpr.Client(timeout=10, **client_kw) as c:
        r = c.get(url, **req_kw)
    assert r.status_code == 200
    assert r.url == a.url + "/back"
    start = a.requests[0]
    assert start.target == "/start"
    assert start.header("authorization") is not None
    assert start.header("cookie") == "session=s1"
    assert start.header("proxy-authorization") == "Basic cHJveHk6cHc="
    hops = b.requests
    assert [q.target for q in hops] == ["/hop", "/hop2"]
    back = a.requests[1]
    assert back.target == "/back"
    for q in [*hops, back]:
        for name in CRED_HEADERS:
            assert q.header(name) is None, (q.target, name, q.header(name))
        assert q.header("x-keep") == "1"  # ordinary headers survive


def test_same_origin_redirect_keeps_credentials(scripted_server):
    scripted_server.set_script(redirector({"/same": (302, "/back")}))
    with httpr.Client(auth=("u", "p"), cookies={"c": "1"}, timeout=10) as c:
        c.get(scripted_server.url + "/same")
    _first, second = scripted_server.requests
    assert second.target == "/back"
    assert second.header("authorization") == basic("u", "p")
    assert second.header("cookie") == "c=1"


def test_cross_origin_307_keeps_body_but_strips_auth(scripted_server, other_scripted_server):
    other_scripted_server.set_script(redirector({}))
    scripted_server.set_script(redirector({"/a": (307, other_scripted_server.url + "/b")}))
    with httpr.Client(timeout=10) as c:
        c.post(scripted_server.url + "/a", json={"k": 1}, auth=("u", "p"))
    (hop,) = other_scripted_server.requests
    assert hop.method == "POST"
    assert json.loads(hop.body) == {"k": 1}
    assert hop.header("authorization") is None


@pytest.mark.asyncio
async def test_async_credentials_stripped_cross_origin(scripted_server, other_scripted_server):
    a, b = scripted_server, other_scripted_server
    _chain(a, b)
    async with httpr.AsyncClient(auth=("u", "p"), cookies={"c": "1"}, timeout=10) as c:
        r = await c.get(a.url + "/start")
    assert r.status_code == 200
    assert a.requests[0].header("authorization") == basic("u", "p")
    for q in [*b.requests, a.requests[1]]:
        assert q.header("authorization") is None
        assert q.header("cookie") is None


@pytest.mark.asyncio
async def test_async_follows_and_limits(httpbin):
    async with httpr.AsyncClient(max_redirects=3, timeout=10) as c:
        r = await c.get(httpbin.url + "/redirect/3")
        assert r.status_code == 200 and r.url == httpbin.url + "/get"
        with pytest.raises(httpr.TooManyRedirects):
            await c.get(httpbin.url + "/redirect/4")
    async with httpr.AsyncClient(follow_redirects=False, timeout=10) as c:
        assert (await c.get(httpbin.url + "/redirect/1")).status_code == 302


# -- hostile Locations (reliability §2.4) -------------------------------------------------------


def test_location_with_encoded_crlf_stays_encoded(scripted_server, client):
    scripted_server.set_script(redirector({"/a": (302, "/b%0d%0aX-Injected:%20y")}))
    assert client.get(scripted_server.url + "/a").status_code == 200
    hop = scripted_server.requests[1]
    assert hop.target == "/b%0d%0aX-Injected:%20y"
    assert hop.header("x-injected") is None


def test_location_with_space_and_non_ascii_is_percent_encoded(scripted_server, client):
    # the Location bytes are UTF-8 ("é" = c3 a9), sent as they are
    scripted_server.set_script(redirector({"/a": (302, "/sp ace/caf\xc3\xa9")}))
    assert client.get(scripted_server.url + "/a").status_code == 200
    assert scripted_server.requests[1].target == "/sp%20ace/caf%C3%A9"


def test_redirect_body_is_not_decoded(scripted_server, client):
    # a 3xx carrying a broken (or bomb) gzip body: the body is discarded, never decoded
    def respond(req):
        if req.target == "/a":
            return response(
                302,
                b"\x1f\x8b not really gzip",
                headers=[("Location", "/b"), ("Content-Encoding", "gzip")],
                reason="Found",
            )
        return response(200, b"final")

    scripted_server.set_script([serve(respond)])
    r = client.get(scripted_server.url + "/a")
    assert r.status_code == 200
    assert r.content == b"final"
