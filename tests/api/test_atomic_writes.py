"""One logical change, one transaction: a crash (simulated by an exception no handler
catches, thrown at the worst moment) leaves either the whole change or none of it, and
what a crash between two steps can leave is repaired at the next start."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from neurocache.app import create_app, hub_of
from neurocache.knowledge.service import drop_chunks
from neurocache.llm.reembed import store_vectors
from neurocache.settings import Settings
from neurocache.store import audit
from neurocache.store.audit import Actor
from neurocache.store.tables import Document, Edge, Job, Memory, Vector
from tests.support.waiting import wait_for

ACTOR = Actor("test")
RIVERS = (
    "The Rhine flows through Basel and into the North Sea. Salmon return to the "
    "rivers of Europe each autumn, swimming upstream to spawn."
)


class Killed(BaseException):
    """The process dying here: no `except Exception` catches it."""


def killed(*_args, **_kwargs):
    raise Killed


def open_hub(data_dir, **settings):
    return hub_of(create_app(Settings(data_dir=data_dir, **settings), testing=True))


def count(hub, model, *where) -> int:
    with hub.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def chunks_of(hub, document_id: str) -> int:
    return count(hub, Edge, Edge.target_id == document_id, Edge.relation == "part_of")


def test_a_document_and_its_ingestion_job_are_written_together(tmp_path, monkeypatch):
    hub = open_hub(tmp_path)
    monkeypatch.setattr(hub.jobs, "row", killed)
    with pytest.raises(Killed):
        hub.knowledge.add_text(title="Lost", body=RIVERS, fmt="text", actor=ACTOR)
    assert count(hub, Document) == 0
    monkeypatch.undo()
    monkeypatch.setattr(hub.jobs, "dispatch", killed)  # committed, never handed to a worker
    with pytest.raises(Killed):
        hub.knowledge.add_text(title="Kept", body=RIVERS, fmt="text", actor=ACTOR)
    hub.close()

    hub = open_hub(tmp_path)
    assert hub.jobs.wait_idle(60)
    [document], _ = hub.knowledge.list_documents()
    assert document.title == "Kept" and document.status == "indexed"
    hub.close()


def test_a_watched_file_is_remembered_with_its_document(tmp_path, monkeypatch):
    """Else a crash between the two makes the next scan take the file in again."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "rivers.md").write_text(RIVERS)
    hub = open_hub(tmp_path / "data", watch_interval_s=3600)
    hub.folders.stop()  # only this test's scan runs
    monkeypatch.setattr(hub.folders, "scan_quietly", lambda *_: None)
    watched = hub.folders.register(str(folder), ACTOR)
    monkeypatch.setattr(hub.jobs, "dispatch", killed)
    with pytest.raises(Killed):
        hub.folders.scan(watched.id)
    hub.close()

    hub = open_hub(tmp_path / "data", watch_interval_s=3600)
    assert wait_for(lambda: hub.folders.list()[0].scanned_at is not None, 30)
    assert hub.jobs.wait_idle(60)
    documents, _ = hub.knowledge.list_documents()
    assert [(d.title, d.status) for d in documents] == [("rivers.md", "indexed")]
    hub.close()


def test_a_capture_and_its_version_edge_are_written_together(tmp_path, monkeypatch):
    hub = open_hub(tmp_path)
    page = {"url": "https://example.org/rivers", "title": "Rivers", "text": RIVERS}
    first = hub.knowledge.add_capture(page, ACTOR).document
    monkeypatch.setattr(hub.jobs, "dispatch", killed)
    with pytest.raises(Killed):
        hub.knowledge.add_capture({**page, "text": RIVERS + " Trout too."}, ACTOR)
    monkeypatch.undo()
    with hub.db.session() as session:
        second = session.scalar(select(Document.id).where(Document.id != first.id))
        assert (
            session.scalar(
                select(Edge.target_id).where(
                    Edge.source_id == second, Edge.relation == "version_of"
                )
            )
            == first.id
        )
    hub.close()


def test_cancelling_a_queued_ingestion_fails_its_document_at_once(tmp_path):
    hub = open_hub(tmp_path)
    hub.jobs.stop()  # nothing runs: the job stays queued
    accepted = hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=ACTOR)
    hub.jobs.cancel(accepted.job.id)
    document = hub.knowledge.get_document(accepted.document.id)
    assert (document.status, document.error) == ("failed", "indexing was cancelled")
    hub.close()


def test_the_start_repairs_documents_left_between_two_steps(tmp_path):
    """A document waiting with no job (written by an older hub) is indexed; a failed one
    holding chunks (a crash between a cancel and its clean-up) loses them."""
    hub = open_hub(tmp_path)
    waiting = hub.knowledge.add_text(title="Waiting", body=RIVERS, fmt="text", actor=ACTOR)
    failed = hub.knowledge.add_text(title="Failed", body=RIVERS + " Pike.", fmt="text", actor=ACTOR)
    assert hub.jobs.wait_idle(60)
    with hub.db.session() as session:
        session.get(Document, waiting.document.id).status = "queued"
        session.execute(Job.__table__.delete().where(Job.id == waiting.job.id))
        session.get(Document, failed.document.id).status = "failed"
    assert chunks_of(hub, failed.document.id) > 0
    hub.close()

    hub = open_hub(tmp_path)
    assert hub.jobs.wait_idle(60)
    assert hub.knowledge.get_document(waiting.document.id).status == "indexed"
    assert chunks_of(hub, waiting.document.id) > 0
    assert chunks_of(hub, failed.document.id) == 0
    found = {r.document.title for r in hub.search.search("Pike Rhine", mode="fulltext")}
    assert found == {"Waiting"}
    hub.close()


def test_a_failed_ingestion_leaves_no_chunks_to_find(tmp_path, monkeypatch):
    hub = open_hub(tmp_path)
    monkeypatch.setattr(
        hub.knowledge,
        "embed_and_store",
        lambda *_a: (_ for _ in ()).throw(RuntimeError("the embedder fell over")),
    )
    accepted = hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=ACTOR)
    assert hub.jobs.wait_idle(60)
    document = hub.knowledge.get_document(accepted.document.id)
    assert (document.status, document.error) == ("failed", "the embedder fell over")
    assert chunks_of(hub, document.id) == 0
    assert hub.search.search("Rhine", mode="fulltext") == []
    hub.close()


def test_deleting_a_document_is_all_or_nothing(tmp_path, monkeypatch):
    hub = open_hub(tmp_path)
    accepted = hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=ACTOR)
    assert hub.jobs.wait_idle(60)
    chunks = chunks_of(hub, accepted.document.id)
    monkeypatch.setattr(audit, "record", killed)  # the last step of the delete
    with pytest.raises(Killed):
        hub.knowledge.delete_document(accepted.document.id, ACTOR)
    monkeypatch.undo()
    assert hub.knowledge.get_document(accepted.document.id).status == "indexed"
    assert chunks_of(hub, accepted.document.id) == chunks > 0
    hub.close()


def test_an_edit_drops_the_old_vector_with_the_old_text(tmp_path, monkeypatch):
    """A crash before the new vector is made leaves the memory unembedded (the next start
    embeds it), never found by what it no longer says."""
    hub = open_hub(tmp_path)
    note = hub.graph.create(ACTOR, kind="note", content="Salmon swim upstream.", metadata={})
    hub.knowledge.remember([note.id], [note.content])
    assert count(hub, Vector, Vector.memory_id == note.id) == 1
    hub.graph.update(note.id, {"content": "Lanterns light the harbour."}, ACTOR)
    assert count(hub, Vector, Vector.memory_id == note.id) == 0
    hub.close()

    hub = open_hub(tmp_path)
    assert wait_for(lambda: count(hub, Vector, Vector.memory_id == note.id) == 1, 60)
    with hub.db.session() as session:
        assert drop_chunks(session, note.id) == []  # a note has no chunks: nothing goes
        assert session.get(Memory, note.id).content == "Lanterns light the harbour."
    hub.close()


def test_disabling_a_user_and_revoking_their_keys_is_all_or_nothing(tmp_path, monkeypatch):
    hub = open_hub(tmp_path)
    user = hub.users.create("ada", ACTOR)
    _view, secret = hub.keys.create("ada's laptop", ["read"], ACTOR, owner=user.person)
    real_record = audit.record

    def dies_at_disable(session, actor, action, *rest):
        if action == "user.disable":
            raise Killed
        return real_record(session, actor, action, *rest)

    monkeypatch.setattr(audit, "record", dies_at_disable)
    with pytest.raises(Killed):
        hub.users.disable("ada", ACTOR, hub.keys.revoke_all_of)
    monkeypatch.undo()
    assert hub.users.get("ada").disabled_at is None
    assert hub.keys.authenticate(secret) is not None  # nothing half done: still whole

    assert hub.users.disable("ada", ACTOR, hub.keys.revoke_all_of)[1] == 1
    assert hub.keys.authenticate(secret) is None
    hub.close()


def test_a_key_of_a_disabled_user_never_signs_in(tmp_path):
    """Even one that raced with the disabling and was not revoked."""
    hub = open_hub(tmp_path)
    user = hub.users.create("ada", ACTOR)
    _view, secret = hub.keys.create("ada's laptop", ["read"], ACTOR, owner=user.person)

    def revoke_none(_person, _actor, along):  # the key left live, as by a race
        with hub.db.session() as session:
            along(session)
        return 0

    assert hub.users.disable("ada", ACTOR, revoke_none)[0].disabled_at is not None
    assert hub.keys.authenticate(secret) is None
    hub.close()


def test_a_cancel_that_races_the_end_of_indexing_wins_whole(tmp_path, monkeypatch):
    """Cancelled after its last progress report: the job says cancelled, so the document
    says failed and keeps no chunks (never `indexed` beside a cancelled job)."""
    hub = open_hub(tmp_path)
    index_document = hub.knowledge.index_document

    def then_cancelled(document_id, *args):
        index_document(document_id, *args)
        with hub.db.session() as session:
            job_id = session.scalar(select(Job.id).where(Job.kind == "ingest"))
        hub.jobs.cancel(job_id)

    monkeypatch.setattr(hub.knowledge, "index_document", then_cancelled)
    accepted = hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=ACTOR)
    assert hub.jobs.wait_idle(60)
    assert hub.jobs.get(accepted.job.id).status == "cancelled"
    document = hub.knowledge.get_document(accepted.document.id)
    assert (document.status, document.chunk_count) == ("failed", 0)
    assert chunks_of(hub, document.id) == 0
    hub.close()


def test_an_embedding_of_text_since_edited_is_not_stored(tmp_path):
    """The edit's own embedding (or the next start's) writes the vector: one of the old
    text finishing late must not replace it. Storing twice replaces (an upsert)."""
    hub = open_hub(tmp_path)
    note = hub.graph.create(ACTOR, kind="note", content="Salmon swim upstream.", metadata={})
    vector = hub.embedder.embed([note.content])
    name = hub.search.embedder_name
    assert store_vectors(hub.db, name, [note.id], vector, [note.content]) == [0]
    assert store_vectors(hub.db, name, [note.id], vector, [note.content]) == [0]
    assert count(hub, Vector, Vector.memory_id == note.id) == 1
    hub.graph.update(note.id, {"content": "Lanterns light the harbour."}, ACTOR)
    assert store_vectors(hub.db, name, [note.id], vector, [note.content]) == []
    assert count(hub, Vector, Vector.memory_id == note.id) == 0
    hub.close()
