"""CONTRACT §2.5: request bodies — content, data, json, files (multipart, streamed)."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import httpr
import pytest
from servers.helpers import echoed


@pytest.fixture
def client():
    with httpr.Client(timeout=10) as c:
        yield c


def post_echo(client, server, method="POST", **kw) -> dict:
    r = client.request(method, server.url + "/echo", **kw)
    assert r.status_code == 200
    return r.json()


def body_of(d: dict) -> bytes:
    return base64.b64decode(d["body_b64"])


def parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Minimal multipart/form-data parser: [(part headers lowercased, part body)]."""
    assert content_type.startswith("multipart/form-data"), content_type
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    delim = b"--" + boundary
    assert body.startswith(delim), body[:100]
    assert body.rstrip(b"\r\n").endswith(delim + b"--"), body[-100:]
    parts = []
    for chunk in body.split(delim)[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n"), chunk[:60]
        head, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        parts.append((headers, content))
    return parts


# -- content / json ------------------------------------------------------------------------


def test_content_bytes_no_content_type(client, http_server):
    d = post_echo(client, http_server, content=b"\x00\x01raw")
    assert body_of(d) == b"\x00\x01raw"
    assert echoed(d, "content-type") == []
    assert echoed(d, "content-length") == ["5"]


def test_json_body_compact_with_content_type(client, http_server):
    payload = {"b": [1, 2.5, None, True], "a": {"nested": "é"}}
    d = post_echo(client, http_server, json=payload)
    assert echoed(d, "content-type") == ["application/json"]
    raw = body_of(d)
    assert json.loads(raw) == payload
    assert b": " not in raw and b", " not in raw  # compact


@pytest.mark.parametrize("value", [[1, 2, 3], "text", 42, 1.5, True, False, {}])
def test_json_any_serialisable_value(client, http_server, value):
    # (json=None means "no json body", as every other kwarg's None)
    d = post_echo(client, http_server, json=value)
    assert json.loads(body_of(d)) == value


def test_json_on_httpbin(client, httpbin):
    r = client.post(httpbin.url + "/post", json={"key": "value"})
    assert r.json()["json"] == {"key": "value"}


@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS", "PUT", "PATCH", "POST"])
def test_bodies_sent_on_every_method(client, http_server, method):
    # issue #83: DELETE/OPTIONS/GET bodies are not dropped
    d = post_echo(client, http_server, method=method, json={"k": method})
    assert d["method"] == method
    assert json.loads(body_of(d)) == {"k": method}


def test_body_precedence_last_wins(client, http_server, test_files):
    d = post_echo(client, http_server, content=b"c", data={"d": "1"})
    assert body_of(d) == b"d=1"
    d = post_echo(client, http_server, content=b"c", data={"d": "1"}, json={"j": 1})
    assert json.loads(body_of(d)) == {"j": 1}
    d = post_echo(client, http_server, json={"j": 1}, files={"f": test_files[0]})
    assert echoed(d, "content-type")[0].startswith("multipart/form-data")


# -- files (multipart) ------------------------------------------------------------------------


def test_files_multipart_streamed_chunked(client, http_server, test_files):
    d = post_echo(client, http_server, files={"file1": test_files[0], "file2": test_files[1]})
    assert echoed(d, "transfer-encoding") == ["chunked"]
    assert echoed(d, "content-length") == []
    (ct,) = echoed(d, "content-type")
    parts = parse_multipart(ct, body_of(d))
    assert len(parts) == 2
    got = {}
    for headers, content in parts:
        disp = headers["content-disposition"]
        assert disp.startswith("form-data;")
        name = disp.split('name="', 1)[1].split('"', 1)[0]
        filename = disp.split('filename="', 1)[1].split('"', 1)[0]
        assert name == filename  # the filename is the FIELD name, not img1.png
        assert "content-type" not in headers  # no per-part Content-Type
        got[name] = content
    assert got == {"file1": b"aaa111", "file2": b"bbb222"}


def test_files_on_httpbin(client, httpbin, test_files):
    r = client.post(httpbin.url + "/post", files={"upload": test_files[0]})
    assert r.status_code == 200
    assert r.json()["files"] == {"upload": "aaa111"}


def test_large_file_upload_streamed(client, http_server, tmp_path):
    blob = os.urandom(3 << 20)
    f = tmp_path / "big.bin"
    f.write_bytes(blob)
    d = post_echo(client, http_server, files={"big": str(f)})
    assert echoed(d, "transfer-encoding") == ["chunked"]
    ((headers, content),) = parse_multipart(echoed(d, "content-type")[0], body_of(d))
    assert 'name="big"' in headers["content-disposition"]
    assert content == blob


@pytest.mark.parametrize("size", [0, 1, 6 << 20])
def test_bytes_body_larger_than_the_socket_buffer(client, http_server, size):
    """A bytes body goes out with the head in one write; what the socket does not take at
    once (6 MiB is far more than a loopback send buffer) is queued and follows in order."""
    blob = os.urandom(size)
    d = post_echo(client, http_server, content=blob)
    assert echoed(d, "content-length") == [str(size)]
    assert body_of(d) == blob
    d = post_echo(client, http_server, content=b"after")  # the connection is still in step
    assert body_of(d) == b"after"


@pytest.mark.asyncio
async def test_async_bytes_body_larger_than_the_socket_buffer(http_server):
    blobs = [os.urandom(6 << 20) for _ in range(2)]
    async with httpr.AsyncClient(timeout=30) as c:
        rs = await asyncio.gather(*(c.post(http_server.url + "/echo", content=b) for b in blobs))
    assert [base64.b64decode(r.json()["body_b64"]) for r in rs] == blobs


def test_missing_upload_file_is_request_error(client, scripted_server, tmp_path):
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(httpr.RequestError) as ei:
        client.post(scripted_server.url + "/", files={"f": missing})
    assert "nope.bin" in str(ei.value)
    # the client is still usable
    assert client.get(scripted_server.url + "/").status_code == 200


@pytest.mark.asyncio
async def test_async_files_multipart(http_server, test_files):
    async with httpr.AsyncClient(timeout=10) as c:
        r = await c.post(http_server.url + "/echo", files={"a": test_files[1]})
    d = r.json()
    assert echoed(d, "transfer-encoding") == ["chunked"]
    ((headers, content),) = parse_multipart(echoed(d, "content-type")[0], body_of(d))
    assert 'name="a"' in headers["content-disposition"]
    assert 'filename="a"' in headers["content-disposition"]
    assert content == b"bbb222"


@pytest.mark.asyncio
async def test_async_json_and_data(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        r = await c.post(http_server.url + "/echo", json={"a": 1})
        assert json.loads(body_of(r.json())) == {"a": 1}
        r = await c.put(http_server.url + "/echo", data={"x": "1"})
        assert r.json()["body"] == "x=1"
        r = await c.delete(http_server.url + "/echo", json={"d": True})
        assert json.loads(body_of(r.json())) == {"d": True}
