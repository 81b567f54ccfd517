"""job claims: which hub process runs a job, and until when its claim holds

Several hub processes share one store in team mode; a job is run by the one that claimed
it, and a process killed mid-job leaves it to another once the lease runs out.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 21:50:00
"""

import sqlalchemy as sa
from alembic import op

from neurocache.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("claimed_by", sa.String(length=80), nullable=True))
        jobs.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("lease_until")
        jobs.drop_column("claimed_by")
