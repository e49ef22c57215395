"""Fault and framing cases as data (shared by the sync and async tests).

Each case names the script the scripted server runs on the *first* connection
(every later connection just serves ``200 ok``), what the client must do, and
whether the first connection may be reused afterwards. Exception classes are
given by name (attributes of the ``httpr`` module) so this file does not import
httpr.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scripted import CLOSE, READ, RST, send, send_slowly, serve, sleep


@dataclass(frozen=True)
class Fault:
    """The server misbehaves; the request must raise ``exc`` (name or tuple of names)."""

    id: str
    steps: tuple
    exc: str | tuple[str, ...]
    match: str | None = None  # regex searched in str(exception)
    source: str = ""  # research catalogue id / anchor


@dataclass(frozen=True)
class Framing:
    """The server answers validly; the client must return ``status``/``body``.

    ``reusable`` says whether the connection may carry the next request. When it
    is False the server keeps the connection open and would answer a second
    request on it, so reuse would be visible in its connection ids.
    """

    id: str
    method: str
    wire: bytes
    status: int
    body: bytes
    reusable: bool
    version: str = "HTTP/1.1"
    close_after: bool = False  # the server closes after sending (read-until-close body)
    slow: bool = False  # send the response one byte per TCP segment
    source: str = ""


def _faulty(wire: bytes, then=None) -> tuple:
    """Read the request, send ``wire``, then keep serving on the same connection."""
    return (READ, send(wire), then if then is not None else serve())


HEAD_CL1000 = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

FAULTS: list[Fault] = [
    # -- bad status lines (MR-01..05)
    Fault(
        "status-letters", _faulty(b"HTTP/1.1 abc\r\n\r\n"), "RemoteProtocolError", source="MR-02"
    ),
    Fault("status-garbage", _faulty(b"garbage\r\n\r\n"), "RemoteProtocolError", source="MR-01"),
    Fault(
        "http09-html",
        (READ, send(b"<html><body>hi</body></html>\n"), CLOSE),
        "RemoteProtocolError",
        source="MR-01",
    ),
    Fault(
        "status-two-digits",
        _faulty(b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
        "RemoteProtocolError",
        source="MR-02",
    ),
    Fault(
        "status-099",
        _faulty(b"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n"),
        "RemoteProtocolError",
        source="MR-03",
    ),
    Fault(
        "version-http2",
        _faulty(b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-05",
    ),
    # -- bad header lines (MR-09..19)
    Fault(
        "header-no-colon",
        _faulty(b"HTTP/1.1 200 OK\r\nServer test\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-09",
    ),
    Fault(
        "header-space-before-colon",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-10",
    ),
    Fault(
        "header-value-nul",
        _faulty(b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-13",
    ),
    Fault(
        "bare-lf",
        _faulty(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
        "RemoteProtocolError",
        source="MR-17",
    ),
    Fault(
        "obs-fold",
        _faulty(b"HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-18",
    ),
    # -- framing conflicts (MR-20..28)
    Fault(
        "content-length-and-chunked",
        _faulty(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        ),
        "RemoteProtocolError",
        source="MR-26",
    ),
    Fault(
        "two-content-lengths",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"),
        "RemoteProtocolError",
        source="MR-20",
    ),
    Fault(
        "content-length-negative",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-22",
    ),
    Fault(
        "content-length-not-a-number",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-22",
    ),
    Fault(
        "transfer-encoding-gzip-only",
        _faulty(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabcdef"),
        "RemoteProtocolError",
        source="MR-27",
    ),
    # -- bad chunked encoding (MR-30s)
    Fault(
        "chunk-size-not-hex",
        _faulty(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        "RemoteProtocolError",
    ),
    Fault(
        "chunk-data-without-crlf",
        _faulty(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
        "RemoteProtocolError",
    ),
    # -- limits
    Fault(
        "header-too-large",
        _faulty(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\nContent-Length: 2\r\n\r\nok"
        ),
        "RemoteProtocolError",
        source="64 KiB head limit",
    ),
    Fault(
        "head-too-large-in-total",
        _faulty(
            b"HTTP/1.1 200 OK\r\n"
            + b"".join(b"X-H%02d: %s\r\n" % (i, b"v" * 2048) for i in range(40))
            + b"Content-Length: 2\r\n\r\nok"
        ),
        "RemoteProtocolError",
        source="64 KiB head limit, 40 headers",
    ),
    Fault(
        "too-many-headers",
        _faulty(
            b"HTTP/1.1 200 OK\r\n"
            + b"".join(b"X-H%03d: v\r\n" % i for i in range(200))
            + b"Content-Length: 2\r\n\r\nok"
        ),
        "RemoteProtocolError",
        source="header count limit (> 100)",
    ),
    Fault(
        "too-many-interim-responses",
        _faulty(
            b"HTTP/1.1 100 Continue\r\n\r\n" * 1000
            + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        ),
        "RemoteProtocolError",
        source="1xx cap",
    ),
    Fault(
        "unsolicited-101",
        _faulty(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ),
        "RemoteProtocolError",
        source="MR 101 without Upgrade requested",
    ),
    # -- more strictness (research catalogue 2.1), regressions
    Fault(
        "duplicate-identical-content-length",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-21",
    ),
    Fault(
        "transfer-encoding-chunked-twice",
        _faulty(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        ),
        "RemoteProtocolError",
        source="MR-28",
    ),
    Fault(
        "chunked-in-http10",
        _faulty(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
        "RemoteProtocolError",
        source="RFC 9112 6.1",
    ),
    Fault(
        "reason-phrase-nul",
        _faulty(b"HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-06",
    ),
    Fault(
        "content-length-overflow",
        _faulty(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-24",
    ),
    Fault(
        "header-value-ctl",
        _faulty(b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-14",
    ),
    Fault(
        "first-header-line-starts-with-space",
        _faulty(b"HTTP/1.1 200 OK\r\n X-A: b\r\nContent-Length: 2\r\n\r\nok"),
        "RemoteProtocolError",
        source="MR-19",
    ),
    Fault(
        "chunk-extension-too-long",
        _faulty(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;"
            + b"a" * 100_000
            + b"\r\nok\r\n0\r\n\r\n"
        ),
        "RemoteProtocolError",
        source="Go CVE-2023-39326",
    ),
    Fault(
        "trailer-value-nul",
        _faulty(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX: a\x00b\r\n\r\n"
        ),
        "RemoteProtocolError",
        source="aiohttp CVE-2026-34520",
    ),
    # -- the peer goes away
    Fault(
        "eof-before-any-byte",
        (READ, CLOSE),
        "RemoteProtocolError",
        match="server disconnected without sending a response",
    ),
    Fault("reset-before-any-byte", (READ, RST), "TransportError"),
    Fault(
        "eof-mid-head",
        (READ, send(b"HTTP/1.1 200 OK\r\nContent-Le"), CLOSE),
        ("RemoteProtocolError", "ReadError"),
    ),
    Fault("eof-mid-body", (READ, send(HEAD_CL1000 + b"0123456789"), CLOSE), "ReadError"),
    Fault(
        "reset-mid-body", (READ, send(HEAD_CL1000 + b"0123456789"), sleep(0.2), RST), "ReadError"
    ),
    Fault(
        "eof-mid-chunk",
        (READ, send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), CLOSE),
        "ReadError",
    ),
    Fault(
        "eof-before-last-chunk",
        (READ, send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), CLOSE),
        "ReadError",
    ),
]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

FRAMINGS: list[Framing] = [
    Framing("content-length", "GET", OK, 200, b"ok", True),
    Framing(
        "no-reason-phrase",
        "GET",
        b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
        source="MR-07",
    ),
    Framing("empty-body", "GET", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, b"", True),
    Framing(
        "chunked-with-extension-and-trailer",
        "GET",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n3;name=value\r\n!!!\r\n0\r\nX-Trailer: t\r\n\r\n",
        200,
        b"ok!!!",
        True,
    ),
    Framing("100-continue", "GET", b"HTTP/1.1 100 Continue\r\n\r\n" + OK, 200, b"ok", True),
    Framing(
        "103-early-hints",
        "GET",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + OK,
        200,
        b"ok",
        True,
    ),
    Framing(
        "two-interim",
        "GET",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK,
        200,
        b"ok",
        True,
    ),
    Framing("head-with-content-length", "HEAD", HEAD_CL1000, 200, b"", True),
    Framing(
        "head-chunked",
        "HEAD",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        200,
        b"",
        True,
    ),
    Framing("204-no-body", "GET", b"HTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
    Framing(
        "304-with-content-length",
        "GET",
        b'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: "x"\r\n\r\n',
        304,
        b"",
        True,
    ),
    Framing(
        "connection-close",
        "GET",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        False,
    ),
    Framing(
        "http10-without-keep-alive",
        "GET",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        False,
        version="HTTP/1.0",
    ),
    Framing("leftover-bytes-after-body", "GET", OK + b"EXTRA", 200, b"ok", False, source="MR-50"),
    Framing(
        "204-with-body-bytes",
        "GET",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        204,
        b"",
        False,
    ),
    Framing(
        "leading-crlf-before-status-line",
        "GET",
        b"\r\n" + OK,
        200,
        b"ok",
        True,
        source="MR-08",
    ),
    Framing(
        "status-600",
        "GET",
        b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok",
        600,
        b"ok",
        True,
        source="MR-04",
    ),
    Framing(
        "obs-text-header-value",
        "GET",
        b"HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
        source="MR-15",
    ),
    Framing(
        "content-length-trailing-space",
        "GET",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2  \r\n\r\nok",
        200,
        b"ok",
        True,
        source="MR-23",
    ),
    Framing(
        "transfer-encoding-uppercase",
        "GET",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        200,
        b"ok",
        True,
        source="MR-29",
    ),
    Framing(
        "one-byte-segments-chunked",
        "GET",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 300 + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n3;e=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        200,
        b"okabc",
        True,
        slow=True,
        source="MR-43",
    ),
    Framing(
        "close-delimited",
        "GET",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
        200,
        b"until close",
        False,
        close_after=True,
    ),
]


def framing_script(case: Framing) -> tuple:
    out = send_slowly(case.wire, 0.001) if case.slow else send(case.wire)
    if case.close_after:
        return (READ, out, CLOSE)
    return (READ, out, serve())
