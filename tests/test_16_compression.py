"""CONTRACT §5.3 and reliability §2.5: content codings decoded, bombs and corrupt streams.

httpbin serves /gzip, /deflate and /brotli; ``http_server``'s /encoded/<codings> serves
zstd, raw deflate, chains, unknown codings, corrupt/truncated streams and bombs
(see servers/payloads.py).
"""

from __future__ import annotations

import asyncio

import httpr
import pytest
from servers.helpers import rss_bytes
from servers.payloads import BIG_SIZE, HUGE_SIZE, LARGE_PAYLOAD, PAYLOAD

CODINGS = ["gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd"]
BOMB_CODINGS = ["gzip", "deflate", "br", "zstd"]


@pytest.fixture
def client():
    with httpr.Client(timeout=30) as c:
        yield c


def encoded(server, codings: str, kind: str = "ok", chunked: bool = False) -> str:
    url = f"{server.url}/encoded/{codings}?kind={kind}"
    return url + "&chunked=1" if chunked else url


# -- httpbin -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "flag"), [("gzip", "gzipped"), ("deflate", "deflated"), ("brotli", "brotli")]
)
def test_httpbin_compressed_endpoints(client, httpbin, path, flag):
    r = client.get(f"{httpbin.url}/{path}")
    assert r.status_code == 200
    data = r.json()
    assert data[flag] is True
    # our default Accept-Encoding reached the server
    assert data["headers"]["Accept-Encoding"] == "gzip, br, zstd, deflate"
    assert "content-encoding" not in r.headers
    assert "content-length" not in r.headers


# -- every coding, buffered and streamed ------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("coding", CODINGS)
def test_coding_decoded(client, http_server, coding, chunked):
    r = client.get(encoded(http_server, coding, chunked=chunked))
    assert r.status_code == 200
    assert r.content == PAYLOAD
    assert "content-encoding" not in r.headers
    assert "content-length" not in r.headers
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == PAYLOAD.decode()


@pytest.mark.parametrize("codings", ["gzip,br", "deflate,gzip", "zstd,gzip,br"])
def test_coding_chains(client, http_server, codings):
    r = client.get(encoded(http_server, codings))
    assert r.content == PAYLOAD
    assert "content-encoding" not in r.headers


def test_unknown_coding_left_as_is(client, http_server):
    r = client.get(encoded(http_server, "x-unknown"))
    assert r.status_code == 200
    assert r.content == PAYLOAD
    assert r.headers["content-encoding"] == "x-unknown"


def test_head_with_content_encoding(client, http_server):
    r = client.head(encoded(http_server, "gzip"))
    assert r.status_code == 200
    assert r.content == b""


@pytest.mark.parametrize("coding", CODINGS)
def test_streamed_coding_decoded(client, http_server, coding):
    with client.stream("GET", encoded(http_server, coding, chunked=True)) as r:
        assert "content-encoding" not in r.headers
        body = b"".join(r.iter_bytes())
    assert body == PAYLOAD


@pytest.mark.asyncio
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
async def test_async_coding_decoded(http_server, coding):
    async with httpr.AsyncClient(timeout=30) as c:
        r = await c.get(encoded(http_server, coding))
        assert r.content == PAYLOAD
        async with c.stream("GET", encoded(http_server, coding, chunked=True)) as s:
            assert await s.aread() == PAYLOAD


@pytest.mark.timeout(60)
@pytest.mark.parametrize("coding", BOMB_CODINGS)
def test_large_but_legit_ratio_decodes(client, http_server, coding):
    # 16 MiB of zeros at ~1000:1: below the 64 MiB cap, so it must decode
    r = client.get(encoded(http_server, coding, "big"))
    assert len(r.content) == BIG_SIZE
    assert r.content.count(0) == BIG_SIZE


# -- bombs, corrupt and truncated streams -------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("coding", BOMB_CODINGS)
def test_bomb_is_decoding_error(client, http_server, coding):
    before = rss_bytes()
    with pytest.raises(httpr.DecodingError) as ei:
        client.get(encoded(http_server, coding, "bomb"))
    assert "bomb" in str(ei.value).lower()
    # 128 MiB were never materialised (the cap is 64 MiB)
    assert rss_bytes() - before < 100 << 20
    # the client is usable afterwards
    assert client.get(encoded(http_server, coding)).content == PAYLOAD


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_corrupt_stream_is_decoding_error(client, http_server, coding, kind):
    with pytest.raises(httpr.DecodingError):
        client.get(encoded(http_server, coding, kind))
    assert client.get(encoded(http_server, coding)).content == PAYLOAD


def test_garbage_after_gzip_member_is_decoding_error(client, http_server):
    with pytest.raises(httpr.DecodingError):
        client.get(encoded(http_server, "gzip", "trailing"))


def test_decoding_error_is_a_request_error():
    assert issubclass(httpr.DecodingError, httpr.RequestError)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_streamed_corrupt_is_decoding_error(client, http_server, coding):
    with client.stream("GET", encoded(http_server, coding, "corrupt", chunked=True)) as r:
        assert r.status_code == 200
        with pytest.raises(httpr.DecodingError):
            r.read()
    assert client.get(encoded(http_server, coding)).content == PAYLOAD


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_async_bomb_and_corrupt(http_server):
    async with httpr.AsyncClient(timeout=30) as c:
        with pytest.raises(httpr.DecodingError):
            await c.get(encoded(http_server, "zstd", "bomb"))
        with pytest.raises(httpr.DecodingError):
            await c.get(encoded(http_server, "gzip", "corrupt"))
        assert (await c.get(encoded(http_server, "gzip"))).content == PAYLOAD


# -- large buffered bodies: decoded whole, on the engine's thread pool --------------------------
# (an encoded body of 32 KiB or more is handed to libuv's thread pool once it is complete; a
# single gzip member goes through libdeflate, with zlib as the fallback)


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("coding", CODINGS)
def test_large_coding_decoded(client, http_server, coding, chunked):
    r = client.get(encoded(http_server, coding, "large", chunked=chunked))
    assert r.status_code == 200
    assert r.content == LARGE_PAYLOAD
    assert "content-encoding" not in r.headers
    assert "content-length" not in r.headers


@pytest.mark.parametrize("codings", ["gzip,br", "deflate,gzip", "zstd,gzip,br"])
def test_large_coding_chains(client, http_server, codings):
    assert client.get(encoded(http_server, codings, "large")).content == LARGE_PAYLOAD


def test_large_gzip_members_concatenated(client, http_server):
    # libdeflate reads one member: the rest must not be lost (zlib takes over)
    assert client.get(encoded(http_server, "gzip", "large-multi")).content == LARGE_PAYLOAD


def test_large_gzip_lying_trailer_is_decoding_error(client, http_server):
    # ISIZE one byte more than the data: libdeflate refuses, zlib names the error
    with pytest.raises(httpr.DecodingError, match="incorrect length check"):
        client.get(encoded(http_server, "gzip", "large-isize"))
    assert client.get(encoded(http_server, "gzip", "large")).content == LARGE_PAYLOAD


@pytest.mark.parametrize(
    ("coding", "kind"),
    [
        (coding, kind)
        for coding in ("gzip", "deflate", "br", "zstd")
        for kind in ("large-corrupt", "large-truncated", "large-trailing")
        # brotli has no checksum: bytes overwritten mid-stream may decode to other bytes
        if (coding, kind) != ("br", "large-corrupt")
    ],
)
def test_large_corrupt_is_decoding_error(client, http_server, coding, kind):
    with pytest.raises(httpr.DecodingError):
        client.get(encoded(http_server, coding, kind))
    assert client.get(encoded(http_server, coding, "large")).content == LARGE_PAYLOAD


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_large_streamed(client, http_server, coding):
    # streamed bodies are decoded on the loop thread as they arrive, never on the pool
    with client.stream("GET", encoded(http_server, coding, "large", chunked=True)) as r:
        assert b"".join(r.iter_bytes()) == LARGE_PAYLOAD


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_async_large_bodies_gathered(http_server):
    # many jobs on the pool at once, in every coding, with failures among them
    async with httpr.AsyncClient(timeout=30) as c:
        urls = [encoded(http_server, coding, "large") for coding in CODINGS] * 6
        bad = [encoded(http_server, "zstd", "large-corrupt")] * 4
        results = await asyncio.gather(*(c.get(u) for u in urls + bad), return_exceptions=True)
        assert all(r.content == LARGE_PAYLOAD for r in results[: len(urls)])
        assert all(isinstance(r, httpr.DecodingError) for r in results[len(urls) :])


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_async_cancel_and_close_while_decoding(http_server):
    # 48 MiB of zeros (below the bomb cap) take the pool tens of milliseconds to decode:
    # cancelling at many points in between lands in every phase, including the decoding;
    # none may crash, leak a request or keep the client busy.
    url = encoded(http_server, "gzip", "huge")
    for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08):
        async with httpr.AsyncClient(timeout=30) as c:
            task = asyncio.ensure_future(c.get(url))
            await asyncio.sleep(delay)
            task.cancel()
            try:
                r = await task
            except asyncio.CancelledError:
                pass
            else:
                assert len(r.content) == HUGE_SIZE
            assert (await c.get(encoded(http_server, "gzip", "large"))).content == LARGE_PAYLOAD
            # a decode still running when the client closes: in-flight requests finish
            pending = asyncio.ensure_future(c.get(url))
            await asyncio.sleep(delay)
        assert len((await pending).content) == HUGE_SIZE
