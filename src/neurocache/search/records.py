"""What a search answers: results (a memory, or a document by its best passage), with the
document a chunk is from, its matched words and, for a turn, its neighbours; and the state
of the vector index."""

from __future__ import annotations

from typing import Literal

from neurocache.records import Record


class Segment(Record):
    """A run of a result's text, matched by the query's words or not: plain text a client
    shows as text, never HTML (the memory may be a captured page)."""

    text: str
    match: bool


class ResultDocument(Record):
    """The document a chunk is from, and the page of it the chunk is on."""

    id: str
    title: str | None
    url: str | None
    path: str | None
    page: int | None


class ContextTurn(Record):
    """A turn next to a found turn in its thread (`context=true`)."""

    memory_id: str
    speaker: str | None
    at: str | None
    text: str
    place: Literal["before", "after"]


class SearchResult(Record):
    """One memory found. A document asked for as a kind is its best chunk's result under
    the document's id, with `kind` "document" and the chunk as `passage_id`. The optional
    parts are null where they do not apply (no tier, not of a document, not highlighted,
    context not asked or not a turn)."""

    memory_id: str
    kind: str
    text: str
    score: float
    owner: str
    tier: str | None = None
    document: ResultDocument | None = None
    start: int | None = None  # the chunk's characters in its document's text
    end: int | None = None
    highlights: list[Segment] | None = None
    context: list[ContextTurn] | None = None
    passage_id: str | None = None


class SearchResults(Record):
    results: list[SearchResult]


class IndexStatus(Record):
    """The vector index: its file, and, once loaded, its kind and size (pgvector: the
    store is the index, so there is no file, no lists and nothing to rebuild)."""

    size_bytes: int
    loaded: bool
    kind: str | None = None
    vectors: int | None = None
    lists: int | None = None
    rebuilding: bool | None = None
