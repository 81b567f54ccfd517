"""people and channels

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import neurocache.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def json_column(name: str) -> sa.Column:
    return sa.Column(
        name,
        sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
        nullable=False,
    )


def time_column(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, neurocache.store.types.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        time_column("created_at"),
        time_column("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        time_column("archived_at", nullable=True),
        time_column("created_at"),
        time_column("updated_at"),
        sa.ForeignKeyConstraint(
            ["id"], ["memories.id"], name=op.f("fk_channels_id_memories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_channels_name")),
    )
    op.create_table(
        "channel_members",
        sa.Column("channel_id", sa.String(length=36), nullable=False),
        sa.Column("member", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        time_column("joined_at"),
        sa.CheckConstraint("mode IN ('mention', 'auto')", name=op.f("ck_channel_members_mode")),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_channel_members_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "member", name=op.f("pk_channel_members")),
    )
    op.create_index("ix_channel_members_member", "channel_members", ["member"], unique=False)
    op.create_table(
        "channel_messages",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("channel_id", sa.String(length=36), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("reply_to", sa.String(length=36), nullable=True),
        json_column("mentions"),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        json_column("sources"),
        sa.Column("trigger_id", sa.String(length=36), nullable=True),
        time_column("created_at"),
        time_column("edited_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('streaming', 'complete', 'stopped', 'failed')",
            name=op.f("ck_channel_messages_status"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_channel_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id"],
            ["memories.id"],
            name=op.f("fk_channel_messages_id_memories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_channel_messages")),
        sa.UniqueConstraint("id", name=op.f("uq_channel_messages_id")),
        sqlite_autoincrement=True,  # a seq is never given twice
    )
    op.create_index(
        "ix_channel_messages_channel_seq", "channel_messages", ["channel_id", "seq"], unique=False
    )
    op.create_index(
        "ix_channel_messages_created_at", "channel_messages", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_channel_messages_reply_to"), "channel_messages", ["reply_to"], unique=False
    )
    op.create_index(
        op.f("ix_channel_messages_trigger_id"), "channel_messages", ["trigger_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("channel_messages")
    op.drop_index("ix_channel_members_member", table_name="channel_members")
    op.drop_table("channel_members")
    op.drop_table("channels")
    op.drop_table("users")
