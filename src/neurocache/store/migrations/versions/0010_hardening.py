"""what hardening needs: a model's desired state, idempotency keys, metadata on chunks

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


def upgrade() -> None:
    # Whether a model should be running: a model running when the hub stopped is started
    # again when it starts.
    op.add_column("models", sa.Column("desired_state", sa.String(length=20),
                                      nullable=False, server_default="stopped"))
    # A client's Idempotency-Key (hashed with who sent it): a retried upload finds the
    # document it made the first time.
    op.add_column("documents", sa.Column("idempotency_key", sa.String(length=64),
                                         nullable=True))
    op.create_index("ix_documents_idempotency_key", "documents", ["idempotency_key"],
                    unique=True)
    _copy_metadata_to_chunks(op.get_bind())


def _copy_metadata_to_chunks(bind: sa.engine.Connection) -> None:
    documents = bind.execute(sa.text(
        "SELECT id, metadata FROM memories WHERE kind = 'document'")).all()
    for document_id, raw in documents:
        meta = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        inherited = {k: v for k, v in meta.items() if k not in DOCUMENT_ONLY}
        chunks = bind.execute(sa.text(
            "SELECT m.id, m.metadata FROM memories m JOIN edges e ON e.source_id = m.id "
            "WHERE e.target_id = :doc AND e.relation = 'part_of'"), {"doc": document_id}).all()
        for chunk_id, chunk_raw in chunks:
            chunk_meta = chunk_raw if isinstance(chunk_raw, dict) else json.loads(
                chunk_raw or "{}")
            merged = {**inherited, **chunk_meta}
            if merged != chunk_meta:
                bind.execute(sa.text("UPDATE memories SET metadata = :meta WHERE id = :id"),
                             {"meta": json.dumps(merged), "id": chunk_id})


def downgrade() -> None:
    op.drop_index("ix_documents_idempotency_key", table_name="documents")
    op.drop_column("documents", "idempotency_key")
    op.drop_column("models", "desired_state")
