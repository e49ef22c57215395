"""Charset detection and WHATWG-style decoding for `Response.text` (CONTRACT §3.1).

The original decodes with Rust's encoding_rs, i.e. the WHATWG Encoding
Standard: labels such as ``latin1`` or ``ascii`` mean windows-1252, a BOM
overrides the declared charset, and after decoding the response reports the
encoding's canonical name (``"UTF-8"``, ``"windows-1252"``). This module maps
WHATWG labels onto Python codecs to give the same results.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

__all__ = ["IncrementalDecoder", "decode", "detect_encoding", "lookup"]

# WHATWG encoding name -> (Python codec, space-separated labels).
# From the Encoding Standard's encodings.json; "replacement" and
# "x-user-defined" are handled in decode().
_ENCODINGS: dict[str, tuple[str, str]] = {
    "UTF-8": ("utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"),
    "IBM866": ("cp866", "866 cp866 csibm866 ibm866"),
    "ISO-8859-2": (
        "iso8859_2",
        "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    ),
    "ISO-8859-3": (
        "iso8859_3",
        "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    ),
    "ISO-8859-4": (
        "iso8859_4",
        "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    ),
    "ISO-8859-5": (
        "iso8859_5",
        (
            "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5"
            " iso_8859-5:1988"
        ),
    ),
    "ISO-8859-6": (
        "iso8859_6",
        (
            "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6"
            " iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987"
        ),
    ),
    "ISO-8859-7": (
        "iso8859_7",
        (
            "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7"
            " iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek"
        ),
    ),
    "ISO-8859-8": (
        "iso8859_8",
        (
            "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8"
            " iso88598 iso_8859-8 iso_8859-8:1988 visual"
        ),
    ),
    "ISO-8859-8-I": ("iso8859_8", "csiso88598i iso-8859-8-i logical"),
    "ISO-8859-10": (
        "iso8859_10",
        "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    ),
    "ISO-8859-13": ("iso8859_13", "iso-8859-13 iso8859-13 iso885913"),
    "ISO-8859-14": ("iso8859_14", "iso-8859-14 iso8859-14 iso885914"),
    "ISO-8859-15": ("iso8859_15", "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9"),
    "ISO-8859-16": ("iso8859_16", "iso-8859-16"),
    "KOI8-R": ("koi8_r", "cskoi8r koi koi8 koi8-r koi8_r"),
    "KOI8-U": ("koi8_u", "koi8-ru koi8-u"),
    "macintosh": ("mac_roman", "csmacintosh mac macintosh x-mac-roman"),
    "windows-874": ("cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    "windows-1250": ("cp1250", "cp1250 windows-1250 x-cp1250"),
    "windows-1251": ("cp1251", "cp1251 windows-1251 x-cp1251"),
    "windows-1252": (
        "cp1252",
        (
            "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1"
            " iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252"
        ),
    ),
    "windows-1253": ("cp1253", "cp1253 windows-1253 x-cp1253"),
    "windows-1254": (
        "cp1254",
        (
            "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9"
            " iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254"
        ),
    ),
    "windows-1255": ("cp1255", "cp1255 windows-1255 x-cp1255"),
    "windows-1256": ("cp1256", "cp1256 windows-1256 x-cp1256"),
    "windows-1257": ("cp1257", "cp1257 windows-1257 x-cp1257"),
    "windows-1258": ("cp1258", "cp1258 windows-1258 x-cp1258"),
    "x-mac-cyrillic": ("mac_cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
    # WHATWG decodes GBK with the gb18030 decoder.
    "GBK": (
        "gb18030",
        "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
    ),
    "gb18030": ("gb18030", "gb18030"),
    "Big5": ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    "EUC-JP": ("euc_jp", "cseucpkdfmtjapanese euc-jp x-euc-jp"),
    "ISO-2022-JP": ("iso2022_jp", "csiso2022jp iso-2022-jp"),
    "Shift_JIS": ("cp932", "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis"),
    "EUC-KR": (
        "cp949",
        (
            "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601"
            " ksc_5601 windows-949"
        ),
    ),
    "replacement": (
        "",
        "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement",
    ),
    "UTF-16BE": ("utf-16-be", "unicodefffe utf-16be"),
    "UTF-16LE": (
        "utf-16-le",
        "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
    ),
    "x-user-defined": ("", "x-user-defined"),
}

_LABELS: dict[str, str] = {
    label: name for name, (_, labels) in _ENCODINGS.items() for label in labels.split()
}

_WHITESPACE = "\t\n\f\r "  # what the WHATWG "get an encoding" algorithm trims


def _c1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # Python's windows-125x codecs leave a few bytes undefined; WHATWG maps the
    # ones in 0x80-0x9F to the C1 control with the same number.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    chunk = exc.object[exc.start : exc.end]
    return "".join(chr(b) if 0x80 <= b <= 0x9F else "\ufffd" for b in chunk), exc.end


codecs.register_error("httpr.c1", _c1_fallback)


def detect_encoding(content_type: str | None, content: bytes) -> str:
    """The label `Response.encoding` reports before `text` has been read.

    Same rules as the original: a ``charset=`` that is the *first* parameter of
    Content-Type (lowercased, quotes stripped); else ``utf-8`` for exactly
    ``application/json``; else a ``charset=`` sniffed from the first 2048 body
    bytes; else ``utf-8``.
    """
    if content_type:
        parts = content_type.split(";", 2)
        params = parts[1].strip() if len(parts) > 1 else ""
        if params.lower().startswith("charset="):
            return params[8:].strip('"').lower()
        if parts[0].strip() == "application/json":
            return "utf-8"
    head = content[:2048]
    start = head.find(b"charset=")
    if start >= 0:
        rest = head[start + 8 :]
        # The value ends at the first space, quote or '>' after its first byte;
        # without such a terminator nothing is sniffed.
        ends = [i for i in (rest.find(b" ", 1), rest.find(b'"', 1), rest.find(b">", 1)) if i > 0]
        if ends:
            return rest[: min(ends)].decode("utf-8", "replace").strip('"').lower()
    return "utf-8"


def lookup(label: str) -> str | None:
    """The encoding name for a label, or None if it is not one.

    WHATWG labels first (``latin1`` means windows-1252, as in browsers and the
    original). A label only Python knows -- ``latin-1``, ``utf_8``, ``cp437``
    -- is accepted too, since that is what Python users assign to
    `Response.encoding`: it maps to the WHATWG encoding of the same codec when
    there is one, else names the Python codec itself.
    """
    label = label.strip(_WHITESPACE).lower()
    name = _LABELS.get(label)
    if name is not None or not label:
        return name
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None  # base64, rot13, zlib ...: not charsets
    return _LABELS.get(info.name, info.name)


def _codec(name: str) -> str:
    # The Python codec for a name returned by lookup().
    entry = _ENCODINGS.get(name)
    return name if entry is None else entry[0]


def decode(content: bytes, label: str) -> tuple[str, str]:
    """Decode a body as encoding_rs's ``Encoding::decode`` would.

    Returns the text and the name of the encoding actually used (a BOM
    overrides the label). Malformed input becomes U+FFFD. An unknown label
    raises ``RuntimeError("Unsupported charset: <label>")``, the original's error.
    """
    name = lookup(label)
    if name is None:
        raise RuntimeError(f"Unsupported charset: {label}")
    if content.startswith(b"\xef\xbb\xbf"):
        name, content = "UTF-8", content[3:]
    elif content.startswith(b"\xfe\xff"):
        name, content = "UTF-16BE", content[2:]
    elif content.startswith(b"\xff\xfe"):
        name, content = "UTF-16LE", content[2:]

    if name == "UTF-8":  # the common case first
        return content.decode("utf-8", "replace"), name
    if name == "replacement":
        return ("\ufffd" if content else ""), name
    if name == "x-user-defined":
        return "".join(chr(b) if b < 0x80 else chr(0xF700 + b) for b in content), name
    errors = "httpr.c1" if name.startswith("windows-") else "replace"
    return content.decode(_codec(name), errors), name


_BOMS = ((b"\xef\xbb\xbf", "UTF-8"), (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))


def _chunk_decoder(name: str) -> Callable[[bytes, bool], str]:
    """An incremental ``decode(data, final)`` for a WHATWG encoding name."""
    if name == "replacement":
        emitted = False

        def replacement(data: bytes, final: bool = False) -> str:
            nonlocal emitted
            if data and not emitted:
                emitted = True
                return "\ufffd"
            return ""

        return replacement
    if name == "x-user-defined":

        def user_defined(data: bytes, final: bool = False) -> str:
            return "".join(chr(b) if b < 0x80 else chr(0xF700 + b) for b in data)

        return user_defined
    errors = "httpr.c1" if name.startswith("windows-") else "replace"
    decoder: Callable[[bytes, bool], str] = codecs.getincrementaldecoder(_codec(name))(
        errors
    ).decode
    return decoder


class IncrementalDecoder:
    """Decode a body chunk by chunk as `decode()` decodes it whole.

    A character split across chunks comes out whole once its last byte
    arrives; malformed bytes become U+FFFD. A BOM at the start of the body
    overrides the label, as in `decode()`. An unknown label raises
    ``RuntimeError("Unsupported charset: <label>")`` here, at construction.
    """

    __slots__ = ("_decode", "_head", "_name")

    def __init__(self, label: str) -> None:
        name = lookup(label)
        if name is None:
            raise RuntimeError(f"Unsupported charset: {label}")
        self._name = name
        self._head = b""
        self._decode: Callable[[bytes, bool], str] | None = None

    def decode(self, data: bytes, final: bool = False) -> str:
        """The text completed by `data`; ``final=True`` flushes what is left."""
        if self._decode is None:
            # Hold back the first bytes while they may still be a BOM.
            head = self._head + data
            if not final and len(head) < 3 and any(bom.startswith(head) for bom, _ in _BOMS):
                self._head = head
                return ""
            self._head = b""
            name = self._name
            for bom, bom_name in _BOMS:
                if head.startswith(bom):
                    name, head = bom_name, head[len(bom) :]
                    break
            self._decode = _chunk_decoder(name)
            data = head
        return self._decode(data, final)
