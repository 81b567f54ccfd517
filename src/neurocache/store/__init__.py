"""The store: SQLAlchemy models, repositories and migrations; the single source of truth."""

from neurocache.store.database import Database

__all__ = ["Database"]
