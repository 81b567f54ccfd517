"""Memory Cache's projects over the hub's collections, and its project directories over
watched folders (the `memory_cache_compat` API, web/memory_cache.py).

Memory Cache names both by integer ids, which its client compares as numbers and keys its
chat history by; the hub's ids are UUIDs. So each collection and folder gets an integer
the first time it is seen here (collections and folders made elsewhere in the hub
included), from tables that keep every id they ever gave: a deleted project's id never
names another one."""

from __future__ import annotations

import builtins
import contextlib
import os
from pathlib import Path

from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError

from neurocache.errors import Conflict, InvalidInput, NotFound
from neurocache.knowledge.folders import FolderWatcher
from neurocache.knowledge.records import DocumentRecord, FolderRecord
from neurocache.knowledge.service import Knowledge
from neurocache.records import Record
from neurocache.store import Database
from neurocache.store.audit import Actor
from neurocache.store.tables import (
    Document,
    MemoryCacheDirectory,
    MemoryCacheProject,
    WatchedFile,
)

DEFAULT_NAME = "New Project"  # Memory Cache's name for a project created without one
NAME_LIMIT = 200  # a collection's name
MAX_NAME_TRIES = 1000
FILE_PAGE = 500


class ProjectNotFound(NotFound):
    """Memory Cache's own message for it."""

    def __init__(self) -> None:
        super().__init__("Project not found")


class ProjectRecord(Record):
    """A project as Memory Cache's client reads it."""

    id: int
    name: str
    is_removed: bool


class ProjectDirectoryRecord(Record):
    id: int
    path: str
    project_id: int
    is_removed: bool


class ProjectScan(Record):
    """What bringing a project's folders in line with the disk changed."""

    folders: int
    added: int
    changed: int
    removed: int
    missing: list[str]


class ProjectIngestion(Record):
    """How far ingestion of a project's documents is."""

    files: int
    waiting: int
    fragments: int


def file_name(project_name: str, original: str) -> str:
    """Memory Cache's name of a file: `<project>/uploads/` and its path with every
    separator made `__` (its client shows the part after the first `__`, `/`-joined)."""
    flat = original.replace(os.sep, "__").replace("/", "__")
    return f"{project_name}/uploads/{flat if flat.startswith('__') else '__' + flat}"


def file_entry(project_name: str, document: DocumentRecord) -> str:
    """A document by its path; one with none (an upload, a capture) by its title or id."""
    return file_name(project_name, document.path or document.title or document.id)


def numbered_name(name: str, n: int) -> str:
    """`name`, then `name (2)`, `name (3)`...: Memory Cache allows two projects of one
    name, the hub two collections of one name not."""
    suffix = "" if n == 1 else f" ({n})"
    return name[: NAME_LIMIT - len(suffix)] + suffix


class Projects:
    def __init__(self, db: Database, knowledge: Knowledge, folders: FolderWatcher) -> None:
        self.db = db
        self.knowledge = knowledge
        self.folders = folders

    # ---- projects
    def list(self) -> builtins.list[ProjectRecord]:
        """Every collection, each with its integer id (given now to those without)."""
        collections = self.knowledge.list_collections()
        ids = self._project_ids([c.id for c in collections])
        return [
            ProjectRecord(id=ids[c.id], name=c.name, is_removed=False)
            for c in collections
            if c.id in ids
        ]

    def create(self, name: str, actor: Actor) -> ProjectRecord:
        base = name.strip() or DEFAULT_NAME
        for n in range(1, MAX_NAME_TRIES + 1):
            with contextlib.suppress(Conflict):  # that name is taken: the next number
                collection = self.knowledge.create_collection(numbered_name(base, n), "", actor)
                project_id = self._project_ids([collection.id])[collection.id]
                return ProjectRecord(id=project_id, name=collection.name, is_removed=False)
        raise Conflict(f"{MAX_NAME_TRIES} projects are named {base!r} already")

    def rename(self, project_id: int, name: str, actor: Actor) -> ProjectRecord:
        collection_id = self.collection_of(project_id)
        base = name.strip() or DEFAULT_NAME
        for n in range(1, MAX_NAME_TRIES + 1):
            with contextlib.suppress(Conflict):
                collection = self.knowledge.update_collection(
                    collection_id, actor, name=numbered_name(base, n)
                )
                return ProjectRecord(id=project_id, name=collection.name, is_removed=False)
        raise Conflict(f"{MAX_NAME_TRIES} projects are named {base!r} already")

    def delete(self, project_id: int, actor: Actor) -> ProjectRecord:
        """Its folders are no longer watched, and its collection goes with its documents
        (Memory Cache deletes a project's files); the id stays spent."""
        collection_id = self.collection_of(project_id)
        for folder in self._folders_of(collection_id):
            self.folders.remove(folder.id, actor)
        gone = self.knowledge.delete_collection(collection_id, actor, delete_documents=True)
        return ProjectRecord(id=project_id, name=gone.name, is_removed=True)

    def collection_of(self, project_id: int) -> str:
        with self.db.session() as session:
            row = session.get(MemoryCacheProject, project_id)
            if row is None or row.collection_id is None:
                raise ProjectNotFound()
            return row.collection_id

    def _project_ids(self, collection_ids: builtins.list[str]) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(
                select(MemoryCacheProject.collection_id, MemoryCacheProject.id).where(
                    MemoryCacheProject.collection_id.in_(collection_ids)
                )
            )
            known = {
                collection_id: project_id for collection_id, project_id in rows if collection_id
            }
        for collection_id in collection_ids:
            if collection_id not in known and (given := self._new_project_id(collection_id)):
                known[collection_id] = given
        return known

    def _new_project_id(self, collection_id: str) -> int | None:
        """None when the collection was deleted meanwhile."""
        return self._numbered(
            MemoryCacheProject(collection_id=collection_id),
            select(MemoryCacheProject.id).where(MemoryCacheProject.collection_id == collection_id),
        )

    # ---- directories
    def directories(self, project_id: int) -> builtins.list[ProjectDirectoryRecord]:
        folders = self._folders_of(self.collection_of(project_id))
        ids = self._directory_ids(project_id, folders)
        return [
            ProjectDirectoryRecord(
                id=ids[f.id], path=f.path, project_id=project_id, is_removed=False
            )
            for f in folders
            if f.id in ids
        ]

    def add_directory(
        self, project_id: int, path: str, actor: Actor, *, owner: bool
    ) -> ProjectDirectoryRecord:
        """Watch the folder into the project's collection (only the owner may, as for
        every watched folder); it is read now, in the background."""
        if not path.strip():
            raise InvalidInput("Path cannot be empty", details={"field": "path"})
        collection_id = self.collection_of(project_id)
        folder = self.folders.register(path, actor, collection=collection_id, owner=owner)
        directory_id = self._directory_ids(project_id, [folder])[folder.id]
        return ProjectDirectoryRecord(
            id=directory_id, path=folder.path, project_id=project_id, is_removed=False
        )

    def remove_directory(self, directory_id: int, actor: Actor) -> ProjectDirectoryRecord:
        """Stop watching it and delete the documents taken from it: Memory Cache drops the
        copied files of a removed directory, and its file list would still show them."""
        with self.db.session() as session:
            row = session.get(MemoryCacheDirectory, directory_id)
            if row is None or row.folder_id is None:
                raise NotFound("Directory not found")
            folder_id, path, project_id = row.folder_id, row.path, row.project_id
            taken = session.scalars(
                select(WatchedFile.document_id).where(WatchedFile.folder_id == folder_id)
            )
            documents = [document_id for document_id in taken if document_id is not None]
        self.folders.remove(folder_id, actor)
        for document_id in documents:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                self.knowledge.delete_document(document_id, actor)
        return ProjectDirectoryRecord(
            id=directory_id, path=path, project_id=project_id, is_removed=True
        )

    def _folders_of(self, collection_id: str) -> builtins.list[FolderRecord]:
        return [f for f in self.folders.list() if f.collection_id == collection_id]

    def _directory_ids(
        self, project_id: int, folders: builtins.list[FolderRecord]
    ) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(
                select(MemoryCacheDirectory.folder_id, MemoryCacheDirectory.id).where(
                    MemoryCacheDirectory.folder_id.in_([f.id for f in folders])
                )
            )
            known = {folder_id: directory_id for folder_id, directory_id in rows if folder_id}
        for folder in folders:
            if folder.id not in known and (given := self._new_directory_id(project_id, folder)):
                known[folder.id] = given
        return known

    def _new_directory_id(self, project_id: int, folder: FolderRecord) -> int | None:
        """None when the folder was unwatched meanwhile."""
        return self._numbered(
            MemoryCacheDirectory(project_id=project_id, folder_id=folder.id, path=folder.path),
            select(MemoryCacheDirectory.id).where(MemoryCacheDirectory.folder_id == folder.id),
        )

    def _numbered(
        self, row: MemoryCacheProject | MemoryCacheDirectory, taken: Select[int]
    ) -> int | None:
        """The new integer id of `row`, or, when another request numbered the same thing
        first, the id it got (`taken` finds it); None when the thing is gone."""
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:  # numbered by another request first (or it is gone)
            with self.db.session() as session:
                return session.scalar(taken)

    # ---- files and ingestion
    def files(self, project_id: int) -> builtins.list[str]:
        """Every document of the project, named as Memory Cache names its copied files."""
        collection_id = self.collection_of(project_id)
        name = self.knowledge.get_collection(collection_id).name
        entries: builtins.list[str] = []
        cursor: str | None = None
        while True:
            page, cursor = self.knowledge.list_documents(
                collection=collection_id, limit=FILE_PAGE, cursor=cursor
            )
            entries += [file_entry(name, document) for document in page]
            if cursor is None:
                return sorted(entries)

    def scan(self, project_id: int) -> ProjectScan:
        """Each folder of the project compared with the disk now (the watcher also does it
        every `watch_interval_s`); what is new or changed is queued for ingestion. A folder
        gone from the disk is named, not scanned: a scan would take its files out."""
        folders = self._folders_of(self.collection_of(project_id))
        missing = [f.path for f in folders if not Path(f.path).is_dir()]
        counts = {"added": 0, "changed": 0, "removed": 0}
        for folder in folders:
            if folder.path not in missing:
                for name, count in self.folders.scan(folder.id).items():
                    counts[name] = counts.get(name, 0) + count
        return ProjectScan(folders=len(folders), missing=missing, **counts)

    def ingestion(self, project_id: int) -> ProjectIngestion:
        collection_id = self.collection_of(project_id)
        waiting = case((Document.status.in_(("queued", "indexing")), 1), else_=0)
        with self.db.session() as session:
            files, pending, fragments = session.execute(
                select(
                    func.count(Document.id),
                    func.coalesce(func.sum(waiting), 0),
                    func.coalesce(func.sum(Document.chunk_count), 0),
                ).where(Document.collection_id == collection_id)
            ).one()
        return ProjectIngestion(files=files, waiting=pending, fragments=fragments)
