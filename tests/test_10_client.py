"""CONTRACT §2.1–§2.4: Client construction, signature, errors, properties and setters.

Observed effects go through ``http_server``'s ``/echo`` (what the server received).
"""

from __future__ import annotations

import base64
import inspect
import math

import httpr
import pytest
from servers.helpers import echoed

PARAMS = [
    ("auth", None),
    ("auth_bearer", None),
    ("params", None),
    ("headers", None),
    ("cookies", None),
    ("cookie_store", True),
    ("referer", True),
    ("proxy", None),
    ("timeout", 30),
    ("follow_redirects", True),
    ("max_redirects", 20),
    ("verify", True),
    ("ca_cert_file", None),
    ("client_pem", None),
    ("client_pem_data", None),
    ("https_only", False),
    ("http2_only", False),
    ("http1_only", False),
]


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def echo(client, server, path="/echo", **kw) -> dict:
    r = client.get(server.url + path, **kw)
    assert r.status_code == 200
    return r.json()


# -- signature -------------------------------------------------------------------------------


def test_client_init_signature_has_the_18_parameters():
    sig = inspect.signature(httpr.Client.__init__)
    params = list(sig.parameters.values())[1:]  # minus self
    assert [(p.name, p.default) for p in params] == PARAMS
    for p in params:
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, p


def test_signature_matches_native_rclient():
    # CONTRACT §2.1 / checklist 1: the native base type is introspectable and equal.
    py = list(inspect.signature(httpr.Client.__init__).parameters.values())[1:]
    native = list(inspect.signature(httpr.RClient).parameters.values())
    assert [p.name for p in native] == [p.name for p in py]
    for a, b in zip(py, native, strict=True):
        assert a.default == b.default, (a.name, a.default, b.default)


def test_asyncclient_signature_adds_max_concurrency():
    params = list(inspect.signature(httpr.AsyncClient.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in params[:18]] == PARAMS
    mc = params[18]
    assert mc.name == "max_concurrency"
    assert mc.kind is inspect.Parameter.KEYWORD_ONLY
    assert mc.default == httpr.DEFAULT_MAX_CONCURRENCY == 64


def test_arguments_are_positional_or_keyword(http_server):
    # auth, auth_bearer, params, headers, cookies given positionally
    with httpr.Client(None, None, {"p": "1"}, {"X-Pos": "yes"}, {"c": "1"}) as c:
        data = echo(c, http_server)
    assert data["query"] == "p=1"
    assert echoed(data, "x-pos") == ["yes"]
    assert echoed(data, "cookie") == ["c=1"]


def test_asyncclient_is_client_and_keeps_max_concurrency():
    c = httpr.AsyncClient(max_concurrency=7)
    assert isinstance(c, httpr.Client)
    assert c.max_concurrency == 7
    assert httpr.AsyncClient().max_concurrency == 64
    assert httpr.AsyncClient(max_concurrency=None).max_concurrency is None


# -- construction errors -----------------------------------------------------------------------


def test_both_client_pem_and_data_is_value_error():
    with pytest.raises(ValueError) as ei:
        httpr.Client(client_pem="/nonexistent/cert.pem", client_pem_data=b"pem")
    assert str(ei.value) == "Only one of client_pem or client_pem_data may be set."


def test_both_http1_and_http2_only_is_value_error():
    with pytest.raises(ValueError) as ei:
        httpr.Client(http1_only=True, http2_only=True)
    assert str(ei.value) == "Only one of http1_only or http2_only may be set."


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan])
def test_negative_or_nan_timeout_is_value_error(bad):
    with pytest.raises(ValueError) as ei:
        httpr.Client(timeout=bad)
    assert str(ei.value).startswith("timeout must be a non-negative number of seconds or None, got")


def test_default_timeout_is_30_and_none_disables():
    assert httpr.Client().timeout == 30
    assert httpr.Client(timeout=None).timeout is None
    assert httpr.Client(timeout=0.25).timeout == 0.25


def test_missing_ca_cert_file_is_request_error(tmp_path):
    with pytest.raises(httpr.RequestError):
        httpr.Client(ca_cert_file=str(tmp_path / "missing.pem"))


def test_ca_bundle_without_certificate_is_request_error(tmp_path):
    f = tmp_path / "empty.pem"
    f.write_text("not a certificate\n")
    with pytest.raises(httpr.RequestError):
        httpr.Client(ca_cert_file=str(f))


def test_ca_bundle_ignored_with_verify_false(tmp_path):
    httpr.Client(verify=False, ca_cert_file=str(tmp_path / "missing.pem")).close()


def test_missing_client_pem_is_request_error(tmp_path):
    with pytest.raises(httpr.RequestError):
        httpr.Client(client_pem=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("bad", ["str", b"bytes", 5, ["not-a-pair"]])
def test_bad_params_shape_at_construction_is_type_error(bad):
    with pytest.raises(TypeError):
        httpr.Client(params=bad)


def test_invalid_headers_are_skipped_at_construction(http_server):
    with httpr.Client(
        headers={"X-Good": "1", "Bad Name": "2", "X-Bad-Value": "a\r\nInjected: 1"}, timeout=10
    ) as c:
        data = echo(c, http_server)
    assert echoed(data, "x-good") == ["1"]
    assert echoed(data, "injected") == []
    assert echoed(data, "x-bad-value") == []
    assert all(k.lower() != "bad name" for k, _ in data["headers"])


# -- headers view ------------------------------------------------------------------------------


def test_headers_getter_is_lowercased_case_insensitive_dict():
    c = httpr.Client(headers={"X-Test": "TesT", "Accept": "text/plain"})
    h = c.headers
    assert h == {"x-test": "TesT", "accept": "text/plain"}
    assert isinstance(h, dict)
    assert isinstance(h, httpr.CaseInsensitiveDict)
    assert h["X-TEST"] == "TesT"
    assert "X-Test" in h and "x-test" in h
    assert h.get("ACCEPT") == "text/plain"
    assert list(h.keys()) == ["x-test", "accept"]


def test_headers_getter_excludes_cookie():
    c = httpr.Client(headers={"X-A": "1"}, cookies={"k": "v"})
    assert c.headers == {"x-a": "1"}
    assert c.cookies == {"k": "v"}


def test_headers_view_setitem_writes_through(client, http_server):
    client.headers["X-New"] = "one"
    assert client.headers == {"x-new": "one"}
    assert echoed(echo(client, http_server), "x-new") == ["one"]
    h = client.headers
    h["X-New"] = "two"
    assert client.headers["x-new"] == "two"
    assert echoed(echo(client, http_server), "x-new") == ["two"]


def test_headers_view_delete_pop_popitem(http_server):
    with httpr.Client(headers={"X-A": "1", "X-B": "2", "X-C": "3"}, timeout=10) as c:
        del c.headers["X-A"]
        assert "x-a" not in c.headers
        assert c.headers.pop("X-B") == "2"
        assert c.headers == {"x-c": "3"}
        assert c.headers.popitem() == ("x-c", "3")
        assert c.headers == {}
        data = echo(c, http_server)
    for name in ("x-a", "x-b", "x-c"):
        assert echoed(data, name) == []


def test_headers_view_setdefault_update_clear_ior(http_server):
    with httpr.Client(headers={"X-Keep": "k"}, timeout=10) as c:
        assert c.headers.setdefault("X-Keep", "other") == "k"
        c.headers.setdefault("X-Set", "s")
        c.headers.setdefault("X-None")  # value None: a no-op
        assert c.headers == {"x-keep": "k", "x-set": "s"}
        c.headers.update({"X-U1": "1"})
        c.headers.update([("X-U2", "2")])
        h = c.headers
        h |= {"X-Or": "or"}
        assert c.headers == {"x-keep": "k", "x-set": "s", "x-u1": "1", "x-u2": "2", "x-or": "or"}
        data = echo(c, http_server)
        for name, value in c.headers.items():
            assert echoed(data, name) == [value]
        c.headers.clear()
        assert c.headers == {}
        data = echo(c, http_server)
    for name in ("x-keep", "x-set", "x-u1", "x-u2", "x-or"):
        assert echoed(data, name) == []


def test_headers_setter_replaces_all_but_cookie(http_server):
    with httpr.Client(headers={"X-A": "1"}, cookies={"c": "1"}, timeout=10) as c:
        c.headers = {"X-B": "2"}
        assert c.headers == {"x-b": "2"}
        assert c.cookies == {"c": "1"}
        data = echo(c, http_server)
        assert echoed(data, "x-a") == []
        assert echoed(data, "x-b") == ["2"]
        assert echoed(data, "cookie") == ["c=1"]
        c.headers = None
        assert c.headers == {}
        data = echo(c, http_server)
        assert echoed(data, "x-b") == []
        assert echoed(data, "cookie") == ["c=1"]


def test_headers_setter_rejects_non_dict():
    c = httpr.Client()
    with pytest.raises(Exception):  # noqa: B017 - the contract only says "exception"
        c.headers = 5  # type: ignore[assignment]
    with pytest.raises(Exception):  # noqa: B017
        c.headers = "X-A: 1"  # type: ignore[assignment]


def test_set_header_and_del_header_native_methods(client, http_server):
    client.set_header("X-Native", "n")
    assert client.headers == {"x-native": "n"}
    assert echoed(echo(client, http_server), "x-native") == ["n"]
    client.del_header("X-NATIVE")
    assert client.headers == {}
    assert echoed(echo(client, http_server), "x-native") == []


# -- cookies / auth / bearer / params / timeout / proxy setters ---------------------------------


def test_cookies_property_round_trip(client, http_server):
    assert client.cookies == {}
    client.cookies = {"a": "1", "b": "2"}
    assert client.cookies == {"a": "1", "b": "2"}
    assert echoed(echo(client, http_server), "cookie") == ["a=1; b=2"]
    client.cookies = None
    assert client.cookies == {}
    assert echoed(echo(client, http_server), "cookie") == []


def test_cookies_setter_rejects_non_dict():
    c = httpr.Client()
    with pytest.raises(Exception):  # noqa: B017
        c.cookies = "a=1"  # type: ignore[assignment]


def test_auth_setter(client, http_server):
    assert client.auth is None
    client.auth = ("user", "password")
    assert client.auth == ("user", "password")
    assert echoed(echo(client, http_server), "authorization") == ["Basic dXNlcjpwYXNzd29yZA=="]
    client.auth = ("user", None)  # password None -> "user:"
    expected = "Basic " + base64.b64encode(b"user:").decode()
    assert echoed(echo(client, http_server), "authorization") == [expected]
    client.auth = None
    assert client.auth is None
    assert echoed(echo(client, http_server), "authorization") == []


def test_auth_bearer_setter(client, http_server):
    assert client.auth_bearer is None
    client.auth_bearer = "tok123"
    assert client.auth_bearer == "tok123"
    assert echoed(echo(client, http_server), "authorization") == ["Bearer tok123"]
    client.auth_bearer = None
    assert echoed(echo(client, http_server), "authorization") == []


def test_params_property_normalised_and_round_trips(http_server):
    c = httpr.Client(params={"n": 5, "yes": True, "none": None, "multi": ["a", "b"]}, timeout=10)
    assert c.params == {"n": "5", "yes": "true", "none": "", "multi": ["a", "b"]}
    with c:
        assert echo(c, http_server)["query"] == "n=5&yes=true&none=&multi=a&multi=b"
        c.params = c.params  # round-trips
        assert echo(c, http_server)["query"] == "n=5&yes=true&none=&multi=a&multi=b"
        c.params = [("k", "1"), ("k", "2")]
        assert c.params == {"k": ["1", "2"]}
        assert echo(c, http_server)["query"] == "k=1&k=2"
        c.params = None
        assert c.params is None
        assert echo(c, http_server)["query"] == ""


def test_params_setter_bad_shape_is_type_error():
    c = httpr.Client()
    with pytest.raises(TypeError):
        c.params = "a=1"  # type: ignore[assignment]


def test_timeout_setter_applies_to_next_request(http_server):
    with httpr.Client(timeout=10) as c:
        assert c.get(http_server.url + "/slow-head?delay=0.4").status_code == 200
        c.timeout = 0.15
        assert c.timeout == 0.15
        with pytest.raises(httpr.ReadTimeout):
            c.get(http_server.url + "/slow-head?delay=0.6")
        c.timeout = None
        assert c.timeout is None
        assert c.get(http_server.url + "/slow-head?delay=0.3").status_code == 200


def test_timeout_setter_validates_at_request_time(http_server):
    with httpr.Client(timeout=10) as c:
        c.timeout = -1  # accepted by the setter
        with pytest.raises(ValueError):
            c.get(http_server.url + "/hello")
        c.timeout = 5
        assert c.get(http_server.url + "/hello").status_code == 200


def test_proxy_property_round_trip():
    c = httpr.Client()
    assert c.proxy is None
    c.proxy = "http://127.0.0.1:3128"
    assert c.proxy == "http://127.0.0.1:3128"
    c.proxy = None
    assert c.proxy is None


def test_proxy_from_env_read_once(monkeypatch):
    monkeypatch.setenv("HTTPR_PROXY", "http://127.0.0.1:3129")
    c = httpr.Client()
    assert c.proxy == "http://127.0.0.1:3129"
    assert httpr.Client(proxy="http://127.0.0.1:4000").proxy == "http://127.0.0.1:4000"
    monkeypatch.setenv("HTTPR_PROXY", "http://127.0.0.1:3130")
    assert c.proxy == "http://127.0.0.1:3129"  # not re-read
    c.proxy = None
    assert c.proxy is None  # the setter does not fall back to the env either


def test_proxy_setter_keeps_other_settings(http_server):
    with httpr.Client(
        headers={"X-Keep": "1"}, auth_bearer="tok", params={"p": "1"}, timeout=10
    ) as c:
        c.proxy = None  # rebuilds the transport
        data = echo(c, http_server)
        assert c.timeout == 10
    assert echoed(data, "x-keep") == ["1"]
    assert echoed(data, "authorization") == ["Bearer tok"]
    assert data["query"] == "p=1"


def test_is_closed_is_read_only():
    c = httpr.Client()
    assert c.is_closed is False
    with pytest.raises(AttributeError):
        c.is_closed = True  # type: ignore[misc]
    c.close()
    assert c.is_closed is True


# -- request method validation -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "Get", "TRACE", "CONNECT", "FOO"])
def test_unsupported_method_before_any_io(scripted_server, method):
    with httpr.Client(timeout=5) as c, pytest.raises(ValueError) as ei:
        c.request(method, scripted_server.url + "/")
    assert str(ei.value) == f"Unsupported HTTP method: {method}"
    assert scripted_server.connection_count == 0


@pytest.mark.parametrize(
    "kwarg", ["follow_redirects", "verify", "proxy", "read_timeout", "stream", "allow_redirects"]
)
def test_unknown_request_kwargs_are_type_errors(scripted_server, kwarg):
    with httpr.Client(timeout=5) as c, pytest.raises(TypeError):
        c.get(scripted_server.url + "/", **{kwarg: False})
    assert scripted_server.connection_count == 0


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE", "POST", "PUT", "PATCH"])
def test_each_verb_method_sends_its_method(http_server, method):
    with httpr.Client(timeout=10) as c:
        r = getattr(c, method.lower())(http_server.url + "/echo")
        assert r.status_code == 200
        if method != "HEAD":
            assert r.json()["method"] == method
        r = c.request(method, http_server.url + "/echo")
        if method != "HEAD":
            assert r.json()["method"] == method
        else:
            assert r.content == b""


def test_invalid_url_is_request_error(client):
    for url in ["http://", "http://exa mple.com/", "not a url", "http://127.0.0.1:99999/"]:
        with pytest.raises(httpr.RequestError):
            client.get(url)


def test_https_only_refuses_http(scripted_server):
    with httpr.Client(https_only=True, timeout=5) as c, pytest.raises(httpr.RequestError):
        c.get(scripted_server.url + "/")
    assert scripted_server.connection_count == 0


def test_no_user_agent_and_default_accept_headers(client, http_server):
    data = echo(client, http_server)
    assert echoed(data, "user-agent") == []
    assert echoed(data, "accept") == ["*/*"]
    assert echoed(data, "accept-encoding") == ["gzip, br, zstd, deflate"]


def test_user_accept_encoding_not_overridden(client, http_server):
    data = echo(client, http_server, headers={"Accept-Encoding": "identity"})
    assert echoed(data, "accept-encoding") == ["identity"]


def test_request_headers_override_client_headers_case_insensitively(http_server):
    with httpr.Client(headers={"X-Dup": "client", "X-Only-Client": "c"}, timeout=10) as c:
        data = echo(c, http_server, headers={"x-DUP": "request"})
    assert echoed(data, "x-dup") == ["request"]
    assert echoed(data, "x-only-client") == ["c"]


def test_repeated_requests_see_every_change(http_server):
    """A client keeps its last request without a body as a template, and a repeat with the
    same method, URL and headers is a copy of it (src/py/README.md). Whatever changed between
    two requests must still show on the wire."""
    url = http_server.url + "/echo"
    with httpr.Client(timeout=10) as c:
        d1, d2 = c.get(url).json(), c.get(url).json()
        assert (d2["method"], d2["target"]) == ("GET", "/echo")
        assert d2["headers"] == d1["headers"]
        assert echoed(d2, "host") == [http_server.url.split("//")[1]]
        c.headers = {"X-A": "1"}
        assert echoed(c.get(url).json(), "x-a") == ["1"]
        c.headers = {"X-A": "2"}
        da = c.get(url).json()
        assert echoed(da, "x-a") == ["2"]
        # cookies from the jar are added to each request, copied or not (the engine rebuilds
        # the head from the request's headers, which the copy must carry too)
        assert c.get(http_server.url + "/set-cookie?c=k%3Dv").status_code == 200
        dc = c.get(url).json()
        assert echoed(dc, "cookie") == ["k=v"]
        assert [h for h in dc["headers"] if h[0].lower() != "cookie"] == da["headers"]
        # a copy that is redirected (the head rebuilt on the reactor) keeps its headers
        redirect = http_server.url + "/set-cookie?c=r%3D1&location=/echo"
        d3, d4 = c.get(redirect).json(), c.get(redirect).json()
        assert d4["target"] == "/echo" and echoed(d4, "x-a") == ["2"]
        assert d4["headers"] == d3["headers"]
        c.auth = ("u", "p")
        assert echoed(c.get(url).json(), "authorization") == ["Basic dTpw"]
        c.auth = None
        assert echoed(c.get(url).json(), "authorization") == []
        # other methods, with and without a body, on the same URL
        assert c.post(url, content=b"x").json()["body"] == "x"
        for _ in range(2):  # a copied HEAD still expects no body
            r = c.head(url)
            assert r.status_code == 200 and r.content == b""
        for _ in range(2):
            d = c.post(url).json()  # no body: Content-Length 0, copied the second time
            assert (d["method"], echoed(d, "content-length")) == ("POST", ["0"])
        assert c.delete(url).json()["method"] == "DELETE"
        # an equal URL in another str object, and another URL
        other = f"{http_server.url}/echo"
        assert other == url and other is not url
        assert c.get(other).json()["target"] == "/echo"
        assert c.get(url + "?q=1").json()["target"] == "/echo?q=1"
        assert c.get(url).json()["target"] == "/echo"


async def test_async_repeated_requests_see_every_change(http_server):
    url = http_server.url + "/echo"
    async with httpr.AsyncClient(timeout=10) as c:
        ds = [(await c.get(url)).json() for _ in range(3)]
        assert all(d["headers"] == ds[0]["headers"] for d in ds)
        c.headers = {"X-B": "1"}
        assert echoed((await c.get(url)).json(), "x-b") == ["1"]
        c.headers = {}
        assert echoed((await c.get(url)).json(), "x-b") == []
