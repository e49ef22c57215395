"""The httpbin application (from the ``httpbin`` package that pytest-httpbin
installs) served by waitress on 127.0.0.1.

pytest-httpbin's own server is wsgiref's single-threaded ``WSGIServer`` with
``Connection: close`` on every response: one request at a time, so concurrent
tests (``/delay``, ``/drip``, two overlapping streams) would serialise and the
keep-alive path would never run. Waitress is a real HTTP/1.1 server: keep-alive,
chunked responses for bodies without a length, a pool of worker threads, and it
flushes each chunk an application yields (``/drip`` trickles for real).

The ``httpbin`` fixture in ``tests/conftest.py`` overrides pytest-httpbin's
fixture of the same name with this server; ``httpbin_secure`` (TLS, issue 4)
is still pytest-httpbin's.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urljoin

__all__ = ["HttpbinServer"]


class HttpbinServer:
    """httpbin on waitress; ``.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, host: str = "127.0.0.1", threads: int = 32):
        import waitress
        from httpbin import app

        # waitress logs a warning when every worker is busy; the tests that
        # hold workers on /delay or /drip do that on purpose.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server = waitress.create_server(
            app,
            host=host,
            port=0,
            threads=threads,
            ident="httpbin",
            channel_timeout=60,
            connection_limit=1000,
            expose_tracebacks=False,
        )
        self.host = host
        self.port = int(self._server.effective_port)  # type: ignore[union-attr]
        self.protocol = "http"
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.run, name="httpbin", daemon=True)
        self._thread.start()

    def __add__(self, other: str) -> str:  # pytest-httpbin compatibility: httpbin + "/get"
        return self.url + other

    def join(self, url: str) -> str:
        return urljoin(self.url, url)

    def url_for(self, path: str) -> str:
        return self.url + path

    def stop(self, timeout: float = 5.0) -> None:
        from waitress import wasyncore

        srv = self._server
        try:
            srv.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        finally:
            wasyncore.close_all(srv._map)  # type: ignore[union-attr]
        self._thread.join(timeout)

    def __enter__(self) -> HttpbinServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
