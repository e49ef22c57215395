"""HTML to text for `Response.text_markdown` / `text_plain` / `text_rich` (CONTRACT §3.1, §13).

The original renders with the Rust html2text crate at width 100. Here the
optional ``html`` extra does it: markdownify (MIT) on top of BeautifulSoup
(MIT) with Python's own HTML parser, so the extra has no compiled parts.

* markdown: Markdown -- ATX headings, ``*`` bullets, ``**strong**``, links as
  ``[text](url)``, fenced code, pipe tables;
* rich: the same layout (headings, bullets, numbered lists, ``>`` quotes, pipe
  tables) without inline markup: no emphasis markers, link targets, image
  sources or code fences;
* plain: rich text without quote markers or table pipes.

Paragraphs are wrapped at 100 columns, like the original; ``<head>``,
``<script>`` and ``<style>`` contribute nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["html_to_text"]

_WIDTH = 100
_INSTALL_HINT = "pip install 'httpr[html]'"

# Built on first use: importing markdownify (and bs4) costs tens of milliseconds.
_converters: dict[str, Any] = {}


def _build() -> dict[str, Any]:
    try:
        from markdownify import ATX, MarkdownConverter  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise ImportError(
            "Response.text_markdown, text_plain and text_rich need the optional 'markdownify'"
            f" and 'beautifulsoup4' packages: {_INSTALL_HINT}"
        ) from None

    class _Markdown(MarkdownConverter):  # type: ignore[misc,unused-ignore]
        def convert_title(self, el: Any, text: str, parent_tags: Any) -> str:
            return ""

    class _Rich(_Markdown):
        def _text_only(self, el: Any, text: str, parent_tags: Any) -> str:
            return text

        convert_a = convert_abbr = convert_b = convert_strong = convert_em = convert_i = _text_only
        convert_code = convert_kbd = convert_samp = convert_del = convert_s = convert_sub = (
            _text_only
        )
        convert_sup = _text_only

        def convert_img(self, el: Any, text: str, parent_tags: Any) -> str:
            return str(el.attrs.get("alt") or "")

        def convert_hN(self, n: int, el: Any, text: str, parent_tags: Any) -> str:
            if "_inline" in parent_tags:
                return text
            return f"\n\n{text.strip()}\n\n"

        def convert_pre(self, el: Any, text: str, parent_tags: Any) -> str:
            return f"\n\n{text.strip(chr(10))}\n\n" if text else ""

    class _Plain(_Rich):
        def convert_blockquote(self, el: Any, text: str, parent_tags: Any) -> str:
            if "_inline" in parent_tags:
                return f" {text.strip()} "
            return f"\n\n{text.strip()}\n\n" if text.strip() else ""

        def convert_table(self, el: Any, text: str, parent_tags: Any) -> str:
            return f"\n\n{text.strip()}\n\n"

        def convert_tr(self, el: Any, text: str, parent_tags: Any) -> str:
            return text.strip() + "\n"

        def convert_td(self, el: Any, text: str, parent_tags: Any) -> str:
            return " " + text.strip().replace("\n", " ") + " "

        convert_th = convert_td

    common: dict[str, Any] = {"bullets": "*", "wrap": True, "wrap_width": _WIDTH}
    text: dict[str, Any] = {**common, "escape_asterisks": False, "escape_underscores": False}
    return {
        "markdown": _Markdown(heading_style=ATX, **common),
        "rich": _Rich(**text),
        "plain": _Plain(**text),
    }


def html_to_text(html: str, style: str) -> str:
    """Render an HTML document as ``"markdown"``, ``"rich"`` or ``"plain"`` text."""
    if not _converters:
        _converters.update(_build())
    return str(_converters[style].convert(html))
