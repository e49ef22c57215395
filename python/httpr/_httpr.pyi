"""The native module (src/py/): the engine's thin CPython binding.

Contract: src/py/README.md. Only `httpr/*.py` imports this; the public API is
the Python package.
"""

import asyncio
from typing import Any

from typing_extensions import Self

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
    # Returns an instance of the response type registered with _init().
    def _request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: float | None,
        /,
    ) -> Any: ...
    def _submit(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: float | None,
        /,
    ) -> Handle: ...
    def _close(self) -> None: ...

def _init(
    exceptions: dict[str, type[BaseException]], response_type: type[ResponseBase], /
) -> None: ...
def _debug_stats() -> dict[str, int]: ...
def _shutdown() -> None: ...
