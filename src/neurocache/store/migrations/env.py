"""Alembic environment: the hub passes its own connection; there is no alembic.ini."""

from alembic import context

from neurocache.store.database import managed_by_models
from neurocache.store.tables import Base


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through neurocache.store.Database.migrate()")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        include_object=managed_by_models,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
