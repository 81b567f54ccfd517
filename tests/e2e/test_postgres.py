"""The same store code on PostgreSQL: migrations, keys, audit, memories, a whole hub."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from neurocache.access.keys import ApiKeys
from neurocache.app import create_app, hub_of
from neurocache.runtime.periodic_claims import PeriodicClaims
from neurocache.settings import Settings
from neurocache.store import Database
from neurocache.store.audit import Actor, AuditLog
from neurocache.store.database import managed_by_models
from neurocache.store.tables import Base, Edge, Memory
from tests.support.hub import bearer, make_key


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    database.migrate()
    yield database
    database.close()


def test_migrations_reach_head_and_match_the_models(db):
    assert db.engine.dialect.name == "postgresql"
    assert db.current_revision() == Database.head_revision()
    with db.engine.connect() as connection:
        assert (
            compare_metadata(
                MigrationContext.configure(connection, opts={"include_object": managed_by_models}),
                Base.metadata,
            )
            == []
        )
    db.migrate()  # again: a no-op


def test_keys_and_audit(db):
    keys = ApiKeys(db)
    view, secret = keys.create("pg", ["read", "chat"], Actor("test"))
    assert keys.authenticate(secret).scopes == frozenset({"read", "chat"})
    keys.revoke(view.id, Actor("test"))
    assert keys.authenticate(secret) is None
    entries, _ = AuditLog(db).list(target_id=view.id)
    assert [e.action for e in entries] == ["key.revoke", "key.create"]
    assert entries[0].after["scopes"] == ["read", "chat"]  # JSONB round trip


def test_memories_edges_and_constraints(db):
    with db.session() as session:
        a = Memory(kind="note", content="a", content_hash="h", meta={"k": [1, 2]})
        b = Memory(kind="note", content="b", content_hash="h")
        session.add_all([a, b])
        session.flush()
        session.add(Edge(source_id=a.id, target_id=b.id, relation="part_of"))
    with db.session() as session:
        assert session.get(Memory, a.id).meta == {"k": [1, 2]}
        session.delete(session.get(Memory, b.id))
    with db.session() as session:
        assert session.query(Edge).count() == 0
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Memory(kind="note", content="x", content_hash="h", tier="nowhere"))


def test_a_whole_hub_on_postgresql(tmp_path, database_url):
    app = create_app(Settings(data_dir=tmp_path, database_url=database_url), testing=True)
    client = app.test_client()
    headers = bearer(make_key(hub_of(app), "admin"))
    status = client.get("/api/v1/status", headers=headers).json
    assert status["store"]["backend"] == "postgresql" and status["store"]["size_bytes"] is None
    created = client.post("/api/v1/keys", json={"name": "on pg"}, headers=headers)
    assert created.status_code == 201
    assert [k["name"] for k in client.get("/api/v1/keys", headers=headers).json["keys"]] == [
        "on pg",
        "test key",
    ]
    hub_of(app).close()


def test_processes_racing_for_a_periodic_turn_run_it_once(db):
    """Four processes' claims (one store, PostgreSQL's READ COMMITTED) wake together for
    a due task, twenty times: each time exactly one runs it."""
    claims = [PeriodicClaims(db, worker_id=f"p{n}") for n in range(4)]
    for round_ in range(20):
        ran = race_for_a_turn(claims, f"task-{round_}")
        assert len(ran) == 1, (round_, ran)


def race_for_a_turn(claims: list[PeriodicClaims], name: str) -> list[str]:
    """The processes that ran `name` when all woke for it at once."""
    ran: list[str] = []
    start = threading.Barrier(len(claims))

    def wake(mine: PeriodicClaims) -> None:
        start.wait()
        with mine.turn(name, 3600) as turn:
            if turn:
                ran.append(mine.worker_id)

    racers = [threading.Thread(target=wake, args=(c,)) for c in claims]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    return ran


def test_two_hubs_on_one_store_take_turns_at_a_folders_scans(tmp_path, database_url, monkeypatch):
    """Two hubs (standing for two processes) watch one folder every second: its scans
    never overlap and come about once a second between them, not once per hub."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "rivers.md").write_text("The Danube flows through ten countries.")
    hubs = [
        hub_of(
            create_app(
                Settings(
                    data_dir=tmp_path / f"hub{n}",
                    database_url=database_url,
                    vector_backend="pgvector",
                    watch_interval_s=1,
                ),
                testing=True,
            )
        )
        for n in range(2)
    ]
    scans: list[tuple[float, float]] = []
    for hub in hubs:
        monkeypatch.setattr(hub.folders, "scan", timed(hub.folders.scan, scans))
    hubs[0].folders.register(str(folder), Actor("test"))
    began = time.monotonic()
    time.sleep(6)
    elapsed = time.monotonic() - began
    for hub in hubs:
        hub.close()
    spans = sorted(scans)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(spans)), spans
    assert 3 <= len(spans) <= elapsed + 2, spans  # each hub alone would scan every second


def timed(scan, spans: list[tuple[float, float]]):
    def scan_timed(folder_id: str) -> dict[str, int]:
        start = time.monotonic()
        try:
            return scan(folder_id)
        finally:
            spans.append((start, time.monotonic()))

    return scan_timed


def test_a_pgvector_search_keeps_the_candidates_its_setting_says(tmp_path, database_url):
    """`vector_ef_search` reaches PostgreSQL as `hnsw.ef_search`, in the search's own
    transaction (SET LOCAL: no other statement on the pooled connection is affected)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        vector_backend="pgvector",
        vector_ef_search=500,
    )
    hub = hub_of(create_app(settings, testing=True))
    try:
        note = hub.graph.create(
            Actor("test"), kind="note", content="Owls hunt at dusk.", metadata={}
        )
        hub.knowledge.remember([note.id], [note.content])
        assert hub.jobs.wait_idle(60)
        statements: list[str] = []
        event.listen(hub.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        found = hub.search.search("When do owls hunt?", k=3, mode="vector")
        assert found and "Owls" in found[0].text
        assert "SET LOCAL hnsw.ef_search = 500" in statements
    finally:
        hub.close()
