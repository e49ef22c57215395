"""CONTRACT §6, §13: the AsyncClient API surface (methods, validation, setters, the cap)."""

from __future__ import annotations

import asyncio
import time

import httpr
import pytest
from servers.helpers import echoed

VERBS = ["get", "head", "options", "delete", "post", "put", "patch"]


@pytest.mark.parametrize("verb", VERBS)
def test_async_methods_are_coroutine_functions(verb):
    import inspect

    assert inspect.iscoroutinefunction(getattr(httpr.AsyncClient, verb))
    assert inspect.iscoroutinefunction(httpr.AsyncClient.request)
    assert inspect.iscoroutinefunction(httpr.AsyncClient.aclose)


async def test_async_verbs(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        for verb in VERBS:
            r = await getattr(c, verb)(http_server.url + "/echo")
            assert r.status_code == 200
            if verb != "head":
                assert r.json()["method"] == verb.upper()
        r = await c.request("PATCH", http_server.url + "/echo", content=b"x")
        assert r.json()["body"] == "x"


async def test_async_method_validation_before_io(scripted_server):
    async with httpr.AsyncClient(timeout=10) as c:
        with pytest.raises(ValueError) as ei:
            await c.request("get", scripted_server.url)
        assert str(ei.value) == "Unsupported HTTP method: get"
        with pytest.raises(TypeError):
            await c.get(scripted_server.url, follow_redirects=False)
        with pytest.raises(TypeError):
            await c.get(scripted_server.url, params="a=1")
    assert scripted_server.connection_count == 0


async def test_async_setters_are_sync_and_apply(http_server):
    async with httpr.AsyncClient(timeout=10) as c:
        c.headers = {"X-A": "1"}
        c.cookies = {"k": "v"}
        c.params = {"p": "1"}
        c.auth_bearer = "tok"
        c.timeout = 5
        d = (await c.get(http_server.url + "/echo")).json()
        assert echoed(d, "x-a") == ["1"]
        assert echoed(d, "cookie") == ["k=v"]
        assert echoed(d, "authorization") == ["Bearer tok"]
        assert d["query"] == "p=1"
        c.auth = ("u", "p")  # Basic beats the bearer
        d = (await c.get(http_server.url + "/echo")).json()
        assert echoed(d, "authorization")[0].startswith("Basic ")


@pytest.mark.timeout(30)
async def test_max_concurrency_caps_requests_in_flight(http_server):
    async with httpr.AsyncClient(max_concurrency=2, timeout=10) as c:
        t0 = time.monotonic()
        rs = await asyncio.gather(
            *[c.get(http_server.url + "/slow-head?delay=0.3") for _ in range(6)]
        )
        elapsed = time.monotonic() - t0
    assert all(r.status_code == 200 for r in rs)
    assert elapsed >= 0.85, elapsed  # three waves of two


@pytest.mark.timeout(30)
async def test_max_concurrency_none_is_uncapped(http_server):
    async with httpr.AsyncClient(max_concurrency=None, timeout=10) as c:
        t0 = time.monotonic()
        rs = await asyncio.gather(
            *[c.get(http_server.url + "/slow-head?delay=0.3") for _ in range(80)]
        )
        elapsed = time.monotonic() - t0
    assert len(rs) == 80
    assert elapsed < 1.5, elapsed


async def test_async_stream_metadata_and_client_subclass(http_server):
    c = httpr.AsyncClient(timeout=10)
    assert isinstance(c, httpr.Client)
    async with c.stream("GET", http_server.url + "/hello") as r:
        assert r.status_code == 200
        assert await r.aread() == b"Hello world!"
    await c.aclose()
    await c.aclose()  # idempotent
    assert c.is_closed


async def test_subclass_overriding_request_sees_every_verb(http_server):
    """The verbs submit directly, not through request(); a subclass that overrides
    request() (to log, retry, add headers...) must still see every verb."""
    seen = []

    class Logged(httpr.AsyncClient):
        async def request(self, method, url, **kwargs):
            seen.append(method)
            return await super().request(method, url, **kwargs)

    class Deeper(Logged):
        pass

    for cls in (Logged, Deeper):
        seen.clear()
        async with cls(timeout=10) as c:
            for verb in VERBS:
                r = await getattr(c, verb)(http_server.url + "/echo")
                assert r.status_code == 200
        assert seen == [v.upper() for v in VERBS]
    assert Logged.get.__doc__ == httpr.AsyncClient.get.__doc__

    # a subclass that leaves request() alone keeps the direct verbs
    class Plain(httpr.AsyncClient):
        pass

    assert Plain.get is httpr.AsyncClient.get


@pytest.mark.parametrize("verb", ["request", *VERBS])
async def test_cancelling_any_verb_aborts_its_request(verb, scripted_server):
    from servers.scripted import READ, STALL, serve

    scripted_server.set_script([READ, STALL], [serve()])
    async with httpr.AsyncClient(timeout=30) as c:
        url = scripted_server.url + "/stall"
        call = c.request("PUT", url) if verb == "request" else getattr(c, verb)(url)
        task = asyncio.create_task(call)
        deadline = time.monotonic() + 5
        while not scripted_server.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the stalled exchange was aborted: its connection closes, the next request works
        deadline = time.monotonic() + 5
        while not scripted_server.connections[0].closed.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert scripted_server.connections[0].closed.is_set(), "cancelled request left open"
        assert (await c.get(scripted_server.url + "/next")).content == b"ok"
