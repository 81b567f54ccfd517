"""A PostgreSQL store in a backup: PostgreSQL's own `pg_dump` (custom format) writes it and
`pg_restore` reads it back, so a backup holds what the server holds (pgvector's columns and
indexes, the full-text columns) without this hub knowing how to copy each.

One snapshot for everything: a transaction exports its snapshot, `pg_dump` dumps that
snapshot (`--snapshot`), and the manifest's counts, models and schema revision are read in
the same transaction, so they describe exactly what the dump holds, however busy the store.

The programs: a `pg_dump` refuses a server newer than itself, so the newest one found — on
PATH, in /usr/lib/postgresql/*/bin, in the `pgserver` package — that is at least the
server's major version. Credentials go to them as libpq's environment variables, never on a
command line (which other users of the machine can read)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from neurocache.errors import Conflict, NeurocacheError, Unavailable
from neurocache.operations.records import BackupModel, StoreContents
from neurocache.store.tables import Base

DUMP = "neurocache.pgdump"
VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class PostgresToolMissing(NeurocacheError):
    status = 409
    code = "unsupported"


# ---- the programs


def find_program(name: str, server_major: int = 0) -> Path:
    """The newest `name` (pg_dump, pg_restore) of at least `server_major`."""
    found = {path: _major(path) for path in _candidates(name)}
    usable = [path for path, major in found.items() if major >= server_major]
    if usable:
        return max(usable, key=lambda path: found[path])
    seen = ", ".join(f"{major} at {path}" for path, major in found.items()) or "none"
    raise PostgresToolMissing(
        f"no {name} of PostgreSQL {server_major} or newer here (found: {seen}): install the "
        f"server's client programs (Debian: postgresql-client-{server_major or 'N'}) or put "
        "them on PATH"
    )


def _candidates(name: str) -> list[Path]:
    paths = [shutil.which(name), *glob.glob(f"/usr/lib/postgresql/*/bin/{name}")]
    try:
        import pgserver  # the PostgreSQL with pgvector that `cluster up` runs

        paths.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name))
    except ImportError:
        pass
    unique = dict.fromkeys(Path(p).resolve() for p in paths if p and os.access(p, os.X_OK))
    return list(unique)


def _major(program: Path) -> int:
    try:
        shown = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    matched = VERSION.search(shown)
    return int(matched[1]) if matched else -1


def libpq_environment(url: URL) -> dict[str, str]:
    """The connection as libpq reads it from the environment (the caller's PG* variables
    dropped: only this URL's connection counts)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    values = {
        "PGHOST": url.host or _query(url, "host"),
        "PGPORT": str(url.port) if url.port else _query(url, "port"),
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGSSLMODE": _query(url, "sslmode"),
    }
    return environment | {k: str(v) for k, v in values.items() if v}


def _query(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    return value if isinstance(value, str) else None


def _run(command: list[str | Path], url: URL, what: str) -> None:
    done = subprocess.run(
        [str(part) for part in command],
        env=libpq_environment(url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise NeurocacheError(f"{what} failed: {done.stderr.strip()[-600:]}")


# ---- backup


@contextmanager
def _connection(database_url: str) -> Iterator[Connection]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        connection = engine.connect()
    except OperationalError as exc:
        engine.dispose()
        shown = make_url(database_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise Unavailable(f"the PostgreSQL store {shown} cannot be reached: {reason}") from exc
    try:
        with connection:
            yield connection
    finally:
        engine.dispose()


def dump_store(database_url: str, out: Path) -> StoreContents:
    """The store dumped to `out`; what the dump holds, read in the dump's own snapshot."""
    url = make_url(database_url)
    with _connection(database_url) as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        pg_dump = find_program("pg_dump", server_major(connection))
        # the snapshot lives as long as this transaction: pg_dump runs inside it
        _run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-password", "-f", out],
            url,
            "pg_dump",
        )
        return StoreContents(
            store="postgresql",
            file=DUMP,
            schema_revision=_revision(connection),
            counts=_counts(connection),
            models=_models(connection),
        )


def server_major(connection: Connection) -> int:
    return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _counts(connection: Connection) -> dict[str, int]:
    tables = sorted(set(Base.metadata.tables) & set(inspect(connection).get_table_names()))
    return {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def _models(connection: Connection) -> list[BackupModel]:
    if not inspect(connection).has_table("models"):
        return []
    rows = connection.execute(text("SELECT * FROM models ORDER BY id")).mappings()
    listed = BackupModel.model_fields
    return [BackupModel(**{k: v for k, v in row.items() if k in listed}) for row in rows]


# ---- restore


def check_dump(dump: Path) -> None:
    """`pg_restore --list` reads the archive's table of contents: a damaged or foreign
    file fails here, before anything is written."""
    pg_restore = find_program("pg_restore")
    done = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise NeurocacheError(f"the backup's PostgreSQL dump is unreadable: {done.stderr[-400:]}")


def check_empty_database(database_url: str) -> None:
    with _connection(database_url) as connection:
        tables = inspect(connection).get_table_names()
    if tables:
        raise Conflict(
            f"the database {make_url(database_url).database!r} holds tables "
            f"({', '.join(sorted(tables)[:5])}…): a backup is restored only into an empty "
            "database (nothing was changed)"
        )


def restore_store(dump: Path, database_url: str) -> None:
    """The dump loaded into the empty database in one transaction: all of it, or nothing."""
    check_empty_database(database_url)
    url = make_url(database_url)
    with _connection(database_url) as connection:
        pg_restore = find_program("pg_restore", server_major(connection))
    _run(
        [
            pg_restore,
            "--no-owner",  # the restoring user owns what it makes
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            "--dbname",
            url.database or "",
            dump,
        ],
        url,
        "pg_restore",
    )
