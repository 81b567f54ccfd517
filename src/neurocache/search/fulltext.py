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


def query_words(query: str) -> list[str]:
    """The user's words, each quoted (no FTS operator injection), stop-words dropped."""
    words = [w for w in WORD.findall(query) if w.lower() not in STOPWORDS]
    return [f'"{w}"' for w in words[:64]]


def search_fulltext(
    session: Session, query: str, limit: int, where: str = "1", params: dict[str, Any] | None = None
) -> list[TextHit]:
    """Best `limit` matches among the memories `m` that satisfy `where`: those holding
    every word first, then those holding any. BM25 ranks within each. FTS5 scores every
    row a query matches, so the narrow every-word query, when it finds enough, spares
    scoring the many rows that hold only a common word."""
    words = query_words(query)
    if not words:
        return []
    if session.bind.dialect.name != "sqlite":  # type: ignore[union-attr]
        raise Unavailable("full-text search needs the SQLite store for now")
    params = params or {}
    hits = _ranked(session, " AND ".join(words), limit, where, params) if len(words) > 1 else []
    if len(hits) < limit:
        seen = {hit.rowid for hit in hits}
        hits += [hit for hit in _ranked(session, " OR ".join(words), limit, where, params)
                 if hit.rowid not in seen][:limit - len(hits)]
    return hits


def _ranked(session: Session, match: str, limit: int, where: str,
            params: dict[str, Any]) -> list[TextHit]:
    # Ranked first, highlighted after: highlight() on every matching row before the LIMIT
    # would cost as much as the search.
    rows = session.execute(
        text(
            "WITH best AS (SELECT memories_fts.rowid AS id, bm25(memories_fts) AS score "
            "FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH :match AND {where} "
            "ORDER BY score LIMIT :limit) "
            f"SELECT best.id, best.score, highlight(memories_fts, 0, '{MARK_OPEN}', "
            f"'{MARK_CLOSE}') FROM best JOIN memories_fts ON memories_fts.rowid = best.id "
            "WHERE memories_fts MATCH :match ORDER BY best.score"
        ),
        {**params, "match": match, "limit": limit},
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
