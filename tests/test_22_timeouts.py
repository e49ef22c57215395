"""CONTRACT §5.4, §4.2: the per-wait timeout (issue #81), on buffered, streamed and async bodies.

tests/test_05_faults.py covers the stall cases against scripted servers; this module
covers the API rules (defaults, None, overrides, the trickle rule, messages).
"""

from __future__ import annotations

import time

import httpr
import pytest

TRICKLE = "/slow-body?delay=0.3&chunks=5&size=10"  # 5 chunks, 0.3 s apart


@pytest.mark.timeout(20)
def test_trickle_completes_under_shorter_timeout(http_server):
    with httpr.Client(timeout=0.5) as c:
        t0 = time.monotonic()
        r = c.get(http_server.url + TRICKLE)
        assert len(r.content) == 50
        assert time.monotonic() - t0 > 1.4


@pytest.mark.timeout(20)
def test_trickle_completes_with_request_timeout(http_server):
    with httpr.Client(timeout=30) as c:
        assert len(c.get(http_server.url + TRICKLE, timeout=0.5).content) == 50


@pytest.mark.timeout(20)
def test_trickle_iter_text_and_lines(http_server):
    with httpr.Client(timeout=0.5) as c:
        with c.stream("GET", http_server.url + TRICKLE) as r:
            assert len("".join(r.iter_text())) == 50
        with c.stream("GET", http_server.url + TRICKLE) as r:
            assert len("".join(r.iter_lines())) == 50


@pytest.mark.timeout(20)
def test_header_wait_timeout_message(http_server):
    with httpr.Client(timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(httpr.ReadTimeout) as ei:
            c.get(http_server.url + "/slow-head?delay=2")
        assert time.monotonic() - t0 < 1.5
    assert str(ei.value).startswith("timed out after 0.3 s waiting for the response headers")
    assert isinstance(ei.value, httpr.TimeoutException)
    assert isinstance(ei.value, httpr.TransportError)


@pytest.mark.timeout(20)
def test_body_chunk_timeout_message(http_server):
    with httpr.Client(timeout=0.3) as c, pytest.raises(httpr.ReadTimeout) as ei:
        c.get(http_server.url + "/slow-body?delay=1.5&chunks=2&size=4")
    assert str(ei.value).startswith(
        "timed out after 0.3 s waiting for the next chunk of the response body"
    )


@pytest.mark.timeout(20)
def test_request_timeout_overrides_client(http_server):
    with httpr.Client(timeout=30) as c:
        with pytest.raises(httpr.ReadTimeout):
            c.get(http_server.url + "/slow-head?delay=2", timeout=0.2)
        assert c.timeout == 30


@pytest.mark.timeout(20)
def test_request_timeout_none_means_client_timeout(http_server):
    with httpr.Client(timeout=0.2) as c, pytest.raises(httpr.ReadTimeout):
        c.get(http_server.url + "/slow-head?delay=2", timeout=None)


@pytest.mark.timeout(20)
def test_client_timeout_none_disables(http_server):
    with httpr.Client(timeout=None) as c:
        assert c.get(http_server.url + "/slow-head?delay=0.6").status_code == 200


@pytest.mark.parametrize("bad", [-1, float("nan")])
def test_request_timeout_invalid_value_error(scripted_server, bad):
    with httpr.Client() as c, pytest.raises(ValueError):
        c.get(scripted_server.url + "/", timeout=bad)
    assert scripted_server.connection_count == 0


@pytest.mark.timeout(20)
def test_timeout_survives_proxy_rebuild(http_server):
    with httpr.Client(timeout=0.2) as c:
        c.proxy = None
        assert c.timeout == 0.2
        with pytest.raises(httpr.ReadTimeout):
            c.get(http_server.url + "/slow-head?delay=2")


@pytest.mark.timeout(20)
async def test_async_timeouts(http_server):
    async with httpr.AsyncClient(timeout=0.5) as c:
        r = await c.get(http_server.url + TRICKLE)
        assert len(r.content) == 50
        with pytest.raises(httpr.ReadTimeout):
            await c.get(http_server.url + "/slow-head?delay=2")
        with pytest.raises(httpr.ReadTimeout):
            await c.get(http_server.url + "/slow-head?delay=2", timeout=0.1)
        c.timeout = None
        assert (await c.get(http_server.url + "/slow-head?delay=0.7")).status_code == 200


@pytest.mark.timeout(20)
async def test_async_stream_trickle(http_server):
    async with httpr.AsyncClient(timeout=0.5) as c:
        async with c.stream("GET", http_server.url + TRICKLE) as r:
            assert len(await r.aread()) == 50
        async with c.stream("GET", http_server.url + TRICKLE) as r:
            assert len("".join([t async for t in r.aiter_text()])) == 50
