"""usage time series and rate-limit buckets

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 23:20:00
"""

import sqlalchemy as sa
from alembic import op

import neurocache.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("start", neurocache.store.types.UTCDateTime(), nullable=False),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("agent", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("latency_ms_max", sa.Float(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.CheckConstraint("bucket IN ('minute', 'hour', 'day')", name=op.f("ck_usage_bucket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
        sa.UniqueConstraint(
            "bucket", "start", "caller", "agent", "model", "endpoint", name=op.f("uq_usage_cell")
        ),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", neurocache.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rate_buckets")),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_table("usage")
