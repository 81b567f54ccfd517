"""Chunks sized in the embedder's own tokens, with their character offsets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int


def make_splitter(kind: str, chunk_tokens: int, overlap_tokens: int,
                  count_tokens: Callable[[str], int]) -> RecursiveCharacterTextSplitter:
    """`kind`: text, markdown, html (already made readable), or code:<language>."""
    # The splitter measures every word or line it splits at, most of them many times
    # over: remembering the counts took a third off the time spent splitting.
    options = {"chunk_size": chunk_tokens, "chunk_overlap": overlap_tokens,
               "length_function": lru_cache(maxsize=65_536)(count_tokens),
               "add_start_index": True}
    language = {"markdown": Language.MARKDOWN, "html": Language.MARKDOWN}.get(kind)
    if kind.startswith("code:"):
        language = Language(kind.removeprefix("code:"))
    if language is not None:
        return RecursiveCharacterTextSplitter.from_language(language, **options)
    return RecursiveCharacterTextSplitter(**options)


def split(text: str, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    chunks = []
    for piece in splitter.create_documents([text]):
        start = int(piece.metadata.get("start_index", -1))
        if start < 0:  # the splitter could not place it: find it ourselves
            start = max(text.find(piece.page_content), 0)
        chunks.append(Chunk(piece.page_content, start, start + len(piece.page_content)))
    return chunks
