"""Full-text search over every memory: SQLite FTS5 with BM25 (PostgreSQL: to_tsvector)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from neurocache.errors import Unavailable

WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to say anything about a match (English; other languages keep all).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
MARK_OPEN, MARK_CLOSE = "\u2063[[", "]]\u2063"  # rare characters, split out by `segments`


@dataclass(frozen=True)
class TextHit:
    rowid: int
    score: float  # higher is better
    highlight: str


def fts_query(query: str) -> str | None:
    """The user's words as an FTS5 query: each quoted (no operator injection), any may
    match, BM25 ranks documents with more of them higher."""
    words = [w for w in WORD.findall(query) if w.lower() not in STOPWORDS]
    return " OR ".join(f'"{w}"' for w in words[:64]) or None


def search_fulltext(
    session: Session, query: str, limit: int, where: str = "1", params: dict[str, Any] | None = None
) -> list[TextHit]:
    """Best `limit` matches among the memories `m` that satisfy `where`."""
    match = fts_query(query)
    if match is None:
        return []
    if session.bind.dialect.name != "sqlite":  # type: ignore[union-attr]
        raise Unavailable("full-text search needs the SQLite store for now")
    rows = session.execute(
        text(
            "SELECT memories_fts.rowid, bm25(memories_fts), "
            f"highlight(memories_fts, 0, '{MARK_OPEN}', '{MARK_CLOSE}') "
            "FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH :match AND {where} "
            "ORDER BY bm25(memories_fts) LIMIT :limit"
        ),
        {**(params or {}), "match": match, "limit": limit},
    ).all()
    return [TextHit(rowid, -score, highlight) for rowid, score, highlight in rows]


def segments(highlighted: str) -> list[dict[str, Any]]:
    """`a [[b]] c` → [{text: a}, {text: b, match: true}, {text: c}]: plain text a client
    shows as text, never HTML (the memory may be a captured page)."""
    out: list[dict[str, Any]] = []
    for i, part in enumerate(
        re.split(f"{re.escape(MARK_OPEN)}|{re.escape(MARK_CLOSE)}", highlighted)
    ):
        if part:
            out.append({"text": part, "match": i % 2 == 1})
    return out
