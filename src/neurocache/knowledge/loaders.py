"""Readable text from what people send: plain text, Markdown, HTML (main content)."""

from __future__ import annotations

import lxml.html
import trafilatura

from neurocache.errors import InvalidInput


def readable_html(html: str) -> str:
    """The main content of a page, as Markdown-ish text (menus, ads and scripts gone)."""
    if not html.strip():
        raise InvalidInput("the HTML is empty")
    text = trafilatura.extract(html, output_format="markdown", include_comments=False,
                               include_tables=True)
    if text:
        return text
    try:  # not an article: all its visible text
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise InvalidInput("the HTML cannot be read") from exc
    for element in tree.xpath("//script|//style|//noscript"):
        element.drop_tree()
    return " ".join(tree.text_content().split())


def html_title(html: str) -> str | None:
    try:
        titles = lxml.html.fromstring(html).xpath("//title/text()")
    except (ValueError, lxml.etree.ParserError):
        return None
    return titles[0].strip() if titles else None
