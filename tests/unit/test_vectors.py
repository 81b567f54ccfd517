"""The FAISS index: exact below a size, inverted lists above; topped up or rebuilt from the
store; switched in the background without losing a change. Real FAISS, real SQLite."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text

from neurocache.llm.reembed import store_vectors
from neurocache.search.records import IndexStatus
from neurocache.search.service import Filters, SearchService
from neurocache.search.vectors import EXACT, INVERTED, IndexPolicy, VectorIndex
from neurocache.store import Database
from neurocache.store.graph import content_hash
from neurocache.store.tables import Memory
from tests.support.waiting import wait_for

DIMENSION = 8


class _Embedder:
    """Stands in for a model: every query is the first axis."""

    dimension = DIMENSION

    def embed(self, texts):
        return np.eye(DIMENSION, dtype=np.float32)[:1].repeat(len(texts), axis=0)


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype("f4")
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.close()


def stored_memories(db: Database, vectors: np.ndarray, **meta) -> list[int]:
    """Memories with these vectors in the store; their rowids."""
    with db.session() as session:
        texts = [f"chunk {i}" for i in range(len(vectors))]
        rows = [
            Memory(kind="chunk", content=t, content_hash=content_hash(t), meta=meta) for t in texts
        ]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    store_vectors(db, "test", ids, vectors, texts)
    with db.session() as session:
        found = dict(session.execute(text("SELECT id, rowid FROM memories")).all())
    return [found[i] for i in ids]


def service(db, tmp_path, **policy) -> SearchService:
    return SearchService(
        db,
        tmp_path / "indexes",
        "test",
        _Embedder,
        IndexPolicy(**policy) if policy else None,
        save_interval_s=0,
    )


def test_the_policy_picks_the_kind_by_size_with_hysteresis():
    policy = IndexPolicy(exact_limit=100_000)
    assert policy.kind_for(100_000) == EXACT and policy.kind_for(100_001) == INVERTED
    assert policy.lists_for(100) == 2 and policy.lists_for(1_000_000) == 4000
    lists = policy.lists_for(120_000)
    inverted = VectorIndex.inverted(unit_vectors(lists * 39), lists, 8)
    assert policy.fits(inverted, 120_000) and policy.fits(inverted, 60_000)  # no flapping
    assert not policy.fits(inverted, 40_000) and not policy.fits(inverted, 600_000)
    assert policy.fits(VectorIndex.exact(DIMENSION), 100_000)
    assert not policy.fits(VectorIndex.exact(DIMENSION), 100_001)


def test_an_inverted_index_adds_replaces_removes_lists_and_survives_saving(tmp_path):
    vectors = unit_vectors(500)
    index = VectorIndex.inverted(vectors, lists=4, nprobe=4)  # every list: exact answers
    index.add(list(range(500)), vectors)
    assert index.kind == INVERTED and index.lists == 4 and index.size == 500
    assert index.search(vectors[7], 1)[0][0] == 7
    index.add([7], vectors[8:9])  # re-adding replaces
    assert index.size == 500 and {r for r, _ in index.search(vectors[8], 2)} == {7, 8}
    index.remove([7, 8])
    assert index.size == 498 and sorted(index.ids().tolist()) == [
        i for i in range(500) if i not in (7, 8)
    ]

    index.save(tmp_path / "v.faiss", {"vectors": 498})
    loaded, fingerprint = VectorIndex.load(tmp_path / "v.faiss", DIMENSION, nprobe=4)
    assert fingerprint == {"vectors": 498} and loaded.kind == INVERTED
    loaded.remove([9])  # the id map came back with it: deleting still works
    assert loaded.size == 497 and loaded.search(vectors[10], 1)[0][0] == 10
    assert VectorIndex.load(tmp_path / "v.faiss", DIMENSION + 1) is None


def test_a_search_among_given_rowids_returns_only_those_from_either_kind_of_index():
    vectors = unit_vectors(2000)
    wanted = list(range(1500, 2000, 50))  # ten, wherever they lie
    for index in (
        VectorIndex.exact(DIMENSION),
        VectorIndex.inverted(vectors, lists=32, nprobe=1),
    ):  # one list probed
        index.add(list(range(2000)), vectors)
        found = index.search(vectors[0], 10, among=wanted)
        assert sorted(r for r, _ in found) == wanted, index.kind
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        assert index.search(vectors[0], 10, among=[]) == []


def test_a_store_past_the_limit_gets_an_inverted_index_at_start(db, tmp_path):
    rowids = stored_memories(db, unit_vectors(300))
    index = service(db, tmp_path, exact_limit=100, nprobe=64).index()
    assert index.kind == INVERTED and index.size == 300
    assert sorted(index.ids().tolist()) == sorted(rowids)


def test_growing_past_the_limit_switches_in_the_background_and_keeps_every_change(db, tmp_path):
    search = service(db, tmp_path, exact_limit=100, nprobe=64)
    search.index()  # loaded while the store is empty
    vectors = unit_vectors(400)
    rowids = stored_memories(db, vectors[:300])
    search.add(rowids, vectors[:300])
    assert search.index().kind == EXACT
    search.checkpoint()  # 300 > 100: a rebuild starts
    late = stored_memories(db, vectors[300:])  # changes while it may be running
    search.add(late, vectors[300:])
    search.remove(rowids[:10])
    wait_for(lambda: search.status().rebuilding is False, timeout=30)
    index = search.index()
    assert index.kind == INVERTED
    assert sorted(index.ids().tolist()) == sorted(rowids[10:] + late)
    assert index.search(vectors[350], 1)[0][0] == late[50]


def test_an_index_behind_or_ahead_of_the_store_is_topped_up_not_rebuilt(db, tmp_path):
    vectors = unit_vectors(60)
    rowids = stored_memories(db, vectors[:50])
    search = service(db, tmp_path)
    search.add(rowids, vectors[:50])
    search.save()
    late = stored_memories(db, vectors[50:])  # stored, then a crash before the next save
    with db.session() as session:  # and a deletion the saved index did not see
        session.execute(text("DELETE FROM memories WHERE rowid = :r"), {"r": rowids[0]})

    reopened = service(db, tmp_path).index()
    assert sorted(reopened.ids().tolist()) == sorted(rowids[1:] + late)
    assert reopened.search(vectors[55], 1)[0][0] == late[5]


def test_status_tells_the_kind_size_and_file(db, tmp_path):
    search = service(db, tmp_path)
    assert search.status() == IndexStatus(size_bytes=0, loaded=False)
    rowids = stored_memories(db, unit_vectors(5))
    search.add(rowids, unit_vectors(5))
    search.save()
    status = search.status()
    assert status.kind == EXACT and status.vectors == 5 and status.size_bytes > 0


def test_a_narrow_filter_finds_its_few_vectors_however_far_they_lie(db, tmp_path):
    search = service(db, tmp_path)
    crowd = unit_vectors(20_000)
    crowd[:, 0] = np.abs(crowd[:, 0])  # all of them nearer the query than the few
    search.add(stored_memories(db, crowd), crowd)
    few = -np.eye(DIMENSION, dtype=np.float32)[:3] - 0.1  # pointing away from the query
    few /= np.linalg.norm(few, axis=1, keepdims=True)
    wanted = stored_memories(db, few, collection_id="small")
    search.add(wanted, few)
    found = search.search("lighthouse", k=10, mode="vector", filters=Filters(collections=["small"]))
    assert sorted(r.text for r in found) == ["chunk 0", "chunk 1", "chunk 2"]
    assert found[-1].text == "chunk 0"  # the one pointing straight away: last
    assert search.search("lighthouse", k=5, mode="vector")[0].text != "chunk 0"


def test_a_rowid_reused_after_a_crash_gets_its_new_vector(db, tmp_path):
    vectors = unit_vectors(12)
    rowids = stored_memories(db, vectors[:10])
    search = service(db, tmp_path)
    search.add(rowids, vectors[:10])
    search.save()
    with db.session() as session:  # the newest memory goes; SQLite reuses its rowid
        session.execute(text("DELETE FROM memories WHERE rowid = :r"), {"r": rowids[-1]})
    reused = stored_memories(db, vectors[10:11])
    assert reused == [rowids[-1]]  # then the hub is killed before the next save

    reopened = service(db, tmp_path).index()
    assert reopened.search(vectors[10], 1) == [(rowids[-1], pytest.approx(1.0, abs=1e-5))]
