"""`Response`: the Python half of a buffered response (CONTRACT §3.1).

The native module creates instances directly (no ``__init__`` call) and fills
the `ResponseBase` fields: ``status_code``, ``http_version``, ``url``,
``content`` and ``_raw_headers``. Everything else is computed here on first
use and cached in ``__slots__``; an unset slot raises AttributeError, which is
what the lazy getters test for.
"""

from __future__ import annotations

import json as _json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from . import _httpr
from ._encoding import decode, detect_encoding
from ._exceptions import HTTPStatusError, JSONDecodeError
from ._headers import CaseInsensitiveHeaderMap

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncStreamingResponse", "Response", "StreamingResponse", "reason_phrase"]

# Canonical reason phrases as the original reports them (Rust's `http` crate).
# Python's table is the base; the overrides pin the wording where the two
# differ or where Python renamed a phrase between versions (3.13: 413/414/416/422).
_REASONS: dict[int, str] = {status.value: status.phrase for status in HTTPStatus}
_REASONS.update(
    {
        203: "Non Authoritative Information",
        413: "Payload Too Large",
        414: "URI Too Long",
        416: "Range Not Satisfiable",
        418: "I'm a teapot",
        422: "Unprocessable Entity",
    }
)

_ERROR_KINDS = {
    1: "Informational response",
    3: "Redirect response",
    4: "Client error",
    5: "Server error",
}

_REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))

_json_decode = _json.JSONDecoder().decode  # what json.loads(str) uses, minus its checks


def reason_phrase(status_code: int) -> str:
    """Canonical reason phrase for a status code, ``""`` if it has none."""
    return _REASONS.get(status_code, "")


class Response(_httpr.ResponseBase):
    """A buffered HTTP response, returned by `Client.request()` and the verb methods.

    Attributes set by the engine: `status_code`, `http_version` (e.g.
    ``"HTTP/1.1"``), `url` (the final URL, a str) and `content` (the body).
    Headers, text and JSON are decoded lazily on first access.
    """

    __slots__ = ("_cookies", "_encoding", "_headers", "_text")

    _headers: CaseInsensitiveHeaderMap
    _encoding: str
    _text: str
    _cookies: dict[str, str]

    # -- metadata ----------------------------------------------------------

    @property
    def headers(self) -> CaseInsensitiveHeaderMap:
        """Response headers: case-insensitive, lowercase names, last value wins."""
        try:
            return self._headers
        except AttributeError:
            pass
        headers = self._headers = CaseInsensitiveHeaderMap._from_raw(self._raw_headers)
        return headers

    @property
    def reason_phrase(self) -> str:
        """Canonical reason phrase for the status code (``"OK"``), ``""`` if unknown."""
        return _REASONS.get(self.status_code, "")

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies set by this response's ``Set-Cookie`` headers (name -> value)."""
        try:
            return self._cookies
        except AttributeError:
            pass
        cookies: dict[str, str] = {}
        for header in self.headers.get_all("set-cookie"):
            name, eq, value = header.partition(";")[0].partition("=")
            name = name.strip()
            if eq and name:
                cookies[name] = value.strip()
        self._cookies = cookies
        return cookies

    @property
    def is_informational(self) -> bool:
        """True for 1xx status codes."""
        return 100 <= self.status_code < 200

    @property
    def is_success(self) -> bool:
        """True for 2xx status codes."""
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        """True for 3xx status codes."""
        return 300 <= self.status_code < 400

    @property
    def is_client_error(self) -> bool:
        """True for 4xx status codes."""
        return 400 <= self.status_code < 500

    @property
    def is_server_error(self) -> bool:
        """True for 5xx status codes."""
        return 500 <= self.status_code < 600

    @property
    def is_error(self) -> bool:
        """True for 4xx and 5xx status codes."""
        return 400 <= self.status_code < 600

    @property
    def has_redirect_location(self) -> bool:
        """True for a 301/302/303/307/308 response that carries a ``Location`` header."""
        return self.status_code in _REDIRECT_CODES and "location" in self.headers

    def raise_for_status(self) -> Response:
        """Return self for a 2xx response; raise `HTTPStatusError` for any other status."""
        code = self.status_code
        if 200 <= code < 300:
            return self
        kind = _ERROR_KINDS.get(code // 100, "Invalid status code")
        message = f"{kind} '{code} {self.reason_phrase}' for url '{self.url}'"
        if self.has_redirect_location:
            message += f"\nRedirect location: '{self.headers['location']}'"
        message += f"\nFor more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{code}"
        raise HTTPStatusError(message, response=self)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason_phrase}]>"

    # -- body --------------------------------------------------------------

    @property
    def encoding(self) -> str:
        """The charset used by `text`.

        Detected lazily from Content-Type (or a ``charset=`` in the first 2 KiB
        of the body), ``"utf-8"`` by default. Reading `text` replaces it with
        the canonical name of the encoding actually used (``"UTF-8"``). Assign
        to override detection; assign ``""`` to detect again.
        """
        try:
            encoding = self._encoding
        except AttributeError:
            encoding = ""
        if not encoding:
            encoding = self._encoding = detect_encoding(
                self.headers.get("content-type", None), self.content
            )
        return encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"encoding must be a str, got {type(value).__name__}")
        self._encoding = value
        try:
            del self._text  # decoded with the previous encoding
        except AttributeError:
            pass

    @property
    def text(self) -> str:
        """The body decoded with `encoding` (BOM-aware, U+FFFD for malformed bytes).

        Raises ``RuntimeError("Unsupported charset: ...")`` for an unknown label.
        """
        try:
            return self._text
        except AttributeError:
            pass
        text, self._encoding = decode(self.content, self.encoding)
        self._text = text
        return text

    def json(self) -> Any:
        """Parse the body as JSON (or as CBOR when Content-Type says ``application/cbor``).

        Object keys keep the order they have in the body. Invalid JSON raises
        `httpr.JSONDecodeError`, which is both a RuntimeError (as in the
        original) and a `json.JSONDecodeError`.
        """
        # Scanning the raw block first keeps the header map unbuilt in the
        # common (JSON) case.
        if b"application/cbor" in self._raw_headers and "application/cbor" in self.headers.get(
            "content-type"
        ):
            return self.cbor()
        content = self.content
        try:
            if b"\0" in content[:4] or content.startswith(b"\xef\xbb\xbf"):
                return _json.loads(content)  # UTF-16/32 or a BOM: let json detect it
            return _json_decode(content.decode("utf-8", "surrogatepass"))
        except _json.JSONDecodeError as exc:
            raise JSONDecodeError(exc.msg, exc.doc, exc.pos) from None
        except UnicodeDecodeError as exc:
            raise JSONDecodeError(
                f"Invalid {exc.encoding} in the response body: {exc.reason}", "", 0
            ) from None

    def cbor(self) -> Any:
        """Decode the body as CBOR (needs the optional ``cbor2`` package)."""
        try:
            import cbor2  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ImportError(
                "Response.cbor() needs the optional 'cbor2' package: pip install cbor2"
            ) from None
        return cbor2.loads(self.content)


class StreamingResponse:
    """A response whose body is read as it arrives, yielded by `Client.stream()`.

    Streaming arrives with the engine's streaming support; until then this
    name exists so that the public API (``httpr.StreamingResponse``) is complete.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        raise TypeError(f"{cls.__name__} objects are created by the client, not directly")


class AsyncStreamingResponse:
    """The streaming response yielded by `AsyncClient.stream()` (see `StreamingResponse`)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        raise TypeError(f"{cls.__name__} objects are created by the client, not directly")


for _cls in (Response, StreamingResponse, AsyncStreamingResponse):
    _cls.__module__ = "httpr"
del _cls
