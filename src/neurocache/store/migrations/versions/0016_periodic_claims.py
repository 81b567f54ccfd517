"""periodic claims: one process at a time runs each periodic task of a shared store

Hub processes sharing a PostgreSQL store each run the same schedules (maintenance, folder
scans, backups); a row per task says which process holds it, until when (a lease its holder
renews), and when it last finished, so each run happens once per interval and a killed
holder's turn passes to another once its lease lapses.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 08:00:00
"""

import sqlalchemy as sa
from alembic import op

from neurocache.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "periodic_claims",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_claims")),
    )


def downgrade() -> None:
    op.drop_table("periodic_claims")
