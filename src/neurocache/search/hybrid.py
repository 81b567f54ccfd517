"""Reciprocal rank fusion: a result's score is the sum of 1 / (k + rank) over the lists it
appears in, so neither BM25's nor cosine's scale dominates."""

from __future__ import annotations

RRF_K = 60


def fuse(*rankings: list[int], k: int = RRF_K) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
