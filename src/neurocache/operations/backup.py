"""Backups: one `.tar.gz` holding a consistent copy of the store, the vector index files,
the captured pages (`blobs/`), `config.toml` and a `manifest.json` that says what it holds.

Taken while the hub runs and writes: SQLite's online backup copies the store inside one
read transaction, so the copy holds whole transactions only; a PostgreSQL store is dumped
by `pg_dump` from one snapshot (`postgres_backup.py`). Model files are not copied
(they are large and can be downloaded again); the manifest lists the models. Neither is
the owner's login token: a backup may be kept on another disk, and a restored hub makes a
new token (API keys live in the store and keep working)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from neurocache import __version__
from neurocache.errors import NeurocacheError, NotFound
from neurocache.operations import postgres_backup
from neurocache.operations.records import (
    BackupDatabase,
    BackupManifest,
    BackupModel,
    StoreContents,
)
from neurocache.settings import CONFIG_FILE_NAME, Settings
from neurocache.store.tables import Base

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "neurocache.db"
INDEXES, BLOBS = "indexes", "blobs"


class BackupUnsupported(NeurocacheError):
    status = 409
    code = "unsupported"


def backed_up_store(settings: Settings) -> Path | str:
    """The SQLite store's file, or a PostgreSQL store's URL; another store is refused."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "postgresql":
        return settings.effective_database_url
    return _sqlite_path(settings)


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupUnsupported(
            f"the store is {url.get_backend_name()}: back it up with its own tool and copy "
            "config.toml and blobs/ from the data dir; the vector index is rebuilt from the "
            "store. `neurocache backup` and `restore` handle SQLite and PostgreSQL stores."
        )
    if not url.database or url.database == ":memory:":
        raise BackupUnsupported("an in-memory store cannot be backed up")
    return Path(url.database)


def check_backup_tools(settings: Settings) -> None:
    """Raises what would stop a backup before its store is read: a PostgreSQL store's
    backups need a `pg_dump` (its version is checked against the server's when used)."""
    if isinstance(backed_up_store(settings), str):
        try:
            postgres_backup.find_program("pg_dump")
        except postgres_backup.PostgresToolMissing as exc:
            raise BackupUnsupported(exc.message) from exc


def default_name(now: datetime | None = None, prefix: str = "neurocache-backup") -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{prefix}-{moment:%Y%m%dT%H%M%SZ}.tar.gz"


def create_backup(settings: Settings, target: Path) -> BackupManifest:
    """Writes the archive to `target` atomically (temp name, then rename); its manifest."""
    store = backed_up_store(settings)
    if isinstance(store, Path) and not store.is_file():
        raise NotFound(f"no store at {store}: nothing to back up")
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside the target, not in /tmp: often a small RAM disk, and not the disk
    # the user chose for a store-sized copy.
    with tempfile.TemporaryDirectory(prefix=".neurocache-backup-", dir=target.parent) as temp:
        staging = Path(temp)
        # The index files are copied before the store: an index older than the store is
        # topped up at start from the vectors newer than its fingerprint, while one newer
        # than the store could hold a reused rowid's vector that nothing would correct.
        indexes = _copy_indexes(settings.data_dir / INDEXES, staging / INDEXES)
        contents = _copy_store(store, staging)
        manifest = _manifest(staging / contents.file, contents, indexes)
        _write_archive(
            target, manifest, staging, _blobs(settings.data_dir / BLOBS), settings.config_file
        )
    return manifest


def _copy_indexes(source: Path, copy: Path) -> list[str]:
    """Each index's fingerprint (`.json`) before its index: the index then is at least as
    new as its fingerprint says, which is what start-up's top-up assumes."""
    if not source.is_dir():
        return []
    files = [p for p in source.iterdir() if p.is_file() and not p.name.endswith(".tmp")]
    files.sort(key=lambda p: (p.suffix != ".json", p.name))
    copy.mkdir()
    copied = []
    for file in files:
        try:
            shutil.copyfile(file, copy / file.name)  # renamed into place whole: never torn
        except FileNotFoundError:
            continue  # an index dropped meanwhile: a cache, rebuilt if ever needed
        copied.append(f"{INDEXES}/{file.name}")
    return sorted(copied)


def _copy_store(store: Path | str, staging: Path) -> StoreContents:
    if isinstance(store, str):
        try:
            return postgres_backup.dump_store(store, staging / postgres_backup.DUMP)
        except postgres_backup.PostgresToolMissing as exc:
            raise BackupUnsupported(exc.message) from exc
    _snapshot(store, staging / DATABASE)
    return _sqlite_contents(staging / DATABASE)


def _snapshot(source: Path, copy: Path) -> None:
    """SQLite's online backup in one step: one read transaction, so one committed state,
    while the hub goes on writing (WAL lets it)."""
    with (
        closing(sqlite3.connect(source, timeout=30)) as live,
        closing(sqlite3.connect(copy)) as out,
    ):
        live.backup(out)
        out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        check = out.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise NeurocacheError(f"the store fails SQLite's check ({check}): not backed up")


def _blobs(folder: Path) -> list[Path]:
    """Captured pages. Each is written before the store names it and never changed, so
    those listed after the snapshot cover everything the snapshot refers to."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".tmp"))


def _sqlite_contents(database: Path) -> StoreContents:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return StoreContents(
            store="sqlite",
            file=DATABASE,
            schema_revision=_revision(db),
            counts=_counts(db),
            models=_models(db),
        )


def _manifest(copy: Path, contents: StoreContents, indexes: list[str]) -> BackupManifest:
    return BackupManifest(
        format_version=FORMAT_VERSION,
        hub_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        store=contents.store,
        schema_revision=contents.schema_revision,
        database=BackupDatabase(
            file=contents.file, size=copy.stat().st_size, sha256=file_sha256(copy)
        ),
        indexes=indexes,
        counts=contents.counts,
        models=contents.models,
    )


def _revision(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # a store never migrated
        return None
    return row[0] if row else None


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    tables = sorted(set(Base.metadata.tables) & present)
    return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _models(db: sqlite3.Connection) -> list[BackupModel]:
    try:
        rows = db.execute("SELECT * FROM models ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    return [BackupModel.from_row(dict(row)) for row in rows]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_archive(
    target: Path, manifest: BackupManifest, staging: Path, blobs: list[Path], config: Path
) -> None:
    temp = target.with_name(f".{target.name}.tmp")
    # 0600 from the start: the archive holds every memory.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz", compresslevel=6) as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest.plain(), indent=2).encode())
                for name, path in _members(manifest, staging, blobs, config):
                    tar.add(path, arcname=name, recursive=False, filter=_anonymous)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _members(
    manifest: BackupManifest, staging: Path, blobs: list[Path], config: Path
) -> Iterator[tuple[str, Path]]:
    yield manifest.database.file, staging / manifest.database.file
    if config.is_file():
        yield CONFIG_FILE_NAME, config
    for index in sorted((staging / INDEXES).glob("*")):
        yield f"{INDEXES}/{index.name}", index
    for blob in blobs:
        yield f"{BLOBS}/{blob.name}", blob


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No user names or ids of this machine in the archive; private modes."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _anonymous(tarfile.TarInfo(name))
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))
