"""CONTRACT §2.2, §6: close(), reopen with ClientReopenedWarning, in-flight work survives close().

(tests/test_06_lifecycle.py covers the pool side; this module covers the API rules.)
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings

import httpr
import pytest
from servers.helpers import echoed, wait_until
from servers.httpserver import HELLO

REOPEN_PREFIX = "Request made on a closed httpr client; reopening it with a fresh connection pool."
TRICKLE = "/slow-body?delay=0.1&chunks=5&size=10"


def test_warning_class():
    assert issubclass(httpr.ClientReopenedWarning, ResourceWarning)
    assert issubclass(httpr.ClientClosed, RuntimeError)


def test_reopen_warns_once_with_message(http_server):
    c = httpr.Client(timeout=10)
    assert c.get(http_server.url + "/hello").content == HELLO
    c.close()
    assert c.is_closed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert c.get(http_server.url + "/hello").content == HELLO
        assert c.get(http_server.url + "/hello").content == HELLO
    reopen = [w for w in caught if issubclass(w.category, httpr.ClientReopenedWarning)]
    assert len(reopen) == 1, [str(w.message) for w in caught]
    assert str(reopen[0].message).startswith(REOPEN_PREFIX)
    assert reopen[0].filename == __file__  # points at the caller
    assert not c.is_closed
    c.close()


def test_reopen_as_error_sends_nothing(scripted_server):
    c = httpr.Client(timeout=10)
    c.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", httpr.ClientReopenedWarning)
        with pytest.raises(httpr.ClientReopenedWarning):
            c.get(scripted_server.url + "/")
        with pytest.raises(httpr.ClientReopenedWarning), c.stream("GET", scripted_server.url + "/"):
            pass
    time.sleep(0.2)
    assert scripted_server.connection_count == 0
    assert c.is_closed


def test_settings_carry_over_reopen(http_server):
    c = httpr.Client(
        headers={"X-H": "1"},
        params={"p": "1"},
        auth_bearer="tok",
        cookies={"c": "1"},
        timeout=7,
    )
    c.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpr.ClientReopenedWarning)
        d = c.get(http_server.url + "/echo").json()
    assert echoed(d, "x-h") == ["1"]
    assert d["query"] == "p=1"
    assert echoed(d, "authorization") == ["Bearer tok"]
    assert echoed(d, "cookie") == ["c=1"]
    assert c.timeout == 7
    c.close()


def test_close_idempotent_and_context_manager():
    c = httpr.Client()
    c.close()
    c.close()
    assert c.is_closed
    with httpr.Client() as c2:
        assert c2.is_closed is False
    assert c2.is_closed is True


def test_open_stream_survives_close(client_factory, http_server):
    c = client_factory()
    with c.stream("GET", http_server.url + TRICKLE) as r:
        first = next(r)
        c.close()
        assert c.is_closed
        rest = r.read()
    assert len(first + rest) == 50


def test_in_flight_request_survives_close(http_server):
    c = httpr.Client(timeout=10)
    result: dict = {}

    def run() -> None:
        try:
            result["r"] = c.get(http_server.url + "/slow-head?delay=0.5")
        except BaseException as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    assert wait_until(lambda: http_server.active_connections > 0, 5)
    time.sleep(0.1)
    c.close()
    t.join(10)
    assert "e" not in result, result.get("e")
    assert result["r"].content == HELLO


def test_generator_consumed_after_with_block(http_server):
    # the pyvespa pattern (CONTRACT §11): a lazy generator used after the with block
    def pages():
        with httpr.Client(timeout=10) as c:
            yield c.get(http_server.url + "/id/one").text
            yield c.get(http_server.url + "/id/two").text

    def lazy():
        with httpr.Client(timeout=10) as c:
            return (c.get(http_server.url + f"/id/{i}").text for i in ("a", "b"))

    assert list(pages()) == ["one", "two"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", httpr.ClientReopenedWarning)
        assert list(lazy()) == ["a", "b"]


async def test_async_reopen_warns(http_server):
    c = httpr.AsyncClient(timeout=10)
    await c.aclose()
    assert c.is_closed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = await c.get(http_server.url + "/hello")
    assert r.content == HELLO
    msgs = [str(w.message) for w in caught if issubclass(w.category, httpr.ClientReopenedWarning)]
    assert len(msgs) == 1 and msgs[0].startswith(REOPEN_PREFIX)
    await c.aclose()


async def test_async_aclose_does_not_abort_in_flight(http_server):
    c = httpr.AsyncClient(timeout=10)
    task = asyncio.ensure_future(c.get(http_server.url + "/slow-head?delay=0.4"))
    await asyncio.sleep(0.15)
    t0 = time.monotonic()
    await c.aclose()
    assert time.monotonic() - t0 < 0.1  # aclose never waits on I/O
    r = await task
    assert r.content == HELLO


async def test_async_context_manager_closes():
    async with httpr.AsyncClient() as c:
        assert not c.is_closed
    assert c.is_closed


@pytest.fixture
def client_factory():
    made: list[httpr.Client] = []

    def make(**kw):
        kw.setdefault("timeout", 10)
        c = httpr.Client(**kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
