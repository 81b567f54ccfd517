"""Recall, kept in `make test`: on a small version of bench/recall.py's corpus (a multi-
session chat history with facts asked about in other words, and notes), the hub's hybrid
search finds more of the evidence in its top 10 than the naive fusion of bare BM25 and
bare vectors over the same texts — well above it on the conversation, never below it on
the documents. The full benchmark is `python bench/recall.py`."""

from __future__ import annotations

import statistics

import pytest

from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.baselines import Bare
from tests.support.recall_corpus import Question, conversations, documents

ACTOR = Actor("test")


def recall_at_10(ranked: list[str], question: Question) -> float:
    return len(set(ranked[:10]) & set(question.evidence)) / len(question.evidence)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    hub = Hub(Settings(data_dir=tmp_path_factory.mktemp("recall")))
    hub.start_background_work()
    chats, notes = conversations(seed=3, pairs=4, sessions=14), documents(seed=3, count=16)
    keys: dict[str, str] = {}
    memories = hub.graph.create_many(ACTOR, [turn.memory() for turn in chats.turns])
    hub.knowledge.remember([m.id for m in memories], [m.content for m in memories])
    keys |= {m.id: turn.key for m, turn in zip(memories, chats.turns, strict=True)}
    for note in notes.documents:
        accepted = hub.knowledge.add_text(
            title=note["title"], body=note["text"], fmt="text", actor=ACTOR
        )
        keys[accepted.document.id] = note["key"]
    assert hub.jobs.wait_idle(300)
    yield hub, keys, chats, notes
    hub.close()


def hub_ranked(hub: Hub, keys: dict[str, str], question: Question) -> list[str]:
    results = hub.search.search(question.text, k=10)
    return [keys.get(r.document.id if r.document else r.memory_id, "") for r in results]


def test_hybrid_recall_is_far_above_naive_fusion_on_a_conversation(loaded, capsys):
    hub, keys, chats, _notes = loaded
    bare = Bare([t.key for t in chats.turns], [t.content for t in chats.turns], hub.embedder)
    ours = statistics.mean(recall_at_10(hub_ranked(hub, keys, q), q) for q in chats.questions)
    naive = statistics.mean(recall_at_10(bare.rrf(q.text), q) for q in chats.questions)
    with capsys.disabled():
        print(
            f"\nconversation R@10 over {len(chats.questions)} questions: hub hybrid "
            f"{ours:.2f}, naive RRF {naive:.2f}"
        )
    assert ours >= naive + 0.15


def test_hybrid_recall_is_not_below_naive_fusion_on_documents(loaded, capsys):
    hub, keys, _chats, notes = loaded
    from sqlalchemy import select

    from neurocache.store.tables import Memory

    with hub.db.session() as session:  # the baselines search the hub's own chunks
        chunks = session.execute(
            select(Memory.content, Memory.meta).where(Memory.kind == "chunk")
        ).all()
    bare = Bare(
        [keys[meta["document_id"]] for _c, meta in chunks], [c for c, _m in chunks], hub.embedder
    )
    ours = statistics.mean(recall_at_10(hub_ranked(hub, keys, q), q) for q in notes.questions)
    naive = statistics.mean(recall_at_10(bare.rrf(q.text), q) for q in notes.questions)
    with capsys.disabled():
        print(
            f"\ndocuments R@10 over {len(notes.questions)} questions: hub hybrid "
            f"{ours:.2f}, naive RRF {naive:.2f}"
        )
    assert ours >= naive
