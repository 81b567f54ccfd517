"""vectors

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:40:29.183958
"""

import sqlalchemy as sa
from alembic import op

import neurocache.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vectors",
        sa.Column("memory_id", sa.String(length=36), nullable=False),
        sa.Column("embedder", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", neurocache.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["memory_id"],
            ["memories.id"],
            name=op.f("fk_vectors_memory_id_memories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("memory_id", name=op.f("pk_vectors")),
    )
    with op.batch_alter_table("vectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vectors_embedder"), ["embedder"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vectors_embedder"))

    op.drop_table("vectors")
