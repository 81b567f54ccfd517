"""Backups of a PostgreSQL store (`operations/postgres_backup.py`): `pg_dump` from one
snapshot into the hub's archive, `pg_restore` in one transaction into an empty database.

A real throw-away PostgreSQL server with pgvector (pgserver's build, which `make test`
installs) and real hubs on it; the restored store is searched by a hub started on it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from neurocache.app import create_app, hub_of
from neurocache.cli.main import main
from neurocache.errors import Conflict, Unavailable
from neurocache.hub import Hub
from neurocache.operations import postgres_backup
from neurocache.operations.backup import create_backup
from neurocache.operations.backup_schedule import ScheduledBackups
from neurocache.operations.restore import InvalidBackup, RestoreRefused, restore_backup
from neurocache.settings import Settings
from neurocache.store import Database
from neurocache.store.audit import Actor
from neurocache.store.tables import Memory
from tests.support.backups import fill, settled
from tests.support.postgres import fresh_database
from tests.support.waiting import wait_for

ACTOR = Actor("test")


def team_settings(data_dir: Path, database_url: str, **values) -> Settings:
    return Settings(
        data_dir=data_dir, database_url=database_url, vector_backend="pgvector", **values
    )


def table_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = inspect(connection).get_table_names()
            return {
                n: connection.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one()
                for n in names
                if n != "alembic_version"
            }
    finally:
        engine.dispose()


@pytest.fixture
def filled(tmp_path: Path, database_url: str) -> Settings:
    """A team hub's data dir and store with documents, a capture and a note; closed."""
    settings = team_settings(tmp_path / "source", database_url)
    settings.data_dir.mkdir(mode=0o700)
    (settings.data_dir / "config.toml").write_text("chat_sources = 4\n")
    hub = Hub(settings)
    hub.start_background_work()
    try:
        fill(hub, ACTOR)
        settled(hub)
    finally:
        hub.close()
    return settings


@pytest.fixture
def archive(filled: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "team.tar.gz"
    create_backup(filled, path)
    return path


def test_a_postgres_store_is_backed_up_and_restored_into_an_empty_database(
    filled, archive, tmp_path, server_url
):
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["store"] == "postgresql" and manifest["database"]["file"] == "neurocache.pgdump"
    assert "neurocache.pgdump" in names and "config.toml" in names
    assert any(n.startswith("blobs/") for n in names)  # the captured page
    assert manifest["counts"]["documents"] == 2 and manifest["schema_revision"]

    target_url = fresh_database(server_url)
    target = tmp_path / "restored"
    restored = restore_backup(archive, target, target_url)
    assert restored.counts == manifest["counts"]
    counts = table_counts(target_url)
    assert {t: counts[t] for t in manifest["counts"]} == manifest["counts"]
    assert not (target / "neurocache.pgdump").exists()  # the store lives in the database
    assert (target / "config.toml").read_text() == "chat_sources = 4\n"
    assert sorted(p.name for p in (target / "blobs").iterdir()) == sorted(
        p.name for p in (filled.data_dir / "blobs").iterdir()
    )

    hub = Hub(team_settings(target, target_url))
    try:
        found = hub.search.search("Which city does the Danube flow through?", k=3)
        assert found and "Danube" in found[0].text  # vectors and full text came back
        assert [k.name for k in hub.keys.list(limit=10)[0]] == ["script"]
    finally:
        hub.close()


def test_a_backup_under_writes_holds_exactly_what_its_manifest_counts(tmp_path, server_url):
    """pg_dump runs in the snapshot the manifest's counts were read in: however many
    rows a writer adds meanwhile, the restored store holds the counted ones."""
    source_url = fresh_database(server_url)
    db = Database(source_url)
    db.migrate()
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            with db.session() as session:
                session.add(Memory(kind="note", content=f"note {i}", content_hash=f"h{i}"))
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert wait_for(lambda: table_counts(source_url)["memories"] >= 50, 30)
        manifest = create_backup(team_settings(tmp_path / "d", source_url), tmp_path / "b.tgz")
        assert wait_for(
            lambda: table_counts(source_url)["memories"] > manifest.counts["memories"], 30
        )
    finally:
        stop.set()
        writer.join(30)
        db.close()
    target_url = fresh_database(server_url)
    restore_backup(tmp_path / "b.tgz", tmp_path / "r", target_url)
    assert table_counts(target_url)["memories"] == manifest.counts["memories"] >= 50


def test_restore_refuses_a_database_that_holds_tables(archive, tmp_path, filled):
    before = table_counts(filled.effective_database_url)
    with pytest.raises(Conflict, match="empty database"):
        restore_backup(archive, tmp_path / "t", filled.effective_database_url)
    assert table_counts(filled.effective_database_url) == before
    assert not (tmp_path / "t").exists()


def test_a_postgres_backup_goes_into_a_database_and_a_sqlite_one_into_the_data_dir(
    archive, tmp_path, server_url
):
    with pytest.raises(RestoreRefused, match="--database-url"):
        restore_backup(archive, tmp_path / "t")
    assert not (tmp_path / "t").exists()

    sqlite_archive = tmp_path / "personal.tar.gz"
    personal = create_app(Settings(data_dir=tmp_path / "personal"))
    hub_of(personal).close()
    create_backup(Settings(data_dir=tmp_path / "personal"), sqlite_archive)
    empty = fresh_database(server_url)
    with pytest.raises(RestoreRefused, match="SQLite store"):
        restore_backup(sqlite_archive, tmp_path / "t", empty)
    assert table_counts(empty) == {} and not (tmp_path / "t").exists()


def test_a_damaged_dump_is_refused_before_the_database_is_touched(archive, tmp_path, server_url):
    crafted = tmp_path / "damaged.tar.gz"
    junk = b"PGDMP not really a dump"
    with tarfile.open(archive) as tar, tarfile.open(crafted, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "neurocache.pgdump":
                data = junk
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["database"]["sha256"] = hashlib.sha256(junk).hexdigest()
                data = json.dumps(manifest).encode()
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    target_url = fresh_database(server_url)
    with pytest.raises(InvalidBackup, match="unreadable"):
        restore_backup(crafted, tmp_path / "t", target_url)
    assert table_counts(target_url) == {} and not (tmp_path / "t").exists()


def test_scheduled_backups_run_on_a_postgres_store(filled, tmp_path, server_url):
    backups = ScheduledBackups(filled)
    assert backups._supported()
    path = backups.run_once()
    target_url = fresh_database(server_url)
    restored = restore_backup(path, tmp_path / "from-schedule", target_url)
    assert restored.store == "postgresql" and table_counts(target_url)["documents"] == 2


def test_the_commands_back_up_and_restore_a_postgres_store(filled, tmp_path, server_url, runner):
    """The restored hub is told where its store is: in the hint, and over a config.toml
    that still names the backed-up store."""
    config = filled.data_dir / "config.toml"
    config.write_text(f'database_url = "{filled.effective_database_url}"\nchat_sources = 4\n')
    source = ["--data-dir", str(filled.data_dir)]  # the store: config.toml's
    made = runner.invoke(main, ["backup", str(tmp_path / "cli.tar.gz"), *source])
    assert made.exit_code == 0, made.output
    assert "2 documents" in made.output
    target_url = fresh_database(server_url)
    into = ["--database-url", target_url, "--data-dir", str(tmp_path / "cli-restored")]
    restored = runner.invoke(main, ["restore", str(tmp_path / "cli.tar.gz"), *into])
    assert restored.exit_code == 0, restored.output
    assert "2 documents" in restored.output and "/t_" in restored.output
    assert f"--database-url {target_url}" in restored.output
    assert "sets database_url to" in restored.output and "the backed-up store" in restored.output
    again = runner.invoke(main, ["restore", str(tmp_path / "cli.tar.gz"), *into])
    assert again.exit_code == 1 and "not empty" in again.output


def test_an_unreachable_store_or_missing_programs_are_said_plainly(tmp_path, runner):
    url = ["--database-url", "postgresql+psycopg://u@127.0.0.1:1/neurocache"]
    made = runner.invoke(main, ["backup", str(tmp_path / "b.tar.gz"), *url, "--data-dir", "d"])
    assert made.exit_code == 1 and "cannot be reached" in made.output
    assert not (tmp_path / "b.tar.gz").exists()
    with pytest.raises(postgres_backup.PostgresToolMissing, match="PostgreSQL 99 or newer"):
        postgres_backup.find_program("pg_dump", 99)


def admin_execute(database_url: str, *statements: str) -> None:
    engine = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_a_table_in_any_schema_makes_a_database_not_empty(archive, tmp_path, server_url):
    target_url = fresh_database(server_url)
    admin_execute(target_url, "CREATE SCHEMA elsewhere", "CREATE TABLE elsewhere.kept (x int)")
    with pytest.raises(Conflict, match=r"not empty \(it holds elsewhere\.kept\)"):
        restore_backup(archive, tmp_path / "t", target_url)
    assert not (tmp_path / "t").exists()


def test_a_database_owner_restores_where_the_administrator_made_the_extension(
    archive, tmp_path, server_url
):
    """Hosted PostgreSQL: the hub's user owns its database but not `vector`, which an
    administrator made; a restore neither makes the extension again nor comments on it.
    Without the extension, the same user's restore fails whole, and changes nothing."""
    without = fresh_database(server_url)
    name = without.rsplit("/", 1)[1]
    admin_execute(
        server_url,
        f"CREATE ROLE {name}_owner LOGIN",
        f"ALTER DATABASE {name} OWNER TO {name}_owner",
    )
    as_owner = without.replace("//neurocache@", f"//{name}_owner@")
    with pytest.raises(Unavailable, match="pg_restore failed"):
        restore_backup(archive, tmp_path / "t", as_owner)
    assert not (tmp_path / "t").exists() and table_counts(without) == {}

    admin_execute(without, "CREATE EXTENSION vector")
    restored = restore_backup(archive, tmp_path / "t", as_owner)
    assert table_counts(without)["documents"] == restored.counts["documents"] == 2


def test_a_backup_outlasts_idle_timeouts_and_ignores_the_callers_pg_variables(
    filled, tmp_path, server_url, monkeypatch
):
    """The exporting transaction waits while pg_dump works: a server's idle timeout
    must not end it; and pg_dump reaches the hub's server, not the one PG* names."""
    name = filled.effective_database_url.rsplit("/", 1)[1]
    admin_execute(
        server_url, f"ALTER DATABASE {name} SET idle_in_transaction_session_timeout = '10ms'"
    )
    monkeypatch.setenv("PGHOST", "192.0.2.1")  # a documentation address: nothing there
    monkeypatch.setenv("PGPORT", "1")
    monkeypatch.setenv("PGDATABASE", "nowhere")
    manifest = create_backup(filled, tmp_path / "patient.tar.gz")
    target_url = fresh_database(server_url)
    monkeypatch.delenv("PGHOST")
    restore_backup(tmp_path / "patient.tar.gz", tmp_path / "r", target_url)
    assert table_counts(target_url)["documents"] == manifest.counts["documents"] == 2
