"""The native JSON decoder behind Response.json() (src/py/json.c, `_httpr._json_loads`), and
the engine's read ahead (src/core/json_tape.c, `_httpr._json_tape_loads`: a tape made off the
caller's thread, then built into objects by json.c).

Its contract is differential: for a body of UTF-8 bytes, the value of
``json.JSONDecoder().decode(body.decode("utf-8", "surrogatepass"))`` -- equal, of the same
types, floats bit for bit -- or ValueError for everything that call rejects (and for the
few documents it leaves to json). Response.json() then lets json decide, so the exceptions
users see are unchanged; the tests through a real server check exactly that.
"""

from __future__ import annotations

import decimal
import gc
import gzip
import json
import math
import os
import pathlib
import random
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpr
import pytest
from httpr import _httpr, _response
from servers.scripted import response, serve

ROOT = pathlib.Path(__file__).resolve().parent.parent
native: Callable[[Any], Any] = _httpr._json_loads
_decode = json.JSONDecoder().decode
MAX_DEPTH = 512  # HR_JSON_MAX_DEPTH in src/py/json.h
TAPE_DEPTH = 256  # HR_JSON_TAPE_DEPTH in src/core/hr.h
TAPE_MIN = 32 * 1024  # HR_JSON_AHEAD_MIN in src/core/hr.h


def tape(doc: Any) -> Any:
    """The read-ahead path; ValueError when it declines (no tape, or the build declines)."""
    try:
        return _httpr._json_tape_loads(doc)
    except LookupError:
        raise ValueError("no tape") from None


def depth_of(value: Any) -> int:
    """Nesting depth of a decoded value (containers count, scalars do not)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d + 1)
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def reference(doc: bytes) -> Any:
    """What Response.json() returned before the native decoder (bodies without a BOM)."""
    return _decode(doc.decode("utf-8", "surrogatepass"))


def float_bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_same(got: Any, want: Any, doc: bytes = b"") -> None:
    """Equal values of identical types all the way down (iterative: documents may be deep)."""
    stack = [(got, want, "$")]
    while stack:
        a, b, path = stack.pop()
        where = f"at {path} in {doc[:200]!r}"
        assert type(a) is type(b), f"{type(a).__name__} != {type(b).__name__} {where}"
        if isinstance(a, float):
            assert float_bits(a) == float_bits(b), f"{a!r} != {b!r} (bits) {where}"
        elif isinstance(a, list):
            assert len(a) == len(b), where
            stack.extend((x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
        elif isinstance(a, dict):
            assert list(a) == list(b), f"keys {list(a)!r} != {list(b)!r} {where}"
            for k in a:
                assert type(k) is str, where
                stack.append((a[k], b[k], f"{path}[{k!r}]"))
        else:
            assert a == b, f"{a!r} != {b!r} {where}"


def check(doc: bytes) -> bool:
    """Assert that the native decoder, and the read ahead, agree with json on doc; return
    whether json accepts."""
    try:
        want = reference(doc)
    except (ValueError, RecursionError):
        for path in (native, tape):
            try:
                got = path(doc)
            except ValueError:
                continue
            raise AssertionError(f"{path.__name__}: accepted {doc[:200]!r} (json rejects it)")
        return False
    try:
        got = native(doc)
    except ValueError as exc:
        raise AssertionError(f"rejected {doc[:200]!r}, which json accepts: {exc}") from None
    assert_same(got, want, doc)
    # the tape declines only NaN and nesting past its limit
    try:
        got = tape(doc)
    except ValueError as exc:
        if b"NaN" in doc or depth_of(want) > TAPE_DEPTH:
            return True
        raise AssertionError(f"tape: declined {doc[:200]!r}, which json accepts: {exc}") from None
    assert_same(got, want, doc)
    return True


# -- the checker itself ----------------------------------------------------------------------


def test_assert_same_catches_differences():
    for a, b in [
        (1, 1.0),
        (True, 1),
        (0.0, -0.0),
        ([1], [1, 2]),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ("\ud800", "\udc00"),
        (float("nan"), -float("nan")),
    ]:
        with pytest.raises(AssertionError):
            assert_same(a, b)
    assert_same([{"a": [0.5, None]}], [{"a": [0.5, None]}])


# -- the generated table --------------------------------------------------------------------


def test_pow5_header_is_the_generators_output():
    out = subprocess.run(
        [sys.executable, str(ROOT / "src/core/gen_pow5.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    header = (ROOT / "src/core/json_pow5.h").read_text()
    assert out == header, "src/core/json_pow5.h is stale: re-run src/core/gen_pow5.py"
    # spot checks against independent arithmetic: 10^0 and 10^-1, normalised to 128 bits
    assert "{0x8000000000000000u, 0x0000000000000000u}, /* 1e0 */" in header
    assert "{0xccccccccccccccccu, 0xccccccccccccccccu}, /* 1e-1 */" in header


# -- hand-written cases, JSONTestSuite style -------------------------------------------------

# y_: json accepts them; the native decoder must too, with identical values
ACCEPTED = [
    b"[]", b"{}", b"[[]   ]", b'[""]', b'["a"]', b"[false]", b'[null, 1, "1", {}]', b"[1\n]",
    b" [1]", b"[1,null,null,null,2]", b"[2] ", b"[-0]", b"[-1]", b"[-123]", b"[0e+1]", b"[0e1]",
    b"[1E22]", b"[1E-2]", b"[1E+2]", b"[123e45]", b"[123.456e78]", b"[1e-2]", b"[1e+2]",
    b"[123]", b"[123.456789]", b"[0.0]", b"[-0.0]", b"[20e1]", b"[-0e-0]", b"[0.000001]",
    b'{"asd":"sdf", "dfg":"fgh"}', b'{"a":[]}', b'{"":0}', b'{"foo\\u0000bar": 42}',
    b'{ "min": -1.0e+28, "max": 1.0e+28 }', b'{"a":"b","a":"c"}', b'{"a":"b","a":"b"}',
    b'{"a":1,"b":2,"a":3}', b'{"x":[{"id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}], "id": 1}',
    b'["\\u0060\\u012a\\u12AB"]', b'["\\uD801\\udc37"]', b'["\\ud83d\\ude39\\ud83d\\udc8d"]',
    b'["\\"\\\\\\/\\b\\f\\n\\r\\t"]', b'["\\\\u0000"]', b'["\\""]', b'["a/*b*/c/*d//e"]',
    b'["\\\\a"]', b'["\\u0012"]', b'["\\uFFFF"]', b'["\\uDBFF\\uDFFF"]', b'["new\\u00A0line"]',
    '["\U0010ffff"]'.encode(), '["\ufffd"]'.encode(), b'["\\u0000"]', b'["\\u002c"]',
    b'["\\u0123\\u4567\\u89AB\\uCDEF\\uabcd\\uef4A"]', b'["\\u005C"]', b'["\\u0022"]',
    '["€𝄞"]'.encode(), b'["\x7f"]', b'["\\u200B"]', '["⍂㈴⍂"]'.encode(), b'"x"', b"42",
    b"-0.1", b"null", b"true", b"false", b" [] ", b'"\\u0061"', (b" \t\n\r[ \t\n\r1 \t\n\r, "
    b"\t\n\r2 \t\n\r] \t\n\r"), b'{"\xc3\xa9":1, "\\u00e9":2}', b'{"a\\nb":1, "a\\nb":2}',
    '{"ключ": "значение", "キー": "値"}'.encode(), b'["\\/"]', b"[1,[2,[3,[4,[]]]]]",
    b'[{"a":{"b":{"c":{}}}}]', b"[true,false,null,true]", b"0", b"-0", b"1", b"9", b"10",
    b"-9223372036854775808", b"9223372036854775807", b"18446744073709551616", b"999999999999999999",
    b"-999999999999999999", b"1000000000000000000", b"-1000000000000000000",
]  # fmt: skip

# n_: json rejects them; the native decoder must raise ValueError
REJECTED = [
    b"", b" ", b"[", b"]", b"[1", b"[1,", b"[1,]", b"[,1]", b"[1,,2]", b"[1 2]", b'["a",]',
    b"[1:2]", b"{", b"}", b'{"a"', b'{"a":', b'{"a":1', b'{"a":1,}', b'{"a" 1}', b"{a:1}",
    b"{'a':1}", b"{1:1}", b'{"a":1 "b":2}', b'{"a"::1}', b"{,}", b'{"a":1,,"b":2}', b"[01]",
    b"[-01]", b"[1.]", b"[.1]", b"[+1]", b"[1e]", b"[1e+]", b"[1E-]", b"[1.e1]", b"[-]",
    b"[--1]", b"[0x1]", b"[1_000]", b"[1.0.0]", b"[0.e1]", b"[-.1]", b"[- 1]", b"[1ea]",
    b"[Infinity1]", b"[-NaN]", b"[nan]", b"[inf]", b"[-inf]", b"[+Infinity]", b"[NAN]",
    b"[infinity]", b"[tru]", b"[True]", b"[nul]", b"[None]", b"[fals]", b'["a]', b'["\\"]',
    b'["\\x00"]', b'["\\a"]', b'["\\u"]', b'["\\u12"]', b'["\\u12g4"]', b'["\\uD800\\u"]',
    b'["\\uD800\\u12"]', b'["\\uD800\\uZZZZ"]', b'["\\U0041"]', b"['a']", b'["a\x00b"]',
    b'["a\x1fb"]', b'["a\nb"]', b'["a\tb"]', b'["\xff"]', b'["\xc0\x80"]', b'["\xc1\xbf"]',
    b'["\xe0\x80\x80"]', b'["\xe0\x9f\xbf"]', b'["\xf0\x80\x80\x80"]', b'["\xf0\x8f\xbf\xbf"]',
    b'["\xf4\x90\x80\x80"]', b'["\xf5\x80\x80\x80"]', b'["\xf8\x88\x80\x80\x80"]', b'["\x80"]',
    b'["\xc3"]', b'["\xe2\x82"]', b'["\xed\xa0"]', b'["\xf0\x9f\x98"]', b'["\xc3\x28"]',
    b'["\xe2\x28\xa1"]', b'["\xf0\x28\x8c\xbc"]', b"[1] [2]", b"[1]x", b"{}}", b"[]]", b"1 2",
    b'"a" "b"', b"\xef\xbb\xbf[]", b"[\x00]", b"\x00", b"[1]\x00", b"[\xa0]", b"[\x0c]",
    b"[\x0b1]", b"\xc2\xa01", b"[1,\xc2\xa02]", b"/* c */ []", b"[] // c", b"[1]#",
    b'{"a":1}{"b":2}', b"[true false]", b"nulll", b"truefalse", b"[1e1.5]", b"[1 000]",
    b"[-Infinity1]", b"-", b"-I", b"-Infinit", b"N", b"Na", b"I", b"[Infinit]", b"\xff\xfe[\x00]\x00",
    b'{"a":1}\n,', b'{"\xff":1}', b'{"a\x01":1}', b'{"\\q":1}', b"\x1f", b"[\"\x7f\xff\"]",
    b'"\\ud800\\udc0"', b'"\\ud800\\', b'"\\', b'"', b"tru", b"t", b"[nulx]", b"[1.5e]",
    b"[1e5e5]", b"[0.1.2]", b"[1e+-2]", b"[1e-+2]", b"[2.e-3]", b"[.e1]", b"[e1]", b"[E1]",
]  # fmt: skip

# i_: implementation-defined in JSON; here json's behaviour is the answer either way
EDGES = [
    b"[1e400]", b"[-1e400]", b"[1e-400]", b"[123456789012345678901234567890]",
    b"[-123456789012345678901234567890]", b"[100000000000000000000]", b"[1.5e+9999]",
    b"[-1e-99999]", b"[0e99999999999999]", b"[1e99999999999999999999]",
    b"[1e-99999999999999999999]", b"[-0e-99999999999999999999]", b'["\\uD800"]',
    b'["\\uDFAA"]', b'["\\uD800\\uD800"]', b'["\\uDd1e\\uD834"]', b'["\\uD888\\u1234"]',
    b'["\xed\xa0\x80"]', b'["\xed\xbf\xbf"]', b'["\xed\xa0\x80\xed\xb0\x80"]',
    b'["\\ud800\xed\xb0\x80"]', b'["\xed\xa0\x80\\udc00"]', b'["\\ud800\\ud800\\udc00"]',
    b"[NaN]", b"[Infinity]", b"[-Infinity]", b"NaN", b"-Infinity", b"Infinity",
    b'["\xe0\xff"]', b'{"\\ud800":1, "\\udc00":2}', b'["\\uD834\\uDD1E"]', b'["\\uDBFF\\uDFFF"]',
    b'["\\udbff\\u0041"]', b"[1" + b"0" * 400 + b"]", b"[1" + b"0" * 400 + b".0]",
    b"[0." + b"0" * 400 + b"1]", b"[1" + b"0" * 4299 + b"]", b"[1" + b"0" * 4300 + b"]",
    b"[-1" + b"0" * 4300 + b"]", b"[1" + b"0" * 5000 + b".5]",
]  # fmt: skip


@pytest.mark.parametrize("doc", ACCEPTED, ids=range(len(ACCEPTED)))
def test_accepted(doc):
    assert check(doc), f"json was expected to accept {doc!r}"


@pytest.mark.parametrize("doc", REJECTED, ids=range(len(REJECTED)))
def test_rejected(doc):
    assert not check(doc), f"json was expected to reject {doc!r}"
    with pytest.raises(ValueError):
        native(doc)


@pytest.mark.parametrize("doc", EDGES, ids=range(len(EDGES)))
def test_edge_cases_agree(doc):
    check(doc)


def test_some_values_exactly():
    assert native(b'{"a": [1, 2.5, "x", true, null]}') == {"a": [1, 2.5, "x", True, None]}
    assert native(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert native(b'"\\ud800\\u0041"') == "\ud800A"
    assert native(b'"\xed\xa0\x80\xed\xb0\x80"') == "\ud800\udc00"  # two lone surrogates
    assert list(native(b'{"b":1,"a":2,"b":3}').items()) == [("b", 3), ("a", 2)]
    assert float_bits(native(b"-0.0")) == float_bits(-0.0)
    assert native(b"-0") == 0 and type(native(b"-0")) is int
    assert math.isnan(native(b"NaN")) and native(b"-Infinity") == -math.inf
    assert native(b"1e400") == math.inf and native(b"-1e400") == -math.inf
    assert native(b"1" * 30) == int("1" * 30)


def test_bytes_like_inputs():
    doc = b'{"k": [1, "v"]}'
    for data in (doc, bytearray(doc), memoryview(doc), memoryview(b"xx" + doc + b"yy")[2:-2]):
        assert native(data) == {"k": [1, "v"]}
    with pytest.raises(TypeError):
        native('{"k": 1}')
    with pytest.raises(TypeError):
        native(None)


def test_no_read_past_the_end():
    # a view whose next byte would complete the document: the decoder must stop at len
    buf = b'[1, 2]"tail'
    with pytest.raises(ValueError):
        native(memoryview(buf)[:5])  # "[1, 2" -- the "]" is outside the view
    with pytest.raises(ValueError):
        native(memoryview(b'"abc"')[:4])
    with pytest.raises(ValueError):
        native(memoryview(b"123456789.5e7")[:10])  # "123456789." -- digits follow outside
    assert native(memoryview(b"12345678901234567")[:9]) == 123456789
    assert native(memoryview(b"12345678")[:7]) == 1234567  # no eight-byte read past the end
    assert native(memoryview(b"0.12345678")[:9]) == 0.1234567
    with pytest.raises(ValueError):
        native(memoryview(b'"abcdefgh"')[:9])  # the closing quote is outside the view
    assert native(memoryview(b'"abcdefgh"x')[:10]) == "abcdefgh"
    assert native(memoryview(b"true")[:4]) is True
    with pytest.raises(ValueError):
        native(memoryview(b"true")[:3])


def test_depth_limit():
    for depth in (1, 16, 17, 100, MAX_DEPTH):
        assert check(b"[" * depth + b"]" * depth)
        assert check(b'{"a":' * depth + b"1" + b"}" * depth)
        pairs = (depth - 1) // 2  # two levels each, plus the innermost []
        assert check(b'[{"a":' * pairs + b"[]" + b"}]" * pairs)
    # one deeper: left to json (which accepts it here, or raises RecursionError elsewhere)
    too_deep = MAX_DEPTH + 1
    for doc in (b"[" * too_deep + b"]" * too_deep, b'{"a":' * too_deep + b"1" + b"}" * too_deep,
                b'{"a":' * MAX_DEPTH + b"{}" + b"}" * MAX_DEPTH, b"[" * 100000):  # fmt: skip
        with pytest.raises(ValueError):
            native(doc)


def test_many_items_and_keys():
    # past the inline stacks and the key memo: 64 items, 16 frames, 256 key slots
    doc = json.dumps([list(range(i)) for i in range(200)]).encode()
    assert check(doc)
    doc = json.dumps({f"key{i}": {f"inner{j}": j for j in range(i % 7)} for i in range(3000)})
    assert check(doc.encode())
    # keys of the same length and edges, differing inside: memo slots must compare all bytes
    keys = [f"k{'x' * 10}{i:04d}{'y' * 10}z" for i in range(500)] + [
        f"a{i:03d}b" for i in range(500)
    ]
    doc = json.dumps([{k: i for k in keys[i % 50 :: 50]} for i in range(200)]).encode()
    assert check(doc)
    long_keys = [f"{'q' * 80}{i}" for i in range(20)]  # longer than the memoised ones
    assert check(json.dumps([{k: 1 for k in long_keys}] * 3).encode())


# -- random documents ------------------------------------------------------------------------


class DocGen:
    """Random JSON text, written token by token (so that every spelling json accepts occurs:
    escapes in either hex case, raw or escaped non-ASCII, exponents with and without signs)."""

    KEYS = ("id", "name", "a", "", "value", "é", "key with space", "x" * 20, "\u2603", "k\n")
    CHARS = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-/\\\"'\x7f"
        "\x00\x01\x1f\t\n\r\b\féàüñßœ€\u2028\u2603\uffff\ufffd日本語\U0001f600\U00010000"
        "\U0010ffff\ud800\udbff\udc00\udfff"
    )
    SHORT_ESCAPES: ClassVar[dict[str, str]] = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                     "\r": "\\r", "\t": "\\t", "/": "\\/"}  # fmt: skip

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def ws(self) -> str:
        return self.r.choice(["", "", "", "", " ", "\n", "\t", "\r\n  ", "    "])

    def document(self) -> bytes:
        text = self.ws() + self.value(0) + self.ws()
        return text.encode("utf-8", "surrogatepass")

    def value(self, depth: int) -> str:
        k = self.r.random()
        if depth < 7 and k < 0.12:
            n = self.r.choice([0, 1, 2, 3, 5, 8, 70 if depth < 2 else 4])
            inner = ",".join(self.ws() + self.value(depth + 1) + self.ws() for _ in range(n))
            return "[" + (inner or self.ws()) + "]"
        if depth < 7 and k < 0.24:
            n = self.r.choice([0, 1, 2, 3, 5, 8, 20 if depth < 2 else 4])
            members = []
            for _ in range(n):
                key = self.r.choice(self.KEYS) if self.r.random() < 0.7 else self.text(12)
                members.append(
                    self.ws()
                    + self.string(key)
                    + self.ws()
                    + ":"
                    + self.ws()
                    + self.value(depth + 1)
                    + self.ws()
                )
            return "{" + (",".join(members) or self.ws()) + "}"
        return self.scalar()

    def scalar(self) -> str:
        k = self.r.random()
        if k < 0.25:
            return self.integer()
        if k < 0.5:
            return self.floating()
        if k < 0.85:
            return self.string(self.text(self.r.choice([0, 1, 3, 8, 20, 100])))
        return self.r.choice(["true", "false", "null", "NaN", "Infinity", "-Infinity"])

    def integer(self) -> str:
        r = self.r
        n = r.choice([1, 1, 2, 5, 9, 17, 18, 19, 20, 25, 60])
        digits = str(r.randint(1, 9)) + "".join(r.choices("0123456789", k=n - 1))
        if r.random() < 0.1:
            digits = "0"
        return ("-" if r.random() < 0.3 else "") + digits

    def floating(self) -> str:
        r = self.r
        k = r.random()
        if k < 0.3:
            return repr(r.uniform(-1e6, 1e6))
        if k < 0.5:
            bits = r.getrandbits(64)
            x = struct.unpack("<d", struct.pack("<Q", bits))[0]
            return repr(x) if math.isfinite(x) else "0.5"
        return random_float_text(r)

    def text(self, n: int) -> str:
        return "".join(self.r.choices(self.CHARS, k=n))

    def string(self, s: str) -> str:
        out = []
        r = self.r
        for ch in s:
            c = ord(ch)
            if ch in self.SHORT_ESCAPES and (ch in '"\\' or c < 0x20 or r.random() < 0.5):
                out.append(self.SHORT_ESCAPES[ch])
            elif c < 0x20 or r.random() < 0.15:
                if c > 0xFFFF:  # astral: a surrogate pair of escapes
                    c -= 0x10000
                    pair = (0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF))
                    out.append("".join(self.hex_escape(u) for u in pair))
                else:
                    out.append(self.hex_escape(c))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'

    def hex_escape(self, c: int) -> str:
        h = f"{c:04x}"
        return "\\u" + (h.upper() if self.r.random() < 0.5 else h)


def random_float_text(r: random.Random) -> str:
    """A float in JSON syntax from random digits: 1-40 of them, a point anywhere (or none),
    leading zeros after "0.", an exponent of either case and sign spelling."""
    n = r.randint(1, 40)
    digits = str(r.randint(1, 9)) + "".join(r.choices("0123456789", k=n - 1))
    k = r.random()
    if k < 0.3:
        text = "0." + "0" * r.choice([0, 0, 1, 5, 20, 300]) + digits
    elif k < 0.7 and n > 1:
        cut = r.randint(1, n - 1)
        text = digits[:cut] + "." + digits[cut:]
    else:
        text = digits
    if "." not in text or r.random() < 0.6:
        e = r.choice([r.randint(-30, 30), r.randint(-350, 330), r.randint(-400, 400)])
        sign = "-" if e < 0 else r.choice(["", "+"])
        text += r.choice("eE") + sign + str(abs(e))
    return ("-" if r.random() < 0.5 else "") + text


@pytest.mark.timeout(120)
def test_random_documents():
    gen = DocGen(20240601)
    for _ in range(3000):
        doc = gen.document()
        assert check(doc), doc  # the generator writes valid JSON only


@pytest.mark.timeout(120)
def test_mutated_documents():
    """Random edits of valid documents: both accept (equal values) or both reject."""
    r = random.Random(7)
    gen = DocGen(99)
    interesting = (
        b' \t\n\r"\\/,:[]{}-+.0123456789eEtrufalsenNIy\x00\x01\x1f\x7f\x80\xc3\xa9\xed\xff'
    )
    outcomes = {True: 0, False: 0}
    for _ in range(4000):
        doc = bytearray(gen.document())
        for _ in range(r.choice([1, 1, 2, 3])):
            i = r.randrange(len(doc) + 1)
            op = r.random()
            if op < 0.3 and doc:
                del doc[min(i, len(doc) - 1)]
            elif op < 0.6:
                doc[i:i] = bytes([r.choice(interesting)])
            elif op < 0.9 and doc:
                doc[min(i, len(doc) - 1)] = r.choice(interesting)
            else:
                del doc[i:]
        outcomes[check(bytes(doc))] += 1
    assert outcomes[True] > 200 and outcomes[False] > 1000, outcomes


@pytest.mark.timeout(120)
def test_every_prefix_of_a_document():
    """Cut at every byte (inside tokens, escapes, UTF-8 sequences): json decides each prefix."""
    gen = DocGen(5)
    parts: list[bytes] = []
    while sum(map(len, parts)) < 4000:
        parts.append(gen.document())
    doc = b'{"all": [' + b",".join(parts) + b'], "tail": ["\\u00e9\xc3\xa9", 1.5e300, -0]}'
    accepted = [n for n in range(len(doc) + 1) if check(doc[:n])]
    assert accepted[-1] == len(doc)


def _accepts(doc: bytes) -> bool:
    try:
        reference(doc)
    except ValueError:
        return False
    return True


# -- floats, bit for bit ---------------------------------------------------------------------

NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def check_floats(texts: list[str]) -> None:
    """Parse the texts as one array and compare every element with float() bit for bit."""
    for t in texts:
        assert NUMBER.fullmatch(t.encode()), t  # the test writes JSON numbers only
    got = native(("[" + ",".join(texts) + "]").encode())
    want = [float(t) for t in texts]
    assert len(got) == len(want)
    if struct.pack(f"<{len(want)}d", *got) != struct.pack(f"<{len(want)}d", *want) or not all(
        type(x) is float for x in got
    ):
        for t, g, w in zip(texts, got, want):
            assert type(g) is float and float_bits(g) == float_bits(w), f"{t}: {g!r} != {w!r}"


SPECIAL_FLOATS = [
    "2.2250738585072011e-308", "2.2250738585072012e-308", "2.2250738585072014e-308",
    "2.225073858507201e-308", "9007199254740993.0", "9007199254740992.0", "9007199254740995.0",
    "9007199254740993e0", "1e23", "8.41e21", "5e-324", "4.9e-324", "2.4703282292062327e-324",
    "2.4703282292062328e-324", "2.470328229206232720e-324", "2.47032822920623272e-324",
    "2.4703282292062327208828439643411068618252990130716238221279284125033775364510e-324",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
    "1.797693134862315708145274237317043567981e308", "1.797693134862315807937289714053034150799e308",
    "0.0", "-0.0", "0e0", "-0e-400", "1e-400", "1e400", "-1e400", "1e-99999", "1e99999",
    "0.1", "0.2", "0.3", "1.1", "3.141592653589793", "2.718281828459045", "1.5", "123456.789",
    "1e22", "1e-22", "9007199254740991e22", "9007199254740993e-22", "4503599627370496.5",
    "4503599627370497.5", "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124",
    "1.00000000000000011102230246251565404236316680908203126",
    "7.0420557077594588669468784357561207962098443483187940792729600000e-308",
    "1.0e-323", "1.5e-323", "2.5e-324", "2.4e-324", "3e-324", "1e-323", "7e-323",
    "4.4501477170144023e-308", "4.4501477170144024e-308", "2.2250738585072009e-308",
    "0.000000000000000000000000000000000000000000001e280", "1" + "0" * 400 + "e-400",
    "0." + "0" * 400 + "1e400", "1" * 20 + ".0", "1" * 19 + "5.0e-1", "123456789012345678.9",
    "1234567890123456789.0", "12345678901234567890.0", "18446744073709551615.0",
    "18446744073709551616.0", "-0.0000000000000000000000000000001", "6.02214076e23",
    "1.6e-19", "50.0", "17976931348623157" + "0" * 292 + ".0", "17976931348623158" + "0" * 292 + "e0",
    "1797693134862315807937289714053034150799" + "0" * 269 + ".0",
]  # fmt: skip


def test_special_floats():
    check_floats(SPECIAL_FLOATS)
    check_floats(["-" + t for t in SPECIAL_FLOATS if not t.startswith("-")])


@pytest.mark.timeout(120)
def test_random_double_reprs():
    r = random.Random(1)
    texts = []
    while len(texts) < 100_000:
        x = struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))[0]
        if math.isfinite(x):
            texts.append(repr(x))
    texts += [repr(r.uniform(-1e6, 1e6)) for _ in range(50_000)]  # the S3 benchmark's floats
    texts += [repr(r.uniform(0, 1) * 10.0 ** r.randint(-320, 308)) for _ in range(30_000)]
    texts += [repr(float(r.randint(1, 2**53)) * 2.0 ** r.randint(-1074, 971))
              for _ in range(20_000)]  # fmt: skip
    for i in range(0, len(texts), 20_000):
        check_floats(texts[i : i + 20_000])


@pytest.mark.timeout(120)
def test_random_digit_strings():
    r = random.Random(2)
    for _ in range(10):
        check_floats([random_float_text(r) for _ in range(10_000)])


def halfway_texts(r: random.Random, n: int) -> Iterator[str]:
    """Decimal strings exactly halfway between two adjacent doubles, and just below and just
    above (the cases where correct rounding needs more than 64 bits)."""
    ctx = decimal.Context(prec=2000)
    made = 0
    while made < n:
        k = r.random()
        if k < 0.4:
            x = struct.unpack("<d", struct.pack("<Q", r.getrandbits(63)))[0]  # any exponent
        elif k < 0.7:
            x = float(r.randint(1, 2**53 - 1)) * 2.0 ** r.randint(-60, 60)
        elif k < 0.85:
            x = float(r.randint(1, 2**20)) * 5e-324  # subnormal
        else:
            x = r.uniform(1, 1e6)
        y = math.nextafter(x, math.inf)
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        half = ctx.divide(ctx.add(decimal.Decimal(x), decimal.Decimal(y)), 2)
        assert ctx.multiply(half, 2) == ctx.add(decimal.Decimal(x), decimal.Decimal(y))
        _, digits, exp = half.as_tuple()
        ds = "".join(map(str, digits))
        assert isinstance(exp, int)
        yield f"{ds}e{exp}"  # exactly halfway
        cut = r.randint(1, len(ds) - 1) if len(ds) > 1 else 1
        yield f"{ds[:cut]}e{exp + len(ds) - cut}"  # just below (truncated)
        yield f"{ds}1e{exp - 1}"  # just above
        yield f"{ds[0]}.{ds[1:] or '0'}e{exp + len(ds) - 1}"
        made += 1


@pytest.mark.timeout(120)
def test_halfway_cases():
    r = random.Random(3)
    texts = list(halfway_texts(r, 15_000))
    for i in range(0, len(texts), 10_000):
        check_floats(texts[i : i + 10_000])


def test_number_ends_at_every_byte():
    """A run of k digits then any byte: the eight-bytes-at-a-time digit scan must stop exactly
    at the first non-digit, whatever follows it."""
    for k in range(1, 18):
        for c in range(256):
            tail = bytes([c]) + b"99999999"
            for head in (b"12345678901234567"[:k], b"0." + b"1234567890123456"[:k]):
                check(b"[" + head + tail + b"]")
                check(head + tail[:1])


# -- integers --------------------------------------------------------------------------------


def test_integers():
    r = random.Random(4)
    texts = []
    for n in list(range(1, 45)) + [100, 1000, 4299, 4300]:
        for _ in range(20):
            digits = str(r.randint(1, 9)) + "".join(r.choices("0123456789", k=n - 1))
            texts += [digits, "-" + digits]
    texts += ["0", "-0", str(2**63 - 1), str(-(2**63)), str(2**63), str(2**64), str(10**18 - 1),
              str(10**18), str(-(10**18) + 1), str(-(10**18)), str(10**19)]  # fmt: skip
    got = native(("[" + ",".join(texts) + "]").encode())
    assert got == [int(t) for t in texts]
    assert all(type(x) is int for x in got)
    # past Python's int digit limit: ValueError from both (json's message is Python's)
    too_long = "1" * 4301
    with pytest.raises(ValueError, match="digits"):
        reference(too_long.encode())
    with pytest.raises(ValueError, match="digits"):
        native(f"[{too_long}]".encode())


# -- Response.json() against a real server ---------------------------------------------------


def old_json(content: bytes) -> Any:
    """Response.json() as it was before the native decoder (the oracle for errors)."""
    try:
        if b"\0" in content[:4] or content.startswith(b"\xef\xbb\xbf"):
            return json.loads(content)
        return _decode(content.decode("utf-8", "surrogatepass"))
    except json.JSONDecodeError as exc:
        raise httpr.JSONDecodeError(exc.msg, exc.doc, exc.pos) from None
    except UnicodeDecodeError as exc:
        raise httpr.JSONDecodeError(
            f"Invalid {exc.encoding} in the response body: {exc.reason}", "", 0
        ) from None


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "value", fn()
    except (ValueError, RecursionError) as exc:
        detail = (type(exc), str(exc), getattr(exc, "msg", None), getattr(exc, "doc", None),
                  getattr(exc, "pos", None), exc.__cause__)  # fmt: skip
        return "error", detail


@pytest.fixture
def echo_json(scripted_server):
    """POST a body, get it back as an application/json response."""

    def reply(req):
        return response(200, req.body, headers=[("Content-Type", "application/json")])

    scripted_server.set_script([serve(reply)])
    with httpr.Client(timeout=10) as client:

        def get(body: bytes, check: bool = True) -> httpr.Response:
            r = client.post(scripted_server.url + "/", content=body)
            if check:  # builds `content`; unchecked, json() reads the engine's buffer
                assert r.content == body
            return r

        yield get


RESPONSE_BODIES = (
    ACCEPTED[:20] + REJECTED + EDGES[:30] + [
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),  # left to json, which accepts it
        b"[" * 600 + b"1" + b"]" * 599,  # left to json, which rejects it
        b"[" * 100_000,  # RecursionError, as before
        b"[1" + b"0" * 4300 + b"]",  # ValueError from int(), as before
        b'\xef\xbb\xbf{"bom": 1}', b"\xff\xfe[\x001\x00]\x00", b'[\x00"utf-16?"]', b"\xff",
        b'{"a": "\xe9"}', b'{"a": 1} trailing', b"",
    ]
)  # fmt: skip


@pytest.mark.timeout(120)
def test_response_json_matches_the_old_path(echo_json):
    for body in RESPONSE_BODIES:
        r = echo_json(body)
        got, want = outcome(r.json), outcome(lambda b=body: old_json(b))
        assert got[0] == want[0], (body[:100], got, want)
        if got[0] == "value":
            assert_same(got[1], want[1], body)
        else:
            assert got[1] == want[1], body[:100]


@pytest.mark.parametrize("content_first", [False, True], ids=["in-place", "from-content"])
def test_response_json_uses_the_native_decoder(echo_json, monkeypatch, content_first):
    """Valid UTF-8 JSON never reaches json; what the native decoder declines does, once."""
    fallbacks = []

    def spy(name, real):
        def call(*args, **kwargs):
            fallbacks.append(name)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(_response, "_json_decode", spy("decode", _response._json_decode))
    monkeypatch.setattr(json, "loads", spy("loads", json.loads))
    body = b'{"fast": [1, 2.5, "three"]}'
    r = echo_json(body, check=content_first)
    assert r.json() == {"fast": [1, 2.5, "three"]}
    assert fallbacks == []
    assert r.content == body and r.json() == {"fast": [1, 2.5, "three"]}  # both orders
    # a rejected document: json decides, with its own error
    with pytest.raises(httpr.JSONDecodeError) as ei:
        echo_json(b'{"fast": [1, 2.5, "three"}', check=content_first).json()
    assert fallbacks == ["decode"]
    assert (ei.value.msg, ei.value.pos) == ("Expecting ',' delimiter", 25)
    # a BOM goes to json.loads, which detects it
    assert echo_json(b'\xef\xbb\xbf{"x": 1}', check=content_first).json() == {"x": 1}
    assert fallbacks == ["decode", "loads"]
    # UTF-16 too
    doc = '{"x": [1, "\u00e9"]}'.encode("utf-16-le")
    assert echo_json(doc, check=content_first).json() == {"x": [1, "\u00e9"]}
    assert fallbacks == ["decode", "loads", "loads"]


def test_response_body_kept_until_content_is_asked_for(echo_json):
    """The body stays in the engine's buffer until `content` (or text) builds the bytes; every
    accessor then agrees, whatever the order."""
    body = json.dumps({"k": "\u00e9" * 5000, "n": list(range(2000))}).encode()
    for first in ("json", "text", "content", "encoding"):
        r = echo_json(body, check=False)
        getattr(r, first) if first != "json" else r.json()
        assert r.json() == json.loads(body), first
        assert r.text == body.decode(), first
        assert r.content == body and r.content is r.content, first
    empty = echo_json(b"", check=False)
    assert empty.content == b"" and empty.text == ""
    with pytest.raises(httpr.JSONDecodeError):
        empty.json()


def test_response_json_large_float_document(echo_json):
    r = random.Random(20261122)
    doc = json.dumps([[r.uniform(-1e6, 1e6) for _ in range(1024)] for _ in range(10)]).encode()
    got = echo_json(doc).json()
    assert_same(got, reference(doc))


# -- the engine's read ahead, through a real server ----------------------------------------


@pytest.fixture
def json_server(scripted_server):
    """POST a body, get it back with the Content-Type the request's x-ct header names (none
    when absent), gzip-encoded when it sends x-gzip."""

    def reply(req):
        headers = []
        if req.header("x-ct") is not None:
            headers.append(("Content-Type", req.header("x-ct")))
        body = req.body
        if req.header("x-gzip"):
            body = gzip.compress(body, compresslevel=1)
            headers.append(("Content-Encoding", "gzip"))
        return response(200, body, headers=headers)

    scripted_server.set_script([serve(reply)])
    return scripted_server.url + "/"


def big_doc(size: int = 3 * TAPE_MIN, seed: int = 1) -> bytes:
    """A valid document of about `size` bytes with every kind of value in it."""
    r = random.Random(seed)
    items: list[Any] = []
    doc = b""
    while len(doc) < size:
        items.append({"f": r.uniform(-1e9, 1e9), "i": r.randint(-10**18, 10**18),
                      "big": 10**25 + r.randint(0, 99), "s": "caf\u00e9 \"q\" \\ " * r.randint(0, 3),
                      "u": "\u65e5\u672c\U0001f600", "b": r.random() < 0.5, "n": None,
                      "e": [], "o": {}, "x": [1e-320, 2.5e308 / 10, -0.0]})  # fmt: skip
        doc = json.dumps(items, ensure_ascii=r.random() < 0.5).encode()
    return doc


def exact_doc(size: int) -> bytes:
    doc = b'["' + b"a" * (size - 4) + b'"]'
    assert len(doc) == size
    return doc


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("ctype", "ahead"),
    [("application/json", True), ("application/json; charset=utf-8", True),
     ("Application/JSON", True), ("application/vnd.api+json", True),
     ("application/problem+json;v=1", True), ("text/plain", False), ("application/jsonx", False),
     ("json", False), ("+json", False), ("text/html; x=application/json", False), (None, False)],
)  # fmt: skip
def test_read_ahead_by_content_type(json_server, ctype, ahead):
    doc = big_doc()
    want = reference(doc)
    with httpr.Client(timeout=10) as client:
        r = client.post(json_server, content=doc, headers={"x-ct": ctype} if ctype else {})
        assert r._json_ahead is ahead
        assert_same(r.json(), want, doc)
        assert r._json_ahead is False  # used once: the next call parses the body
        assert_same(r.json(), want, doc)
        assert r.content == doc


@pytest.mark.timeout(60)
def test_read_ahead_sizes_and_codings(json_server):
    hdr = {"x-ct": "application/json"}
    with httpr.Client(timeout=10) as client:
        for size, ahead in [(TAPE_MIN - 1, False), (TAPE_MIN, True), (8 * TAPE_MIN, True)]:
            doc = exact_doc(size)
            r = client.post(json_server, content=doc, headers=hdr)
            assert (r._json_ahead, len(r.content)) == (ahead, size)
            assert r.json() == ["a" * (size - 4)]
        # gzip: decoded, then read ahead in the same job; an encoded body small enough to be
        # decoded inline is not read ahead
        doc = big_doc(12 * TAPE_MIN, seed=2)
        assert len(gzip.compress(doc, compresslevel=1)) > 32 * 1024
        r = client.post(json_server, content=doc, headers={**hdr, "x-gzip": "1"})
        assert r._json_ahead is True
        assert_same(r.json(), reference(doc), doc)
        doc = exact_doc(4 * TAPE_MIN)
        r = client.post(json_server, content=doc, headers={**hdr, "x-gzip": "1"})
        assert r._json_ahead is False and r.json() == ["a" * (4 * TAPE_MIN - 4)]
        # a streamed response is never read ahead
        with client.stream("POST", json_server, content=big_doc(), headers=hdr) as s:
            assert not hasattr(s, "_json_ahead")
            assert_same(reference(s.read()), reference(big_doc()))


@pytest.mark.timeout(60)
def test_read_ahead_invalid_documents_raise_as_before(json_server):
    """A tape is made for valid structure only; a string that the build rejects, or a document
    the tape declines, ends in json's own error, exactly as without the read ahead."""
    base = big_doc()
    cases = [
        (base[:-1] + b', "bad \\x escape"]', True),  # structure fine: the build rejects
        (base[:-1] + b', "raw \x01 control"]', True),
        (base[:-1] + b', "\xff not utf-8"]', True),
        (base[:-1], False),  # truncated
        (base + b" x", False),  # extra data
        (base[:-1] + b", NaN]", False),  # valid, but NaN is left to json.c
    ]
    with httpr.Client(timeout=10) as client:
        for doc, ahead in cases:
            r = client.post(json_server, content=doc, headers={"x-ct": "application/json"})
            assert r._json_ahead is ahead, doc[-40:]
            got, want = outcome(r.json), outcome(lambda d=doc: old_json(d))
            assert got[0] == want[0], (doc[-40:], got, want)
            if got[0] == "value":
                assert_same(got[1], want[1], doc)
            else:
                assert got[1] == want[1], doc[-40:]


@pytest.mark.timeout(60)
def test_read_ahead_async_gathered(json_server):
    import asyncio

    docs = [big_doc(seed=s) for s in range(4)]
    wants = [reference(d) for d in docs]

    async def main() -> None:
        async with httpr.AsyncClient(timeout=10) as client:

            async def one(i: int) -> None:
                d = docs[i % len(docs)]
                r = await client.post(json_server, content=d, headers={"x-ct": "application/json"})
                assert r._json_ahead is True
                assert_same(r.json(), wants[i % len(docs)], d)

            await asyncio.gather(*(one(i) for i in range(40)))

    asyncio.run(main())


# -- memory ----------------------------------------------------------------------------------


def leak_workload() -> list[bytes]:
    """Valid documents and failures at every kind of place: with items pending in open arrays,
    keys waiting for values, in strings (scratch buffer), numbers (heap text), past the depth
    limit, past the int digit limit."""
    gen = DocGen(11)
    docs = [gen.document() for _ in range(40)]
    big = json.dumps({"k": [list(range(100)), {"s": "é" * 300, "f": [0.1] * 80}]}).encode()
    cut = [big[:n] for n in range(0, len(big), max(1, len(big) // 40))]
    return docs + cut + [
        big, b'{"a": [1, 2, {"b": "\\u00e9\\x"}]}', b'{"a": {"b": [1, 2, 3], "c": 1e5, ',
        b"[" * 700 + b"1" + b"]" * 700, b"[[1, 2, [3, 4, [5, 6, [" + b"1" * 5000 + b"]]]]]",
        b'["' + "é".encode() * 2000 + b'\xff"]', b"[" + b"1" * 200 + b".5x]", b'{"k": tru}',
        b"[" + b"1.5, " * 200 + b"]",
    ]  # fmt: skip


def run_workload(docs: list[bytes], rounds: int) -> None:
    for _ in range(rounds):
        for d in docs:
            for path in (native, tape):
                try:
                    path(d)
                except ValueError:
                    pass


@pytest.mark.timeout(120)
def test_no_leaked_objects():
    docs = leak_workload()
    run_workload(docs, 20)  # warm up caches and freelists
    gc.collect()
    before = sys.getallocatedblocks()
    run_workload(docs, 200)
    gc.collect()
    grown = sys.getallocatedblocks() - before
    # one leaked object per failing parse would be thousands of blocks
    assert grown < 200, f"{grown} blocks more after {200 * len(docs)} parses"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.timeout(120)
def test_rss_stays_flat():
    """Heap buffers (item and frame stacks, string scratch, number text) on every path."""
    wide = b"[" + b",".join([b"1"] * 5000) + b"]"
    deep = b'{"a":' * 300 + b"[" + b"2.5," * 100 + b"]" + b"}" * 300
    text = b'"' + "日本".encode() * 50_000 + b'"'
    docs = [wide, wide[:-1], deep, deep[:-1], text, text[:-1], text[:-2] + b'\x01"',
            b"[" + b"9" * 3000 + b".5]", b"[" + b"9" * 3000 + b".5"]  # fmt: skip
    run_workload(docs, 50)
    gc.collect()
    before = rss_bytes()
    run_workload(docs, 1000)
    gc.collect()
    grown = rss_bytes() - before
    # each round allocates ~1.3 MiB of heap buffers: a leak would be >1 GiB
    assert grown < 32 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
