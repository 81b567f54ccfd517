"""shared model servers: which hub process runs a model's server, where, and until when

With several hub processes on one store, a model's server runs once: its owner records
where it listens and renews a lease; the others send their requests there, and take the
server over when the lease runs out.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:45:00
"""

import sqlalchemy as sa
from alembic import op

from neurocache.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as models:
        models.add_column(sa.Column("server_owner", sa.String(length=80), nullable=True))
        models.add_column(sa.Column("server_url", sa.Text(), nullable=True))
        models.add_column(sa.Column("server_lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as models:
        models.drop_column("server_lease_until")
        models.drop_column("server_url")
        models.drop_column("server_owner")
