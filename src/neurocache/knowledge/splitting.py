"""Chunks sized in the embedder's own tokens, with their character offsets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported on the first split: with langchain-core it costs ~0.3 s at start
    from langchain_text_splitters import RecursiveCharacterTextSplitter


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int


def make_splitter(
    kind: str, chunk_tokens: int, overlap_tokens: int, count_tokens: Callable[[str], int]
) -> RecursiveCharacterTextSplitter:
    """`kind`: text, markdown, html (already made readable), or code:<language>."""
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    # The splitter measures every word or line it splits at, most of them many times
    # over: remembering the counts took a third off the time spent splitting.
    options: dict[str, Any] = {
        "chunk_size": chunk_tokens,
        "chunk_overlap": overlap_tokens,
        "length_function": lru_cache(maxsize=65_536)(count_tokens),
        "add_start_index": True,
    }
    language = {"markdown": Language.MARKDOWN, "html": Language.MARKDOWN}.get(kind)
    if kind.startswith("code:"):
        language = Language(kind.removeprefix("code:"))
    if language is not None:
        return RecursiveCharacterTextSplitter.from_language(language, **options)
    return RecursiveCharacterTextSplitter(**options)


# Text is split a window at a time: the splitter's cost grows faster than the text (a
# 2 MB text took 6.7 times as long as 0.5 MB), and a window's chunks are stored and embedded
# before the next is read, so ingestion memory stays bounded whatever the document's size.
WINDOW_CHARS = 64_000
BREAKS = ("\n\n", "\n", ". ", " ")  # where a window may end, best first


def windows(
    text: str, start: int = 0, end: int | None = None, size: int = WINDOW_CHARS
) -> Iterator[tuple[int, int]]:
    """(start, end) spans covering text[start:end], each at most about `size` long, each
    ending at a paragraph break where one is near (else a line, a sentence, a word)."""
    end = len(text) if end is None else end
    while start < end:
        stop = min(start + size, end)
        if stop < end:
            stop = _break_before(text, start + size // 2, stop)
        yield start, stop
        start = stop


def _break_before(text: str, earliest: int, latest: int) -> int:
    for mark in BREAKS:
        found = text.rfind(mark, earliest, latest)
        if found != -1:
            return found + len(mark)
    return latest


def split(text: str, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    chunks = []
    for piece in splitter.create_documents([text]):
        start = int(piece.metadata.get("start_index", -1))
        if start < 0:  # the splitter could not place it: find it ourselves
            start = max(text.find(piece.page_content), 0)
        chunks.append(Chunk(piece.page_content, start, start + len(piece.page_content)))
    return chunks
