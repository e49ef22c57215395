"""The native module (src/py/): the engine's thin CPython binding.

Contract: src/py/README.md. Only `httpr/*.py` imports this; the public API is
the Python package.
"""

import asyncio
from typing import Any, TypeAlias

from typing_extensions import Self

# A request body: bytes, or a list of bytes (sent as they are) and str (paths
# of files the engine streams from disk, with Transfer-Encoding: chunked).
_Body: TypeAlias = bytes | list[bytes | str] | None

class ResponseBase:
    """Instances are created by the engine (no ``__init__`` call)."""

    @property
    def status_code(self) -> int: ...
    @property
    def http_version(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    @property
    def _raw_headers(self) -> bytes: ...
    def _json_native(self) -> Any: ...

class StreamBase:
    """A response whose body is read as it arrives; created by the engine."""

    @property
    def status_code(self) -> int: ...
    @property
    def http_version(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def _raw_headers(self) -> bytes: ...
    @property
    def _eof(self) -> bool: ...
    # The decoded bytes buffered so far (waiting, GIL released, when there are
    # none); b"" once the body is complete.
    def _read(self) -> bytes: ...
    # One _read() as a future of the running loop; at most one outstanding.
    def _aread(self) -> asyncio.Future[bytes]: ...
    def _close(self) -> None: ...

class Handle:
    """An asynchronous request in flight."""

    @property
    def future(self) -> asyncio.Future[Any]: ...
    def cancel(self) -> None: ...

class RClient:
    # Allocates and ignores its arguments (the Python subclass consumes them).
    def __new__(cls, *args: Any, **kwargs: Any) -> Self: ...
    def _configure(
        self, max_inflight: int, max_conns_per_origin: int, idle_timeout: float, /
    ) -> None: ...
    def _configure_http(
        self,
        follow_redirects: bool,
        max_redirects: int,
        referer: bool,
        cookie_store: bool,
        https_only: bool,
        /,
    ) -> None: ...
    def _configure_tls(
        self, verify: bool, ca_pem: bytes | None, identity_pem: bytes | None, /
    ) -> None: ...
    # Returns an instance of the response type registered with _init().
    def _request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: _Body,
        timeout: float | None,
        /,
    ) -> Any: ...
    # handle.future resolves to an instance of the response type.
    def _submit(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: _Body,
        timeout: float | None,
        /,
    ) -> Handle: ...
    # Returns an instance of the stream type registered with _init().
    def _stream(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: _Body,
        timeout: float | None,
        /,
    ) -> StreamBase: ...
    # handle.future resolves to an instance of the stream type.
    def _submit_stream(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: _Body,
        timeout: float | None,
        /,
    ) -> Handle: ...
    def _close(self) -> None: ...

def _init(
    exceptions: dict[str, type[BaseException]],
    response_type: type[ResponseBase],
    stream_type: type[StreamBase] | None = None,
    /,
) -> None: ...
def _debug_stats() -> dict[str, int]: ...
def _test_hooks(complete_delay_us: int, drain_max: int = ..., /) -> int: ...
def _shutdown() -> None: ...
def _mem_policy(*args: int) -> None: ...
def _mem_trim() -> None: ...

# JSON bytes (UTF-8) to Python objects, equal to json.loads of the text; ValueError for
# anything it does not accept (the caller then lets json decide and word the error).
def _json_loads(data: bytes | bytearray | memoryview, /) -> Any: ...
