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
``httpbin`` (session)
    :class:`servers.httpbin_app.HttpbinServer`: the httpbin app (installed by
    pytest-httpbin) on waitress, 127.0.0.1, keep-alive and threaded. Overrides
    pytest-httpbin's fixture of the same name; ``httpbin + "/get"`` and
    ``.url`` work as with the plugin. ``base_url`` is ``httpbin.url``.
``other_scripted_server`` (function)
    a second :class:`servers.scripted.ScriptedServer` (another port, so another
    origin), for cross-origin redirects observed at the receiving server.
``test_files`` (session)
    two files: ``img1.png`` = b"aaa111", ``img2.png`` = b"bbb222" (paths).

Every ``async def`` test marked ``@pytest.mark.asyncio`` runs twice: on stock
asyncio and on uvloop (ids ``[asyncio]`` / ``[uvloop]``; uvloop is skipped
when it is not installed). With pytest-asyncio >= 1.x this uses the
``pytest_asyncio_loop_factories`` hook; older versions get the
``event_loop_policy`` fixture parametrized the same way.

Every test gets a 60 s timeout (pytest-timeout) unless it sets its own with
``@pytest.mark.timeout(n)``. pytest-timeout's SIGALRM cannot interrupt a uvloop
loop that waits in epoll with nothing to run (the Python-level handler only
runs when the loop calls back into Python), so async tests also get a watchdog
thread that cancels every task of the test's loop one second before the
timeout and fails the test: a hung future fails that test, not the whole run.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers.helpers import fd_count, wait_for_fds, wait_until  # noqa: F401
from servers.httpbin_app import HttpbinServer
from servers.httpserver import HTTPServer
from servers.scripted import ScriptedServer

try:
    import uvloop
except ImportError:  # pragma: no cover - depends on the environment
    uvloop = None

import pytest_asyncio

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


# every async test runs on both loop flavours (STYLE.md, after uvloop's own suite)
LOOP_FLAVOURS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"),
    ),
]


if _HAS_LOOP_FACTORY_HOOK:

    @pytest.hookimpl(optionalhook=True)
    def pytest_asyncio_loop_factories(config, item):
        return _loop_factories()

else:  # pragma: no cover - older pytest-asyncio

    @pytest.fixture(params=LOOP_FLAVOURS)
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


@pytest.fixture(params=LOOP_FLAVOURS)
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


@pytest.fixture(scope="session")
def httpbin():
    server = HttpbinServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def base_url(httpbin):
    return httpbin.url


@pytest.fixture
def other_scripted_server():
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def test_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    f1 = d / "img1.png"
    f1.write_bytes(b"aaa111")
    f2 = d / "img2.png"
    f2.write_bytes(b"bbb222")
    return str(f1), str(f2)


# -- async watchdog (see the module docstring) -------------------------------------


def _timeout_of(item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(DEFAULT_TIMEOUT)


@pytest_asyncio.fixture
async def _async_watchdog(request):
    loop = asyncio.get_running_loop()
    budget = max(1.0, _timeout_of(request.node) - 1.0)
    fired = threading.Event()

    def cancel_everything() -> None:
        fired.set()
        for task in asyncio.all_tasks(loop):
            task.cancel()

    def expire() -> None:
        try:
            loop.call_soon_threadsafe(cancel_everything)
        except RuntimeError:  # the loop is already closed
            pass

    timer = threading.Timer(budget, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if fired.is_set():
        pytest.fail(
            f"async watchdog: the test ran longer than {budget:.0f} s; its tasks were cancelled"
        )


@pytest.fixture(autouse=True)
def _watchdog_for_async_tests(request):
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        request.getfixturevalue("_async_watchdog")


# --- TLS fixtures (issue 4) ---------------------------------------------------------
#
# ``tls_certs`` (session)
#     :class:`servers.tls.CertSet`: the test CA (``.ca_pem``), an untrusted CA, server
#     certificates valid or broken in one way each, a client identity (``.client_pem``).
# ``tls_server`` (function)
#     :class:`servers.tls.TLSServer` with the valid certificate (DNS "localhost" + IP
#     127.0.0.1, issued by ``tls_certs.ca``), ALPN "http/1.1", default script
#     ``[serve()]``; records SNI/ALPN/version/session_reused/peer cert per connection.
# ``https_server`` / ``https_httpbin`` (function)
#     a TLS terminator (same certificate) in front of ``http_server`` / ``httpbin``:
#     every endpoint of those servers over https, one backend connection per TLS one.
# ``make_tls_server`` (function)
#     ``make_tls_server(cert_or_context, *scripts, handshake=True, **context_kw)``: more
#     TLS servers, all stopped at teardown.

from servers.tls import CertSet, ServerCert, TLSServer, pipe_to, server_context


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
    return CertSet(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_tls_server(tls_certs):
    started: list[TLSServer] = []

    def make(cert=None, *scripts, handshake: bool = True, **context_kw) -> TLSServer:
        if cert is None:
            cert = tls_certs.server
        ctx = server_context(cert, **context_kw) if isinstance(cert, ServerCert) else cert
        server = TLSServer(ctx, *scripts, handshake=handshake)
        started.append(server)
        return server

    try:
        yield make
    finally:
        errors = []
        for server in started:
            try:
                server.stop()
            except RuntimeError as e:
                errors.append(e)
        assert not errors, errors


@pytest.fixture
def tls_server(make_tls_server):
    return make_tls_server()


@pytest.fixture
def https_server(make_tls_server, http_server):
    return make_tls_server(None, pipe_to(http_server.port))


@pytest.fixture
def https_httpbin(make_tls_server, httpbin):
    return make_tls_server(None, pipe_to(httpbin.port))
