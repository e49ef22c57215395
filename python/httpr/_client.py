"""`Client` and `AsyncClient` (CONTRACT §2, §6).

Division of labour: this module owns every keyword argument and merge rule;
the native `RClient` base owns sockets and takes one small positional call per
request -- ``_request(method, url, headers, body, timeout)`` (blocking) or
``_submit(...)`` (returns a handle with an asyncio future).

Redirects, the cookie jar, ``Referer`` and the ``https_only`` check of every
hop happen in the engine (``_configure_http``); content codings are decoded
there too.

The hot path (`client.get(url)` with no per-request options) does almost no
Python work: the final header list is built once and cached in ``_wire``, the
client's timeout is validated once into ``_timeout_wire``, and one flag,
``_fast``, says whether anything (client-level params, an invalid timeout, a
closed client) forces the general path in `_prepare()`.
Every setter calls `_refresh()`, which rebuilds both. Cached lists are
replaced, never mutated, so requests on other threads always see a
consistent list.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, cast

from . import _httpr
from ._exceptions import ClientReopenedWarning, RequestError
from ._headers import CaseInsensitiveDict, _ClientHeaders
from ._prepare import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    METHODS,
    REQUEST_KWARGS,
    append_query,
    basic_auth,
    check_auth,
    check_bearer,
    check_timeout,
    content_body,
    cookie_header,
    cookie_items,
    encode_pairs,
    header_items,
    header_pair,
    is_plain_url,
    json_body,
    merge_params,
    multipart_body,
    normalize_pairs,
    params_to_dict,
    parse_cookie_header,
    plain_urls,
    prepare_url,
    seconds,
    valid_header,
)
from ._response import AsyncStreamingResponse, StreamingResponse

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._response import Response
    from ._types import HttpMethod, QueryParamTypes, RequestParams

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncClient", "Client"]

#: Default cap on the requests an `AsyncClient` keeps in flight at once.
DEFAULT_MAX_CONCURRENCY = 64

# How long an idle pooled connection is kept (reqwest's default, which the
# original inherited).
_IDLE_TIMEOUT = 90.0
# 0 = the engine's default cap on connections per origin.
_DEFAULT_CONNS_PER_ORIGIN = 0

_INVALID = object()  # _timeout_wire when client.timeout was set to an invalid value

# What the original sends unless told otherwise (reqwest's defaults); the
# engine decodes all four codings.
_ACCEPT = "*/*"
_ACCEPT_ENCODING = "gzip, br, zstd, deflate"

Body = bytes | list[bytes | str] | None

_REOPEN_MESSAGE = (
    "Request made on a closed httpr client; reopening it with a fresh connection pool. "
    "Close a client only once you are done with it (or create a new one); filter "
    "httpr.ClientReopenedWarning as 'error' to make use-after-close raise instead."
)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by our caller point at user code.

    Counted as `warnings.warn` counts it from our caller (1 = the caller
    itself): the first frame outside the httpr package.
    """
    frame = sys._getframe(2)  # our caller's caller, i.e. stacklevel 2
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "httpr":
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise RequestError(f"Failed to read {what} {path!r}: {exc.strerror or exc}") from exc


def _load_ca_bundle(path: str) -> bytes:
    pem = _read_file(path, "CA bundle")
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise RequestError(
            f"No X.509 certificates found in {path}: "
            "refusing to silently fall back to built-in roots"
        )
    return pem


def _check_identity(pem: bytes, source: str) -> bytes:
    # A light check so a wrong file fails at construction; the engine parses it for real.
    if b"-----BEGIN CERTIFICATE-----" not in pem or b"PRIVATE KEY-----" not in pem:
        raise RequestError(
            f"Invalid client identity PEM ({source}): "
            "it must contain a certificate and a private key"
        )
    return pem


def _opt_bool(value: object, default: bool) -> bool:
    return default if value is None else bool(value)


class Client(_httpr.RClient):
    """A synchronous HTTP client with connection pooling.

    Example:
        ```python
        import httpr

        with httpr.Client(headers={"User-Agent": "my-app/1.0"}) as client:
            response = client.get("https://httpbin.org/get", params={"q": "httpr"})
            print(response.json())
        ```

    Attributes:
        headers: Default headers sent with all requests (a live, case-insensitive
            view with lowercase names; excludes Cookie).
        cookies: Default cookies sent with all requests (one ``Cookie`` header).
        auth: Basic auth credentials as a (username, password) tuple.
        auth_bearer: Bearer token sent as ``Authorization: Bearer <token>``.
        params: Default query parameters, as a dict; a key given more than once
            maps to a list of values.
        timeout: Default timeout in seconds (None disables it).
        proxy: Proxy URL for requests.
    """

    # The configuration lives in instance attributes set by _setup(); the
    # native base holds the pool.
    _closed: bool
    _fast: bool
    _wire: list[tuple[str, str]]
    _timeout: float | None
    _timeout_wire: Any  # float | None | _INVALID
    _headers: dict[str, str]
    _cookie: str | None
    _auth: tuple[str, str | None] | None
    _auth_bearer: str | None
    _authorization: str | None
    _params: list[tuple[str, str]] | None
    _proxy: str | None
    _identity_pem: bytes | None

    # Python's __init__ only documents the signature: as in the original, the
    # arguments are consumed by __new__, so a subclass whose __init__ does not
    # call super().__init__() still gets a configured client.
    def __new__(
        cls,
        auth: tuple[str, str | None] | None = None,
        auth_bearer: str | None = None,
        params: QueryParamTypes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        cookie_store: bool | None = True,
        referer: bool | None = True,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        follow_redirects: bool | None = True,
        max_redirects: int | None = 20,
        verify: bool | None = True,
        ca_cert_file: str | None = None,
        client_pem: str | None = None,
        client_pem_data: bytes | None = None,
        https_only: bool | None = False,
        http2_only: bool | None = False,
        http1_only: bool | None = False,
    ) -> Self:
        self = super().__new__(cls)
        self._setup(
            auth,
            auth_bearer,
            params,
            headers,
            cookies,
            cookie_store,
            referer,
            proxy,
            timeout,
            follow_redirects,
            max_redirects,
            verify,
            ca_cert_file,
            client_pem,
            client_pem_data,
            https_only,
            http2_only,
            http1_only,
        )
        self._configure(0, _DEFAULT_CONNS_PER_ORIGIN, _IDLE_TIMEOUT)
        return self

    def __init__(
        self,
        auth: tuple[str, str | None] | None = None,
        auth_bearer: str | None = None,
        params: QueryParamTypes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        cookie_store: bool | None = True,
        referer: bool | None = True,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        follow_redirects: bool | None = True,
        max_redirects: int | None = 20,
        verify: bool | None = True,
        ca_cert_file: str | None = None,
        client_pem: str | None = None,
        client_pem_data: bytes | None = None,
        https_only: bool | None = False,
        http2_only: bool | None = False,
        http1_only: bool | None = False,
    ) -> None:
        """Create an HTTP client.

        Args:
            auth: Basic auth credentials as (username, password); password may be None.
            auth_bearer: Bearer token for the Authorization header (ignored when
                Basic credentials are set).
            params: Default query parameters, merged with each request's own
                (a key the request supplies wins). Values may be str, int, float,
                bool (sent as ``true``/``false``), None (sent empty) or a
                list/tuple of those (the key is repeated).
            headers: Default headers (stored with lowercase names).
            cookies: Default cookies, sent as one ``Cookie`` header.
            cookie_store: Keep cookies set by responses and send them back. Default True.
            referer: Set the Referer header when following redirects. Default True.
            proxy: Proxy URL for all requests; falls back to the ``HTTPR_PROXY``
                environment variable (read once, here).
            timeout: Seconds to wait for the response headers, and then for each
                chunk of the body. Default 30; None disables it.
            follow_redirects: Follow HTTP redirects. Default True.
            max_redirects: Maximum number of redirects to follow. Default 20.
            verify: Verify TLS certificates. Default True.
            ca_cert_file: PEM bundle of extra trusted CAs; falls back to the
                ``HTTPR_CA_BUNDLE`` environment variable. Ignored when verify is False.
            client_pem: Path to a PEM file with the client certificate chain and
                private key (mutual TLS).
            client_pem_data: The same PEM content as bytes.
            https_only: Refuse plain ``http://`` URLs. Default False.
            http2_only: Speak HTTP/2 only (not supported yet by this build).
            http1_only: Never negotiate HTTP/2. Default False.

        Raises:
            ValueError: Both client_pem and client_pem_data, both http1_only and
                http2_only, or a negative/NaN timeout.
            RequestError: An unreadable CA bundle or client identity file.
        """

    def _setup(
        self,
        auth: object = None,
        auth_bearer: object = None,
        params: object = None,
        headers: object = None,
        cookies: object = None,
        cookie_store: object = True,
        referer: object = True,
        proxy: object = None,
        timeout: object = 30.0,
        follow_redirects: object = True,
        max_redirects: object = 20,
        verify: object = True,
        ca_cert_file: object = None,
        client_pem: object = None,
        client_pem_data: object = None,
        https_only: object = False,
        http2_only: object = False,
        http1_only: object = False,
    ) -> None:
        """Validate and store the constructor arguments (the real constructor)."""
        if client_pem is not None and client_pem_data is not None:
            raise ValueError("Only one of client_pem or client_pem_data may be set.")
        if http1_only and http2_only:
            raise ValueError("Only one of http1_only or http2_only may be set.")
        if http2_only:
            raise NotImplementedError(
                "http2_only=True is not supported yet: this build of httpr speaks HTTP/1.1 only"
            )

        self._closed = False
        self._auth = check_auth(auth)
        self._auth_bearer = check_bearer(auth_bearer)
        self._params = None if params is None else normalize_pairs(params, "params")
        self._headers = {}
        self._cookie = None
        if headers is not None:
            self._replace_headers(headers)
        if cookies is not None:
            self._cookie = cookie_header(cookie_items(cookies))
        self._timeout = seconds(timeout)
        self._timeout_wire = check_timeout(self._timeout)

        # The engine's transport configuration (redirects, cookie jar, TLS); the
        # proxy is stored only (the engine has no proxy support yet).
        self._cookie_store = _opt_bool(cookie_store, True)
        self._referer = _opt_bool(referer, True)
        self._follow_redirects = _opt_bool(follow_redirects, True)
        if max_redirects is None:
            max_redirects = 20
        if not isinstance(max_redirects, int) or isinstance(max_redirects, bool):
            raise TypeError(
                f"max_redirects must be an int or None, got {type(max_redirects).__name__}"
            )
        if max_redirects < 0:
            raise ValueError(f"max_redirects must be >= 0, got {max_redirects}")
        self._max_redirects = max_redirects
        self._verify = _opt_bool(verify, True)
        self._https_only = _opt_bool(https_only, False)
        self._http1_only = _opt_bool(http1_only, False)

        if proxy is not None and not isinstance(proxy, str):
            raise TypeError(f"proxy must be a str or None, got {type(proxy).__name__}")
        # Environment defaults are read once, here (CONTRACT §5.1); empty means unset.
        self._proxy = proxy if proxy is not None else (os.environ.get("HTTPR_PROXY") or None)
        if ca_cert_file is not None and not isinstance(ca_cert_file, (str, os.PathLike)):
            raise TypeError(
                f"ca_cert_file must be a str or None, got {type(ca_cert_file).__name__}"
            )
        ca_path = (
            os.fspath(ca_cert_file)
            if ca_cert_file is not None
            else os.environ.get("HTTPR_CA_BUNDLE") or None
        )
        self._ca_cert_file = ca_path
        # The bundle only matters when certificates are verified; the client
        # identity is used either way.
        self._ca_pem = _load_ca_bundle(ca_path) if ca_path and self._verify else None
        if client_pem is not None:
            if not isinstance(client_pem, (str, os.PathLike)):
                raise TypeError(
                    f"client_pem must be a str or None, got {type(client_pem).__name__}"
                )
            path = os.fspath(client_pem)
            self._identity_pem = _check_identity(_read_file(path, "client_pem"), path)
        elif client_pem_data is not None:
            if not isinstance(client_pem_data, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"client_pem_data must be bytes or None, got {type(client_pem_data).__name__}"
                )
            self._identity_pem = _check_identity(bytes(client_pem_data), "client_pem_data")
        else:
            self._identity_pem = None
        self._configure_tls(self._verify, self._ca_pem, self._identity_pem)
        self._configure_http(
            self._follow_redirects,
            self._max_redirects,
            self._referer,
            self._cookie_store,
            self._https_only,
        )
        self._refresh()

    # -- cached request state ------------------------------------------------

    def _refresh(self) -> None:
        """Rebuild the cached default header list and the fast-path flag.

        Called after every change to headers, cookies, auth, params, timeout,
        https_only or the closed state.
        """
        if self._auth is not None:
            self._authorization = basic_auth(self._auth)
        elif self._auth_bearer is not None:
            self._authorization = f"Bearer {self._auth_bearer}"
        else:
            self._authorization = None
        wire = dict(self._headers)
        wire.setdefault("accept", _ACCEPT)
        wire.setdefault("accept-encoding", _ACCEPT_ENCODING)
        if self._authorization is not None:
            wire["authorization"] = self._authorization
        if self._cookie is not None:
            wire["cookie"] = self._cookie
        self._wire = list(wire.items())
        self._fast = not (self._closed or self._params or self._timeout_wire is _INVALID)

    def _replace_headers(self, headers: object) -> None:
        """Replace every header; a ``Cookie`` entry replaces the cookies, else they are kept."""
        new: dict[str, str] = {}
        cookie = self._cookie
        for name, value in header_items(headers, skip_invalid=True):
            if name == "cookie":
                cookie = value
            else:
                new[name] = value
        self._headers = new
        self._cookie = cookie

    def _reopen(self) -> None:
        # Raises instead when the warning is filtered as an error: then the
        # client stays closed and nothing is sent.
        warnings.warn(ClientReopenedWarning(_REOPEN_MESSAGE), stacklevel=_caller_stacklevel())
        # The native side re-creates its pool on the next request.
        self._closed = False
        self._refresh()

    def _prepare(
        self, url: object, kwargs: Mapping[str, object]
    ) -> tuple[str, list[tuple[str, str]], Body, float | None]:
        """The general path: apply per-request options and client-level rules.

        Returns the ``(url, headers, body, timeout)`` that follow the method in
        the native call.
        """
        if kwargs:
            if not REQUEST_KWARGS.issuperset(kwargs):
                unknown = min(kwargs.keys() - REQUEST_KWARGS)
                raise TypeError(f"request() got an unexpected keyword argument '{unknown}'")
            get = kwargs.get
            params = get("params")
            headers = get("headers")
            cookies = get("cookies")
            auth = get("auth")
            auth_bearer = get("auth_bearer")
            timeout = get("timeout")
            content = get("content")
            data = get("data")
            json = get("json")
            files = get("files")
        else:
            params = headers = cookies = auth = auth_bearer = timeout = None
            content = data = json = files = None

        if self._closed:
            self._reopen()

        # Timeout: the request's own, else the client's (validated now, CONTRACT §2.3).
        if timeout is not None:
            wire_timeout = check_timeout(seconds(timeout))
        elif self._timeout_wire is _INVALID:
            wire_timeout = check_timeout(self._timeout)  # raises ValueError
        else:
            wire_timeout = self._timeout_wire

        # URL.
        credentials: tuple[str, str | None] | None = None
        if type(url) is str and is_plain_url(url):
            target = url
        else:
            target, credentials = prepare_url(url)
        if params is not None or self._params:
            pairs = self._params or []
            if params is not None:
                pairs = merge_params(pairs, normalize_pairs(params, "params"))
            target = append_query(target, encode_pairs(pairs))

        # Body: content -> data -> json -> files, the last one given wins.
        body: Body = None
        content_type: str | None = None
        if content is not None:
            body = content_body(content)
        if data is not None:
            body = encode_pairs(normalize_pairs(data, "data")).encode("ascii")
            content_type = FORM_CONTENT_TYPE
        if json is not None:
            body = json_body(json)
            content_type = JSON_CONTENT_TYPE
        multipart = files is not None
        if multipart:
            body, content_type = multipart_body(files)

        # Headers.
        if (
            headers is None
            and cookies is None
            and auth is None
            and auth_bearer is None
            and credentials is None
        ):
            wire = self._wire
            if content_type is not None:
                if multipart:
                    # The boundary must match the body, whatever the client says.
                    wire = [pair for pair in wire if pair[0] != "content-type"]
                    wire.append(("content-type", content_type))
                elif "content-type" not in self._headers:
                    wire = [*wire, ("content-type", content_type)]
            return target, wire, body, wire_timeout
        return (
            target,
            self._merge_headers(
                headers, cookies, auth, auth_bearer, credentials, content_type, multipart
            ),
            body,
            wire_timeout,
        )

    def _merge_headers(
        self,
        headers: object,
        cookies: object,
        auth: object,
        auth_bearer: object,
        credentials: tuple[str, str | None] | None,
        content_type: str | None,
        multipart: bool,
    ) -> list[tuple[str, str]]:
        merged = dict(self._headers)
        cookie = self._cookie
        if headers is not None:
            # Same name (case-insensitively) replaces the client's value.
            for name, value in header_items(headers):
                if name == "cookie":
                    cookie = value
                else:
                    merged[name] = value
        merged.setdefault("accept", _ACCEPT)
        merged.setdefault("accept-encoding", _ACCEPT_ENCODING)

        # Basic (request, then client) beats any bearer token (request, then
        # client); credentials in the URL are the last resort (CONTRACT §2.5).
        request_auth = check_auth(auth)
        authorization: str | None
        if request_auth is not None:
            authorization = basic_auth(request_auth)
        elif self._auth is not None or auth_bearer is None:
            authorization = self._authorization
        else:
            authorization = f"Bearer {check_bearer(auth_bearer)}"
        if authorization is None and credentials is not None and "authorization" not in merged:
            authorization = basic_auth(credentials)
        if authorization is not None:
            merged["authorization"] = authorization

        # Cookies: the client's first, the request's override by name; one header.
        if cookies is not None:
            jar = parse_cookie_header(cookie)
            jar.update(cookie_items(cookies))
            cookie = cookie_header(jar.items()) if jar else None
        if cookie is not None:
            merged["cookie"] = cookie

        if content_type is not None and (multipart or "content-type" not in merged):
            merged["content-type"] = content_type
        return list(merged.items())

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and release its connection pool.

        Idle connections are closed before this returns; requests already in
        flight finish normally. Calling it again is a no-op. A request made on
        a closed client reopens it with a fresh pool and emits
        `httpr.ClientReopenedWarning`.
        """
        if not self._closed:
            self._closed = True
            self._fast = False
            self._close()

    @property
    def is_closed(self) -> bool:
        """True after `close()`, until a request reopens the client."""
        return self._closed

    # -- configuration properties ---------------------------------------------

    @property
    def headers(self) -> CaseInsensitiveDict:
        """The default headers: a case-insensitive dict with lowercase names, without Cookie.

        Mutating it (``client.headers["Accept"] = "application/json"``, ``del``,
        ``update``, ``|=`` ...) updates the client. Assigning replaces every
        header except the cookies; None removes them all.
        """
        return _ClientHeaders(self, self._headers)

    @headers.setter
    def headers(self, value: Mapping[str, str] | None) -> None:
        if value is None:
            self._headers = {}
        elif isinstance(value, Mapping):
            self._replace_headers(value)
        else:
            raise TypeError(f"headers must be a dict or None, got {type(value).__name__}")
        self._refresh()

    def set_header(self, key: str, value: str) -> None:
        """Set one default header (the name is stored lowercased); an invalid one is skipped."""
        name, value = header_pair(key, value)
        if not valid_header(name, value):
            return
        if name == "cookie":
            self._cookie = value
        else:
            self._headers = {**self._headers, name: value}
        self._refresh()

    def del_header(self, key: str) -> None:
        """Remove one default header; a missing header is ignored."""
        name = header_pair(key, "")[0]
        if name == "cookie":
            self._cookie = None
        elif name in self._headers:
            self._headers = {k: v for k, v in self._headers.items() if k != name}
        self._refresh()

    @property
    def cookies(self) -> dict[str, str]:
        """The client's own cookies (sent on every request), not the cookie jar."""
        return parse_cookie_header(self._cookie)

    @cookies.setter
    def cookies(self, value: Mapping[str, str] | None) -> None:
        self._cookie = None if value is None else cookie_header(cookie_items(value))
        self._refresh()

    @property
    def auth(self) -> tuple[str, str | None] | None:
        """Basic auth credentials, (username, password-or-None)."""
        return self._auth

    @auth.setter
    def auth(self, value: tuple[str, str | None] | None) -> None:
        self._auth = check_auth(value)
        self._refresh()

    @property
    def auth_bearer(self) -> str | None:
        """Bearer token, used when no Basic credentials are set."""
        return self._auth_bearer

    @auth_bearer.setter
    def auth_bearer(self, value: str | None) -> None:
        self._auth_bearer = check_bearer(value)
        self._refresh()

    @property
    def params(self) -> dict[str, str | list[str]] | None:
        """Default query parameters (normalised strings; repeated keys map to lists)."""
        return None if self._params is None else params_to_dict(self._params)

    @params.setter
    def params(self, value: QueryParamTypes | None) -> None:
        self._params = None if value is None else normalize_pairs(value, "params")
        self._refresh()

    @property
    def timeout(self) -> float | None:
        """Default timeout in seconds; None disables it. Checked at request time."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = seconds(value)
        try:
            self._timeout_wire = check_timeout(self._timeout)
        except ValueError:
            self._timeout_wire = _INVALID  # the next request raises (CONTRACT §2.3)
        self._refresh()

    @property
    def proxy(self) -> str | None:
        """Proxy URL (after the ``HTTPR_PROXY`` fallback), or None."""
        return self._proxy

    @proxy.setter
    def proxy(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"proxy must be a str or None, got {type(value).__name__}")
        self._proxy = value
        if not self._closed:
            # A proxy change means a new transport: release the old pool now
            # (a closed client only records the value).
            self._close()

    # -- requests --------------------------------------------------------------

    def request(self, method: HttpMethod, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a request and return the buffered response.

        Args:
            method: ``"GET"``, ``"HEAD"``, ``"OPTIONS"``, ``"DELETE"``, ``"POST"``,
                ``"PUT"`` or ``"PATCH"`` (uppercase).
            url: Absolute ``http://`` or ``https://`` URL.
            **kwargs: Per-request options:
                params (query parameters, merged with the client's),
                headers (merged over the client's), cookies (merged with the
                client's into one Cookie header), auth / auth_bearer (override
                the client's; Basic wins over bearer), timeout (overrides the
                client's), and one body -- content (bytes), data (form fields),
                json (any JSON value) or files (field name -> file path).

        Raises:
            ValueError: Unsupported method.
            TypeError: Unknown keyword argument or a malformed option.
            RequestError: The request failed (see the exception hierarchy).
        """
        if method not in METHODS:
            raise ValueError(f"Unsupported HTTP method: {method}")
        if kwargs or not self._fast or plain_urls.get(url) is not True:
            return self._request(method, *self._prepare(url, kwargs))  # type: ignore[no-any-return]
        return self._request(method, url, self._wire, None, self._timeout_wire)  # type: ignore[no-any-return]

    def get(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a GET request (see `request()` for the options)."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a HEAD request (see `request()` for the options)."""
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send an OPTIONS request (see `request()` for the options)."""
        return self.request("OPTIONS", url, **kwargs)

    def delete(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a DELETE request (see `request()` for the options)."""
        return self.request("DELETE", url, **kwargs)

    def post(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a POST request (see `request()` for the options)."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a PUT request (see `request()` for the options)."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:
        """Send a PATCH request (see `request()` for the options)."""
        return self.request("PATCH", url, **kwargs)

    @contextmanager
    def stream(
        self, method: HttpMethod, url: str, **kwargs: Unpack[RequestParams]
    ) -> Iterator[StreamingResponse]:
        """Send a request and read the response body as it arrives.

        A context manager: entering it waits for the response headers (after
        redirects) and yields a `StreamingResponse`; leaving it closes the
        response. Takes the same options as `request()`.

        Example:
            ```python
            with client.stream("GET", "https://httpbin.org/stream/3") as response:
                for chunk in response.iter_bytes():
                    print(len(chunk))
            ```
        """
        if method not in METHODS:
            raise ValueError(f"Unsupported HTTP method: {method}")
        response = cast(StreamingResponse, self._stream(method, *self._prepare(url, kwargs)))
        try:
            yield response
        finally:
            response.close()


def _abort(handle: Any) -> None:
    """The coroutine awaiting `handle.future` was interrupted: abort its request.

    Task.cancel() cancels the future we await; an exception thrown into the
    coroutine (or closing it) leaves it pending. Either way the request must be
    aborted on the I/O thread. A future that finished with the request's own
    error needs nothing."""
    future = handle.future
    if future.cancel() or future.cancelled():
        handle.cancel()


def _via_request(method: str) -> Any:
    """A verb that goes through request(), for subclasses that override it."""

    async def verb(self: AsyncClient, url: str, **kwargs: Any) -> Response:
        return await self.request(method, url, **kwargs)  # type: ignore[arg-type]

    return verb


class AsyncClient(Client):
    """An asyncio HTTP client with connection pooling.

    Requests run on httpr's I/O thread, not in a thread pool; each awaits a
    plain asyncio future resolved on the event loop's thread. Cancelling the
    awaiting task aborts its request.

    Example:
        ```python
        import asyncio
        import httpr

        async def main():
            async with httpr.AsyncClient() as client:
                responses = await asyncio.gather(
                    client.get("https://httpbin.org/get"),
                    client.get("https://httpbin.org/ip"),
                )
                for response in responses:
                    print(response.json())

        asyncio.run(main())
        ```
    """

    max_concurrency: int | None

    def __new__(
        cls,
        auth: tuple[str, str | None] | None = None,
        auth_bearer: str | None = None,
        params: QueryParamTypes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        cookie_store: bool | None = True,
        referer: bool | None = True,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        follow_redirects: bool | None = True,
        max_redirects: int | None = 20,
        verify: bool | None = True,
        ca_cert_file: str | None = None,
        client_pem: str | None = None,
        client_pem_data: bytes | None = None,
        https_only: bool | None = False,
        http2_only: bool | None = False,
        http1_only: bool | None = False,
        *,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
    ) -> Self:
        if max_concurrency is None:
            max_inflight = 0  # no cap
        elif isinstance(max_concurrency, int) and not isinstance(max_concurrency, bool):
            if max_concurrency <= 0:
                raise ValueError(
                    f"max_concurrency must be a positive int or None, got {max_concurrency}"
                )
            max_inflight = max_concurrency
        else:
            raise TypeError(
                f"max_concurrency must be an int or None, got {type(max_concurrency).__name__}"
            )
        # Client.__new__ would configure the pool without the cap, so allocate
        # here and run the shared setup directly.
        self = _httpr.RClient.__new__(cls)
        self._setup(
            auth,
            auth_bearer,
            params,
            headers,
            cookies,
            cookie_store,
            referer,
            proxy,
            timeout,
            follow_redirects,
            max_redirects,
            verify,
            ca_cert_file,
            client_pem,
            client_pem_data,
            https_only,
            http2_only,
            http1_only,
        )
        self.max_concurrency = max_concurrency
        self._configure(max_inflight, _DEFAULT_CONNS_PER_ORIGIN, _IDLE_TIMEOUT)
        return self

    def __init__(
        self,
        auth: tuple[str, str | None] | None = None,
        auth_bearer: str | None = None,
        params: QueryParamTypes | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        cookie_store: bool | None = True,
        referer: bool | None = True,
        proxy: str | None = None,
        timeout: float | None = 30.0,
        follow_redirects: bool | None = True,
        max_redirects: int | None = 20,
        verify: bool | None = True,
        ca_cert_file: str | None = None,
        client_pem: str | None = None,
        client_pem_data: bytes | None = None,
        https_only: bool | None = False,
        http2_only: bool | None = False,
        http1_only: bool | None = False,
        *,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        """Create an async HTTP client.

        Accepts the same parameters as `Client`, plus:

        Args:
            max_concurrency: Maximum number of requests this client keeps in
                flight at once; further requests wait their turn without
                blocking the event loop. Default 64; None means no cap.
        """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The verbs submit directly (one coroutine per request, not two). A
        # subclass that overrides request() still sees every verb go through it.
        if cls.request is not AsyncClient.request:
            for method in METHODS:
                name = method.lower()
                if getattr(cls, name) is getattr(AsyncClient, name):
                    verb = _via_request(method)
                    verb.__name__ = verb.__qualname__ = name
                    verb.__doc__ = getattr(AsyncClient, name).__doc__
                    setattr(cls, name, verb)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: release its connection pool (see `Client.close()`).

        Never waits on I/O; requests in flight finish normally.
        """
        self.close()

    async def request(  # type: ignore[override]
        self, method: HttpMethod, url: str, **kwargs: Unpack[RequestParams]
    ) -> Response:
        """Send a request and await the buffered response (see `Client.request()`)."""
        if method not in METHODS:
            raise ValueError(f"Unsupported HTTP method: {method}")
        handle = self._start(method, url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    def _start(self, method: str, url: str, kwargs: Mapping[str, Any]) -> Any:
        """Submit a request to the I/O thread; the returned handle's future resolves
        to its Response. (The verbs below await it themselves rather than through
        request(): one coroutine per request, not two.)"""
        if kwargs or not self._fast or plain_urls.get(url) is not True:
            return self._submit(method, *self._prepare(url, kwargs))
        return self._submit(method, url, self._wire, None, self._timeout_wire)

    async def get(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a GET request (see `request()` for the options)."""
        handle = self._start("GET", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def head(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a HEAD request (see `request()` for the options)."""
        handle = self._start("HEAD", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def options(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send an OPTIONS request (see `request()` for the options)."""
        handle = self._start("OPTIONS", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def delete(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a DELETE request (see `request()` for the options)."""
        handle = self._start("DELETE", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def post(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a POST request (see `request()` for the options)."""
        handle = self._start("POST", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def put(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a PUT request (see `request()` for the options)."""
        handle = self._start("PUT", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    async def patch(self, url: str, **kwargs: Unpack[RequestParams]) -> Response:  # type: ignore[override]
        """Send a PATCH request (see `request()` for the options)."""
        handle = self._start("PATCH", url, kwargs)
        try:
            return await handle.future  # type: ignore[no-any-return]
        except BaseException:
            _abort(handle)
            raise

    @asynccontextmanager
    async def stream(  # type: ignore[override]
        self, method: HttpMethod, url: str, **kwargs: Unpack[RequestParams]
    ) -> AsyncIterator[AsyncStreamingResponse]:
        """Send a request and read the response body as it arrives, without blocking.

        An async context manager: entering it awaits the response headers
        (after redirects) and yields an `AsyncStreamingResponse`; leaving it
        closes the response. Takes the same options as `request()`.

        Example:
            ```python
            async with client.stream("GET", "https://httpbin.org/stream/3") as response:
                async for line in response.aiter_lines():
                    print(line, end="")
            ```
        """
        if method not in METHODS:
            raise ValueError(f"Unsupported HTTP method: {method}")
        handle = self._submit_stream(method, *self._prepare(url, kwargs))
        future = handle.future
        try:
            stream = cast(StreamingResponse, await future)
        except BaseException:
            if future.cancel() or future.cancelled():
                handle.cancel()  # abort the request on the I/O thread
            elif future.exception() is None:
                # Cancelled just after the headers arrived: nobody will read it.
                future.result()._close()
            raise
        response = AsyncStreamingResponse(stream)
        try:
            yield response
        finally:
            stream.close()


for _cls in (Client, AsyncClient):
    _cls.__module__ = "httpr"
del _cls
