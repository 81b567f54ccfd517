"""threads of turns: a memory's thread, position and speaker, in columns; the origin of
imported memories; rerank models

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:00:00
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("memories", sa.Column("thread", sa.String(length=200), nullable=True))
    op.add_column("memories", sa.Column("position", sa.Float(), nullable=True))
    op.add_column("memories", sa.Column("speaker", sa.String(length=200), nullable=True))
    op.create_index("ix_memories_thread_position", "memories", ["thread", "position"])
    op.add_column("memories", sa.Column("origin_key", sa.String(length=64), nullable=True))
    op.create_index("ix_memories_origin_key", "memories", ["origin_key"], unique=True)
    _place_existing(op.get_bind())
    # Rerankers (cross-encoders) are models of their own role.
    with op.batch_alter_table("models") as models:
        models.drop_constraint(op.f("ck_models_role"), type_="check")
        models.create_check_constraint(
            op.f("ck_models_role"), "role IN ('chat', 'embedding', 'rerank')"
        )


def _place_existing(bind: sa.engine.Connection) -> None:
    """The memories written before: their place, as the models now derive it."""
    from neurocache.store.threads import place_in_thread  # a pure function, kept stable

    rows = bind.execute(
        sa.text(
            "SELECT id, kind, metadata, created_at FROM memories WHERE kind IN ('chunk', "
            "'message', 'channel_message') OR CAST(metadata AS TEXT) LIKE '%\"thread\"%'"
        )
    ).all()
    for memory_id, kind, raw, created in rows:
        meta = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        made = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
        thread, position, speaker = place_in_thread(kind, meta, made.replace(tzinfo=UTC))
        if thread is not None:
            bind.execute(
                sa.text(
                    "UPDATE memories SET thread = :t, position = :p, speaker = :s WHERE id = :id"
                ),
                {"t": thread, "p": position, "s": speaker, "id": memory_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("models") as models:
        models.drop_constraint(op.f("ck_models_role"), type_="check")
        models.create_check_constraint(op.f("ck_models_role"), "role IN ('chat', 'embedding')")
    op.drop_index("ix_memories_origin_key", table_name="memories")
    op.drop_index("ix_memories_thread_position", table_name="memories")
    for column in ("origin_key", "speaker", "position", "thread"):
        op.drop_column("memories", column)
