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
from neurocache.search.records import Segment

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
    if dialect == "postgresql":
        return _search_tsvector(fetch, query, limit, where, params or {}, highlight)
    if dialect != "sqlite":
        raise Unavailable(f"full-text search is not written for {dialect}")
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


TEXT_CONFIG = "english"  # the stemming of migration 0012's tsvector column


def ts_query(query: Query) -> tuple[str, dict[str, Any]]:
    """PostgreSQL's form of `match_expression`: the phrases ANDed, then the words ORed,
    each bound as a parameter and parsed by PostgreSQL (no operator can be injected)."""
    params: dict[str, Any] = {}
    phrases, words = [], []
    for i, phrase in enumerate(query.phrases):
        params[f"tsp{i}"] = phrase
        phrases.append(f"phraseto_tsquery('{TEXT_CONFIG}', :tsp{i})")
    for i, word in enumerate(query.words[:MAX_WORDS]):
        params[f"tsw{i}"] = word
        words.append(f"plainto_tsquery('{TEXT_CONFIG}', :tsw{i})")
    parts = [" && ".join(phrases)] if phrases else []
    if words:
        parts.append("(" + " || ".join(words) + ")")
    return " && ".join(f"({p})" for p in parts), params


def _search_tsvector(
    fetch: Fetch,
    query: Query,
    limit: int,
    where: str,
    params: dict[str, Any],
    highlight: bool,
) -> list[TextHit]:
    """Ranked by `ts_rank_cd` over the GIN-indexed tsvector (migration 0012); the best
    `limit` highlighted afterwards, as on SQLite."""
    tsquery, bound = ts_query(query)
    params = {**params, **bound, "limit": limit}
    best = (
        f"SELECT m.rowid AS id, ts_rank_cd(m.fts, q) AS score, m.content AS content "
        f"FROM memories m, ({f'SELECT {tsquery} AS q'}) AS asked "
        f"WHERE m.fts @@ q AND {where} ORDER BY score DESC, m.rowid LIMIT :limit"
    )
    if not highlight:
        return [TextHit(rowid, float(score), "") for rowid, score, _ in fetch(best, params)]
    marks = f"StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, HighlightAll=true"
    return [
        TextHit(rowid, float(score), marked)
        for rowid, score, marked in fetch(
            f"SELECT best.id, best.score, ts_headline('{TEXT_CONFIG}', best.content, "
            f"asked.q, '{marks}') FROM ({best}) AS best, ({f'SELECT {tsquery} AS q'}) AS asked "
            "ORDER BY best.score DESC, best.id",
            params,
        )
    ]


def segments(highlighted: str) -> list[Segment]:
    """`a [[b]] c` → [a, b (a match), c]: the text as it was, with the matches marked."""
    parts = re.split(f"{re.escape(MARK_OPEN)}|{re.escape(MARK_CLOSE)}", highlighted)
    return [Segment(text=part, match=i % 2 == 1) for i, part in enumerate(parts) if part]
