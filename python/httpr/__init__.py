"""httpr -- a fast HTTP client for Python with a C engine.

Example:
    ```python
    import httpr

    response = httpr.get("https://httpbin.org/get")
    print(response.json())

    with httpr.Client() as client:
        response = client.get("https://httpbin.org/get")
        print(response.status_code)
    ```
"""

from __future__ import annotations

from . import _exceptions, _httpr
from ._api import delete, get, head, options, patch, post, put, request
from ._client import DEFAULT_MAX_CONCURRENCY as DEFAULT_MAX_CONCURRENCY
from ._client import AsyncClient, Client
from ._exceptions import (
    ClientClosed,
    ClientReopenedWarning,
    CloseError,
    ConnectError,
    ConnectTimeout,
    CookieConflict,
    DecodingError,
    HTTPError,
    HTTPStatusError,
    InvalidURL,
    LocalProtocolError,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ProxyError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    RequestError,
    RequestNotRead,
    ResponseNotRead,
    StreamClosed,
    StreamConsumed,
    StreamError,
    TimeoutException,
    TooManyRedirects,
    TransportError,
    UnsupportedProtocol,
    WriteError,
    WriteTimeout,
)
from ._exceptions import JSONDecodeError as JSONDecodeError
from ._headers import CaseInsensitiveDict as CaseInsensitiveDict
from ._headers import CaseInsensitiveHeaderMap
from ._response import AsyncStreamingResponse, Response, StreamingResponse
from ._types import ClientRequestParams as ClientRequestParams
from ._types import HttpMethod as HttpMethod
from ._types import QueryParamTypes as QueryParamTypes
from ._types import RequestParams as RequestParams

#: The native base class of `Client` (tests inspect its signature).
RClient = _httpr.RClient

__all__ = [
    "AsyncClient",
    "AsyncStreamingResponse",
    "CaseInsensitiveHeaderMap",
    "Client",
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
    "Response",
    "ResponseNotRead",
    "StreamClosed",
    "StreamConsumed",
    "StreamError",
    "StreamingResponse",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedProtocol",
    "WriteError",
    "WriteTimeout",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "request",
]

# Also public but, as in the original, not in __all__: RClient,
# DEFAULT_MAX_CONCURRENCY, CaseInsensitiveDict, JSONDecodeError and the typing
# aliases (the `import X as X` form above marks them as re-exports).

# Hand the native module the classes it raises and instantiates.
_httpr._init(
    {name: getattr(_exceptions, name) for name in _exceptions.__all__},
    Response,
    StreamingResponse,
)
