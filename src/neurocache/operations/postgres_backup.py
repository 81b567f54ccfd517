"""A PostgreSQL store in a backup: PostgreSQL's own `pg_dump` (custom format) writes it and
`pg_restore` reads it back, so a backup holds what the server holds (pgvector's columns and
indexes, the full-text columns) without this hub knowing how to copy each.

One snapshot for everything: a transaction exports its snapshot, `pg_dump` dumps that
snapshot (`--snapshot`), and the manifest's counts, models and schema revision are read in
the same transaction, so they describe exactly what the dump holds, however busy the store.

The programs: a `pg_dump` refuses a server newer than itself, so the newest one found — on
PATH, in /usr/lib/postgresql/*/bin, in the `pgserver` package — that is at least the
server's major version. They connect with the parameters of the hub's own live connection
(so both reach the same server, whatever the URL or the PG* environment says), the password
in libpq's environment, never on a command line (which other users of the machine can
read)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from neurocache.errors import Conflict, NeurocacheError, Unavailable
from neurocache.operations.records import BackupModel, StoreContents
from neurocache.store.tables import Base

DUMP = "neurocache.pgdump"
VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
# a dump's entries that make an extension or comment on it (`pg_restore --list`)
EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (?:EXTENSION - |COMMENT - EXTENSION )(\S+)")
# what an empty database may hold: no relation of its own outside the system schemas
USER_RELATIONS = """
SELECT n.nspname || '.' || c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1 LIMIT 6
"""


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


def _libpq_target(connection: Connection) -> tuple[str, dict[str, str]]:
    """The live connection's parameters as a conninfo string for `--dbname` (without the
    password) and the environment that carries the password."""
    from psycopg.conninfo import make_conninfo  # on use: the binary has no psycopg

    info = connection.connection.dbapi_connection.info  # type: ignore[union-attr]
    environment = dict(os.environ)
    if info.password:
        environment["PGPASSWORD"] = info.password
    return make_conninfo(**info.get_parameters()), environment


def _run(command: list[str | Path], environment: dict[str, str], what: str) -> None:
    done = subprocess.run(
        [str(part) for part in command],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Unavailable(f"{what} failed: {done.stderr.strip()[:600]}")


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
    except SQLAlchemyError as exc:  # the server went away, a timeout, a lost snapshot
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Unavailable(f"the PostgreSQL store failed while it was read: {reason}") from exc
    finally:
        engine.dispose()


def dump_store(database_url: str, out: Path) -> StoreContents:
    """The store dumped to `out`; what the dump holds, read in the dump's own snapshot."""
    with _connection(database_url) as connection:
        major = server_major(connection)
        conninfo, environment = _libpq_target(connection)
        connection.rollback()  # the dump's own transaction begins below, at its isolation
        pg_dump = find_program("pg_dump", major)  # outside a transaction: it takes a while
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        # the transaction stays idle while pg_dump works: a server's timeout must not end it
        connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        contents = StoreContents(
            store="postgresql",
            file=DUMP,
            schema_revision=_revision(connection),
            counts=_counts(connection),
            models=_models(connection),
        )
        # the snapshot lives as long as this transaction: pg_dump runs inside it
        _run(
            [
                pg_dump,
                "--format=custom",
                f"--snapshot={snapshot}",
                "--no-password",
                "--file",
                str(out),
                "--dbname",
                conninfo,
            ],
            environment,
            "pg_dump",
        )
        return contents


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
    return [BackupModel.from_row(dict(row)) for row in rows]


# ---- restore


def check_dump(dump: Path) -> None:
    """`pg_restore --list` reads the archive's table of contents: a damaged or foreign
    file fails here, before anything is written."""
    pg_restore = find_program("pg_restore")
    done = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise NeurocacheError(f"the backup's PostgreSQL dump is unreadable: {done.stderr[:400]}")


def check_empty_database(database_url: str) -> None:
    with _connection(database_url) as connection:
        _check_empty(connection, database_url)


def _check_empty(connection: Connection, database_url: str) -> None:
    """Any table, view or sequence of its own, in any schema (an extension's are not)."""
    held = connection.execute(text(USER_RELATIONS)).scalars().all()
    if held:
        raise Conflict(
            f"the database {make_url(database_url).database!r} is not empty (it holds "
            f"{', '.join(held[:5])}{'…' if len(held) > 5 else ''}): a backup is restored "
            "only into an empty database (nothing was changed)"
        )


def restore_store(dump: Path, database_url: str) -> None:
    """The dump loaded into the empty database in one transaction: all of it, or nothing.
    An extension the database has already (made by its administrator, as hosted
    PostgreSQL does) is neither made again nor commented on: only its owner may."""
    with _connection(database_url) as connection:
        _check_empty(connection, database_url)
        major = server_major(connection)
        conninfo, environment = _libpq_target(connection)
        present = set(connection.execute(text("SELECT extname FROM pg_extension")).scalars())
    pg_restore = find_program("pg_restore", major)
    with tempfile.TemporaryDirectory(prefix=".neurocache-restore-", dir=dump.parent) as temp:
        entries = Path(temp) / "entries.list"
        entries.write_text(_entries_to_restore(pg_restore, dump, present))
        _run(
            [
                pg_restore,
                "--no-owner",  # the restoring user owns what it makes
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
                "--use-list",
                entries,
                "--dbname",
                conninfo,
                dump,
            ],
            environment,
            "pg_restore",
        )


def _entries_to_restore(pg_restore: Path, dump: Path, present: set[str]) -> str:
    listed = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, timeout=300
    )
    if listed.returncode != 0:
        raise Unavailable(f"pg_restore could not list the dump: {listed.stderr[:400]}")
    kept = [
        line
        for line in listed.stdout.splitlines()
        if not ((found := EXTENSION_ENTRY.match(line)) and found[1] in present)
    ]
    return "\n".join(kept) + "\n"
