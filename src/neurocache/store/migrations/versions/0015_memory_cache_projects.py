"""memory cache projects: integer ids of collections and watched folders, never reused

Memory Cache's browser client (the `memory_cache_compat` API) names projects and their
directories by integer ids. Each id is a row here, kept when its collection or folder goes,
and SQLite's AUTOINCREMENT (PostgreSQL's sequence) never gives a past id out again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:30:00
"""

import sqlalchemy as sa
from alembic import op

from neurocache.store.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memory_cache_projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_memory_cache_projects_collection_id_collections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_cache_projects")),
        sa.UniqueConstraint("collection_id", name=op.f("uq_memory_cache_projects_collection_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "memory_cache_directories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.String(length=36), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["memory_cache_projects.id"],
            name=op.f("fk_memory_cache_directories_project_id_memory_cache_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["watched_folders.id"],
            name=op.f("fk_memory_cache_directories_folder_id_watched_folders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_cache_directories")),
        sa.UniqueConstraint("folder_id", name=op.f("uq_memory_cache_directories_folder_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("memory_cache_directories") as directories:
        directories.create_index(
            directories.f("ix_memory_cache_directories_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("memory_cache_directories")
    op.drop_table("memory_cache_projects")
