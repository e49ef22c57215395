"""Optional extras (CONTRACT §3.1, §13): text_markdown / text_plain / text_rich and cbor().

With the extras installed (tests/requirements.txt pins them) the conversions run on real
responses; without them, each member raises an ImportError that names the extra — checked in
a subprocess where the optional modules are made unimportable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import cbor2
import httpr
import pytest
from servers.scripted import response as raw_response
from servers.scripted import serve

pytestmark = pytest.mark.timeout(30)

HTML = (
    b"<html><head><title>T</title></head><body><h1>Heading</h1>"
    b"<p>Some <b>bold</b> text and a <a href='http://x.test/'>link</a>.</p>"
    b"<ul><li>one</li><li>two</li></ul></body></html>"
)


@pytest.fixture
def html_url(scripted_server):
    scripted_server.set_script(
        [serve(raw_response(body=HTML, headers=[("Content-Type", "text/html; charset=utf-8")]))]
    )
    return scripted_server.url + "/page"


def test_text_markdown(html_url):
    md = httpr.get(html_url).text_markdown
    assert "# Heading" in md or "Heading\n=" in md
    assert "**bold**" in md
    assert "[link](http://x.test/)" in md
    assert "<b>" not in md


def test_text_plain_has_no_markup(html_url):
    plain = httpr.get(html_url).text_plain
    assert "Heading" in plain and "bold" in plain and "one" in plain and "two" in plain
    assert "<" not in plain and "**" not in plain and "](" not in plain


def test_text_rich_keeps_the_words(html_url):
    rich = httpr.get(html_url).text_rich
    assert "Heading" in rich and "bold" in rich and "link" in rich
    assert "<p>" not in rich


def test_text_markdown_of_httpbin_html(httpbin):
    md = httpr.get(httpbin.url + "/html").text_markdown
    assert "Herman Melville" in md
    assert "<h1>" not in md


def test_cbor_and_json_decode_cbor(scripted_server):
    value = {"a": [1, 2.5, "x"], "b": None, "c": True}
    body = cbor2.dumps(value)
    scripted_server.set_script(
        [serve(raw_response(body=body, headers=[("Content-Type", "application/cbor")]))]
    )
    with httpr.Client() as c:
        r = c.get(scripted_server.url + "/cbor")
        assert r.cbor() == value
        assert r.json() == value  # json() decodes CBOR when the Content-Type says so


MISSING = textwrap.dedent(
    """
    import sys
    for name in {blocked!r}:
        sys.modules[name] = None  # import fails as if not installed
    import httpr
    r = httpr.get({url!r})
    try:
        {expr}
    except ImportError as e:
        print("IMPORTERROR", e)
    else:
        print("NO ERROR")
    """
)


@pytest.mark.parametrize(
    ("expr", "blocked", "extra"),
    [
        ("r.text_markdown", ["markdownify", "bs4"], "httpr[html]"),
        ("r.text_plain", ["markdownify", "bs4"], "httpr[html]"),
        ("r.cbor()", ["cbor2"], "httpr[cbor]"),
    ],
)
def test_missing_extra_names_it(html_url, expr, blocked, extra):
    code = MISSING.format(blocked=blocked, url=html_url, expr=expr)
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
        env=dict(os.environ),
    )
    assert "IMPORTERROR" in out.stdout, out.stdout + out.stderr
    assert extra in out.stdout
