"""Pure functions that turn the keyword-rich public API into what the native
module takes: a URL string, a list of ``(name, value)`` header pairs, a body as
``bytes`` and a timeout in seconds (CONTRACT §2.5).

Nothing here touches the network or the client object; `_client.py` decides
when each step is needed so that the common case skips them all.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
from base64 import b64encode
from collections.abc import Iterable, Mapping
from json.encoder import JSONEncoder, c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from ._exceptions import RequestError

__all__ = [
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "METHODS",
    "REQUEST_KWARGS",
    "append_query",
    "basic_auth",
    "check_auth",
    "check_bearer",
    "check_timeout",
    "content_body",
    "cookie_header",
    "cookie_items",
    "encode_pairs",
    "header_items",
    "header_pair",
    "is_plain_url",
    "json_body",
    "merge_params",
    "multipart_body",
    "normalize_pairs",
    "params_to_dict",
    "parse_cookie_header",
    "plain_urls",
    "prepare_url",
    "seconds",
    "valid_header",
]

METHODS = frozenset(("GET", "HEAD", "OPTIONS", "DELETE", "POST", "PUT", "PATCH"))
REQUEST_KWARGS = frozenset(
    (
        "params",
        "headers",
        "cookies",
        "content",
        "data",
        "json",
        "files",
        "auth",
        "auth_bearer",
        "timeout",
    )
)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

Pairs = list[tuple[str, str]]

# --------------------------------------------------------------------------- URLs

# A URL made only of these characters goes to the native parser untouched:
# printable ASCII minus what WHATWG URL parsing would rewrite or split on --
# space, '"', "'", '<', '>', '`', '{', '}' (percent-encoded), '\' (read as '/'),
# '#' (fragment, never sent) and '@' (credentials, turned into Basic auth).
_plain_url = re.compile(r"[!$-&(-;=?A-\[\]-_a-z|~]+").fullmatch

# Memo of `_plain_url` answers: the regex costs more than everything else on
# the hot path, and programs reuse the same few URLs. The request path reads
# it directly (``plain_urls.get(url) is True``); `is_plain_url()` fills it.
# Bounded: cleared when full.
plain_urls: dict[str, bool] = {}
_PLAIN_URLS_MAX = 1024


def is_plain_url(url: str) -> bool:
    """Whether `url` can go to the native parser as it is (see `_plain_url`)."""
    plain = plain_urls.get(url)
    if plain is None:
        plain = _plain_url(url) is not None
        if len(plain_urls) >= _PLAIN_URLS_MAX:
            plain_urls.clear()
        plain_urls[url] = plain
    return plain


_C0_OR_SPACE = "".join(map(chr, range(0x21)))
# Characters left as they are, on top of quote()'s always-safe "A-Za-z0-9_.-~".
# '%' is safe so existing escapes survive (WHATWG leaves them alone too).
_PATH_SAFE = "!$%&'()*+,/:;=@[]^|"
_QUERY_SAFE = "!$%&()*+,/:;=?@[\\]^`{|}"


def prepare_url(url: object) -> tuple[str, tuple[str, str | None] | None]:
    """Normalise a URL the slow way, as a WHATWG parser (reqwest's) would.

    Strips surrounding whitespace/controls and the fragment, IDNA-encodes the
    host, percent-encodes path and query (UTF-8), and takes ``user:pass@`` out
    of the authority. Returns the URL and those credentials (or None).
    A URL whose scheme is not http(s) is returned as it is, so the native side
    reports it (`UnsupportedProtocol`).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    url = url.strip(_C0_OR_SPACE)
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    url = url.partition("#")[0]
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        return url, None

    end = len(rest)
    for ch in "/?\\":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    authority, tail = rest[:end], rest[end:]

    credentials: tuple[str, str | None] | None = None
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if user or password:
            credentials = (unquote(user), unquote(password) if colon and password else None)

    if hostport.startswith("["):  # IPv6 literal: "[::1]" or "[::1]:8080"
        close = hostport.find("]") + 1
        host, port = hostport[:close], hostport[close:]
    else:
        host, colon, port = hostport.partition(":")
        port = colon + port
        host = host.lower()
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise RequestError(
                    f"Invalid URL {url!r}: invalid international domain name ({exc})"
                ) from None
    if port == ":":
        port = ""  # an empty port means the default one

    path, qmark, query = tail.partition("?")
    path = quote(path.replace("\\", "/"), safe=_PATH_SAFE) or "/"
    if qmark:
        return f"{scheme}://{host}{port}{path}?{quote(query, safe=_QUERY_SAFE)}", credentials
    return f"{scheme}://{host}{port}{path}", credentials


def append_query(url: str, query: str) -> str:
    """Append an encoded query to a URL that may already have one (no fragment)."""
    if not query:
        return url
    _, qmark, existing = url.partition("?")
    if not qmark:
        return f"{url}?{query}"
    if not existing:
        return url + query  # the URL ends with a bare '?'
    return f"{url}&{query}"


# ------------------------------------------------------------ params and form data


def _primitive(value: object) -> str:
    # httpx's primitive_value_to_str.
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        return value
    return str(value)


def _pairs_error(what: str, obj: object) -> TypeError:
    return TypeError(
        f"{what} must be a mapping or a sequence of (key, value) pairs, got {type(obj)}"
    )


def normalize_pairs(obj: object, what: str) -> Pairs:
    """Normalise `params` / `data` into ordered string pairs, as httpx does.

    Accepts a mapping (anything with ``items()``) or a sequence of ``(key,
    value)`` pairs. ``True``/``False`` become ``"true"``/``"false"``, ``None``
    becomes ``""``, other values go through ``str()``, and a list/tuple value
    repeats its key once per element.
    """
    items: Any
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (str, bytes, bytearray, memoryview)):
        raise _pairs_error(what, obj)  # iterable, but never a sequence of pairs
    elif hasattr(obj, "items"):
        items = obj.items()
    else:
        if not isinstance(obj, Iterable):
            raise _pairs_error(what, obj)
        items = obj

    out: Pairs = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise _pairs_error(what, obj)
        key, value = item
        if type(key) is not str:
            key = _primitive(key)
        if type(value) is str:
            out.append((key, value))
        elif isinstance(value, (list, tuple)):
            out.extend([(key, _primitive(v)) for v in value])
        else:
            out.append((key, _primitive(value)))
    return out


def merge_params(client: Pairs, request: Pairs) -> Pairs:
    """Client pairs first, minus every key the request supplies, then the request's."""
    if not client:
        return request
    keys = {key for key, _ in request}
    return [pair for pair in client if pair[0] not in keys] + request


def params_to_dict(pairs: Pairs) -> dict[str, str | list[str]]:
    """The `client.params` view: a repeated key maps to a list of its values."""
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        existing = out.get(key)
        if existing is None:
            out[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            out[key] = [existing, value]
    return out


def _form_quote(text: str) -> str:
    # Alphanumeric ASCII needs no escaping; quote_plus is slow by comparison.
    return text if text.isalnum() and text.isascii() else quote_plus(text, safe="*")


def encode_pairs(pairs: Pairs) -> str:
    """application/x-www-form-urlencoded, space as '+' (what reqwest sends)."""
    return "&".join([f"{_form_quote(k)}={_form_quote(v)}" for k, v in pairs])


# ------------------------------------------------------------------------ timeout


def seconds(value: object) -> float | None:
    """A timeout as float (or None), without range checks; TypeError for non-numbers."""
    if value is None or type(value) is float:
        return value
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"timeout must be a number of seconds or None, got {type(value).__name__}")
    return float(value)  # type: ignore[arg-type]


def _rust_float(value: float) -> str:
    # How Rust's Display prints an f64, which the original's message uses.
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return str(int(value)) if value.is_integer() else repr(value)


def check_timeout(value: float | None) -> float | None:
    """Validate a timeout already converted by `seconds()`."""
    if value is None or 0.0 <= value < 18446744073709551616.0:  # what a Rust Duration can hold
        return value
    raise ValueError(
        f"timeout must be a non-negative number of seconds or None, got {_rust_float(value)}"
    )


# ---------------------------------------------------------------- authorization


def check_auth(auth: object) -> tuple[str, str | None] | None:
    """Validate a ``(username, password-or-None)`` pair."""
    if auth is None:
        return None
    if isinstance(auth, (tuple, list)) and len(auth) == 2:
        user, password = auth
        if isinstance(user, str) and (password is None or isinstance(password, str)):
            return (user, password)
    raise TypeError(
        f"auth must be a (username, password) tuple of str (the password may be None), got {auth!r}"
    )


def check_bearer(token: object) -> str | None:
    if token is None or isinstance(token, str):
        return token
    raise TypeError(f"auth_bearer must be a str or None, got {type(token).__name__}")


def basic_auth(auth: tuple[str, str | None]) -> str:
    """``Authorization`` value for HTTP Basic; a None password encodes as ``user:``."""
    user, password = auth
    token = f"{user}:{password if password is not None else ''}".encode()
    return "Basic " + b64encode(token).decode("ascii")


# ------------------------------------------------------------------------ headers


def header_pair(name: object, value: object) -> tuple[str, str]:
    """Validate one header; the name is lowercased (as HTTP/2 and the original send it).

    Names and values must be str, as in the original. Only types are checked
    here: the native module refuses names that are not tokens and values with
    CR, LF or NUL (`LocalProtocolError`), before any I/O.
    """
    if type(name) is not str or type(value) is not str:
        if not isinstance(name, str):
            raise TypeError(f"Header name must be str, got {type(name).__name__}")
        if not isinstance(value, str):
            raise TypeError(f"Header value must be str, got {type(value).__name__} for {name!r}")
    return name.lower(), value


# RFC 9110: a field name is a token; a value has no control character but HTAB.
_token = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_control = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search

_log = logging.getLogger("httpr")


def valid_header(name: str, value: str) -> bool:
    """Whether a header may go on the wire; logs a warning when it may not."""
    if _token(name) is not None and _control(value) is None:
        return True
    _log.warning("Skipping invalid header %r: %r", name, value)
    return False


def header_items(headers: object, skip_invalid: bool = False) -> list[tuple[str, str]]:
    """Type-checked, lowercased pairs from a mapping or a sequence of pairs.

    With `skip_invalid`, pairs that could not go on the wire (see
    `valid_header`) are left out, as the original does; without it they are
    kept and the native module refuses the request (`LocalProtocolError`).
    """
    if isinstance(headers, Mapping):
        pairs: Iterable[Any] = headers.items()
    elif isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise TypeError(
            "headers must be a mapping or a sequence of (name, value) pairs,"
            f" got {type(headers).__name__}"
        )
    else:
        pairs = headers
    items = [header_pair(name, value) for name, value in pairs]
    if skip_invalid:
        return [(name, value) for name, value in items if valid_header(name, value)]
    return items


# ------------------------------------------------------------------------ cookies


def cookie_items(cookies: object) -> Iterable[tuple[str, str]]:
    if not isinstance(cookies, Mapping):
        raise TypeError(f"cookies must be a dict or None, got {type(cookies).__name__}")
    items = list(cookies.items())
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"cookie names and values must be str, got {name!r}: {value!r}")
    return items


def cookie_header(items: Iterable[tuple[str, str]]) -> str:
    """One ``Cookie`` header value for all cookies (RFC 6265 §5.4)."""
    return "; ".join(f"{name}={value}" for name, value in items)


def parse_cookie_header(value: str | None) -> dict[str, str]:
    """``"a=1; b=2"`` -> ``{"a": "1", "b": "2"}``; parts without '=' are dropped."""
    cookies: dict[str, str] = {}
    if value:
        for part in value.split(";"):
            name, eq, val = part.strip().partition("=")
            if eq:
                cookies[name] = val
    return cookies


# -------------------------------------------------------------------------- bodies


def content_body(content: object) -> bytes:
    """`content=`: bytes as they are; other buffers copied; str as UTF-8."""
    if type(content) is bytes:
        return content
    if isinstance(content, (bytes, bytearray, memoryview)):
        return bytes(content)  # an immutable copy: the native side keeps a reference
    if isinstance(content, str):
        return content.encode("utf-8")
    raise TypeError(
        f"content must be bytes, bytearray, memoryview or str, got {type(content).__name__}"
    )


# Compact, UTF-8 and key order as given, like httpx; NaN/Infinity are refused
# because they are not JSON.
_json_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
if c_make_encoder is not None:
    # JSONEncoder.encode() builds a new C encoder on every call; build it once.
    # No circular-reference markers (a shared dict would not be thread-safe):
    # a self-containing value ends in RecursionError rather than ValueError.
    _c_encode = c_make_encoder(
        None, _json_encoder.default, encode_basestring, None, ":", ",", False, False, False
    )

    def json_body(value: object) -> bytes:
        return "".join(_c_encode(value, 0)).encode("utf-8")

else:  # pragma: no cover - Pythons without the _json accelerator

    def json_body(value: object) -> bytes:
        return _json_encoder.encode(value).encode("utf-8")


def _disposition_param(value: str) -> bytes:
    # The HTML form encoding of a quoted-string: escape the characters that
    # would end the parameter or the header line.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode("utf-8")


def _upload_path(field: str, path: object) -> str:
    """The absolute path of a file to upload; RequestError unless it is a readable file.

    Checked here, before any I/O, so a wrong path fails the request before a
    connection is made. The engine opens the file again while sending.
    """
    try:
        fspath = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"files values must be file paths (str or os.PathLike), got {type(path).__name__}"
            f" for field {field!r}"
        ) from None
    name = os.fsdecode(fspath)
    try:
        mode = os.stat(name).st_mode
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RequestError(f"Cannot read the file {name!r} for field {field!r}: {reason}") from None
    if not stat.S_ISREG(mode):
        raise RequestError(f"Cannot read the file {name!r} for field {field!r}: not a regular file")
    if not os.access(name, os.R_OK):
        raise RequestError(f"Cannot read the file {name!r} for field {field!r}: permission denied")
    return os.path.abspath(name)


def multipart_body(files: object) -> tuple[list[bytes | str], str]:
    """`files=`: multipart/form-data with one part per ``field -> path``.

    Each part is named after its field, and its filename is the field name too
    (not the file's basename), with no per-part Content-Type -- what the
    original sends. The body is a list for the engine: bytes are sent as they
    are and each str is the path of a file it streams from disk (so the
    request goes out with ``Transfer-Encoding: chunked``).
    """
    if not isinstance(files, Mapping):
        raise TypeError(
            f"files must be a mapping of field name to file path, got {type(files).__name__}"
        )
    token = os.urandom(32).hex()
    boundary = "-".join(token[i : i + 16] for i in range(0, 64, 16)).encode("ascii")
    body: list[bytes | str] = []
    separator = b""  # what ends the previous part: joined with the next part's head
    for field, path in files.items():
        if not isinstance(field, str):
            raise TypeError(f"files field names must be str, got {type(field).__name__}")
        name = _disposition_param(field)
        body.append(
            b'%s--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n\r\n'
            % (separator, boundary, name, name)
        )
        body.append(_upload_path(field, path))
        separator = b"\r\n"
    body.append(b"%s--%s--\r\n" % (separator, boundary))
    return body, "multipart/form-data; boundary=" + boundary.decode("ascii")
