"""Restoring a backup (see `operations/backup.py`) into an empty or new data dir, and a
PostgreSQL store's backup also into an empty database.

Nothing is written to the data dir until the whole archive has been read and checked: it is
unpacked into a private folder beside the target, checked there (manifest, format version,
the store's checksum, `PRAGMA integrity_check` or `pg_restore --list`, a schema this hub
knows), and only then renamed into place. A PostgreSQL dump is loaded in one transaction
before that rename. A refused or failed restore leaves the targets as it found them."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

from pydantic import ValidationError

from neurocache.errors import Conflict, NeurocacheError
from neurocache.operations import postgres_backup
from neurocache.operations.backup import DATABASE, FORMAT_VERSION, MANIFEST, file_sha256
from neurocache.operations.records import BackupManifest
from neurocache.store.database import alembic_config

KNOWN_FORMATS = frozenset({FORMAT_VERSION})
# Every name a backup may hold: plain relative names, so none can point outside the target.
MEMBER_NAME = re.compile(
    r"(manifest\.json|neurocache\.db|neurocache\.pgdump|config\.toml"
    r"|(indexes|blobs)/[A-Za-z0-9][A-Za-z0-9._-]*)"
)
FOLDERS = frozenset({"indexes", "blobs"})
STORE_FILES = {"sqlite": DATABASE, "postgresql": postgres_backup.DUMP}
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


class InvalidBackup(NeurocacheError):
    status = 422
    code = "invalid_backup"


class RestoreRefused(Conflict):
    pass


def restore_backup(
    archive: Path, data_dir: Path, database_url: str | None = None
) -> BackupManifest:
    """Unpacks, checks and moves the backup into `data_dir` (a PostgreSQL store's into
    the empty database at `database_url`); its manifest."""
    check_empty(data_dir)
    if database_url is not None:
        postgres_backup.check_empty_database(database_url)
    with ExitStack() as stack:
        with _reading(archive):
            _check_stream(archive)
            tar = stack.enter_context(tarfile.open(archive, mode="r:gz"))
            members = checked_members(tar)
            manifest = read_manifest(tar, members)
            check_store_file(manifest, members, database_url)
        _install(tar, members, manifest, data_dir, database_url)
    return manifest


@contextmanager
def _reading(archive: Path) -> Iterator[None]:
    """What a damaged or foreign file raises while it is read, as one error."""
    try:
        yield
    except READ_ERRORS as exc:
        raise InvalidBackup(f"{archive} is not a readable backup: {exc}") from exc


def _check_stream(archive: Path) -> None:
    """Reads the compressed stream to its end, where gzip checks its CRC: tar alone stops
    at its end marker and would miss damage to the file contents."""
    with gzip.open(archive, "rb") as stream:
        while stream.read(1 << 20):
            pass


def check_store_file(
    manifest: BackupManifest, members: list[tarfile.TarInfo], database_url: str | None
) -> None:
    """The manifest's store is the one its archive holds, and the one asked for: a SQLite
    store goes into the data dir, a PostgreSQL one into a database."""
    expected = STORE_FILES.get(manifest.store)
    if expected is None or manifest.database.file != expected:
        raise InvalidBackup(
            f"the backup's manifest names a {manifest.store} store in "
            f"{manifest.database.file!r}, which no backup holds: refused"
        )
    if expected not in {m.name for m in members}:
        raise InvalidBackup(f"the backup has no {expected}: refused")
    if manifest.store == "postgresql" and database_url is None:
        raise RestoreRefused(
            "this backup holds a PostgreSQL store: restore it with --database-url "
            "postgresql+psycopg://USER@HOST/DATABASE (an empty database), nothing was changed"
        )
    if manifest.store == "sqlite" and database_url is not None:
        raise RestoreRefused(
            "this backup holds a SQLite store, which is restored into the data dir: "
            "leave database_url unset (nothing was changed)"
        )


def _install(
    tar: tarfile.TarFile,
    members: list[tarfile.TarInfo],
    manifest: BackupManifest,
    data_dir: Path,
    database_url: str | None,
) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent)
    )  # mode 0700, like the hub's
    try:
        _unpack(tar, members, staging)
        if database_url is None:
            verify_store(staging / DATABASE, manifest)
        else:
            verify_dump(staging / postgres_backup.DUMP, manifest)
        existed = data_dir.exists()
        _move_into_place(staging, data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if database_url is not None:
        _load_dump(data_dir, database_url, existed)


def _load_dump(data_dir: Path, database_url: str, existed: bool) -> None:
    """The data dir is in place first (its rename is what can still be refused), then
    the store is loaded in one transaction; if that fails, the data dir goes again, so
    both targets are as they were and the restore can be tried again."""
    dump = data_dir / postgres_backup.DUMP
    try:
        postgres_backup.restore_store(dump, database_url)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        if existed:
            data_dir.mkdir(mode=0o700)
        raise
    dump.unlink()  # no part of a data dir: the store lives in the database


def check_empty(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreRefused(
            f"{data_dir} is not empty: a backup is restored only into an "
            "empty or new data dir (nothing was changed)"
        )


def checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member, refused whole if any is a link, a device, a path that could leave the
    target (`..`, absolute), a name twice, or a name a backup does not hold."""
    members = tar.getmembers()  # reads the whole archive: a damaged one fails here
    names = [m.name for m in members]
    for member in members:
        if member.isdir() and member.name in FOLDERS:
            continue
        if not member.isfile() or not MEMBER_NAME.fullmatch(member.name):
            raise InvalidBackup(f"the backup holds {member.name!r}, which no backup holds: refused")
    if len(set(names)) != len(names):
        raise InvalidBackup("the backup names a file twice: refused")
    if MANIFEST not in names:
        raise InvalidBackup(f"the backup has no {MANIFEST}: refused")
    return [m for m in members if m.isfile()]


def read_manifest(tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> BackupManifest:
    member = next(m for m in members if m.name == MANIFEST)
    try:
        manifest = json.loads(_read(tar, member))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBackup(f"the backup's manifest is not JSON: {exc}") from exc
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version not in KNOWN_FORMATS:
        raise InvalidBackup(
            f"the backup's format version {version!r} is not one this "
            f"Neurocache reads ({', '.join(map(str, sorted(KNOWN_FORMATS)))});"
            " a newer Neurocache may read it"
        )
    try:  # a field that a later hub adds within the same format version is ignored
        return BackupManifest.model_validate(manifest, extra="ignore")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise InvalidBackup(
            f"the backup's manifest is incomplete: {where}: {first['msg']}"
        ) from exc


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    assert handle is not None  # a regular file, checked
    with handle:
        return handle.read()


def _unpack(tar: tarfile.TarFile, members: list[tarfile.TarInfo], staging: Path) -> None:
    """By hand rather than `extractall`: only the checked names, private modes, no
    owners, times or links taken from the archive."""
    for member in members:
        if member.name == MANIFEST:
            continue  # read already; not part of a data dir
        path = staging / member.name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)


def verify_store(database: Path, manifest: BackupManifest) -> None:
    if file_sha256(database) != manifest.database.sha256:
        raise InvalidBackup("the backup's store does not match its manifest's checksum")
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidBackup(f"the backup's store is damaged: {exc}") from exc
    if problems != ["ok"]:
        raise InvalidBackup(f"the backup's store is damaged: {'; '.join(problems[:5])}")
    _check_revision(revision[0] if revision else None)


def verify_dump(dump: Path, manifest: BackupManifest) -> None:
    """The checksum, a dump pg_restore reads, a schema this hub knows."""
    if file_sha256(dump) != manifest.database.sha256:
        raise InvalidBackup("the backup's store does not match its manifest's checksum")
    try:
        postgres_backup.check_dump(dump)
    except postgres_backup.PostgresToolMissing:
        raise
    except NeurocacheError as exc:
        raise InvalidBackup(exc.message) from exc
    _check_revision(manifest.schema_revision)


def _check_revision(revision: str | None) -> None:
    """An older schema is migrated when the hub starts; a newer one this hub cannot use."""
    if revision is None:
        return
    from alembic.script import ScriptDirectory  # on use: alembic is slow to import
    from alembic.util.exc import CommandError

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise InvalidBackup(
            f"the backup's store has schema {revision!r}, which this "
            "Neurocache does not know: restore it with a newer one"
        ) from exc


def _move_into_place(staging: Path, data_dir: Path) -> None:
    try:
        if data_dir.exists():
            data_dir.rmdir()  # fails if something appeared since the check: nothing lost
        os.rename(staging, data_dir)
    except OSError as exc:
        raise RestoreRefused(
            f"{data_dir} could not be put in place ({exc}); it was left as it was"
        ) from exc
