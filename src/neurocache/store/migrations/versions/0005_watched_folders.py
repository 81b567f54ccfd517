"""watched folders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 11:03:40.064588
"""

import sqlalchemy as sa
from alembic import op

import neurocache.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watched_folders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", neurocache.store.types.UTCDateTime(), nullable=False),
        sa.Column("scanned_at", neurocache.store.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_watched_folders_collection_id_collections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watched_folders")),
        sa.UniqueConstraint("path", name=op.f("uq_watched_folders_path")),
    )
    op.create_table(
        "watched_files",
        sa.Column("folder_id", sa.String(length=36), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_watched_files_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["watched_folders.id"],
            name=op.f("fk_watched_files_folder_id_watched_folders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("folder_id", "relpath", name=op.f("pk_watched_files")),
    )


def downgrade() -> None:
    op.drop_table("watched_files")
    op.drop_table("watched_folders")
