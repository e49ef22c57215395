"""Shared fixtures for the httpr test suite.

Fixtures
--------
``http_server`` (session)
    :class:`servers.httpserver.HTTPServer`: keep-alive HTTP/1.1 server on
    127.0.0.1; ``.url`` is the base URL (``http://127.0.0.1:PORT``),
    ``.connections_accepted`` counts TCP connections.
``scripted_server`` (function)
    :class:`servers.scripted.ScriptedServer`, already listening, default script
    ``[serve()]``; call ``.set_script(...)`` before the request. Stopped at
    teardown, and the test fails if one of its threads is still alive.
``closed_port`` (function)
    a TCP port on 127.0.0.1 where nothing listens (for ConnectError).
``fd_count`` (function)
    the function :func:`fd_count` (open fds of this process).
``loop_factory`` (function, params "asyncio"/"uvloop")
    an event-loop factory, for tests that create loops themselves (threads).

Every ``async def`` test marked ``@pytest.mark.asyncio`` runs twice: on stock
asyncio and on uvloop (ids ``[asyncio]`` / ``[uvloop]``; uvloop is skipped
when it is not installed). With pytest-asyncio >= 1.x this uses the
``pytest_asyncio_loop_factories`` hook; older versions get the
``event_loop_policy`` fixture parametrized the same way.

Every test gets a 60 s timeout (pytest-timeout) unless it sets its own with
``@pytest.mark.timeout(n)``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers.helpers import fd_count, wait_for_fds, wait_until  # noqa: F401
from servers.httpserver import HTTPServer
from servers.scripted import ScriptedServer

try:
    import uvloop
except ImportError:  # pragma: no cover - depends on the environment
    uvloop = None

try:
    import pytest_asyncio.plugin as _pa_plugin

    _HAS_LOOP_FACTORY_HOOK = hasattr(_pa_plugin, "PytestAsyncioSpecs")
except ImportError:  # pragma: no cover
    _HAS_LOOP_FACTORY_HOOK = False

DEFAULT_TIMEOUT = 60


# -- pytest configuration -----------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test timeout (pytest-timeout)")
    config.addinivalue_line("markers", "asyncio: run an async test on asyncio and uvloop")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


def _loop_factories():
    factories = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories


if _HAS_LOOP_FACTORY_HOOK:

    @pytest.hookimpl(optionalhook=True)
    def pytest_asyncio_loop_factories(config, item):
        return _loop_factories()

else:  # pragma: no cover - older pytest-asyncio

    @pytest.fixture(
        params=[
            pytest.param("asyncio", id="asyncio"),
            pytest.param(
                "uvloop",
                id="uvloop",
                marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"),
            ),
        ]
    )
    def event_loop_policy(request):
        if request.param == "uvloop":
            return uvloop.EventLoopPolicy()
        return asyncio.DefaultEventLoopPolicy()


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def http_server():
    server = HTTPServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted_server():
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.stop()  # raises if a thread is left behind
        assert not any(t.is_alive() for t in server.threads())


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 with no listener (bound once, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(name="fd_count")
def fd_count_fixture():
    return fd_count


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(
            "uvloop",
            id="uvloop",
            marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"),
        ),
    ]
)
def loop_factory(request):
    """A callable returning a new event loop of the parametrized flavour."""
    return _loop_factories()[request.param]


@pytest.fixture
def run_in_threads():
    """Run callables on threads; re-raise the first exception; join with a timeout."""

    def runner(funcs, timeout: float = 30.0):
        results = [None] * len(funcs)
        errors: list[BaseException] = []

        def wrap(i, f):
            try:
                results[i] = f()
            except BaseException as e:  # noqa: BLE001 - reported to the test
                errors.append(e)

        threads = [
            threading.Thread(target=wrap, args=(i, f), daemon=True) for i, f in enumerate(funcs)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        assert not alive, f"{len(alive)} thread(s) still running after {timeout}s"
        if errors:
            raise errors[0]
        return results

    return runner
