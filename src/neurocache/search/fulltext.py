"""Full-text search over every memory: SQLite FTS5 with BM25 (PostgreSQL: to_tsvector).

The MATCH expression is built from an understood query (`search.query`): its words ORed
(BM25's IDF weighs the rare ones, a name among them, above common ones), each quoted so
no FTS operator can be injected; quoted phrases must match as written."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neurocache.errors import Unavailable
from neurocache.search.query import Query

MARK_OPEN, MARK_CLOSE = "\u2063[[", "]]\u2063"  # rare characters, split out by `segments`
MAX_WORDS = 64
Fetch = Callable[[str, dict[str, Any]], list[tuple]]


@dataclass(frozen=True)
class TextHit:
    rowid: int
    score: float  # higher is better
    highlight: str


def match_expression(query: Query) -> str | None:
    """`("a phrase") AND ("w1" OR "w2")`; None when nothing can match."""
    words = " OR ".join(_quoted(w) for w in query.words[:MAX_WORDS])
    phrases = " AND ".join(_quoted(p) for p in query.phrases)
    if phrases and words:
        return f"({phrases}) AND ({words})"
    return phrases or words or None


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def search_fulltext(
    fetch: Fetch,
    dialect: str,
    query: Query,
    limit: int,
    where: str = "1",
    params: dict[str, Any] | None = None,
    highlight: bool = True,
) -> list[TextHit]:
    """Best `limit` matches among the memories `m` that satisfy `where`, by BM25; with
    their matched words marked (`highlight`), which costs as much again. `fetch` runs a
    read (`Database.fetch`)."""
    match = match_expression(query)
    if match is None:
        return []
    if dialect != "sqlite":
        raise Unavailable("full-text search needs the SQLite store for now")
    params = {**(params or {}), "match": match, "limit": limit}
    if not highlight:
        return [
            TextHit(rowid, -score, "")
            for rowid, score in fetch(
                "SELECT memories_fts.rowid, bm25(memories_fts) AS score FROM memories_fts "
                "JOIN memories m ON m.rowid = memories_fts.rowid "
                f"WHERE memories_fts MATCH :match AND {where} ORDER BY score LIMIT :limit",
                params,
            )
        ]
    # Ranked first, highlighted after: highlight() on every matching row before the LIMIT
    # would cost as much as the search.
    return [
        TextHit(rowid, -score, marked)
        for rowid, score, marked in fetch(
            "WITH best AS (SELECT memories_fts.rowid AS id, bm25(memories_fts) AS score "
            "FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH :match AND {where} ORDER BY score LIMIT :limit) "
            f"SELECT best.id, best.score, highlight(memories_fts, 0, '{MARK_OPEN}', "
            f"'{MARK_CLOSE}') FROM best JOIN memories_fts ON memories_fts.rowid = best.id "
            "WHERE memories_fts MATCH :match ORDER BY best.score",
            params,
        )
    ]


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
