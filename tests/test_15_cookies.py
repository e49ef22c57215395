"""CONTRACT §5.6 and reliability §2.7: the cookie jar, Response.cookies, jar resets."""

from __future__ import annotations

import time
import urllib.parse
import warnings

import httpr
import pytest
from servers.helpers import echoed


def set_cookie_url(server, *cookies: str, **extra: str) -> str:
    q = [("c", c) for c in cookies] + list(extra.items())
    return server.url + "/set-cookie?" + urllib.parse.urlencode(q)


def sent_cookies(client, server, path="/echo", **kw) -> dict[str, str]:
    d = client.get(server.url + path, **kw).json()
    values = echoed(d, "cookie")
    assert len(values) <= 1, values  # always ONE Cookie header
    out: dict[str, str] = {}
    for v in values:
        for item in v.split(";"):
            k, _, val = item.strip().partition("=")
            if k:
                out[k] = val
    return out


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


# -- jar on / off ------------------------------------------------------------------------------


def test_jar_persists_cookies_httpbin(client, httpbin):
    r = client.get(httpbin.url + "/cookies/set", params={"k": "v", "k2": "v2"})
    # the Set-Cookie came on the 302 and was sent on the next hop
    assert r.url == httpbin.url + "/cookies"
    assert r.json() == {"cookies": {"k": "v", "k2": "v2"}}
    assert client.get(httpbin.url + "/cookies").json() == {"cookies": {"k": "v", "k2": "v2"}}
    client.get(httpbin.url + "/cookies/delete", params={"k": ""})
    assert client.get(httpbin.url + "/cookies").json() == {"cookies": {"k2": "v2"}}


def test_cookie_store_false_persists_nothing(httpbin):
    with httpr.Client(cookie_store=False, timeout=10) as c:
        r = c.get(httpbin.url + "/cookies/set", params={"k": "v"})
        assert r.json() == {"cookies": {}}
        assert c.get(httpbin.url + "/cookies").json() == {"cookies": {}}


def test_jar_contents_not_in_client_cookies(client, http_server):
    client.get(set_cookie_url(http_server, "jar=1"))
    assert sent_cookies(client, http_server) == {"jar": "1"}
    assert client.cookies == {}


def test_jar_is_per_client(http_server):
    with httpr.Client(timeout=10) as a, httpr.Client(timeout=10) as b:
        a.get(set_cookie_url(http_server, "mine=a"))
        assert sent_cookies(a, http_server) == {"mine": "a"}
        assert sent_cookies(b, http_server) == {}


def test_jar_ignores_port(client, http_server, httpbin):
    # RFC 6265 §8.5: cookies do not provide isolation by port
    client.get(set_cookie_url(http_server, "p=1"))
    assert client.get(httpbin.url + "/cookies").json() == {"cookies": {"p": "1"}}


def test_set_cookie_on_redirect_stored_before_next_hop(client, http_server):
    r = client.get(set_cookie_url(http_server, "hop=1", location="/echo"))
    assert r.url == http_server.url + "/echo"
    assert echoed(r.json(), "cookie") == ["hop=1"]


def test_cookie_overwritten_by_name(client, http_server):
    client.get(set_cookie_url(http_server, "x=1"))
    client.get(set_cookie_url(http_server, "x=2"))
    assert sent_cookies(client, http_server) == {"x": "2"}


# -- attributes --------------------------------------------------------------------------------


def test_path_attribute(client, http_server):
    client.get(set_cookie_url(http_server, "deep=1; Path=/echo/sub"))
    assert sent_cookies(client, http_server, "/echo/sub") == {"deep": "1"}
    assert sent_cookies(client, http_server, "/echo/sub/more") == {"deep": "1"}
    assert sent_cookies(client, http_server, "/echo") == {}
    assert sent_cookies(client, http_server, "/echo/subx") == {}


@pytest.mark.parametrize("domain", ["example.com", ".0.0.1", "0.0.1", "localhost"])
def test_foreign_domain_rejected(client, http_server, domain):
    client.get(set_cookie_url(http_server, f"d=1; Domain={domain}", "ok=1"))
    assert sent_cookies(client, http_server) == {"ok": "1"}


def test_secure_cookie_never_sent_over_http(client, http_server):
    client.get(set_cookie_url(http_server, "sec=1; Secure", "plain=1"))
    assert sent_cookies(client, http_server) == {"plain": "1"}


def test_httponly_cookie_is_sent(client, http_server):
    client.get(set_cookie_url(http_server, "ho=1; HttpOnly; Path=/"))
    assert sent_cookies(client, http_server) == {"ho": "1"}


def test_max_age_zero_deletes(client, http_server):
    client.get(set_cookie_url(http_server, "gone=1", "stay=1"))
    assert sent_cookies(client, http_server) == {"gone": "1", "stay": "1"}
    client.get(set_cookie_url(http_server, "gone=1; Max-Age=0"))
    assert sent_cookies(client, http_server) == {"stay": "1"}


def test_expires_in_the_past_not_stored(client, http_server):
    client.get(set_cookie_url(http_server, "old=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "n=1"))
    assert sent_cookies(client, http_server) == {"n": "1"}


@pytest.mark.timeout(20)
def test_max_age_expiry(client, http_server):
    client.get(set_cookie_url(http_server, "short=1; Max-Age=1", "long=1; Max-Age=3600"))
    assert sent_cookies(client, http_server) == {"short": "1", "long": "1"}
    time.sleep(2.2)
    assert sent_cookies(client, http_server) == {"long": "1"}


def test_max_age_beats_expires(client, http_server):
    client.get(
        set_cookie_url(http_server, "m=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60")
    )
    assert sent_cookies(client, http_server) == {"m": "1"}


# -- explicit cookies and the jar --------------------------------------------------------------


def test_request_cookie_header_suppresses_jar(client, http_server):
    client.get(set_cookie_url(http_server, "jar=1"))
    assert sent_cookies(client, http_server, cookies={"req": "2"}) == {"req": "2"}
    assert sent_cookies(client, http_server) == {"jar": "1"}


def test_client_cookies_suppress_jar(http_server):
    with httpr.Client(cookies={"cli": "1"}, timeout=10) as c:
        c.get(set_cookie_url(http_server, "jar=1"))
        assert sent_cookies(c, http_server) == {"cli": "1"}
        c.cookies = None
        assert sent_cookies(c, http_server) == {"jar": "1"}


# -- Response.cookies ----------------------------------------------------------------------------


def test_response_cookies_from_final_response(client, http_server):
    r = client.get(set_cookie_url(http_server, "a=1; Path=/", "b=2; HttpOnly"))
    assert r.cookies == {"a": "1", "b": "2"}
    assert isinstance(r.cookies, dict)


def test_response_cookies_only_final_response(client, httpbin):
    r = client.get(httpbin.url + "/cookies/set", params={"k": "v"})
    assert r.cookies == {}  # the Set-Cookie was on the 302, not on /cookies


def test_response_cookies_on_the_3xx_when_not_following(httpbin):
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(httpbin.url + "/cookies/set", params={"k": "v"})
    assert r.status_code == 302
    assert r.cookies == {"k": "v"}


def test_response_cookies_without_jar(http_server):
    with httpr.Client(cookie_store=False, timeout=10) as c:
        assert c.get(set_cookie_url(http_server, "x=1")).cookies == {"x": "1"}
        assert sent_cookies(c, http_server) == {}


# -- jar resets ------------------------------------------------------------------------------------


def test_jar_reset_on_reopen(http_server):
    c = httpr.Client(timeout=10)
    c.get(set_cookie_url(http_server, "before=1"))
    assert sent_cookies(c, http_server) == {"before": "1"}
    c.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpr.ClientReopenedWarning)
        assert sent_cookies(c, http_server) == {}
    c.close()


def test_jar_reset_on_proxy_change(http_server):
    with httpr.Client(timeout=10, headers={"X-Keep": "1"}) as c:
        c.get(set_cookie_url(http_server, "before=1"))
        assert sent_cookies(c, http_server) == {"before": "1"}
        c.proxy = None
        d = c.get(http_server.url + "/echo").json()
        assert echoed(d, "cookie") == []
        assert echoed(d, "x-keep") == ["1"]


def test_client_cookies_survive_reopen_and_proxy_change(http_server):
    c = httpr.Client(cookies={"static": "1"}, timeout=10)
    c.proxy = None
    assert sent_cookies(c, http_server) == {"static": "1"}
    c.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpr.ClientReopenedWarning)
        assert sent_cookies(c, http_server) == {"static": "1"}
    c.close()


@pytest.mark.asyncio
async def test_async_jar(http_server, httpbin):
    async with httpr.AsyncClient(timeout=10) as c:
        r = await c.get(httpbin.url + "/cookies/set", params={"ak": "av"})
        assert r.json() == {"cookies": {"ak": "av"}}
        r = await c.get(http_server.url + "/echo")
        assert echoed(r.json(), "cookie") == ["ak=av"]
