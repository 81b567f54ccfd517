"""Engine, sessions and migrations of the store."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from neurocache.errors import NotFound
from neurocache.store.sql import Sql, vector_text
from neurocache.store.tables import Memory

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def get_or_not_found(session: Session, model: type[T], key: Any, what: str) -> T:
    """The row, or NotFound naming what was looked for (`no <what> with id <key>`)."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"no {what} with id {key}")
    return row


def store_busy(exc: BaseException) -> bool:
    """SQLite's `database is locked`: another writer held the store past the busy timeout.
    Transient: the work is tried again, and said in one line, not a traceback."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def _sqlite_pragmas(busy_timeout_s: float) -> Callable[[Any, Any], None]:
    # WAL lets readers run while one writer commits; NORMAL sync is durable in WAL
    # mode against a process crash (the case that matters: a killed hub), and
    # busy_timeout makes concurrent writers wait instead of failing at once.
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    return on_connect


# sqlite3 keeps each prepared statement in a cache with its last parameters bound, and
# SQLite holds its own copy of a bound text: a 50 MB document written once stayed in
# memory, per pooled connection, until that statement was used again. A connection that
# wrote a value this large is closed when it goes back to the pool instead.
LARGE_PARAMETER = 1024 * 1024


def _note_large_write(
    conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    rows = parameters if isinstance(parameters, list) else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row or ()
        if any(isinstance(v, str | bytes) and len(v) > LARGE_PARAMETER for v in values):
            conn.connection.info["large_write"] = True  # the pooled DB-API connection's
            return


def _drop_if_large(_dbapi_connection: Any, record: Any) -> None:
    if record is not None and record.info.pop("large_write", False):
        record.invalidate()


def make_engine(url: str, busy_timeout_s: float = 10.0) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        event.listen(engine, "after_cursor_execute", _note_large_write)
        event.listen(engine, "checkin", _drop_if_large)
        return engine
    return create_engine(url, pool_pre_ping=True)


def managed_by_models(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: what search needs of each backend is made by hand in migrations,
    not by models: SQLite's FTS5 tables; PostgreSQL's rowid, tsvector and vector columns
    and their indexes (0012)."""
    if type_ == "table":
        return not (name or "").startswith("memories_fts")
    if type_ == "column":
        table = getattr(getattr(obj, "table", None), "name", None)
        return (table, name) not in SEARCH_COLUMNS
    if type_ == "index":
        return not (name or "").startswith(SEARCH_INDEXES)
    return True


SEARCH_COLUMNS = {("memories", "rowid"), ("memories", "fts"), ("vectors", "embedding")}
SEARCH_INDEXES = ("ix_memories_rowid", "ix_memories_fts", "ix_vectors_hnsw")


def newest_migration() -> str:
    """The revision of the newest migration, read from the names of the files
    (`0016_periodic_claims.py` is revision "0016")."""
    names = (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    return max(path.name[:4] for path in names)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


class Database:
    """One store: an engine, a session factory, and the migrations to bring it to head."""

    def __init__(self, url: str, busy_timeout_s: float = 10.0) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = make_engine(url, busy_timeout_s)
        self.sql = Sql(self.engine.dialect.name)  # what the backends spell differently
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (a no-op when it is current)."""
        if self._at_newest_migration():
            return  # alembic, a tenth of a second of imports, stays unloaded: most starts
        from alembic import command

        config = alembic_config()
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @functools.cached_property
    def has_vector_column(self) -> bool:
        """Whether stored vectors carry a pgvector column (PostgreSQL with the extension,
        migration 0012): then every write of a vector writes it too (`write_embeddings`)."""
        if not self.sql.postgresql:
            return False
        found = self.fetch(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'vectors' AND column_name = 'embedding'"
        )
        return bool(found)

    def write_embeddings(self, session: Session, vectors: dict[str, bytes]) -> None:
        """The pgvector column of these memories' stored vectors (little-endian float32
        bytes, as the `vector` column holds them), in the caller's transaction."""
        if not vectors or not self.has_vector_column:
            return
        session.execute(
            text("UPDATE vectors SET embedding = CAST(:e AS vector) WHERE memory_id = :m"),
            [
                {"m": memory_id, "e": vector_text(np.frombuffer(data, dtype="<f4"))}
                for memory_id, data in vectors.items()
            ],
        )

    def insert(self, model: type) -> Any:
        """An INSERT of this backend's own dialect, which can say ON CONFLICT (an upsert:
        `.on_conflict_do_update(...)`, the same on SQLite and PostgreSQL)."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(model)

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Rows of one read, straight through the driver (named `:params`): for the hot
        paths of search, where an ORM session's bookkeeping cost more than the query.
        PostgreSQL's driver takes another parameter style: SQLAlchemy binds them there."""
        if self.sql.postgresql:
            with self.engine.connect() as bound:
                return [tuple(row) for row in bound.execute(text(sql), params or {})]
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, params or {})
                return list(cursor.fetchall())
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool

    def _at_newest_migration(self) -> bool:
        """Whether the store already carries the newest migration of `migrations/versions`
        (whose files are named by their revision, a test holds)."""
        try:
            with self.engine.connect() as connection:
                stamped = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
        except DBAPIError:  # no schema yet (or any doubt: alembic then looks closer)
            return False
        return stamped == {newest_migration()}

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def file_size(self) -> int | None:
        """Bytes on disk of a SQLite store (database + WAL), None for a server database."""
        if self.engine.dialect.name != "sqlite" or not self.engine.url.database:
            return None
        path = Path(self.engine.url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())

    def memory_count(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(Memory)) or 0

    def close(self) -> None:
        self.engine.dispose()
