"""what hardening needs: a model's desired state, idempotency keys, metadata on chunks,
whole documents out of the full-text index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# A document's metadata that stays on the document (bulky, or about the whole of it); the
# rest is copied onto its chunks, so that search filters match them. Kept in step with
# `DOCUMENT_ONLY` in knowledge/service.py (a migration does not import the code it
# migrates, which may change after it).
DOCUMENT_ONLY = ("pages", "original", "selection", "note")

# A document's whole text is no longer in the full-text index: its chunks are, and indexing
# a 50 MB text at once held hundreds of MB (and skewed BM25's document lengths). A search
# for documents finds them through their chunks. The index's content is now a view of the
# memories it holds, so FTS5's own integrity check still holds.
OLD_TRIGGERS = [
    "DROP TRIGGER memories_fts_insert",
    "DROP TRIGGER memories_fts_delete",
    "DROP TRIGGER memories_fts_update",
]
INDEXED = "kind != 'document'"
FTS = [
    *OLD_TRIGGERS,
    "DROP TABLE memories_fts",
    "CREATE VIEW memories_searchable AS SELECT rowid AS memory_rowid, content FROM memories "
    f"WHERE {INDEXED}",
    "CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories_searchable', "
    "content_rowid='memory_rowid', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories "
    f"WHEN new.{INDEXED} BEGIN "
    "INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories "
    f"WHEN old.{INDEXED} BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories "
    f"WHEN new.{INDEXED} BEGIN "
    "INSERT INTO memories_fts(memories_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); "
    "INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')",
]
# As migration 0004 made them: every memory indexed.
FTS_BEFORE = [
    *OLD_TRIGGERS,
    "DROP TABLE memories_fts",
    "DROP VIEW memories_searchable",
    "CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', "
    "content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2')",
    *(
        statement.replace(f"WHEN new.{INDEXED} ", "").replace(f"WHEN old.{INDEXED} ", "")
        for statement in FTS[6:]
    ),
]


def upgrade() -> None:
    # Whether a model should be running: a model running when the hub stopped is started
    # again when it starts.
    op.add_column(
        "models",
        sa.Column("desired_state", sa.String(length=20), nullable=False, server_default="stopped"),
    )
    # A client's Idempotency-Key (hashed with who sent it): a retried upload finds the
    # document it made the first time.
    op.add_column("documents", sa.Column("idempotency_key", sa.String(length=64), nullable=True))
    op.create_index("ix_documents_idempotency_key", "documents", ["idempotency_key"], unique=True)
    _copy_metadata_to_chunks(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        for statement in FTS:
            op.execute(statement)


def _copy_metadata_to_chunks(bind: sa.engine.Connection) -> None:
    documents = bind.execute(
        sa.text("SELECT id, metadata FROM memories WHERE kind = 'document'")
    ).all()
    for document_id, raw in documents:
        meta = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        inherited = {k: v for k, v in meta.items() if k not in DOCUMENT_ONLY}
        chunks = bind.execute(
            sa.text(
                "SELECT m.id, m.metadata FROM memories m JOIN edges e ON e.source_id = m.id "
                "WHERE e.target_id = :doc AND e.relation = 'part_of'"
            ),
            {"doc": document_id},
        ).all()
        for chunk_id, chunk_raw in chunks:
            chunk_meta = chunk_raw if isinstance(chunk_raw, dict) else json.loads(chunk_raw or "{}")
            merged = {**inherited, **chunk_meta}
            if merged != chunk_meta:
                bind.execute(
                    sa.text("UPDATE memories SET metadata = :meta WHERE id = :id"),
                    {"meta": json.dumps(merged), "id": chunk_id},
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in FTS_BEFORE:
            op.execute(statement)
    op.drop_index("ix_documents_idempotency_key", table_name="documents")
    op.drop_column("documents", "idempotency_key")
    op.drop_column("models", "desired_state")
