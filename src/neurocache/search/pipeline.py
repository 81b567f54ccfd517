"""The retrieval pipeline: one module, used by every search the hub makes (the search API,
conversations, channels, agents, `/v1`).

1. The query is understood (`search.query`): the words that carry it, names, quoted
   phrases, a time it is about; a query with nothing to look for is refused.
2. Candidates come from vectors (the query embedded; a turn of a thread was embedded with
   its speaker and the turn it replies to, `SearchService.embedding_inputs`), then from
   full text (BM25 over the words, reaching deeper).
3. Every candidate gets both scores (a missing cosine is computed, not taken as zero),
   each normalised over the candidates, and a weighted sum of them; a speaker the query
   names, a time it asks about, and recency when it asks about "now" add small boosts.
4. Near-duplicates collapse (the same text twice, overlapping chunks of one document).
5. An optional reranker (a cross-encoder) orders the best few again.

The weights, and what was left out (neighbours added at query time), were chosen by
measurement (bench/recall.py; docs/decisions/0012-recall.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from neurocache.search.query import Query, understand

TEXT_DEPTH = 4  # the full-text leg scores this many times the vector leg's candidates
RECENCY_CUES = re.compile(
    r"\b(now|nowadays|currently|these days|lately|latest|recent|"
    r"recently|anymore|at the moment|still)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Weights:
    vector: float = 0.7  # the normalised cosine's share of a memory's score
    text: float = 0.3  # the normalised BM25's share
    speaker: float = 0.08  # a turn said by someone the query names
    time: float = 0.15  # a memory of the time the query asks about
    recency: float = 0.1  # the newer among the candidates, when the query says "now"
    pool: int = 60  # candidates asked of each leg, at least
    reranked: int = 30  # how many of the best a reranker orders again


@dataclass
class Candidate:
    rowid: int
    vector: float | None = None
    text: float | None = None
    row: Any = None  # (id, kind, thread, position, speaker, meta, created_at, hash, content)
    score: float = 0.0


class Legs(Protocol):
    """What the pipeline needs of the store and the indexes (SearchService gives it)."""

    def embed_query(self, text: str) -> np.ndarray: ...
    def fulltext(
        self,
        query: Query,
        limit: int,
        filters: Any,
        among: list[int] | None = None,
        highlight: bool = True,
    ) -> list[tuple[int, float, str]]: ...
    def nearest(self, vector: np.ndarray, limit: int, filters: Any) -> list[tuple[int, float]]: ...
    def similarities(self, vector: np.ndarray, rowids: list[int]) -> dict[int, float]: ...
    def rows(self, rowids: list[int]) -> dict[int, Any]: ...


@dataclass
class Ranked:
    """What the pipeline found: rowids with scores, best first, and the highlights."""

    hits: list[tuple[int, float]]
    highlights: dict[int, str] = field(default_factory=dict)
    rows: dict[int, Any] | None = None  # what was read of them, when it was


class Pipeline:
    def __init__(
        self,
        legs: Legs,
        weights: Weights | None = None,
        reranker: Callable[[str, list[str]], list[float]] | None = None,
    ) -> None:
        self.legs = legs
        self.weights = weights or Weights()
        self.reranker = reranker  # (query, passages) → relevance scores

    def run(
        self,
        text: str,
        k: int,
        mode: str,
        filters: Any,
        *,
        rerank: bool = False,
        highlight: bool = True,
        now: datetime | None = None,
    ) -> Ranked:
        query = understand(text, now)
        want = max(self.weights.pool, k * 5)
        if mode == "fulltext":
            hits = self.legs.fulltext(query, k, filters, None, highlight)
            return Ranked([(r, s) for r, s, _ in hits], {r: h for r, _, h in hits})
        vector = self.legs.embed_query(text)
        if mode == "vector":
            return Ranked(self.legs.nearest(vector, k, filters))
        return self._hybrid(query, vector, k, want, filters, rerank, highlight)

    def _hybrid(
        self,
        query: Query,
        vector: np.ndarray,
        k: int,
        want: int,
        filters: Any,
        rerank: bool,
        highlight: bool,
    ) -> Ranked:
        # The full-text leg reaches deeper (it is cheap): a vector candidate beyond it
        # matches the words too little to count. It runs after the query's embedding, not
        # beside it: the embedding keeps both cores busy, and sharing them cost it more
        # than the full-text leg takes.
        candidates = {
            rowid: Candidate(rowid, vector=score)
            for rowid, score in self.legs.nearest(vector, want, filters)
        }
        for rank, (rowid, score, _) in enumerate(
            self.legs.fulltext(query, want * TEXT_DEPTH, filters, None, False)
        ):
            if rank < want or rowid in candidates:
                candidates.setdefault(rowid, Candidate(rowid)).text = score
        self._with_rows(candidates)
        self._complete_scores(candidates, vector)
        ranked = self._ranked(candidates, query)
        ranked = collapse(ranked)
        if rerank and self.reranker is not None:
            ranked = self._reranked(query, ranked)
        best = ranked[:k]
        marked = (
            self.legs.fulltext(query, k, filters, [c.rowid for c in best], True)
            if highlight and (query.words or query.phrases)
            else []
        )
        return Ranked(
            [(c.rowid, c.score) for c in best],
            {r: h for r, _, h in marked},
            {c.rowid: c.row for c in best},
        )

    def _with_rows(self, candidates: dict[int, Candidate]) -> None:
        rows = self.legs.rows(list(candidates))
        for rowid in list(candidates):
            if rowid in rows:
                candidates[rowid].row = rows[rowid]
            else:
                del candidates[rowid]  # gone since the index was searched

    def _complete_scores(self, candidates: dict[int, Candidate], vector: np.ndarray) -> None:
        """The vector score of every candidate: one the full text found is scored by
        meaning too, not taken as unrelated (the full-text leg reaches deep enough that a
        vector candidate beyond it matches the words too little to count)."""
        no_vector = [r for r, c in candidates.items() if c.vector is None]
        for rowid, score in self.legs.similarities(vector, no_vector).items():
            candidates[rowid].vector = score

    def _ranked(self, candidates: dict[int, Candidate], query: Query) -> list[Candidate]:
        w = self.weights
        vectors = _normalised({r: c.vector for r, c in candidates.items()})
        texts = _normalised({r: c.text for r, c in candidates.items()}, floor=0.0)
        recency = (
            _normalised({r: memory_time(c.row) for r, c in candidates.items()})
            if RECENCY_CUES.search(query.text)
            else {}
        )
        for rowid, candidate in candidates.items():
            candidate.score = w.vector * vectors[rowid] + w.text * texts[rowid]
            candidate.score += self._boosts(candidate, query) + w.recency * recency.get(rowid, 0.0)
        return sorted(candidates.values(), key=lambda c: c.score, reverse=True)

    def _boosts(self, candidate: Candidate, query: Query) -> float:
        """A speaker the query names; the time it asks about."""
        w, row, boost = self.weights, candidate.row, 0.0
        if query.names and row.speaker and row.speaker.lower() in query.names:
            boost += w.speaker
        if query.window is not None:
            when = memory_time(row)
            if (
                when is not None
                and query.window.start.timestamp() <= when < query.window.end.timestamp()
            ):
                boost += w.time
        return boost

    def _reranked(self, query: Query, ranked: list[Candidate]) -> list[Candidate]:
        """The reranker's order of the best few (its scores, then the pipeline's)."""
        assert self.reranker is not None
        head, tail = ranked[: self.weights.reranked], ranked[self.weights.reranked :]
        scores = self.reranker(query.text, [c.row.content for c in head])
        order = sorted(range(len(head)), key=lambda i: scores[i], reverse=True)
        top = head[0].score if head else 0.0
        reordered = [head[i] for i in order]
        for place, candidate in enumerate(reordered):  # keep scores decreasing
            candidate.score = top - place * 1e-6
        return reordered + tail


def is_turn_thread(row: Any) -> bool:
    """A thread of turns (a chat, a channel, a plugin's log), not a document's chunks."""
    return row is not None and row.thread is not None and not row.thread.startswith("document:")


def memory_time(row: Any) -> float | None:
    """When a memory happened: its turn's `at` (its position, for turns), else when made."""
    if row.thread is not None and not row.thread.startswith("document:") and row.position:
        return float(row.position)
    created = row.created_at
    if isinstance(created, str):  # SQLite's text: naive UTC
        created = datetime.fromisoformat(created).replace(tzinfo=UTC)
    return created.timestamp() if created is not None else None


def _normalised(
    scores: dict[int, float | None],
    floor: float | None = None,
) -> dict[int, float]:
    """Scores scaled to 0..1 over the candidates (a missing one counts as the lowest)."""
    known = [s for s in scores.values() if s is not None]
    if not known:
        return dict.fromkeys(scores, 0.0)
    low = min(known) if floor is None else floor
    high = max(known)
    span = (high - low) or 1.0
    return {r: (s - low) / span if s is not None else 0.0 for r, s in scores.items()}


def collapse(ranked: list[Candidate]) -> list[Candidate]:
    """The same text twice (ingested twice, said twice) is one result, the best placed;
    chunks of one document whose spans overlap by more than half are one result too."""
    kept: list[Candidate] = []
    hashes: set[str] = set()
    spans: dict[str, list[tuple[int, int]]] = {}
    for candidate in ranked:
        row = candidate.row
        digest = row.content_hash
        if digest in hashes and not is_turn_thread(row):
            continue
        document, span = _span(row)
        if document is not None and any(
            _overlap(span, other) > 0.5 for other in spans.get(document, [])
        ):
            continue
        hashes.add(digest)
        if document is not None:
            spans.setdefault(document, []).append(span)
        kept.append(candidate)
    return kept


def _span(row: Any) -> tuple[str | None, tuple[int, int]]:
    meta = row.meta or {}
    if row.kind == "chunk" and "start" in meta and "end" in meta:
        return meta.get("document_id"), (int(meta["start"]), int(meta["end"]))
    return None, (0, 0)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    shared = min(a[1], b[1]) - max(a[0], b[0])
    shorter = min(a[1] - a[0], b[1] - b[0]) or 1
    return max(shared, 0) / shorter
