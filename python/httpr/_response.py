"""Responses: `Response` (buffered), `StreamingResponse` and `AsyncStreamingResponse`
(CONTRACT §3.1-§3.3, with the §13 changes).

The native module creates `Response` and `StreamingResponse` instances directly
(no ``__init__`` call) and fills the fields of their native bases:
``status_code``, ``http_version``, ``url``, ``_raw_headers`` and, for a buffered
response, ``content``. Everything else is computed here on first use and
cached; an unset cache attribute raises AttributeError, which is what the lazy
getters test for.
"""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from . import _httpr
from ._encoding import IncrementalDecoder, decode, detect_encoding
from ._exceptions import (
    DecodingError,
    HTTPStatusError,
    JSONDecodeError,
    StreamClosed,
    StreamConsumed,
    TransportError,
    chunk_error,
)
from ._headers import CaseInsensitiveHeaderMap
from ._html import html_to_text

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

_STREAM_CLOSED = "Response stream has been closed"
_STREAM_CONSUMED = "Response stream has already been consumed"

_json_decode = _json.JSONDecoder().decode  # what json.loads(str) uses, minus its checks


def reason_phrase(status_code: int) -> str:
    """Canonical reason phrase for a status code, ``""`` if it has none."""
    return _REASONS.get(status_code, "")


class _Metadata:
    """Status line and headers, shared by `Response` and `StreamingResponse`.

    A mixin without state: the concrete class supplies ``status_code``,
    ``url`` and ``_raw_headers`` (native fields) and room for the ``_headers``
    and ``_cookies`` caches.
    """

    # Empty slots keep a slotted subclass (Response) free of a __dict__. Hidden
    # from mypy, which would otherwise refuse the cache assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    _headers: CaseInsensitiveHeaderMap
    _cookies: dict[str, str]

    if TYPE_CHECKING:

        @property
        def status_code(self) -> int: ...
        @property
        def url(self) -> str: ...
        @property
        def _raw_headers(self) -> bytes: ...

    @property
    def headers(self) -> CaseInsensitiveHeaderMap:
        """Response headers: case-insensitive, lowercase names, last value wins.

        ``headers.get_all(name)`` returns every value of a repeated header.
        """
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
        """Cookies set by this response's ``Set-Cookie`` headers (name -> value).

        Only the final response of a redirect chain counts; attributes such as
        ``Path`` or ``Expires`` are not reported.
        """
        try:
            return self._cookies
        except AttributeError:
            pass
        cookies: dict[str, str] = {}
        if b"set-cookie\0" in self._raw_headers:
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

    def raise_for_status(self) -> Self:
        """Return self for a 2xx response; raise `HTTPStatusError` for any other status."""
        code = self.status_code
        if 200 <= code < 300:
            return self
        kind = _ERROR_KINDS.get(code // 100, "Invalid status code")
        message = f"{kind} '{code} {self.reason_phrase}' for url '{self.url}'"
        if self.has_redirect_location:
            message += f"\nRedirect location: '{self.headers['location']}'"
        message += (
            "\nFor more information check:"
            f" https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/{code}"
        )
        raise HTTPStatusError(message, response=cast("Response | StreamingResponse", self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status_code} {self.reason_phrase}]>"


class Response(_Metadata, _httpr.ResponseBase):
    """A buffered HTTP response, returned by `Client.request()` and the verb methods.

    Attributes set by the engine: `status_code`, `http_version` (e.g.
    ``"HTTP/1.1"``), `url` (the final URL, a str) and `content` (the body,
    with content codings such as gzip already decoded). Headers, text and JSON
    are decoded lazily on first access.
    """

    __slots__ = ("_cookies", "_encoding", "_headers", "_text")

    _encoding: str
    _text: str

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
        try:
            # parsed where the engine left it (no bytes copy), plain UTF-8 JSON only
            return self._json_native()
        except ValueError:
            pass  # invalid, a BOM, UTF-16/32, or a case the native decoder leaves to json
        content = self.content
        try:
            if b"\0" in content[:4] or content.startswith(b"\xef\xbb\xbf"):
                return _json.loads(content)  # UTF-16/32 or a BOM: let json detect it
            # json decides, and raises today's exceptions with json's messages
            return _json_decode(content.decode("utf-8", "surrogatepass"))
        except _json.JSONDecodeError as exc:
            raise JSONDecodeError(exc.msg, exc.doc, exc.pos) from None
        except UnicodeDecodeError as exc:
            raise JSONDecodeError(
                f"Invalid {exc.encoding} in the response body: {exc.reason}", "", 0
            ) from None

    def cbor(self) -> Any:
        """Decode the body as CBOR.

        Needs the optional ``cbor2`` package (``pip install 'httpr[cbor]'``).
        """
        try:
            import cbor2  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise ImportError(
                "Response.cbor() needs the optional 'cbor2' package: pip install 'httpr[cbor]'"
            ) from None
        return cbor2.loads(self.content)

    @property
    def text_markdown(self) -> str:
        """The HTML body as Markdown, wrapped at 100 columns.

        Needs the optional ``html`` extra (``pip install 'httpr[html]'``).
        """
        return html_to_text(self.text, "markdown")

    @property
    def text_plain(self) -> str:
        """The HTML body as plain text: no markup, wrapped at 100 columns.

        Needs the optional ``html`` extra (``pip install 'httpr[html]'``).
        """
        return html_to_text(self.text, "plain")

    @property
    def text_rich(self) -> str:
        """The HTML body as text keeping its layout (headings, bullets, quotes, tables).

        Needs the optional ``html`` extra (``pip install 'httpr[html]'``).
        """
        return html_to_text(self.text, "rich")


# -------------------------------------------------------------------- streaming

_StreamBase = _httpr.StreamBase


def _stream_charset(stream: _Metadata) -> str:
    # The Content-Type charset, else UTF-8 (nothing is sniffed from the body).
    return detect_encoding(stream.headers.get("content-type", None), b"")


class _LineSplitter:
    """Cuts decoded text into lines that keep their ``"\\n"``."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[str] = []

    def feed(self, text: str) -> list[str]:
        """The lines completed by `text` (each ending in ``"\\n"``)."""
        if "\n" not in text:
            self._pending.append(text)
            return []
        self._pending.append(text)
        lines = "".join(self._pending).split("\n")
        last = lines.pop()
        self._pending = [last] if last else []
        return [line + "\n" for line in lines]

    def flush(self) -> str:
        """The unterminated last line, ``""`` if none."""
        tail = "".join(self._pending)
        self._pending = []
        return tail


class StreamingResponse(_Metadata, _StreamBase):
    """A response whose body is read as it arrives, yielded by `Client.stream()`.

    The status, headers and cookies are available at once; the body is read
    by iterating (``for chunk in response``, `iter_bytes()`, `iter_text()`,
    `iter_lines()`) or with `read()`. Each read waits at most the client's
    timeout for the next chunk.

    Once the body has been read to its end, any further read raises
    `StreamConsumed`; after `close()`, `StreamClosed`.

    Example:
        ```python
        with client.stream("GET", "https://httpbin.org/stream/5") as response:
            for line in response.iter_lines():
                print(line, end="")
        ```
    """

    # No __slots__: the state flags below are class-level defaults that an
    # instance shadows when it changes them, because the engine creates
    # instances without running __init__.
    _closed = False
    _consumed = False

    def _check(self) -> None:
        """Raise if the body can no longer be read."""
        if self._closed:
            raise StreamClosed(_STREAM_CLOSED)
        if self._consumed:
            raise StreamConsumed(_STREAM_CONSUMED)

    @property
    def is_closed(self) -> bool:
        """True once `close()` was called (the `Client.stream()` block closes it on exit)."""
        return self._closed

    @property
    def is_consumed(self) -> bool:
        """True once the body was read to its end."""
        return self._consumed

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        """The next chunk of the body, as it arrived; StopIteration at its end."""
        if self._closed or self._consumed:
            self._check()
        try:
            chunk = self._read()
        except (TransportError, DecodingError) as exc:
            raise chunk_error(exc) from exc
        if chunk:
            return chunk
        self._consumed = True
        raise StopIteration

    def iter_bytes(self) -> Self:
        """Iterate over the body in chunks of bytes (returns the response itself)."""
        return self

    def iter_text(self) -> Iterator[str]:
        """Iterate over the body as text.

        Decoded incrementally with the Content-Type charset (UTF-8 by default),
        so a character split across chunks comes out whole. Malformed bytes
        become U+FFFD; an unknown charset raises ``RuntimeError`` here.
        """
        self._check()
        return self._texts(IncrementalDecoder(_stream_charset(self)))

    def iter_lines(self) -> Iterator[str]:
        """Iterate over the body as lines of text, each keeping its ``"\\n"``.

        A last line without a newline is yielded at the end of the body.
        """
        self._check()
        return self._lines(IncrementalDecoder(_stream_charset(self)))

    def _texts(self, decoder: IncrementalDecoder) -> Iterator[str]:
        for chunk in self:
            text = decoder.decode(chunk)
            if text:
                yield text
        text = decoder.decode(b"", True)
        if text:
            yield text

    def _lines(self, decoder: IncrementalDecoder) -> Iterator[str]:
        splitter = _LineSplitter()
        for text in self._texts(decoder):
            yield from splitter.feed(text)
        tail = splitter.flush()
        if tail:
            yield tail

    def read(self) -> bytes:
        """Read the rest of the body and return it."""
        self._check()
        chunks = []
        read = self._read
        try:
            while chunk := read():
                chunks.append(chunk)
        except (TransportError, DecodingError) as exc:
            raise chunk_error(exc) from exc
        self._consumed = True
        return b"".join(chunks)

    def close(self) -> None:
        """Stop reading. An unfinished body's connection is closed; idempotent."""
        if not self._closed:
            self._closed = True
            self._close()


class AsyncStreamingResponse:
    """A streaming response yielded by `AsyncClient.stream()`.

    Same metadata as `StreamingResponse`. The body is read without blocking
    the event loop with ``async for chunk in response``, `aiter_bytes()`,
    `aiter_text()`, `aiter_lines()` or `aread()`; the engine stops reading
    from the socket while the consumer is behind. The synchronous iterators,
    `read()` and `close()` exist too but block the loop while they wait.

    Cancelling a task that is waiting for a chunk closes the stream.

    Example:
        ```python
        async with client.stream("GET", "https://httpbin.org/stream/5") as response:
            async for line in response.aiter_lines():
                print(line, end="")
        ```
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: StreamingResponse) -> None:
        self._stream = stream

    # -- metadata ----------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The HTTP status code."""
        return self._stream.status_code

    @property
    def reason_phrase(self) -> str:
        """Canonical reason phrase for the status code (``"OK"``), ``""`` if unknown."""
        return self._stream.reason_phrase

    @property
    def url(self) -> str:
        """The final URL, after redirects."""
        return self._stream.url

    @property
    def http_version(self) -> str:
        """``"HTTP/1.1"`` or ``"HTTP/1.0"``."""
        return self._stream.http_version

    @property
    def headers(self) -> CaseInsensitiveHeaderMap:
        """Response headers (see `StreamingResponse.headers`)."""
        return self._stream.headers

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies set by this response's ``Set-Cookie`` headers (name -> value)."""
        return self._stream.cookies

    @property
    def is_informational(self) -> bool:
        """True for 1xx status codes."""
        return self._stream.is_informational

    @property
    def is_success(self) -> bool:
        """True for 2xx status codes."""
        return self._stream.is_success

    @property
    def is_redirect(self) -> bool:
        """True for 3xx status codes."""
        return self._stream.is_redirect

    @property
    def is_client_error(self) -> bool:
        """True for 4xx status codes."""
        return self._stream.is_client_error

    @property
    def is_server_error(self) -> bool:
        """True for 5xx status codes."""
        return self._stream.is_server_error

    @property
    def is_error(self) -> bool:
        """True for 4xx and 5xx status codes."""
        return self._stream.is_error

    @property
    def has_redirect_location(self) -> bool:
        """True for a 301/302/303/307/308 response that carries a ``Location`` header."""
        return self._stream.has_redirect_location

    @property
    def is_closed(self) -> bool:
        """True once `aclose()` (or `close()`) was called."""
        return self._stream._closed

    @property
    def is_consumed(self) -> bool:
        """True once the body was read to its end."""
        return self._stream._consumed

    def raise_for_status(self) -> Self:
        """Return self for a 2xx response; raise `HTTPStatusError` for any other status."""
        self._stream.raise_for_status()
        return self

    def __repr__(self) -> str:
        return f"<AsyncStreamingResponse [{self.status_code} {self.reason_phrase}]>"

    # -- asynchronous body access --------------------------------------------

    async def _achunk(self) -> bytes:
        """The next chunk, ``b""`` at the end of the body (which marks it consumed)."""
        stream = self._stream
        if stream._closed or stream._consumed:
            stream._check()
        future = stream._aread()
        try:
            chunk: bytes = await future
        except (TransportError, DecodingError) as exc:
            raise chunk_error(exc) from exc  # a read error of its own: the stream stays as it is
        except BaseException:
            # Cancelled (or closed) while waiting, or cancelled just after the
            # chunk arrived: the stream can no longer be read in order, so
            # close it. A read error of its own leaves it as it is.
            future.cancel()
            if future.cancelled() or future.exception() is None:
                stream.close()
            raise
        if not chunk:
            stream._consumed = True
        return chunk

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._achunk()
        if chunk:
            return chunk
        raise StopAsyncIteration

    def aiter_bytes(self) -> Self:
        """Iterate asynchronously over the body in chunks of bytes (returns self)."""
        return self

    def aiter_text(self) -> AsyncIterator[str]:
        """Iterate asynchronously over the body as text (see `StreamingResponse.iter_text()`)."""
        stream = self._stream
        stream._check()
        return self._atexts(IncrementalDecoder(_stream_charset(stream)))

    def aiter_lines(self) -> AsyncIterator[str]:
        """Iterate asynchronously over the body as lines, each keeping its ``"\\n"``."""
        stream = self._stream
        stream._check()
        return self._alines(IncrementalDecoder(_stream_charset(stream)))

    async def _atexts(self, decoder: IncrementalDecoder) -> AsyncIterator[str]:
        while chunk := await self._achunk():
            text = decoder.decode(chunk)
            if text:
                yield text
        text = decoder.decode(b"", True)
        if text:
            yield text

    async def _alines(self, decoder: IncrementalDecoder) -> AsyncIterator[str]:
        splitter = _LineSplitter()
        async for text in self._atexts(decoder):
            for line in splitter.feed(text):
                yield line
        tail = splitter.flush()
        if tail:
            yield tail

    async def aread(self) -> bytes:
        """Read the rest of the body and return it."""
        chunks = []
        while chunk := await self._achunk():
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Stop reading (never waits on I/O); idempotent. Later reads raise `StreamClosed`."""
        self._stream.close()

    # -- synchronous body access (blocks the event loop) ----------------------

    def __iter__(self) -> Iterator[bytes]:
        return self._stream

    def iter_bytes(self) -> Iterator[bytes]:
        """Iterate over the body in chunks of bytes, blocking the event loop."""
        return self._stream

    def iter_text(self) -> Iterator[str]:
        """Iterate over the body as text, blocking the event loop."""
        return self._stream.iter_text()

    def iter_lines(self) -> Iterator[str]:
        """Iterate over the body as lines, blocking the event loop."""
        return self._stream.iter_lines()

    def read(self) -> bytes:
        """Read the rest of the body, blocking the event loop."""
        return self._stream.read()

    def close(self) -> None:
        """Stop reading; idempotent."""
        self._stream.close()


for _cls in (Response, StreamingResponse, AsyncStreamingResponse):
    _cls.__module__ = "httpr"
del _cls
