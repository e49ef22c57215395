"""CONTRACT §1.1, §1.3: the module-level API (``httpr.get`` ...) and the exported names."""

from __future__ import annotations

import inspect

import httpr
import pytest
from servers.helpers import echoed
from servers.httpserver import HELLO

ALL = {
    "Client", "AsyncClient", "request", "get", "head", "options", "delete", "post", "put", "patch",
    "Response", "StreamingResponse", "AsyncStreamingResponse", "CaseInsensitiveHeaderMap",
    "HTTPError", "RequestError", "TransportError", "NetworkError", "TimeoutException",
    "ProtocolError", "StreamError", "ConnectTimeout", "ReadTimeout", "WriteTimeout",
    "PoolTimeout", "ConnectError", "ReadError", "WriteError", "CloseError",
    "LocalProtocolError", "RemoteProtocolError", "UnsupportedProtocol", "ProxyError",
    "TooManyRedirects", "HTTPStatusError", "DecodingError", "StreamConsumed", "ResponseNotRead",
    "RequestNotRead", "StreamClosed", "ClientClosed", "ClientReopenedWarning", "InvalidURL",
    "CookieConflict",
}  # fmt: skip


def test_dunder_all():
    assert set(httpr.__all__) == ALL
    for name in ALL:
        assert hasattr(httpr, name), name
    assert httpr.DEFAULT_MAX_CONCURRENCY == 64
    assert issubclass(httpr.CaseInsensitiveDict, dict)
    assert not hasattr(httpr, "stream")  # there is no module-level stream()


def test_exception_hierarchy():
    h = httpr
    assert issubclass(h.RequestError, h.HTTPError)
    assert issubclass(h.TransportError, h.RequestError)
    for name in ("ConnectError", "ReadError", "WriteError", "CloseError"):
        assert issubclass(getattr(h, name), h.NetworkError)
    for name in ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout"):
        assert issubclass(getattr(h, name), h.TimeoutException)
    for name in ("LocalProtocolError", "RemoteProtocolError"):
        assert issubclass(getattr(h, name), h.ProtocolError)
    for name in ("NetworkError", "TimeoutException", "ProtocolError", "UnsupportedProtocol",
                 "ProxyError"):  # fmt: skip
        assert issubclass(getattr(h, name), h.TransportError)
    assert issubclass(h.TooManyRedirects, h.RequestError)
    assert issubclass(h.DecodingError, h.RequestError)
    assert issubclass(h.HTTPStatusError, h.HTTPError)
    for name in ("StreamConsumed", "ResponseNotRead", "RequestNotRead", "StreamClosed"):
        assert issubclass(getattr(h, name), h.StreamError)
    for name in ("StreamError", "InvalidURL", "CookieConflict"):
        cls = getattr(h, name)
        assert issubclass(cls, Exception) and not issubclass(cls, h.HTTPError)
    assert issubclass(h.ClientClosed, RuntimeError)
    assert issubclass(h.ClientReopenedWarning, ResourceWarning)


@pytest.mark.parametrize("verb", ["get", "head", "options", "delete", "post", "put", "patch"])
def test_module_verbs(http_server, verb):
    r = getattr(httpr, verb)(http_server.url + "/echo", timeout=10)
    assert isinstance(r, httpr.Response)
    assert r.status_code == 200
    if verb != "head":
        assert r.json()["method"] == verb.upper()


def test_module_request(http_server):
    r = httpr.request("PUT", http_server.url + "/echo", content=b"body", headers={"X-M": "1"})
    d = r.json()
    assert d["method"] == "PUT" and d["body"] == "body"
    assert echoed(d, "x-m") == ["1"]


def test_module_request_kwargs(httpbin):
    r = httpr.post(
        httpbin.url + "/post",
        params={"q": "1"},
        json={"k": "v"},
        cookies={"c": "1"},
        auth=("u", "p"),
    )
    data = r.json()
    assert data["args"] == {"q": "1"}
    assert data["json"] == {"k": "v"}
    assert data["headers"]["Cookie"] == "c=1"
    assert data["headers"]["Authorization"].startswith("Basic ")


def test_module_functions_follow_redirects_and_use_jar(httpbin):
    r = httpr.get(httpbin.url + "/redirect/2")
    assert r.status_code == 200 and r.url == httpbin.url + "/get"
    r = httpr.get(httpbin.url + "/cookies/set?k=v")
    assert r.json() == {"cookies": {"k": "v"}}


def test_module_accepts_the_four_client_options(http_server, tmp_path):
    assert httpr.get(http_server.url + "/hello", verify=False).content == HELLO
    assert httpr.get(http_server.url + "/hello", verify=True, ca_cert_file=None).content == HELLO
    assert (
        httpr.request(
            "GET", http_server.url + "/hello", verify=False, client_pem=None, client_pem_data=None
        ).content
        == HELLO
    )


@pytest.mark.parametrize(
    "option",
    ["follow_redirects", "proxy", "max_redirects", "cookie_store", "referer", "https_only",
     "http1_only", "http2_only", "auth_bearers", "max_concurrency"],
)  # fmt: skip
def test_module_other_client_options_type_error(scripted_server, option):
    with pytest.raises(TypeError):
        httpr.get(scripted_server.url + "/", **{option: False})
    with pytest.raises(TypeError):
        httpr.request("GET", scripted_server.url + "/", **{option: False})
    assert scripted_server.connection_count == 0


def test_module_function_signatures():
    sig = inspect.signature(httpr.request)
    names = list(sig.parameters)
    assert names[:6] == ["method", "url", "verify", "ca_cert_file", "client_pem", "client_pem_data"]
    assert sig.parameters["verify"].default is True


def test_module_functions_release_their_pool(http_server, fd_count):
    from servers.helpers import wait_for_fds

    httpr.get(http_server.url + "/hello")  # warm up
    base = fd_count()
    for _ in range(20):
        assert httpr.get(http_server.url + "/hello").content == HELLO
    assert wait_for_fds(base) <= base


def test_module_unsupported_method(scripted_server):
    with pytest.raises(ValueError) as ei:
        httpr.request("get", scripted_server.url + "/")
    assert str(ei.value) == "Unsupported HTTP method: get"
