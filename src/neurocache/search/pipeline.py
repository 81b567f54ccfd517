"""The retrieval pipeline: one module, used by every search the hub makes (the search API,
conversations, channels, agents, `/v1`).

1. The query is understood (`search.query`): the words that carry it, names, quoted
   phrases, a time it is about; a query with nothing to look for is refused.
2. Candidates come from full text (BM25 over the words) and from vectors, in parallel.
3. Turns of a thread bring their neighbours: the turns after a candidate (an answer is
   often the reply to what matched) and the turns before each (the context it replies to).
4. Every candidate gets both scores (missing ones are computed, not taken as zero), each
   normalised over the candidates, and a weighted sum of them; a turn adds a share of
   the best of the turns just before it (its context); a speaker the query names, a time
   it asks about, and recency when it asks about "now" add small boosts.
5. Near-duplicates collapse (the same text twice, overlapping chunks of one document).
6. An optional reranker (a cross-encoder) orders the best few again.

The weights were chosen by measurement (bench/recall.py; docs/decisions/0012-recall.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from neurocache.search.query import Query, understand

RECENCY_CUES = re.compile(r"\b(now|nowadays|currently|these days|lately|latest|recent|"
                          r"recently|anymore|at the moment|still)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Weights:
    vector: float = 0.6  # the normalised cosine's share of a memory's own score
    text: float = 0.4  # the normalised BM25's share
    context: float = 0.35  # how much of its best previous turn a turn adds
    window: int = 2  # turns before (context) and after (replies) a candidate looked at
    decay: float = 0.7  # each turn further away counts this much less
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
    highlight: str | None = None
    row: Any = None  # (id, kind, thread, position, speaker, meta, created_at, hash, content)
    score: float = 0.0


class Legs(Protocol):
    """What the pipeline needs of the store and the indexes (SearchService gives it)."""

    def embed_query(self, text: str) -> np.ndarray: ...
    def fulltext(self, query: Query, limit: int, filters: Any,
                 among: list[int] | None = None) -> list[tuple[int, float, str]]: ...
    def nearest(self, vector: np.ndarray, limit: int, filters: Any) -> list[tuple[int, float]]: ...
    def similarities(self, vector: np.ndarray, rowids: list[int]) -> dict[int, float]: ...
    def rows(self, rowids: list[int]) -> dict[int, Any]: ...
    def neighbours(self, rows: list[Any], before: int, after: int,
                   filters: Any) -> dict[int, Any]: ...
    def submit(self, function: Callable[..., Any], *args: Any) -> Any: ...


@dataclass
class Ranked:
    """What the pipeline found: rowids with scores, best first, and the highlights."""

    hits: list[tuple[int, float]]
    highlights: dict[int, str] = field(default_factory=dict)


class Pipeline:
    def __init__(self, legs: Legs, weights: Weights | None = None,
                 reranker: Callable[[str, list[str]], list[float]] | None = None) -> None:
        self.legs = legs
        self.weights = weights or Weights()
        self.reranker = reranker  # (query, passages) → relevance scores

    def run(self, text: str, k: int, mode: str, filters: Any, *, rerank: bool = False,
            now: datetime | None = None) -> Ranked:
        query = understand(text, now)
        want = max(self.weights.pool, k * 5)
        if mode == "fulltext":
            hits = self.legs.fulltext(query, k, filters)
            return Ranked([(r, s) for r, s, _ in hits], {r: h for r, _, h in hits})
        vector = self.legs.embed_query(text)
        if mode == "vector":
            return Ranked(self.legs.nearest(vector, k, filters))
        return self._hybrid(query, vector, k, want, filters, rerank)

    def _hybrid(self, query: Query, vector: np.ndarray, k: int, want: int, filters: Any,
                rerank: bool) -> Ranked:
        text_leg = self.legs.submit(self.legs.fulltext, query, want, filters)
        candidates = {rowid: Candidate(rowid, vector=score)
                      for rowid, score in self.legs.nearest(vector, want, filters)}
        for rowid, score, highlight in text_leg.result():
            found = candidates.setdefault(rowid, Candidate(rowid))
            found.text, found.highlight = score, highlight
        self._with_rows(candidates)
        self._with_neighbours(candidates, filters)
        self._complete_scores(candidates, query, vector, filters)
        ranked = self._ranked(candidates, query)
        ranked = collapse(ranked)
        if rerank and self.reranker is not None:
            ranked = self._reranked(query, ranked)
        return Ranked([(c.rowid, c.score) for c in ranked[:k]],
                      {c.rowid: c.highlight for c in ranked if c.highlight})

    def _with_rows(self, candidates: dict[int, Candidate]) -> None:
        rows = self.legs.rows(list(candidates))
        for rowid in list(candidates):
            if rowid in rows:
                candidates[rowid].row = rows[rowid]
            else:
                del candidates[rowid]  # gone since the index was searched

    def _with_neighbours(self, candidates: dict[int, Candidate], filters: Any) -> None:
        """The turns around the candidates that are turns of a conversation-like thread."""
        turns = [c.row for c in candidates.values() if is_turn_thread(c.row)]
        if not turns or self.weights.window == 0:
            return
        window = self.weights.window
        for rowid, row in self.legs.neighbours(turns, window, window, filters).items():
            candidates.setdefault(rowid, Candidate(rowid, row=row))

    def _complete_scores(self, candidates: dict[int, Candidate], query: Query,
                         vector: np.ndarray, filters: Any) -> None:
        """Both scores for every candidate: a memory the vectors found may match words
        too (just below the full-text leg's cut), and the other way round."""
        no_vector = [r for r, c in candidates.items() if c.vector is None]
        for rowid, score in self.legs.similarities(vector, no_vector).items():
            candidates[rowid].vector = score
        no_text = [r for r, c in candidates.items() if c.text is None]
        if no_text and query.words:
            for rowid, score, highlight in self.legs.fulltext(query, len(no_text), filters,
                                                              among=no_text):
                candidates[rowid].text, candidates[rowid].highlight = score, highlight

    def _ranked(self, candidates: dict[int, Candidate], query: Query) -> list[Candidate]:
        w = self.weights
        vectors = _normalised({r: c.vector for r, c in candidates.items()})
        texts = _normalised({r: c.text for r, c in candidates.items()}, floor=0.0)
        own = {r: w.vector * vectors[r] + w.text * texts[r] for r in candidates}
        by_thread = _threads(candidates.values())
        recency = _normalised({r: memory_time(c.row) for r, c in candidates.items()}) \
            if RECENCY_CUES.search(query.text) else {}
        for rowid, candidate in candidates.items():
            candidate.score = own[rowid] + w.context * self._context(candidate, by_thread,
                                                                     own)
            candidate.score += self._boosts(candidate, query) + w.recency * recency.get(
                rowid, 0.0)
        return sorted(candidates.values(), key=lambda c: c.score, reverse=True)

    def _context(self, candidate: Candidate, by_thread: dict[str, list[Candidate]],
                 own: dict[int, float]) -> float:
        """The best own score among the few turns just before this one, decayed by
        distance: what the turn replies to."""
        if not is_turn_thread(candidate.row):
            return 0.0
        thread = by_thread.get(candidate.row.thread, [])
        at = next((i for i, c in enumerate(thread) if c.rowid == candidate.rowid), None)
        if at is None:
            return 0.0
        before = thread[max(0, at - self.weights.window):at]
        return max((own[c.rowid] * self.weights.decay ** (at - i)
                    for i, c in enumerate(before, start=at - len(before))), default=0.0)

    def _boosts(self, candidate: Candidate, query: Query) -> float:
        """A speaker the query names; the time it asks about."""
        w, row, boost = self.weights, candidate.row, 0.0
        if query.names and row.speaker and row.speaker.lower() in query.names:
            boost += w.speaker
        if query.window is not None:
            when = memory_time(row)
            if when is not None and query.window.start.timestamp() <= when \
                    < query.window.end.timestamp():
                boost += w.time
        return boost

    def _reranked(self, query: Query, ranked: list[Candidate]) -> list[Candidate]:
        """The reranker's order of the best few (its scores, then the pipeline's)."""
        assert self.reranker is not None
        head, tail = ranked[:self.weights.reranked], ranked[self.weights.reranked:]
        scores = self.reranker(query.text, [c.row.content for c in head])
        order = sorted(range(len(head)), key=lambda i: scores[i], reverse=True)
        top = head[0].score if head else 0.0
        reordered = [head[i] for i in order]
        for place, candidate in enumerate(reordered):  # keep scores decreasing
            candidate.score = top - place * 1e-6
        return reordered + tail


def is_turn_thread(row: Any) -> bool:
    """A thread of turns (a chat, a channel, a plugin's log), not a document's chunks."""
    return row is not None and row.thread is not None and not row.thread.startswith(
        "document:")


def memory_time(row: Any) -> float | None:
    """When a memory happened: its turn's `at` (its position, for turns), else when made."""
    if row.thread is not None and not row.thread.startswith("document:") and row.position:
        return float(row.position)
    created: datetime | None = row.created_at
    return created.timestamp() if created is not None else None


def _normalised(scores: dict[int, float | None], floor: float | None = None,
                ) -> dict[int, float]:
    """Scores scaled to 0..1 over the candidates (a missing one counts as the lowest)."""
    known = [s for s in scores.values() if s is not None]
    if not known:
        return dict.fromkeys(scores, 0.0)
    low = min(known) if floor is None else floor
    high = max(known)
    span = (high - low) or 1.0
    return {r: (s - low) / span if s is not None else 0.0 for r, s in scores.items()}


def _threads(candidates: Any) -> dict[str, list[Candidate]]:
    by_thread: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if is_turn_thread(candidate.row):
            by_thread.setdefault(candidate.row.thread, []).append(candidate)
    for turns in by_thread.values():
        turns.sort(key=lambda c: (c.row.position or 0.0, c.rowid))
    return by_thread


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
        if document is not None and any(_overlap(span, other) > 0.5
                                        for other in spans.get(document, [])):
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
