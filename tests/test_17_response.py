"""CONTRACT §3.1, §3.4, §13: every member of Response and CaseInsensitiveHeaderMap."""

from __future__ import annotations

import json
import urllib.parse

import httpr
import pytest
from servers.scripted import response, serve

MDN = "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/"


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def parts_url(server, *parts: bytes, ct: str | None = None, status: int | None = None) -> str:
    q = "&".join("p=" + urllib.parse.quote_from_bytes(p, safe="") for p in parts)
    if ct is not None:
        q += "&ct=" + urllib.parse.quote(ct, safe="")
    if status is not None:
        q += f"&status={status}"
    return f"{server.url}/parts?{q}"


# -- basic members ---------------------------------------------------------------------------


def test_members_on_httpbin_get(client, httpbin):
    r = client.get(httpbin.url + "/get", params={"a": "1"})
    assert r.status_code == 200
    assert r.reason_phrase == "OK"
    assert r.url == httpbin.url + "/get?a=1"
    assert r.http_version == "HTTP/1.1"
    assert isinstance(r.content, bytes)
    assert r.json()["args"] == {"a": "1"}
    assert r.headers["content-type"] == "application/json"
    assert repr(r) == "<Response [200 OK]>"
    assert r.is_success and not r.is_error and not r.is_redirect
    assert r.raise_for_status() is r


def test_response_not_constructible():
    with pytest.raises(TypeError):
        httpr.Response()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (200, "OK"),
        (201, "Created"),
        (404, "Not Found"),
        (418, "I'm a teapot"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
    ],
    ids=["200", "201", "404", "418", "500", "503"],
)
def test_reason_phrase_canonical(client, httpbin, code, reason):
    r = client.get(f"{httpbin.url}/status/{code}")
    assert r.status_code == code
    assert r.reason_phrase == reason
    assert repr(r) == f"<Response [{code} {reason}]>"


def test_reason_phrase_is_canonical_not_wire(client, scripted_server):
    scripted_server.set_script([serve(response(404, b"x", reason="Whatever The Server Says"))])
    assert client.get(scripted_server.url + "/").reason_phrase == "Not Found"


def test_reason_phrase_unknown_code_is_empty(client, scripted_server):
    scripted_server.set_script([serve(response(299, b"x", reason="Custom"))])
    r = client.get(scripted_server.url + "/")
    assert r.status_code == 299
    assert r.reason_phrase == ""


@pytest.mark.parametrize(
    ("code", "flags"),
    [
        (200, {"is_success"}),
        (204, {"is_success"}),
        (301, {"is_redirect"}),
        (304, {"is_redirect"}),
        (404, {"is_client_error", "is_error"}),
        (500, {"is_server_error", "is_error"}),
    ],
)
def test_is_flags(http_server, code, flags):
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(f"{http_server.url}/status/{code}")
    all_flags = [
        "is_informational",
        "is_success",
        "is_redirect",
        "is_client_error",
        "is_server_error",
        "is_error",
    ]
    assert {f for f in all_flags if getattr(r, f)} == flags


def test_has_redirect_location(httpbin):
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        assert c.get(httpbin.url + "/redirect/1").has_redirect_location is True
        # 3xx without Location
        assert c.get(httpbin.url + "/status/304").has_redirect_location is False
        # 300 is not in {301,302,303,307,308}
        r = c.get(httpbin.url + "/response-headers", params={"Location": "/x"})
        assert r.status_code == 200 and r.has_redirect_location is False


def test_head_has_empty_content(client, httpbin):
    r = client.head(httpbin.url + "/get")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) > 0


# -- raise_for_status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (404, "Client error", "Not Found"),
        (418, "Client error", "I'm a teapot"),
        (500, "Server error", "Internal Server Error"),
        (503, "Server error", "Service Unavailable"),
    ],
    ids=["404", "418", "500", "503"],
)
def test_raise_for_status_message(client, httpbin, code, kind, reason):
    url = f"{httpbin.url}/status/{code}"
    r = client.get(url)
    with pytest.raises(httpr.HTTPStatusError) as ei:
        r.raise_for_status()
    assert (
        str(ei.value)
        == f"{kind} '{code} {reason}' for url '{url}'\nFor more information check: {MDN}{code}"
    )


def test_raise_for_status_redirect_with_location(httpbin):
    url = httpbin.url + "/redirect-to?url=%2Fget&status_code=302"
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(url)
    with pytest.raises(httpr.HTTPStatusError) as ei:
        r.raise_for_status()
    assert str(ei.value) == (
        f"Redirect response '302 Found' for url '{url}'\n"
        f"Redirect location: '/get'\n"
        f"For more information check: {MDN}302"
    )


def test_raise_for_status_redirect_without_location(http_server):
    with httpr.Client(follow_redirects=False, timeout=10) as c:
        r = c.get(http_server.url + "/status/304")
    with pytest.raises(httpr.HTTPStatusError) as ei:
        r.raise_for_status()
    assert str(ei.value) == (
        f"Redirect response '304 Not Modified' for url '{http_server.url}/status/304'\n"
        f"For more information check: {MDN}304"
    )


def test_raise_for_status_unknown_code(client, scripted_server):
    scripted_server.set_script([serve(response(599, b"x", reason="Odd"))])
    url = scripted_server.url + "/odd"
    with pytest.raises(httpr.HTTPStatusError) as ei:
        client.get(url).raise_for_status()
    assert (
        str(ei.value)
        == f"Server error '599 ' for url '{url}'\nFor more information check: {MDN}599"
    )


@pytest.mark.parametrize("code", [200, 201, 204])
def test_raise_for_status_returns_self_for_2xx(client, httpbin, code):
    r = client.get(f"{httpbin.url}/status/{code}")
    assert r.raise_for_status() is r


def test_http_status_error_is_http_error():
    assert issubclass(httpr.HTTPStatusError, httpr.HTTPError)
    assert not issubclass(httpr.HTTPStatusError, httpr.RequestError)


# -- encoding and text -----------------------------------------------------------------------


def test_encoding_from_charset_param(client, http_server):
    r = client.get(
        parts_url(http_server, "h\xe9".encode("latin-1"), ct='text/plain; charset="ISO-8859-1"')
    )
    assert r.encoding == "iso-8859-1"
    assert r.text == "hé"
    assert r.encoding == "windows-1252"  # rewritten to the WHATWG canonical name


def test_encoding_charset_must_be_first_parameter(client, http_server):
    r = client.get(
        parts_url(http_server, "é".encode(), ct="text/plain; format=flowed; charset=latin-1")
    )
    assert r.encoding == "utf-8"


def test_encoding_json_is_utf8(client, http_server):
    r = client.get(parts_url(http_server, '{"k": "é"}'.encode(), ct="application/json"))
    assert r.encoding == "utf-8"
    assert r.json() == {"k": "é"}


def test_encoding_sniffed_from_body(client, http_server):
    body = b'<html><head><meta charset="windows-1251"></head><body>\xcf\xf0\xe8\xe2\xe5\xf2</body></html>'
    r = client.get(parts_url(http_server, body, ct="text/html"))
    assert r.encoding == "windows-1251"
    assert "Привет" in r.text


def test_encoding_sniff_limited_to_2048_bytes(client, http_server):
    body = b" " * 3000 + b'<meta charset="windows-1251">'
    r = client.get(parts_url(http_server, body, ct="text/html"))
    assert r.encoding == "utf-8"


def test_encoding_default_utf8(client, http_server):
    r = client.get(parts_url(http_server, "ünïcode".encode(), ct="text/plain"))
    assert r.encoding == "utf-8"
    assert r.text == "ünïcode"
    assert r.encoding == "UTF-8"


def test_encoding_setter_and_reset(client, http_server):
    r = client.get(parts_url(http_server, "é".encode(), ct="text/plain; charset=utf-8"))
    r.encoding = "latin-1"
    assert r.encoding == "latin-1"
    assert r.text == "Ã©"
    r.encoding = ""
    assert r.encoding in ("utf-8", "UTF-8")
    assert r.text == "é"


def test_text_replacement_chars_and_bom(client, http_server):
    r = client.get(parts_url(http_server, b"ok\xff\xfe!", ct="text/plain; charset=utf-8"))
    assert r.text == "ok\ufffd\ufffd!"
    r = client.get(parts_url(http_server, b"\xef\xbb\xbfbom", ct="text/plain; charset=utf-8"))
    assert r.text == "bom"


def test_unknown_charset_runtime_error(client, http_server):
    r = client.get(parts_url(http_server, b"x", ct="text/plain; charset=klingon"))
    with pytest.raises(RuntimeError) as ei:
        r.text  # noqa: B018
    assert str(ei.value).startswith("Unsupported charset: ")


def test_encoding_utf8_httpbin(client, httpbin):
    r = client.get(httpbin.url + "/encoding/utf8")
    assert "∮ E⋅da = Q" in r.text
    r = client.get(httpbin.url + "/html")
    assert "Herman Melville" in r.text


# -- json ------------------------------------------------------------------------------------


def test_json_httpbin(client, httpbin):
    data = client.get(httpbin.url + "/json").json()
    assert data["slideshow"]["author"] == "Yours Truly"


def test_json_preserves_key_order(client, http_server):
    r = client.get(parts_url(http_server, b'{"z": 1, "a": 2, "m": 3}', ct="application/json"))
    assert list(r.json()) == ["z", "a", "m"]


def test_json_error_class(client, httpbin):
    r = client.get(httpbin.url + "/html")
    with pytest.raises(json.JSONDecodeError):
        r.json()
    with pytest.raises(RuntimeError):
        r.json()
    assert issubclass(httpr.JSONDecodeError, RuntimeError)
    assert issubclass(httpr.JSONDecodeError, json.JSONDecodeError)


def test_json_error_on_empty_body(client, http_server):
    r = client.get(http_server.url + "/status/204")
    with pytest.raises(json.JSONDecodeError):
        r.json()


# -- headers map -------------------------------------------------------------------------------


def test_headers_map_members(client, http_server):
    r = client.get(http_server.url + "/multi-header")
    h = r.headers
    assert isinstance(h, httpr.CaseInsensitiveHeaderMap)
    assert h["X-MULTI"] == "c"  # last value wins
    assert h.get("x-multi") == "c"
    assert h.get("missing") == ""
    assert h.get("missing", "d") == "d"
    assert "X-Multi" in h and "missing" not in h
    assert (
        isinstance(h.keys(), list) and isinstance(h.values(), list) and isinstance(h.items(), list)
    )
    assert h.keys().count("x-multi") == 1
    assert all(k == k.lower() for k in h.keys())  # noqa: SIM118 - keys() is a list here
    assert list(iter(h)) == h.keys()
    assert ("x-multi", "c") in h.items()
    assert dict(h)["content-length"] == "5"
    with pytest.raises(KeyError) as ei:
        h["Missing-Header"]
    assert ei.value.args[0] == "Header key 'Missing-Header' not found"


def test_headers_get_all(client, http_server):
    h = client.get(http_server.url + "/multi-header").headers
    assert h.get_all("x-multi") == ["a", "b", "c"]
    assert h.get_all("X-Multi") == ["a", "b", "c"]
    assert h.get_all("content-length") == ["5"]
    assert h.get_all("missing") == []


def test_set_cookie_get_all(client, http_server):
    url = http_server.url + "/set-cookie?c=a%3D1&c=b%3D2"
    with httpr.Client(cookie_store=False, timeout=10) as c:
        h = c.get(url).headers
    assert h.get_all("set-cookie") == ["a=1", "b=2"]
    assert h["set-cookie"] == "b=2"


def test_empty_header_map_constructor():
    h = httpr.CaseInsensitiveHeaderMap()
    assert h.keys() == [] and h.get("x") == ""
