"""Readable text from what people send: plain text, Markdown, HTML (main content), PDF (per
page), DOCX, CSV/JSON and source code."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import lxml.html

from neurocache.errors import InvalidInput, NeurocacheError


def readable_html(html: str) -> str:
    """The main content of a page, as Markdown-ish text (menus, ads and scripts gone)."""
    if not html.strip():
        raise InvalidInput("the HTML is empty")
    import trafilatura  # on the first page read, not at start (with its date and URL parsers)

    text = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        favor_precision=True,
    )
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


# ---- files


class UnsupportedFile(NeurocacheError):
    status = 415
    code = "unsupported_media_type"


@dataclass
class Loaded:
    title: str
    text: str
    fmt: str  # text | markdown | html | code:<language>
    mime: str
    pages: list[tuple[int, int, int]] | None = None  # (page, start, end) in `text`


CODE = {
    ".py": "python",
    ".js": "js",
    ".mjs": "js",
    ".ts": "ts",
    ".tsx": "ts",
    ".java": "java",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".hpp": "cpp",
    ".rb": "ruby",
    ".php": "php",
    ".cs": "csharp",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".lua": "lua",
    ".sol": "sol",
}
TEXT = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".log": "text/plain",
    ".rst": "text/x-rst",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".sh": "text/x-sh",
    ".yaml": "text/yaml",
    ".yml": "text/yaml",
    ".toml": "text/x-toml",
    ".ini": "text/plain",
}


READABLE = {".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", ".json", *CODE, *TEXT}


def load_file(filename: str, data: bytes) -> Loaded:
    """Readable text of an uploaded or watched file, by its extension; a file that is not
    what its name says is refused (422), a kind we do not read too (415)."""
    suffix = PurePath(filename).suffix.lower()
    title = PurePath(filename).name
    if suffix not in READABLE:
        raise UnsupportedFile(
            f"{title}: files of type {suffix or '(none)'} cannot be read; "
            "text, Markdown, HTML, PDF, DOCX, CSV, JSON and source code can"
        )
    if suffix == ".pdf":
        return _pdf(title, data)
    if suffix == ".docx":
        return _docx(title, data)
    body = _decode(title, data)
    if suffix in (".html", ".htm", ".xhtml"):
        return Loaded(html_title(body) or title, readable_html(body), "html", "text/html")
    if suffix in (".md", ".markdown"):
        return Loaded(title, body, "markdown", "text/markdown")
    if suffix == ".json":
        return Loaded(title, _json_text(title, body), "text", "application/json")
    if suffix in CODE:
        return Loaded(title, body, f"code:{CODE[suffix]}", "text/x-source")
    return Loaded(title, body, "text", TEXT[suffix])


def _decode(title: str, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise InvalidInput(f"{title} is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails; old files are often Latin-1


def _json_text(title: str, body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError as exc:
        raise InvalidInput(f"{title} is not valid JSON: {exc}") from exc


def _pdf(title: str, data: bytes) -> Loaded:
    try:
        import pypdf  # imported when a PDF comes: it and python-docx cost ~150 ms at start

        reader = pypdf.PdfReader(io.BytesIO(data))
        texts = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # a parser fed damaged bytes fails in many ways: all mean that
        raise InvalidInput(f"{title} cannot be read as a PDF: {exc}") from exc
    pages, parts, offset = [], [], 0
    for number, text in enumerate(texts, start=1):
        pages.append((number, offset, offset + len(text)))
        parts.append(text)
        offset += len(text) + 2
    # Titled by its file name, as a person knows it: a PDF's own title is often a tool's
    # ("Microsoft Word - draft3.docx") or none.
    return Loaded(title, "\n\n".join(parts), "text", "application/pdf", pages)


def _docx(title: str, data: bytes) -> Loaded:
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # as for PDF: any failure on these bytes means unreadable
        raise InvalidInput(f"{title} cannot be read as a DOCX file: {exc}") from exc
    text = "\n\n".join(p.text for p in document.paragraphs if p.text.strip())
    return Loaded(
        title,  # its file name, as for a PDF
        text,
        "text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


def page_of(pages: Sequence[Sequence[int]] | None, position: int) -> int | None:
    for number, start, end in pages or []:
        if start <= position <= end:
            return number
    return None
