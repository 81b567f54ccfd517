"""Watched folders: a folder's readable files go in (minding `.gitignore` and a size
limit), and new, changed and deleted files are picked up while the hub runs and, by
comparing with what was last seen, after a restart."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gitignore_parser import parse_gitignore
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neurocache.errors import Conflict, Forbidden, InvalidInput, NeurocacheError, NotFound
from neurocache.knowledge.loaders import READABLE
from neurocache.knowledge.records import FolderRecord
from neurocache.knowledge.service import Knowledge
from neurocache.runtime.periodic_claims import OwnTurns
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.tables import WatchedFile, WatchedFolder
from neurocache.store.types import isoformat, utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.folders")
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv"}
# Trees of the system, not of a person: files that are not files (/proc, /sys), devices
# that never end when read (/dev/zero), and the whole disk (/).
SYSTEM_TREES = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/run"))


class FolderGone(Exception):
    """The folder stopped being watched while it was scanned."""


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int


def folder_view(folder: WatchedFolder) -> FolderRecord:
    return FolderRecord(
        id=folder.id,
        path=folder.path,
        collection_id=folder.collection_id,
        created_at=isoformat(folder.created_at) or "",
        scanned_at=isoformat(folder.scanned_at),
    )


def readable_files(
    root: Path, max_bytes: int, passed_over: tuple[Path, ...] = ()
) -> Iterator[tuple[str, Seen]]:
    """Files the hub would read, as paths relative to `root`, honouring every `.gitignore`
    on the way down, skipping hidden and tool folders, the folders `passed_over` (the
    hub's own), and files past `max_bytes`. An entry that cannot be read is passed over
    with a warning: one locked file must not hide the rest of the folder."""
    for path in _walk(root, [], set(passed_over)):
        try:
            stat = path.stat()
        except OSError as exc:
            log.warning("watched folder: skipped %s (%s)", path, exc.strerror or exc)
            continue
        if stat.st_size <= max_bytes:
            yield path.relative_to(root).as_posix(), Seen(stat.st_size, stat.st_mtime_ns)


def _walk(
    folder: Path, outer_ignores: list[Callable[[str], bool]], passed_over: set[Path]
) -> Iterator[Path]:
    here = list(outer_ignores)
    try:
        gitignore = folder / ".gitignore"
        if gitignore.is_file():
            here.append(parse_gitignore(gitignore, base_dir=folder))
        entries = sorted(folder.iterdir())
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("watched folder: skipped %s (%s)", folder, getattr(exc, "strerror", exc))
        return
    for entry in entries:
        if entry.name.startswith(".") or any(ignored(str(entry)) for ignored in here):
            continue
        try:
            is_folder = entry.is_dir() and not entry.is_symlink()
            is_readable = not is_folder and entry.is_file() and entry.suffix.lower() in READABLE
        except OSError as exc:
            log.warning("watched folder: skipped %s (%s)", entry, exc.strerror or exc)
            continue
        if is_folder and entry.name not in SKIPPED_DIRS and entry not in passed_over:
            yield from _walk(entry, here, passed_over)
        elif is_readable:
            yield entry


def refusal(root: Path, protected: tuple[Path, ...]) -> str | None:
    """Why `root` may not be watched, or None: the whole disk, a system tree, or a folder
    of the hub's own (its data, backups, models: the hub would read itself)."""
    if root.parent == root:
        return f"{root} is the root of the disk: watch the folders you want in it"
    for tree in SYSTEM_TREES:
        if root.is_relative_to(tree):
            return f"{root} is in {tree}, which holds the system's files, not yours"
    for own in protected:
        if root.is_relative_to(own):
            return f"{root} is in {own}, which the hub keeps for itself"
    return None


class FolderWatcher:
    def __init__(
        self,
        db: Database,
        knowledge: Knowledge,
        *,
        interval_s: float,
        max_file_bytes: int,
        protected: tuple[Path, ...] = (),
        threads: Threads | None = None,
        claims: OwnTurns | None = None,
    ) -> None:
        self.db = db
        self.threads = threads or Threads()
        # processes sharing a store take turns at each folder's scan (once per interval)
        self.claims = claims or OwnTurns()
        self.knowledge = knowledge
        self.interval_s = interval_s
        self.max_file_bytes = max_file_bytes
        # The hub's own folders (data, backups, models): never watched, never read.
        self.protected = tuple(p.expanduser().resolve() for p in protected)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scan_lock = threading.Lock()

    # ---- registering
    def register(
        self, path: str, actor: Actor, *, collection: str | None = None, owner: bool = True
    ) -> FolderRecord:
        if not owner:
            raise Forbidden("only the owner (CLI or browser) may have the hub read a folder")
        root = self._watchable(path)
        collection_id = self.knowledge.collection_id(collection)
        with self.db.session() as session:
            if session.scalar(select(WatchedFolder).where(WatchedFolder.path == str(root))):
                raise Conflict(f"{root} is watched already")
            folder = WatchedFolder(path=str(root), collection_id=collection_id)
            session.add(folder)
            session.flush()
            view = folder_view(folder)
            audit.record(session, actor, "folder.watch", ("folder", view.id), None, view)
        self.threads.start("folder-scan", self.scan_quietly, view.id)
        return view

    def _watchable(self, path: str) -> Path:
        try:
            root = Path(path).expanduser().resolve()
            is_folder = root.is_dir()
        except (OSError, ValueError, RuntimeError) as exc:  # too long, a NUL, a link loop
            raise InvalidInput(
                f"{path!r} cannot be read as a folder: {getattr(exc, 'strerror', None) or exc}",
                details={"field": "path"},
            ) from exc
        if not is_folder:
            raise InvalidInput(f"{root} is not a folder", details={"field": "path"})
        reason = refusal(root, self.protected)
        if reason is not None:
            raise InvalidInput(reason, details={"field": "path"})
        return root

    def list(self) -> builtins.list[FolderRecord]:
        with self.db.session() as session:
            return [folder_view(f) for f in session.scalars(select(WatchedFolder))]

    def remove(self, folder_id: str, actor: Actor) -> FolderRecord:
        """Stop watching; the documents taken in stay (delete them one by one if wanted)."""
        with self.db.session() as session:
            folder = get_or_not_found(session, WatchedFolder, folder_id, "watched folder")
            view = folder_view(folder)
            session.delete(folder)
            audit.record(session, actor, "folder.unwatch", ("folder", folder_id), view, None)
        return view

    # ---- watching
    def start(self) -> None:
        self._thread = self.threads.start("folder-watch", self._watch)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _watch(self) -> None:
        while True:  # at start first: what changed while the hub was down
            for folder in self.list():
                if self._stop.is_set():
                    return
                self.scan_quietly(folder.id, self.interval_s)
            if self._stop.wait(self.claims.wake_s(self.interval_s)):
                return

    def scan_quietly(self, folder_id: str, every_s: float = 0.0) -> None:
        """A scan unless another process is scanning the folder (or did, within `every_s`)."""
        with self.claims.turn(f"folder-scan:{folder_id}", every_s) as mine:
            if not mine:
                return
            try:
                self.scan(folder_id)
            except Exception:  # a folder gone or unreadable must not stop the others
                log.exception("scanning folder %s failed", folder_id)

    def scan(self, folder_id: str) -> dict[str, int]:
        try:
            return self._scan(folder_id)
        except FolderGone:
            return {}

    def _scan(self, folder_id: str) -> dict[str, int]:
        """Bring the store in line with the folder; returns what changed. Each file is
        its own short transaction, so a scan never holds the store against ingestion."""
        with self._scan_lock:
            with self.db.session() as session:
                folder = session.get(WatchedFolder, folder_id)
                if folder is None:
                    return {}
                root, collection = Path(folder.path), folder.collection_id
                known = {
                    f.relpath: f
                    for f in session.scalars(
                        select(WatchedFile).where(WatchedFile.folder_id == folder_id)
                    )
                }
            found = (
                dict(readable_files(root, self.max_file_bytes, self.protected))
                if root.is_dir()
                else {}
            )
            counts = {"added": 0, "changed": 0, "removed": 0}
            for relpath in sorted(found.keys() - known.keys()):
                self._save(self._take_in(folder_id, root, relpath, found[relpath], collection))
                counts["added"] += 1
            for relpath in sorted(known.keys() - found.keys()):
                self._forget(known[relpath])
                self._delete(known[relpath])
                counts["removed"] += 1
            for relpath in sorted(found.keys() & known.keys()):
                if self._refresh(known[relpath], root, found[relpath], collection):
                    counts["changed"] += 1
                    self._save(known[relpath])
            with self.db.session() as session:
                folder = session.get(WatchedFolder, folder_id)
                if folder is None:
                    raise FolderGone(folder_id)  # unwatched during the scan
                folder.scanned_at = utcnow()
        return counts

    def _folder_exists(self, folder_id: str) -> bool:
        with self.db.session() as session:
            return session.get(WatchedFolder, folder_id) is not None

    def _save(self, row: WatchedFile) -> None:
        try:
            with self.db.session() as session:
                session.merge(row)
        except IntegrityError as exc:
            if self._folder_exists(row.folder_id):
                raise
            raise FolderGone(row.folder_id) from exc  # unwatched during the scan

    def _delete(self, row: WatchedFile) -> None:
        with self.db.session() as session:
            stored = session.get(WatchedFile, (row.folder_id, row.relpath))
            if stored is not None:
                session.delete(stored)

    def _take_in(
        self, folder_id: str, root: Path, relpath: str, seen: Seen, collection: str | None
    ) -> WatchedFile:
        row = WatchedFile(
            folder_id=folder_id, relpath=relpath, size=seen.size, mtime_ns=seen.mtime_ns
        )
        self._read_into(row, root, collection)
        return row

    def _refresh(self, row: WatchedFile, root: Path, seen: Seen, collection: str | None) -> bool:
        if (row.size, row.mtime_ns) == (seen.size, seen.mtime_ns):
            return False
        row.size, row.mtime_ns = seen.size, seen.mtime_ns
        data = self._read(root / row.relpath)
        if data is not None and hashlib.sha256(data).hexdigest() == row.content_hash:
            self._save(row)  # touched, not changed: remember the new time only
            return False
        self._forget(row)
        self._read_into(row, root, collection)
        return True

    def _read_into(self, row: WatchedFile, root: Path, collection: str | None) -> None:
        path = root / row.relpath
        data = self._read(path)
        row.content_hash = hashlib.sha256(data).hexdigest() if data is not None else None
        row.document_id, row.error = None, None
        if data is None:
            row.error = "cannot be read"
            return

        def remember_file(session: Session, document_id: str) -> None:
            # Written with the document: a crash in between would make the next scan
            # take the file in again, as a second document.
            row.document_id = document_id
            session.merge(row)

        try:
            self.knowledge.add_file(
                str(path), data, Actor("folder-watch"), collection, also=remember_file
            )
        except NeurocacheError as exc:  # kept, so an unreadable file is not retried forever
            row.document_id, row.error = None, exc.message
        except IntegrityError as exc:
            if self._folder_exists(row.folder_id):
                raise
            raise FolderGone(row.folder_id) from exc  # unwatched during the scan

    def _forget(self, row: WatchedFile) -> None:
        if row.document_id is not None:
            with contextlib.suppress(NotFound):  # deleted by hand meanwhile
                self.knowledge.delete_document(row.document_id, Actor("folder-watch"))
            row.document_id = None

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None
