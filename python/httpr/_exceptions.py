"""The httpr exception hierarchy (CONTRACT §4.1).

The classes are plain Python so they pickle, subclass and document like any
other; the native module receives them through ``_httpr._init`` and raises them
from there. Each sets ``__module__ = "httpr"`` so tracebacks and reprs read
``httpr.ConnectError``, as in the original package.
"""

from __future__ import annotations

import json as _json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._response import Response, StreamingResponse

__all__ = [
    "ClientClosed",
    "ClientReopenedWarning",
    "CloseError",
    "ConnectError",
    "ConnectTimeout",
    "CookieConflict",
    "DecodingError",
    "HTTPError",
    "HTTPStatusError",
    "InvalidURL",
    "JSONDecodeError",
    "LocalProtocolError",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestError",
    "RequestNotRead",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
]


class HTTPError(Exception):
    """Base class for all httpr exceptions."""


class RequestError(HTTPError):
    """Base class for all exceptions that may occur when issuing a `.request()`."""


class TransportError(RequestError):
    """Base class for all exceptions that occur at the level of the Transport API."""


class NetworkError(TransportError):
    """The base class for network-related errors."""


class TimeoutException(TransportError):
    """The base class for timeout errors."""


class ProtocolError(TransportError):
    """The protocol was violated."""


class StreamError(Exception):
    """The base class for stream exceptions."""


class ConnectTimeout(TimeoutException):
    """Timed out while connecting to the host."""


class ReadTimeout(TimeoutException):
    """Timed out while receiving data from the host."""


class WriteTimeout(TimeoutException):
    """Timed out while sending data to the host."""


class PoolTimeout(TimeoutException):
    """Timed out waiting to acquire a connection from the pool."""


class ConnectError(NetworkError):
    """Failed to establish a connection."""


class ReadError(NetworkError):
    """Failed to receive data from the network."""


class WriteError(NetworkError):
    """Failed to send data through the network."""


class CloseError(NetworkError):
    """Failed to close a connection."""


class LocalProtocolError(ProtocolError):
    """A protocol was violated by the client."""


class RemoteProtocolError(ProtocolError):
    """The protocol was violated by the server."""


class UnsupportedProtocol(TransportError):
    """Attempted to make a request to an unsupported protocol."""


class ProxyError(TransportError):
    """An error occurred while establishing a proxy connection."""


class TooManyRedirects(RequestError):
    """Too many redirects."""


class HTTPStatusError(HTTPError):
    """The response had a non-2xx HTTP status."""

    # `response` is an httpx-style convenience: raise_for_status() attaches the
    # response it was called on. Keyword-only so `HTTPStatusError(msg)` (and
    # unpickling, which passes only `args`) keeps working.
    def __init__(self, *args: object, response: Response | StreamingResponse | None = None) -> None:
        super().__init__(*args)
        self.response = response


class DecodingError(RequestError):
    """Decoding of the response failed, due to a malformed encoding."""


class StreamConsumed(StreamError):
    """Attempted to read or stream content, but the content has already been consumed."""


class ResponseNotRead(StreamError):
    """Attempted to access streaming response content, without having called `read()`."""


class RequestNotRead(StreamError):
    """Attempted to access streaming request content, without having called `read()`."""


class StreamClosed(StreamError):
    """Attempted to read or stream response content, but the request has been closed."""


class ClientClosed(RuntimeError):
    """Raised when a request cannot be started because the client was closed underneath it.

    Subclasses RuntimeError, matching httpx. Since 0.7.2 a request on a closed
    client reopens it instead (see `ClientReopenedWarning`), so this is only seen
    when `close()` races the request itself.
    """


class ClientReopenedWarning(ResourceWarning):
    """A request was made on a client after `close()`.

    The client was reopened with a fresh connection pool. Filter this warning
    with `error` to make use-after-close raise instead.
    """


class InvalidURL(Exception):
    """URL is improperly formed or cannot be parsed."""


class CookieConflict(Exception):
    """Attempted to lookup a cookie by name, but multiple cookies existed."""


class JSONDecodeError(RuntimeError, _json.JSONDecodeError):
    """`Response.json()` could not parse the body.

    Derives from RuntimeError (what the original httpr raised) and from
    `json.JSONDecodeError` (so ``except ValueError`` / ``except
    json.JSONDecodeError`` work too); carries ``msg``, ``doc``, ``pos``,
    ``lineno`` and ``colno`` like the standard library's.
    """

    def __init__(self, msg: str, doc: str, pos: int) -> None:
        # RuntimeError comes first in the MRO, so call the json initialiser
        # explicitly: it formats the message and sets the position attributes.
        _json.JSONDecodeError.__init__(self, msg, doc, pos)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.msg, self.doc, self.pos))


for _name in __all__:
    globals()[_name].__module__ = "httpr"
del _name

_CHUNK_ERRORS: dict[type[Exception], type[Exception]] = {}


def chunk_error(exc: Exception) -> Exception:
    """The error to raise for a failed read of a streamed body.

    The original raised ``RuntimeError("Error reading chunk: …")`` for every read
    error but a timeout (CONTRACT §3.2); ours keeps the precise class too. The
    returned exception is an instance of a subclass of both ``type(exc)`` and
    RuntimeError, so ``except RuntimeError`` and ``except httpr.ReadError`` both
    work. Timeouts are returned unchanged (the original raised ReadTimeout).
    """
    if isinstance(exc, (TimeoutException, RuntimeError)):
        return exc
    cls = type(exc)
    both = _CHUNK_ERRORS.get(cls)
    if both is None:
        both = type(
            cls.__name__, (cls, RuntimeError), {"__module__": "httpr", "__doc__": cls.__doc__}
        )
        _CHUNK_ERRORS[cls] = both
    return both(f"Error reading chunk: {exc}")
