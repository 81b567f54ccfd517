"""Retrieval quality on a corpus written for the test (tests/data/quality_corpus.json):
with the built-in embedder, hybrid recall@5 is at least vector-only's and full-text-only's."""

from __future__ import annotations

import json
from pathlib import Path

from neurocache.store.audit import Actor

CORPUS = json.loads((Path(__file__).parents[1] / "data" / "quality_corpus.json").read_text())


def recall_at_5(hub, mode: str, titles: dict[str, str]) -> float:
    found = 0
    for question, answer in CORPUS["questions"]:
        results = hub.search.search(question, k=5, mode=mode)
        found += any(r.document.id == titles[answer] for r in results)
    return found / len(CORPUS["questions"])


def test_hybrid_recall_is_at_least_each_mode_alone(hub, capsys):
    titles = {}
    for name, body in CORPUS["documents"].items():
        accepted = hub.knowledge.add_text(title=name, body=body, fmt="text", actor=Actor("test"))
        titles[name] = accepted.document.id
    assert hub.jobs.wait_idle(120)
    scores = {mode: recall_at_5(hub, mode, titles) for mode in ("hybrid", "vector", "fulltext")}
    with capsys.disabled():
        summary = ", ".join(f"{mode} {score:.2f}" for mode, score in scores.items())
        print(f"\nrecall@5 on {len(CORPUS['questions'])} questions: {summary}")
    assert scores["hybrid"] >= scores["vector"]
    assert scores["hybrid"] >= scores["fulltext"]
    assert scores["hybrid"] >= 0.8
