"""Type aliases of the public API (CONTRACT §1.2).

Real objects at runtime (so ``typing.get_type_hints`` works), but nothing in
the request path looks at them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict

__all__ = [
    "ClientRequestParams",
    "HttpMethod",
    "PrimitiveData",
    "QueryParamTypes",
    "RequestData",
    "RequestFiles",
    "RequestParams",
]

HttpMethod: TypeAlias = Literal["GET", "HEAD", "OPTIONS", "DELETE", "POST", "PUT", "PATCH"]
PrimitiveData: TypeAlias = str | int | float | bool | None
QueryParamTypes: TypeAlias = (
    Mapping[str, PrimitiveData | Sequence[PrimitiveData]]
    | Sequence[tuple[str, PrimitiveData | Sequence[PrimitiveData]]]
)
RequestData: TypeAlias = Mapping[str, Any] | Sequence[tuple[str, Any]]
RequestFiles: TypeAlias = Mapping[str, Any]  # field name -> path (str or os.PathLike)


class RequestParams(TypedDict, total=False):
    """Keyword arguments accepted by `Client.request()` and the verb methods."""

    auth: tuple[str, str | None] | None
    auth_bearer: str | None
    params: QueryParamTypes | None
    headers: Mapping[str, str] | None
    cookies: Mapping[str, str] | None
    timeout: float | None
    content: bytes | bytearray | memoryview | str | None
    data: RequestData | None
    json: Any
    files: RequestFiles | None


class ClientRequestParams(RequestParams, total=False):
    """Keyword arguments of the module-level `httpr.get()` & co."""

    verify: bool | None
    ca_cert_file: str | None
    client_pem: str | None
    client_pem_data: bytes | None
