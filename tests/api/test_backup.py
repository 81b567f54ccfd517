"""Backups and restores: `operations/backup.py`, `operations/restore.py`, the schedule, the CLI.

Real SQLite stores and real hubs throughout; a backup taken while a thread writes must
restore to a hub holding whole transactions only."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from neurocache.app import create_app, hub_of
from neurocache.cli.main import main
from neurocache.errors import Conflict
from neurocache.hub import Hub
from neurocache.operations.backup import BackupUnsupported, create_backup, file_sha256
from neurocache.operations.backup_schedule import ScheduledBackups, scheduled_name
from neurocache.operations.restore import InvalidBackup, RestoreRefused, restore_backup
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.backups import fill, settled
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

ACTOR = Actor("test")


def started(data_dir: Path, **values) -> Hub:
    hub = Hub(Settings(data_dir=data_dir, **values))
    hub.start_background_work()
    return hub


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A data dir with a bit of everything, its hub closed."""
    data = tmp_path / "source"
    data.mkdir(mode=0o700)
    (data / "config.toml").write_text("chat_sources = 4\n")
    hub = started(data)
    try:
        fill(hub, ACTOR)
        hub.models.register_local(str(write_tiny_llama(tmp_path / "tiny.gguf")), ACTOR)
        settled(hub)
    finally:
        hub.close()
    return data


def snapshot_of(hub: Hub) -> dict:
    return {
        "collections": hub.knowledge.list_collections(),
        "documents": hub.knowledge.list_documents(limit=100)[0],
        "memories": _memories(hub.settings.data_dir / "neurocache.db"),
        "keys": [k.id for k in hub.keys.list(limit=100)[0]],
    }


def _memories(database: Path) -> list[tuple]:
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT id, kind, content FROM memories ORDER BY id").fetchall()


# ---- backup → restore


def test_backup_restores_into_a_new_dir_with_the_same_data(filled, tmp_path):
    before = Hub(Settings(data_dir=filled))
    expected, old_token = snapshot_of(before), before.owner_token.value
    archive = tmp_path / "b.tar.gz"
    manifest = create_backup(before.settings, archive)
    before.close()
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    assert manifest.format_version == 1 and manifest.schema_revision
    assert manifest.counts["documents"] == 2 and manifest.counts["collections"] == 1
    assert [m.source for m in manifest.models] == ["local"]
    assert "api_key" not in manifest.models[0].plain()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and "owner_token" not in names
    assert {"neurocache.db", "config.toml"} <= set(names)
    assert any(n.startswith("indexes/") for n in names) and any(
        n.startswith("blobs/") for n in names
    )

    target = tmp_path / "restored" / "data"
    restore_backup(archive, target)
    assert oct(target.stat().st_mode & 0o777) == "0o700"
    assert not [p for p in target.parent.iterdir() if p.name != "data"]  # no staging left
    after = settled(started(target))
    try:
        assert snapshot_of(after) == expected
        assert after.settings.chat_sources == 4  # config.toml came along
        assert after.owner_token.value != old_token  # a new install's token
        assert after.search.search("Vienna", mode="fulltext")[0].text.startswith("The Danube")
        hits = after.search.search("a kettle at dawn", mode="vector", k=1)
        assert hits[0].text == "The kettle whistles at dawn."
        assert after.search.search("grey heron", mode="hybrid")
        model = after.models.list()[-1]
        assert model.source == "local" and model.state == "installed"
    finally:
        after.close()


def test_a_model_whose_file_is_gone_is_listed_and_reported(filled, tmp_path, runner):
    (tmp_path / "tiny.gguf").unlink()
    archive = tmp_path / "b.tar.gz"
    create_backup(Settings(data_dir=filled), archive)
    result = runner.invoke(main, ["restore", str(archive), "--data-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "tiny.gguf is not here" in result.output
    hub = Hub(Settings(data_dir=tmp_path / "r"))
    try:
        model = next(m for m in hub.models.list() if m.source == "local")
        with pytest.raises(Conflict, match="gone"):
            hub.models.start(model.id)
        assert hub.models.get(model.id).state == "failed"
    finally:
        hub.close()


def test_a_backup_taken_under_write_load_holds_whole_transactions(tmp_path):
    settings = Settings(data_dir=tmp_path / "busy")
    app = create_app(settings)
    hub = hub_of(app)
    written: list[int] = []
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            note = hub.graph.create(
                ACTOR, kind="note", content=f"load note {i} on lanterns", metadata={"i": i}
            )
            hub.knowledge.remember([note.id], [note.content])
            if i % 4 == 0:
                hub.knowledge.add_text(
                    title=f"load doc {i}",
                    fmt="text",
                    actor=ACTOR,
                    body=f"Load document {i} tells of harbour lights.",
                )
            written.append(i)
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    archives = []
    try:
        for n in (1, 2):
            assert wait_for(lambda n=n: len(written) >= 12 * n, 60)
            archives.append(tmp_path / f"busy-{n}.tar.gz")
            create_backup(settings, archives[-1])
        assert wait_for(lambda: len(written) >= 30, 60)
    finally:
        stop.set()
        writer.join(60)
        hub.close()
    counts = [
        _check_restored(archive, tmp_path / f"r{n}", len(written))
        for n, archive in enumerate(archives)
    ]
    assert 0 < counts[0] < counts[1] < len(written)


def _check_restored(archive: Path, target: Path, written: int) -> int:
    """The restored store is sound and holds a prefix of the writes, each whole; the
    hub on it indexes and finds everything. How many notes it holds."""
    restore_backup(archive, target)
    database = target / "neurocache.db"
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES('integrity-check', 1)")
        notes = dict(
            db.execute(
                "SELECT json_extract(metadata, '$.i'), id FROM memories WHERE kind = 'note'"
            ).fetchall()
        )
        audited = {
            r[0]
            for r in db.execute("SELECT target_id FROM audit_log WHERE action = 'memory.create'")
        }
        documents = db.execute(
            "SELECT d.id, m.id, j.id FROM documents d LEFT JOIN memories m "
            "ON m.id = d.id LEFT JOIN jobs j ON json_extract(j.payload, "
            "'$.document_id') = d.id"
        ).fetchall()
    assert sorted(notes) == list(range(len(notes))) and len(notes) < written  # a prefix
    assert audited == set(notes.values())  # each memory with its audit entry, none alone
    assert documents and all(memory and job for _d, memory, job in documents)
    hub = settled(started(target))
    try:
        with hub.db.session() as session:
            rowids = set(session.scalars(_embedded_rowids()))
        assert rowids and set(hub.search.index().ids().tolist()) == rowids
        last = len(notes) - 1
        assert (
            hub.search.search(f"load note {last}", mode="fulltext", k=1)[0].text
            == f"load note {last} on lanterns"
        )
        assert hub.search.search("harbour lights", mode="vector")
        assert {d.status for d in hub.knowledge.list_documents(limit=100)[0]} == {"indexed"}
    finally:
        hub.close()
    return len(notes)


def _embedded_rowids():
    from sqlalchemy import select, text

    from neurocache.store.tables import Memory, Vector

    return (
        select(text("memories.rowid"))
        .select_from(Vector)
        .join(Memory, Memory.id == Vector.memory_id)
    )


# ---- restore refuses, and leaves the target as it was


@pytest.fixture
def archive(tmp_path) -> Path:
    hub = Hub(Settings(data_dir=tmp_path / "small"))
    note = hub.graph.create(ACTOR, kind="note", content="small but whole", metadata={})
    hub.knowledge.remember([note.id], [note.content])
    hub.close()
    path = tmp_path / "small.tar.gz"
    create_backup(Settings(data_dir=tmp_path / "small"), path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _pack(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _assert_refused(archive: Path, target: Path, error: type, match: str) -> None:
    parent_before = sorted(os.listdir(target.parent))
    target_before = sorted(os.listdir(target)) if target.exists() else None
    with pytest.raises(error, match=match):
        restore_backup(archive, target)
    assert sorted(os.listdir(target.parent)) == parent_before  # no staging dir left
    assert (sorted(os.listdir(target)) if target.exists() else None) == target_before


def test_restore_refuses_a_dir_that_is_not_empty(archive, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "neurocache.db").write_text("mine")
    _assert_refused(archive, target, RestoreRefused, "not empty")
    assert (target / "neurocache.db").read_text() == "mine"


def test_restore_into_an_existing_empty_dir(archive, tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    restore_backup(archive, target)
    assert (target / "neurocache.db").is_file()


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_restore_refuses_a_damaged_archive(archive, tmp_path, damage):
    data = bytearray(archive.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        for at in range(len(data) // 3, len(data) // 3 + 64):
            data[at] ^= 0x5A
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(bytes(data))
    _assert_refused(broken, tmp_path / "target", InvalidBackup, "not a readable backup")


def test_restore_refuses_a_file_that_is_no_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball at all")
    _assert_refused(junk, tmp_path / "target", InvalidBackup, "not a readable backup")


@pytest.mark.parametrize(
    "name", ["../evil.txt", "/tmp/evil.txt", "indexes/../../evil.txt", "hooks.py"]
)
def test_restore_refuses_members_outside_a_backup(archive, tmp_path, name):
    crafted = _pack(tmp_path / "crafted.tar.gz", {**_members(archive), name: b"gotcha"})
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "no backup holds")
    assert not (tmp_path / "evil.txt").exists()


def test_restore_refuses_a_link_member(archive, tmp_path):
    crafted = tmp_path / "link.tar.gz"
    with tarfile.open(crafted, "w:gz") as tar:
        for name, data in _members(archive).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("config.toml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "no backup holds")


def test_restore_refuses_an_unknown_format_version(archive, tmp_path):
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    manifest["format_version"] = 99
    crafted = _pack(
        tmp_path / "future.tar.gz", {**members, "manifest.json": json.dumps(manifest).encode()}
    )
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "format version 99")


def test_a_manifest_is_read_as_its_record(archive, tmp_path):
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    later = {**manifest, "added_later": True}  # same format version: ignored
    later["models"] = [{"id": "m", "added_later": 1}]
    crafted = _pack(
        tmp_path / "later.tar.gz", {**members, "manifest.json": json.dumps(later).encode()}
    )
    restored = restore_backup(crafted, tmp_path / "later")
    assert restored.counts == manifest["counts"] and restored.models[0].id == "m"
    del manifest["database"]
    crafted = _pack(
        tmp_path / "cut.tar.gz", {**members, "manifest.json": json.dumps(manifest).encode()}
    )
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "incomplete: database")


def test_restore_refuses_an_archive_without_a_manifest(archive, tmp_path):
    members = _members(archive)
    del members["manifest.json"]
    crafted = _pack(tmp_path / "bare.tar.gz", members)
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "no manifest.json")


def test_restore_refuses_a_store_that_fails_its_checks(archive, tmp_path):
    members = _members(archive)
    database = bytearray(members["neurocache.db"])
    page = 4096
    for at in range(page * 3, page * 3 + 200):  # a b-tree page's header and cells
        database[at] ^= 0xFF
    manifest = json.loads(members["manifest.json"])
    wrong_sum = _pack(tmp_path / "sum.tar.gz", {**members, "neurocache.db": bytes(database)})
    _assert_refused(wrong_sum, tmp_path / "target", InvalidBackup, "checksum")
    copy = tmp_path / "damaged.db"
    copy.write_bytes(bytes(database))
    manifest["database"]["sha256"] = file_sha256(copy)
    damaged = _pack(
        tmp_path / "damaged.tar.gz",
        {
            **members,
            "neurocache.db": bytes(database),
            "manifest.json": json.dumps(manifest).encode(),
        },
    )
    _assert_refused(damaged, tmp_path / "target", InvalidBackup, "damaged")


def test_restore_refuses_a_schema_from_a_newer_hub(archive, tmp_path):
    members = _members(archive)
    database = tmp_path / "newer.db"
    database.write_bytes(members["neurocache.db"])
    with closing(sqlite3.connect(database)) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
        db.commit()
    members_manifest = json.loads(members["manifest.json"])
    members_manifest["database"]["sha256"] = file_sha256(database)
    crafted = _pack(
        tmp_path / "newer.tar.gz",
        {
            **members,
            "neurocache.db": database.read_bytes(),
            "manifest.json": json.dumps(members_manifest).encode(),
        },
    )
    _assert_refused(crafted, tmp_path / "target", InvalidBackup, "newer one")


def test_another_server_store_is_not_backed_up_here(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", database_url="mysql://u@127.0.0.1:1/neurocache")
    with pytest.raises(BackupUnsupported, match="its own tool"):
        create_backup(settings, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()


# ---- scheduled backups


def test_scheduled_backups_run_while_the_hub_runs_and_keep_the_newest(tmp_path):
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup")
    (folder / "neurocache-backup-20200101T000000Z.tar.gz").write_text("a manual one")
    settings = Settings(
        data_dir=tmp_path / "d",
        backup_interval_h=0.0001,  # 0.36 s
        backup_keep=2,
        backup_dir=folder,
    )
    app = create_app(settings)
    hub = hub_of(app)
    seen: set[str] = set()

    def made() -> int:
        seen.update(p.name for p in hub.backups.backups())
        return len(seen)

    try:
        assert wait_for(lambda: made() >= 4, 60)
    finally:
        hub.close()
    kept = [p.name for p in hub.backups.backups()]
    assert kept == sorted(seen)[-2:]
    assert {"notes.txt", "neurocache-backup-20200101T000000Z.tar.gz"} <= set(os.listdir(folder))
    restore_backup(folder / kept[-1], tmp_path / "from-schedule")
    assert (tmp_path / "from-schedule" / "neurocache.db").is_file()


def test_the_schedule_prunes_only_its_own_files_and_knows_when_it_is_due(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", backup_interval_h=1, backup_keep=3)
    schedule = ScheduledBackups(settings)
    now = datetime(2030, 5, 1, 12, tzinfo=UTC)
    assert schedule.due_in(now) == 600  # the first one waits for start-up
    schedule.folder.mkdir(parents=True)
    names = [scheduled_name(now - timedelta(hours=h)) for h in range(6)]
    for name in [*names, "neurocache-backup-x.tar.gz", "scheduled.tar.gz"]:
        (schedule.folder / name).write_text("x")
    # due an interval after the newest (`now`); never further off than one interval
    assert schedule.due_in(now + timedelta(minutes=15)) == 45 * 60
    assert schedule.due_in(now + timedelta(hours=3)) == 0
    assert schedule.due_in(now - timedelta(minutes=30)) == 3600
    deleted = schedule.prune()
    assert sorted(p.name for p in deleted) == sorted(names[3:])
    assert sorted(os.listdir(schedule.folder)) == sorted(
        [*names[:3], "neurocache-backup-x.tar.gz", "scheduled.tar.gz"]
    )


def test_scheduled_backups_are_off_at_zero(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "d", backup_interval_h=0))
    hub = hub_of(app)
    assert hub.backups._thread is None
    hub.close()


# ---- the command line


def test_backup_and_restore_commands(filled, tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = runner.invoke(main, ["backup", "--data-dir", str(filled)])
    assert made.exit_code == 0, made.output
    [archive] = tmp_path.glob("neurocache-backup-*.tar.gz")
    assert str(archive) in made.output and "2 documents" in made.output
    assert f"({archive.stat().st_size / 1000:.1f} KB)" in made.output
    into = tmp_path / "copies"
    into.mkdir()
    named = runner.invoke(main, ["backup", str(into), "--data-dir", str(filled)])
    assert named.exit_code == 0 and len(list(into.glob("neurocache-backup-*.tar.gz"))) == 1

    target = tmp_path / "restored"
    done = runner.invoke(main, ["restore", str(archive), "--data-dir", str(target)])
    assert done.exit_code == 0, done.output
    assert "Restored" in done.output and "login link is new" in done.output
    found = runner.invoke(
        main, ["search", "Vienna", "--mode", "fulltext", "--data-dir", str(target)]
    )
    assert "Danube" in found.output

    again = runner.invoke(main, ["restore", str(archive), "--data-dir", str(target)])
    assert again.exit_code == 1 and "not empty" in again.output


def test_restore_into_an_unreachable_postgres_store_changes_nothing(archive, tmp_path, runner):
    """(PostgreSQL stores are backed up and restored in tests/e2e/test_postgres_backup.py.)"""
    url = ["--database-url", "postgresql+psycopg://u@127.0.0.1:1/neurocache"]
    restored = runner.invoke(
        main, ["restore", str(archive), *url, "--data-dir", str(tmp_path / "d")]
    )
    assert restored.exit_code == 1 and "cannot be reached" in restored.output
    assert not (tmp_path / "d").exists()


def test_backup_of_a_dir_without_a_store(tmp_path, runner):
    result = runner.invoke(
        main, ["backup", str(tmp_path / "b.tar.gz"), "--data-dir", str(tmp_path / "nothing")]
    )
    assert result.exit_code == 1 and "nothing to back up" in result.output
