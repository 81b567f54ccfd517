"""A change of embedder re-embeds the store in the background."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from neurocache.app import create_app, hub_of
from neurocache.llm.reembed import Reembedder, count_stale, load_vector
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.store.tables import Memory, Vector
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

TEXTS = [
    "a page about rivers",
    "a note on mountains",
    "a chat about cities",
    "an agent's reflection",
]


def add_memories(hub, texts):
    with hub.db.session() as session:
        for text in texts:
            session.add(
                Memory(
                    kind="note",
                    content=text,
                    content_hash=hashlib.sha256(text.encode()).hexdigest(),
                    meta={},
                )
            )


def vectors(hub):
    with hub.db.session() as session:
        return {
            (row.embedder, row.dimension) for row in session.scalars(select(Vector))
        }, session.scalar(select(Vector).limit(1))


def start(data_dir, events, **settings):
    app = create_app(Settings(data_dir=data_dir, **settings), testing=True)
    hub = hub_of(app)
    hub.publish = lambda event, payload, room=None: events.append((event, payload, room))
    return hub


def test_memories_are_embedded_and_re_embedded_when_the_embedder_changes(tmp_path):
    events: list = []
    hub = start(tmp_path, events)
    add_memories(hub, TEXTS)
    hub.close()

    hub = start(tmp_path, events)  # at start: nothing embedded by `builtin` yet
    assert wait_for(lambda: count_stale(hub.db, "builtin") == 0)
    kinds, sample = vectors(hub)
    assert kinds == {("builtin", 384)} and load_vector(sample).shape == (384,)
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    model = hub.models.register_local(str(tiny), Actor("test"), role="embedding")
    hub.close()

    hub = start(tmp_path, events, embedder=model.id)
    assert wait_for(lambda: count_stale(hub.db, model.id) == 0)
    kinds, sample = vectors(hub)
    assert kinds == {(model.id, 64)}
    hub.close()


def test_a_pass_reports_its_progress_in_the_jobs_room(tmp_path):
    events: list = []
    hub = start(tmp_path, events)
    hub._reembedder.stop()
    add_memories(hub, TEXTS)
    pass_ = Reembedder(hub.db, "builtin", lambda: hub.embedder, lambda *event: events.append(event))
    assert pass_.run(len(TEXTS)) == len(TEXTS)
    progress = [
        payload for event, payload, room in events if event == "job.progress" and room == "jobs"
    ]
    assert [p["status"] for p in progress] == ["running", "running", "done"]
    assert (
        progress[-1]
        | {"id": "reembed:builtin", "kind": "reembed", "done": 4, "total": 4, "progress": 1.0}
        == progress[-1]
    )
    hub.close()


def test_a_stopped_pass_goes_on_where_it_stopped(tmp_path, monkeypatch):
    from neurocache.llm import reembed

    monkeypatch.setattr(reembed, "BATCH", 1)
    events: list = []
    hub = start(tmp_path, events, embedder="builtin")
    hub._reembedder.stop()
    add_memories(hub, TEXTS)

    passes: list[Reembedder] = []

    class StopAfterOne:
        dimension = 384

        def embed(self, texts):
            passes[-1]._stop.set()  # the hub is told to stop during the first batch
            return hub.embedder.embed(texts)

    passes.append(Reembedder(hub.db, "builtin", StopAfterOne, hub.publish))
    assert passes[-1].run(len(TEXTS)) == 1
    assert count_stale(hub.db, "builtin") == len(TEXTS) - 1
    assert Reembedder(hub.db, "builtin", lambda: hub.embedder, hub.publish).run(3) == 3
    assert count_stale(hub.db, "builtin") == 0
    hub.close()


def test_a_failing_embedder_is_reported_not_silent(tmp_path):
    events: list = []
    hub = start(tmp_path, events)
    hub._reembedder.stop()
    add_memories(hub, TEXTS[:1])

    def broken():
        raise RuntimeError("no embedder today")

    Reembedder(hub.db, "builtin", broken, hub.publish).run(1)
    failed = [p for e, p, _r in events if e == "job.progress" and p["status"] == "failed"]
    assert failed and "no embedder today" in failed[0]["error"]
    hub.close()


@pytest.mark.parametrize("embedder", ["builtin"])
def test_nothing_stale_starts_nothing(tmp_path, embedder):
    events: list = []
    hub = start(tmp_path, events, embedder=embedder)
    assert not Reembedder(hub.db, embedder, lambda: hub.embedder, hub.publish).start()
    assert hub._embedder is None  # not even loaded
    hub.close()
