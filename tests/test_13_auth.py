"""CONTRACT §2.5 auth / auth_bearer: precedence (Basic beats bearer) and URL credentials."""

from __future__ import annotations

import base64

import httpr
import pytest
from servers.helpers import echoed


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def authorization(client, server, **kw) -> list[str]:
    return echoed(client.get(server.url + "/echo", **kw).json(), "authorization")


def test_basic_auth_on_httpbin(httpbin):
    with httpr.Client(timeout=10) as c:
        r = c.get(httpbin.url + "/basic-auth/user/passwd", auth=("user", "passwd"))
        assert r.status_code == 200
        assert r.json() == {"authenticated": True, "user": "user"}
        r = c.get(httpbin.url + "/basic-auth/user/passwd", auth=("user", "wrong"))
        assert r.status_code == 401


def test_client_level_basic_auth_on_httpbin(httpbin):
    with httpr.Client(auth=("user", "passwd"), timeout=10) as c:
        assert c.get(httpbin.url + "/basic-auth/user/passwd").status_code == 200


def test_bearer_on_httpbin(httpbin):
    with httpr.Client(timeout=10) as c:
        r = c.get(httpbin.url + "/bearer", auth_bearer="sekret")
        assert r.status_code == 200
        assert r.json() == {"authenticated": True, "token": "sekret"}
        r = c.get(httpbin.url + "/bearer")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_client_level_bearer_on_httpbin(httpbin):
    with httpr.Client(auth_bearer="tok", timeout=10) as c:
        assert c.get(httpbin.url + "/bearer").json()["token"] == "tok"


def test_basic_value_exact(http_server):
    with httpr.Client(timeout=10) as c:
        assert authorization(c, http_server, auth=("user", "password")) == [
            "Basic dXNlcjpwYXNzd29yZA=="
        ]
        assert authorization(c, http_server, auth=("user", None)) == [basic("user", "")]
        assert authorization(c, http_server, auth_bearer="t") == ["Bearer t"]
        assert authorization(c, http_server) == []


def test_request_auth_beats_client_auth(http_server):
    with httpr.Client(auth=("client", "c"), timeout=10) as c:
        assert authorization(c, http_server) == [basic("client", "c")]
        assert authorization(c, http_server, auth=("req", "r")) == [basic("req", "r")]


def test_request_bearer_beats_client_bearer(http_server):
    with httpr.Client(auth_bearer="client", timeout=10) as c:
        assert authorization(c, http_server, auth_bearer="req") == ["Bearer req"]


def test_client_basic_beats_request_bearer(http_server):
    # checklist 9: a client with Basic auth ignores a per-request bearer
    with httpr.Client(auth=("u", "p"), timeout=10) as c:
        assert authorization(c, http_server, auth_bearer="ignored") == [basic("u", "p")]


def test_request_basic_beats_client_bearer(http_server):
    with httpr.Client(auth_bearer="client-token", timeout=10) as c:
        assert authorization(c, http_server, auth=("u", "p")) == [basic("u", "p")]


def test_request_basic_and_bearer_together(http_server):
    with httpr.Client(timeout=10) as c:
        assert authorization(c, http_server, auth=("u", "p"), auth_bearer="b") == [basic("u", "p")]


def test_auth_applies_to_async(http_server):
    async def run():
        async with httpr.AsyncClient(auth=("a", "b"), timeout=10) as c:
            r = await c.get(http_server.url + "/echo", auth_bearer="x")
            return echoed(r.json(), "authorization")

    import asyncio

    assert asyncio.run(run()) == [basic("a", "b")]


# -- credentials in the URL ---------------------------------------------------------------------


def test_url_credentials_become_basic_auth(httpbin):
    with httpr.Client(timeout=10) as c:
        url = httpbin.url.replace("http://", "http://user:passwd@") + "/basic-auth/user/passwd"
        r = c.get(url)
        assert r.status_code == 200
        assert r.json()["user"] == "user"


def test_url_credentials_not_on_the_wire(scripted_server):
    with httpr.Client(timeout=10) as c:
        url = scripted_server.url.replace("http://", "http://alice:s3cr%40t@") + "/path"
        assert c.get(url).status_code == 200
    req = scripted_server.requests[0]
    assert req.target == "/path"
    assert req.header("host") == f"127.0.0.1:{scripted_server.port}"
    assert req.header("authorization") == basic("alice", "s3cr@t")
    assert b"alice" not in req.raw.replace(req.header("authorization").encode(), b"")


@pytest.mark.parametrize("user", ["bob"])
def test_url_username_without_password(scripted_server, user):
    with httpr.Client(timeout=10) as c:
        c.get(scripted_server.url.replace("http://", f"http://{user}@") + "/")
    assert scripted_server.requests[0].header("authorization") == basic(user, "")
