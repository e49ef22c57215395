"""CONTRACT §2.5: params / data / cookies normalisation and merging (issues #82, #87)."""

from __future__ import annotations

import httpr
import pytest
from servers.helpers import echoed


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def query(client, server, path="/echo", **kw) -> str:
    return client.get(server.url + path, **kw).json()["query"]


def test_params_normalisation(client, http_server):
    q = query(
        client,
        http_server,
        params={"n": 5, "f": 1.5, "yes": True, "no": False, "none": None},
    )
    assert q == "n=5&f=1.5&yes=true&no=false&none="


@pytest.mark.parametrize("seq", [list, tuple])
def test_params_list_or_tuple_value_repeats_key(client, http_server, seq):
    assert query(client, http_server, params={"a": seq(["1", 2, True])}) == "a=1&a=2&a=true"


def test_params_sequence_of_pairs(client, http_server):
    assert query(client, http_server, params=[("b", "1"), ("a", "2"), ("b", "3")]) == "b=1&a=2&b=3"


def test_params_any_mapping_with_items(client, http_server):
    class M:
        def items(self):
            return [("x", "1"), ("y", None)]

    assert query(client, http_server, params=M()) == "x=1&y="


@pytest.mark.parametrize("bad", ["a=1", b"a=1", 5, ["not-a-pair"]])
def test_params_bad_shape_type_error_message(client, scripted_server, bad):
    with pytest.raises(TypeError) as ei:
        client.get(scripted_server.url + "/", params=bad)
    assert str(ei.value).startswith("params must be a mapping or a sequence of (key, value) pairs")
    assert scripted_server.connection_count == 0


def test_params_appended_to_url_query(client, http_server):
    assert query(client, http_server, path="/echo?inline=1", params={"q": "2"}) == "inline=1&q=2"


def test_empty_params_send_no_question_mark(client, http_server):
    r = client.get(http_server.url + "/echo", params={})
    assert r.json()["target"] == "/echo"


def test_params_form_encoding_space_plus(client, http_server):
    q = query(client, http_server, params={"q": "a b&c=d", "é": "ü"})
    assert q == "q=a+b%26c%3Dd&%C3%A9=%C3%BC"


def test_client_and_request_params_merge(http_server):
    with httpr.Client(params={"a": "1", "b": ["x", "y"], "c": "3"}, timeout=10) as c:
        # request key replaces ALL client values for that key; client pairs first
        assert query(c, http_server, params={"b": "z", "d": "4"}) == "a=1&c=3&b=z&d=4"
        # the client's params are not modified
        assert query(c, http_server) == "a=1&b=x&b=y&c=3"
        assert c.params == {"a": "1", "b": ["x", "y"], "c": "3"}


def test_client_params_with_url_query(http_server):
    with httpr.Client(params={"a": "1"}, timeout=10) as c:
        assert query(c, http_server, path="/echo?inline=0") == "inline=0&a=1"


def test_params_on_httpbin_args(client, httpbin):
    r = client.get(httpbin.url + "/get", params={"k": ["v1", "v2"], "flag": False})
    assert r.json()["args"] == {"k": ["v1", "v2"], "flag": "false"}


# -- form data ------------------------------------------------------------------------------


def test_data_form_body_order_and_content_type(client, http_server):
    r = client.post(http_server.url + "/echo", data={"zeta": 1, "mid": 2, "alpha": 3})
    d = r.json()
    assert d["body"] == "zeta=1&mid=2&alpha=3"
    assert echoed(d, "content-type") == ["application/x-www-form-urlencoded"]
    assert echoed(d, "content-length") == [str(len("zeta=1&mid=2&alpha=3"))]


def test_data_normalisation_and_lists(client, http_server):
    r = client.post(
        http_server.url + "/echo",
        data={"t": True, "f": False, "n": None, "l": ["a", "b"], "s": "x y"},
    )
    assert r.json()["body"] == "t=true&f=false&n=&l=a&l=b&s=x+y"


def test_data_pairs(client, http_server):
    r = client.post(http_server.url + "/echo", data=[("k", "1"), ("k", "2")])
    assert r.json()["body"] == "k=1&k=2"


@pytest.mark.parametrize("bad", ["a=1", b"a=1", 7])
def test_data_bad_shape_type_error(client, scripted_server, bad):
    with pytest.raises(TypeError) as ei:
        client.post(scripted_server.url + "/", data=bad)
    assert str(ei.value).startswith("data must be a mapping or a sequence")
    assert scripted_server.connection_count == 0


def test_data_on_httpbin_form(client, httpbin):
    r = client.post(httpbin.url + "/post", data={"name": "httpr", "n": 2})
    assert r.json()["form"] == {"name": "httpr", "n": "2"}


# -- cookies merge --------------------------------------------------------------------------


def test_request_cookies_single_header(client, http_server):
    d = client.get(http_server.url + "/echo", cookies={"a": "1", "b": "2"}).json()
    assert echoed(d, "cookie") == ["a=1; b=2"]


def test_client_and_request_cookies_merge_into_one_header(http_server):
    with httpr.Client(cookies={"a": "1", "b": "2"}, timeout=10) as c:
        d = c.get(http_server.url + "/echo", cookies={"b": "20", "c": "3"}).json()
        assert echoed(d, "cookie") == ["a=1; b=20; c=3"]
        assert c.cookies == {"a": "1", "b": "2"}  # not modified
        d = c.get(http_server.url + "/echo").json()
        assert echoed(d, "cookie") == ["a=1; b=2"]


def test_request_cookies_on_httpbin(client, httpbin):
    r = client.get(httpbin.url + "/cookies", cookies={"x": "1", "y": "2"})
    assert r.json() == {"cookies": {"x": "1", "y": "2"}}


# -- headers merge ----------------------------------------------------------------------------


def test_invalid_client_headers_skipped_request_headers_refused(http_server):
    # CONTRACT §2.1: invalid client-level defaults are skipped (never sent); a bad
    # per-request header is bad input and raises (README, "Deliberate differences").
    with httpr.Client(headers={"X-Ok": "1", "Bad Name": "x", "X-Bad": "v\r\nInjected: yes"}) as c:
        d = c.get(http_server.url + "/echo").json()
        assert echoed(d, "x-ok") == ["1"]
        assert echoed(d, "injected") == []
        assert echoed(d, "x-bad") == []
        with pytest.raises(httpr.LocalProtocolError):
            c.get(http_server.url + "/echo", headers={"Bad Name": "x"})
