"""Compressed bodies for the content-coding tests (served by ``/encoded/...``).

Codings, as named in the URL (``/encoded/gzip``, ``/encoded/gzip,br`` ...):

    gzip, x-gzip   gzip member (zlib wbits=31)
    deflate        zlib-wrapped deflate (RFC 9110 "deflate")
    deflate-raw    raw deflate, sent as ``Content-Encoding: deflate``
    br             brotli
    zstd           zstandard frame (with a checksum, without the content size)
    identity-x     an unknown coding (``x-unknown``): the body is sent as is

Kinds (``?kind=``):

    ok         PAYLOAD compressed
    corrupt    bytes that are not in the format at all
    truncated  PAYLOAD compressed, then cut in the middle (framing complete)
    trailing   PAYLOAD compressed, then garbage appended
    big        BIG_SIZE zero bytes compressed: ratio ~1000:1 but below the 64 MiB cap
    huge       HUGE_SIZE zero bytes compressed: as big, but large enough (encoded) for the
               engine's thread pool, and tens of milliseconds of decoding there
    bomb       BOMB_SIZE zero bytes compressed (decodes to more than 64 MiB, ratio > 200:1)
    large      LARGE_PAYLOAD compressed: large enough (encoded) to be decoded on the engine's
               thread pool rather than inline
    large-corrupt, large-truncated, large-trailing
               as corrupt/truncated/trailing, on the large payload (for ``corrupt``: bytes in
               the middle of the stream overwritten, the header intact)
    large-multi
               (gzip) the large payload as two gzip members, one after the other
    large-isize
               (gzip) the large payload whose trailer announces one byte more than it holds

Everything is computed once per process and cached.
"""

from __future__ import annotations

import base64
import functools
import random
import zlib

__all__ = [
    "BIG_SIZE",
    "BOMB_SIZE",
    "HUGE_SIZE",
    "LARGE_PAYLOAD",
    "PAYLOAD",
    "content_encoding_header",
    "encoded_body",
]

PAYLOAD = b"".join(
    b"line %05d: httpr decodes content codings \xe2\x9c\x93\n" % i for i in range(2000)
)
BIG_SIZE = 16 << 20
HUGE_SIZE = 48 << 20
# base64 of random bytes: compresses to ~3/4, so every coding's output is > 32 KiB
LARGE_PAYLOAD = base64.b64encode(random.Random(5).randbytes(192 << 10))
BOMB_SIZE = 128 << 20
_ZEROS = bytes(1 << 20)
_CORRUPT = b"this is definitely not a compressed stream! " * 20


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _zlib(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _br(data: bytes) -> bytes:
    import brotli

    return brotli.compress(data, quality=5)


def _zstd(data: bytes) -> bytes:
    import zstandard

    c = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=False)
    return c.compress(data)


_ONE = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _zlib,
    "deflate-raw": _raw_deflate,
    "br": _br,
    "zstd": _zstd,
    "x-unknown": lambda d: d,
}


def _zeros_stream(coding: str, total: int) -> bytes:
    """``total`` zero bytes compressed without holding them all in memory."""
    n = total // len(_ZEROS)
    if coding in ("gzip", "x-gzip", "deflate", "deflate-raw"):
        wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        return b"".join([c.compress(_ZEROS) for _ in range(n)] + [c.flush()])
    if coding == "br":
        import brotli

        bc = brotli.Compressor(quality=5)
        return b"".join([bc.process(_ZEROS) for _ in range(n)] + [bc.finish()])
    if coding == "zstd":
        import zstandard

        zc = zstandard.ZstdCompressor(level=3, write_checksum=True).compressobj()
        return b"".join([zc.compress(_ZEROS) for _ in range(n)] + [zc.flush()])
    raise ValueError(coding)


def content_encoding_header(codings: list[str]) -> str:
    names = {"deflate-raw": "deflate"}
    return ", ".join(names.get(c, c) for c in codings)


@functools.lru_cache(maxsize=64)
def encoded_body(codings: tuple[str, ...], kind: str) -> bytes:
    """The body of ``/encoded/<codings>?kind=<kind>``; codings applied left to right."""
    for c in codings:
        if c not in _ONE:
            raise ValueError(f"unknown coding {c!r}")
    zeros = {"big": BIG_SIZE, "huge": HUGE_SIZE, "bomb": BOMB_SIZE}
    if kind in zeros:
        if len(codings) != 1:
            raise ValueError("big/huge/bomb take exactly one coding")
        return _zeros_stream(codings[0], zeros[kind])
    if kind == "corrupt":
        return _CORRUPT
    large = kind.startswith("large")
    if large:
        kind = kind.removeprefix("large").removeprefix("-") or "ok"
    data = LARGE_PAYLOAD if large else PAYLOAD
    if kind in ("multi", "isize"):
        if not large or codings not in (("gzip",), ("x-gzip",)):
            raise ValueError(f"{kind} is for the large gzip payload")
        if kind == "multi":
            half = len(data) // 2
            return _gzip(data[:half]) + _gzip(data[half:])
        gz = bytearray(_gzip(data))
        gz[-4:] = (len(data) + 1).to_bytes(4, "little")
        return bytes(gz)
    for c in codings:
        data = _ONE[c](data)
    if kind == "ok":
        return data
    if kind == "corrupt":  # large-corrupt: the stream's middle overwritten
        mid = len(data) // 2
        return data[:mid] + bytes(range(256)) * 16 + data[mid + 4096 :]
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "trailing":
        return data + b"\x00garbage after the end of the stream\x00"
    raise ValueError(f"unknown kind {kind!r}")
