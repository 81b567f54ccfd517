"""The store: migrations, SQLite pragmas, the memory/edge model, keys and audit."""

from __future__ import annotations

import hashlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from neurocache.access.keys import ApiKeys, hash_secret
from neurocache.errors import InvalidInput, NotFound
from neurocache.store import Database
from neurocache.store.audit import Actor, AuditLog
from neurocache.store.database import MIGRATIONS_DIR, managed_by_models, newest_migration
from neurocache.store.tables import ApiKey, AuditEntry, Base, Edge, Memory

ACTOR = Actor("test")


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.close()


def test_migrations_reach_head_and_match_the_models(db):
    assert db.current_revision() == Database.head_revision()
    with db.engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"include_object": managed_by_models}),
            Base.metadata,
        )
    assert diff == [], f"models and migrations disagree: {diff}"


def test_migrate_twice_is_a_no_op(db):
    db.migrate()
    assert db.current_revision() == Database.head_revision()


def test_a_current_store_is_known_without_alembic(tmp_path, db):
    """`migrate` skips alembic when the store carries the newest migration, read from the
    names of the migration files: each must be named by its revision."""
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        assert f'revision = "{path.name[:4]}"' in path.read_text(), path.name
    assert newest_migration() == Database.head_revision()
    assert db._at_newest_migration()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not db._at_newest_migration()  # an older store: alembic upgrades it
    assert not Database(f"sqlite:///{tmp_path / 'new.db'}")._at_newest_migration()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_tables_of_the_design_exist(db):
    tables = set(inspect(db.engine).get_table_names())
    assert {"api_keys", "audit_log", "meta", "memories", "edges"} <= tables


def _memory(content: str, **kwargs) -> Memory:
    digest = hashlib.sha256(content.encode()).hexdigest()
    return Memory(kind="note", content=content, content_hash=digest, **kwargs)


def test_memories_and_edges_round_trip_and_cascade(db):
    with db.session() as session:
        doc, chunk = _memory("a document"), _memory("a chunk", meta={"page": 3}, tier="working")
        session.add_all([doc, chunk])
        session.flush()
        session.add(Edge(source_id=chunk.id, target_id=doc.id, relation="part_of", weight=0.5))
    with db.session() as session:
        stored = session.get(Memory, chunk.id)
        assert stored.meta == {"page": 3} and stored.tier == "working"
        assert stored.created_at.tzinfo is not None
        edge = session.scalar(select(Edge))
        assert (edge.relation, edge.weight) == ("part_of", 0.5)
        session.delete(session.get(Memory, doc.id))
    with db.session() as session:
        assert session.scalar(select(Edge)) is None  # the edge went with its target


def test_memory_tier_is_one_of_four(db):
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(_memory("x", tier="forever"))


def test_duplicate_edge_is_refused(db):
    with db.session() as session:
        a, b = _memory("a"), _memory("b")
        session.add_all([a, b])
        session.flush()
        session.add(Edge(source_id=a.id, target_id=b.id, relation="mentions"))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Edge(source_id=a.id, target_id=b.id, relation="mentions"))


def test_a_failed_unit_of_work_leaves_nothing(db):
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(_memory("half-written"))
        session.flush()
        raise RuntimeError("crash mid-transaction")
    assert db.memory_count() == 0


def test_keys_are_stored_hashed_and_audited(db):
    keys = ApiKeys(db)
    view, secret = keys.create("plugin", ["write", "read"], ACTOR)
    assert secret.startswith("nc_") and len(secret) > 40
    assert view.scopes == ["read", "write"]
    with db.session() as session:
        row = session.get(ApiKey, view.id)
        assert row.secret_hash == hash_secret(secret)
        assert secret not in str(vars(row))
        entry = session.scalar(select(AuditEntry))
        assert (entry.actor, entry.action, entry.target_id) == ("test", "key.create", view.id)
        assert entry.after["name"] == "plugin" and "secret" not in entry.after


def test_authenticate_counts_use_and_revocation_ends_it(db):
    keys = ApiKeys(db)
    view, secret = keys.create("k", ["read"], ACTOR)
    principal = keys.authenticate(secret)
    assert principal is not None and principal.id == view.id
    assert principal.can("read") and not principal.can("write")
    assert keys.get(view.id).last_used_at is not None
    assert keys.get(view.id).use_count == 1
    assert keys.authenticate(secret + "x") is None
    assert keys.authenticate("not-a-key") is None

    revoked = keys.revoke(view.id, ACTOR)
    assert revoked.revoked_at is not None
    assert keys.authenticate(secret) is None
    assert keys.revoke(view.id, ACTOR) == revoked  # idempotent, and audited once
    entries, _ = AuditLog(db).list(action="key.revoke")
    assert len(entries) == 1
    assert entries[0].before["revoked_at"] is None
    assert entries[0].after["revoked_at"] == revoked.revoked_at


def test_admin_scope_implies_every_other(db):
    keys = ApiKeys(db)
    _, secret = keys.create("root", ["admin"], ACTOR)
    principal = keys.authenticate(secret)
    assert all(principal.can(s) for s in ("read", "write", "chat", "admin"))


@pytest.mark.parametrize(("name", "scopes"), [("", ["read"]), ("x", []), ("x", ["root"])])
def test_bad_new_keys_are_refused(db, name, scopes):
    with pytest.raises(InvalidInput):
        ApiKeys(db).create(name, scopes, ACTOR)


def test_key_list_pages_newest_first(db):
    keys = ApiKeys(db)
    ids = [keys.create(f"k{i}", ["read"], ACTOR)[0].id for i in range(5)]
    page, cursor = keys.list(limit=2)
    seen = [k.id for k in page]
    while cursor:
        page, cursor = keys.list(limit=2, cursor=cursor)
        seen += [k.id for k in page]
    assert seen == ids[::-1]


def test_unknown_key_and_bad_cursor(db):
    keys = ApiKeys(db)
    with pytest.raises(NotFound):
        keys.revoke("nope", ACTOR)
    with pytest.raises(InvalidInput):
        keys.list(cursor="garbage!")


def test_uses_from_many_threads_are_counted_exactly_once(db):
    import sys
    import threading

    keys = ApiKeys(db)
    view, secret = keys.create("busy", ["read"], ACTOR)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # make the threads interleave as much as they can
    try:
        threads = [
            threading.Thread(target=lambda: [keys.authenticate(secret) for _ in range(200)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    keys.flush()
    assert keys.get(view.id).use_count == 1600
