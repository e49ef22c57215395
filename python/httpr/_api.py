"""Module-level request functions: one temporary `Client` per call (CONTRACT §1.3)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ._client import Client

if TYPE_CHECKING:
    from ._response import Response
    from ._types import ClientRequestParams, HttpMethod, RequestParams

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["delete", "get", "head", "options", "patch", "post", "put", "request"]


def request(
    method: HttpMethod,
    url: str,
    verify: bool | None = True,
    ca_cert_file: str | None = None,
    client_pem: str | None = None,
    client_pem_data: bytes | None = None,
    **kwargs: Unpack[RequestParams],
) -> Response:
    """Send one request with a temporary client, closed before returning.

    Only the TLS options are client settings here; every other keyword is a
    request option (see `Client.request()`). For more than one request use a
    `Client`, which keeps connections alive.

    Example:
        ```python
        import httpr

        response = httpr.request("GET", "https://httpbin.org/get")
        ```
    """
    with Client(
        verify=verify,
        ca_cert_file=ca_cert_file,
        client_pem=client_pem,
        client_pem_data=client_pem_data,
    ) as client:
        return client.request(method, url, **kwargs)


def get(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a GET request with a temporary client (see `request()`)."""
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a HEAD request with a temporary client (see `request()`)."""
    return request("HEAD", url, **kwargs)


def options(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send an OPTIONS request with a temporary client (see `request()`)."""
    return request("OPTIONS", url, **kwargs)


def delete(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a DELETE request with a temporary client (see `request()`)."""
    return request("DELETE", url, **kwargs)


def post(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a POST request with a temporary client (see `request()`)."""
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a PUT request with a temporary client (see `request()`)."""
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Unpack[ClientRequestParams]) -> Response:
    """Send a PATCH request with a temporary client (see `request()`)."""
    return request("PATCH", url, **kwargs)
