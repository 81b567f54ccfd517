"""Collections and documents, and the ingestion that turns a document into indexed chunks.

A document's readable text is stored first (a memory of kind `document`), then a job
splits it into chunk memories (`part_of` the document), embeds them and indexes them.
The job is idempotent: run again after a crash, it replaces whatever half it left.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np
from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neurocache.errors import Conflict, InvalidInput, NotFound
from neurocache.knowledge.loaders import Loaded, html_title, load_file, page_of, readable_html
from neurocache.knowledge.reading import StoredText, document_windows
from neurocache.knowledge.records import (
    Accepted,
    CollectionDeleted,
    CollectionDetail,
    CollectionRecord,
    DocumentRecord,
    DocumentStatus,
    Titled,
    UsedBy,
)
from neurocache.knowledge.splitting import Chunk, make_splitter, split
from neurocache.llm.reembed import store_vectors
from neurocache.records import Named
from neurocache.runtime.jobs import JobCancelled, JobQueue, job_view
from neurocache.search.service import SearchService
from neurocache.settings import Settings
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.graph import content_hash, delete_memories
from neurocache.store.paging import newest_first
from neurocache.store.tables import (
    Agent,
    Collection,
    Conversation,
    Document,
    Edge,
    Job,
    Memory,
    Vector,
)
from neurocache.store.types import isoformat

INGEST = "ingest"
WAITING = ("queued", "indexing")  # a document's statuses before its indexing ends
Also = Callable[[Session, str], None]  # (session, new document id): more to write with it
MIME = {"text": "text/plain", "html": "text/html", "markdown": "text/markdown"}
EMBED_BATCH = 32
# A document's metadata that stays on it (bulky, or about the whole); the rest is copied
# onto its chunks. Migration 0010 copied it onto the chunks of earlier documents.
DOCUMENT_ONLY = frozenset({"pages", "original", "selection", "note"})


class DocumentGone(Exception):
    """The document was deleted while it was being indexed."""


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Intake:
    """How a document came in, and what else its transaction writes."""

    source: str
    url: str | None = None
    path: str | None = None
    collection: str | None = None
    metadata: dict[str, Any] | None = None
    also: Also | None = None
    same_file: bool = False  # an upload: the same name in the same collection is the same file
    idempotency_key: str | None = None  # the caller's key, hashed with who they are


def capture_text(capture: dict[str, Any]) -> str:
    """What a capture says, readable: the selection, else the page's text or main content;
    the user's note comes first when there is one."""
    if capture.get("selection"):
        body = capture["selection"]
    elif capture.get("text"):
        body = capture["text"]
    elif capture.get("html"):
        body = readable_html(capture["html"])
    else:
        body = ""
    note = (capture.get("note") or "").strip()
    text_ = f"{note}\n\n{body}".strip() if note else body.strip()
    if not text_:
        raise InvalidInput("a capture needs html, text, selection or a note")
    return text_


def collection_view(collection: Collection) -> CollectionRecord:
    return CollectionRecord(
        id=collection.id,
        name=collection.name,
        description=collection.description,
        created_at=isoformat(collection.created_at) or "",
    )


def _move(session: Any, document_id: str, collection_id: str | None) -> None:
    """A document and its chunks (their metadata filters searches) into a collection."""
    session.get(Document, document_id).collection_id = collection_id
    ids = [
        document_id,
        *session.scalars(
            select(Edge.source_id).where(Edge.target_id == document_id, Edge.relation == "part_of")
        ),
    ]
    for memory in session.scalars(select(Memory).where(Memory.id.in_(ids))):
        memory.meta = {**memory.meta, "collection_id": collection_id}


def used_by(session: Session, collection_id: str) -> UsedBy:
    """The agents and conversations that draw on a collection. A deleted collection stays
    in their lists, matching nothing: taken out, a list of one would become the empty list,
    which means all memory, and a scope must never widen by itself."""
    return UsedBy(
        agents=[
            Named(id=a.id, name=a.name)
            for a in session.scalars(select(Agent))
            if collection_id in (a.collections or [])
        ],
        conversations=[
            Titled(id=c.id, title=c.title)
            for c in session.scalars(select(Conversation))
            if collection_id in (c.collections or [])
        ],
    )


def scope_warning(name: str, users: UsedBy) -> str | None:
    """What deleting a collection does to those that draw on it, for a person."""
    names = [a.name for a in users.agents] + [c.title for c in users.conversations]
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{shown} draw on “{name}”: once it is deleted they draw on nothing from it "
        "(not on all your memory); pick other collections for them if you want"
    )


def _move_status(
    session: Session,
    document_id: str,
    among: tuple[str, ...],
    status: str,
    error: str | None = None,
) -> bool:
    """Set a document's status if it is one of `among`, in one statement (a cancel and the
    job that indexes the document may race); whether it was."""
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(Document)
            .where(Document.id == document_id, Document.status.in_(among))
            .values(status=status, error=error)
        ),
    )
    return moved.rowcount == 1


def drop_chunks(session: Session, document_id: str) -> list[int]:
    """Delete a document's chunks (vectors, edges and full-text go with them); their rowids,
    for the vector index."""
    ids = list(
        session.scalars(
            select(Edge.source_id).where(Edge.target_id == document_id, Edge.relation == "part_of")
        )
    )
    return delete_memories(session, Memory.id.in_(ids)) if ids else []


def document_view(document: Document) -> DocumentRecord:
    return DocumentRecord(
        id=document.id,
        title=document.title,
        url=document.url,
        path=document.path,
        collection_id=document.collection_id,
        source=document.source,
        mime=document.mime,
        status=cast(DocumentStatus, document.status),
        error=document.error,
        chunk_count=document.chunk_count,
        created_at=isoformat(document.created_at) or "",
        updated_at=isoformat(document.updated_at) or "",
    )


class Knowledge:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        search: SearchService,
        jobs: JobQueue,
        get_embedder: Callable[[], Any],
        count_usage: Callable[..., None] = lambda **_counts: None,
    ) -> None:
        self.settings = settings
        self.count_usage = count_usage  # documents and chunks ingested, for usage
        # One capture at a time: "seen before?" and "keep it" must not interleave, or a
        # resent capture (a reply lost on the way) could be kept twice.
        self._capturing = threading.Lock()
        self.db = db
        self.search = search
        self.jobs = jobs
        self.get_embedder = get_embedder
        jobs.register(INGEST, self._ingest_job, on_cancel=self._ingest_cancelled)

    # ---- collections
    def create_collection(self, name: str, description: str, actor: Actor) -> CollectionRecord:
        try:
            with self.db.session() as session:
                collection = Collection(name=name.strip(), description=description)
                session.add(collection)
                session.flush()
                view = collection_view(collection)
                audit.record(
                    session, actor, "collection.create", ("collection", view.id), None, view
                )
        except IntegrityError as exc:
            raise Conflict(f"a collection named {name!r} exists already") from exc
        return view

    def update_collection(
        self,
        name_or_id: str,
        actor: Actor,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> CollectionRecord:
        collection_id = self.collection_id(name_or_id)
        try:
            with self.db.session() as session:
                collection = get_or_not_found(session, Collection, collection_id, "collection")
                before = collection_view(collection)
                if name is not None:
                    collection.name = name.strip()
                if description is not None:
                    collection.description = description
                session.flush()
                after = collection_view(collection)
                audit.record(
                    session,
                    actor,
                    "collection.update",
                    ("collection", collection_id),
                    before,
                    after,
                )
        except IntegrityError as exc:
            raise Conflict(f"a collection named {name!r} exists already") from exc
        return after

    def delete_collection(
        self, name_or_id: str, actor: Actor, *, delete_documents: bool = False
    ) -> CollectionDeleted:
        """Its documents are deleted too, or (by default) kept, in no collection. Each
        document is one step (audited as such), so a crash midway leaves whole documents."""
        collection_id = self.collection_id(name_or_id)
        with self.db.session() as session:
            documents = list(
                session.scalars(select(Document.id).where(Document.collection_id == collection_id))
            )
        for document_id in documents:
            if delete_documents:
                self.delete_document(document_id, actor)
            else:
                self.move_document(document_id, None, actor)
        with self.db.session() as session:
            late = list(
                session.scalars(
                    select(Document.id).where(  # added meanwhile
                        Document.collection_id == collection_id
                    )
                )
            )
            for document_id in late:
                _move(session, document_id, None)
            collection = get_or_not_found(session, Collection, collection_id, "collection")
            before = collection_view(collection)
            users = used_by(session, collection_id)
            session.delete(collection)
            audit.record(
                session, actor, "collection.delete", ("collection", collection_id), before, None
            )
        return CollectionDeleted(
            **dict(before),
            documents=len(documents),
            documents_deleted=delete_documents,
            used_by=users,
            warning=scope_warning(before.name, users),
        )

    def get_collection(self, name_or_id: str) -> CollectionDetail:
        """A collection, with how many documents it holds and who draws on it (what a
        person is warned of before deleting it)."""
        collection_id = self.collection_id(name_or_id)
        with self.db.session() as session:
            collection = get_or_not_found(session, Collection, collection_id, "collection")
            users = used_by(session, collection_id)
            count = session.scalar(
                select(func.count())
                .select_from(Document)
                .where(Document.collection_id == collection_id)
            )
            return CollectionDetail(
                **dict(collection_view(collection)),
                documents=count or 0,
                used_by=users,
                warning=scope_warning(collection.name, users),
            )

    def list_collections(self) -> list[CollectionRecord]:
        with self.db.session() as session:
            return [
                collection_view(c)
                for c in session.scalars(select(Collection).order_by(Collection.name))
            ]

    @overload
    def collection_id(self, name_or_id: str) -> str: ...
    @overload
    def collection_id(self, name_or_id: None) -> None: ...
    @overload
    def collection_id(self, name_or_id: str | None) -> str | None: ...
    def collection_id(self, name_or_id: str | None) -> str | None:
        if name_or_id is None:
            return None
        with self.db.session() as session:
            found = session.scalar(
                select(Collection.id).where(
                    (Collection.id == name_or_id) | (Collection.name == name_or_id)
                )
            )
        if found is None:
            raise NotFound(f"no collection {name_or_id!r}")
        return found

    # ---- documents
    def add_text(
        self,
        *,
        title: str,
        body: str,
        fmt: str,
        actor: Actor,
        url: str | None = None,
        collection: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "text",
        idempotency_key: str | None = None,
    ) -> Accepted:
        """Store a document's readable text and queue its indexing (202 for the API)."""
        if fmt == "html":
            title = title or html_title(body) or url or "Untitled page"
            body = readable_html(body)
        loaded = Loaded(title or "Untitled", body, fmt, MIME.get(fmt, "text/plain"))
        return self._add(
            loaded,
            actor,
            Intake(
                source=source,
                url=url,
                collection=collection,
                metadata=metadata,
                idempotency_key=idempotency_key,
            ),
        )

    def add_file(
        self,
        filename: str,
        data: bytes,
        actor: Actor,
        collection: str | None = None,
        also: Also | None = None,
        *,
        same_file: bool = False,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """An uploaded file, read by its kind (PDF, DOCX, HTML, Markdown, code, ...);
        `also` writes more in the document's own transaction (a watched file's row). With
        `same_file`, a file already taken in under this name into this collection is
        `unchanged` (nothing new is made) or `replaced` (its new version goes in; the old
        one goes once the new one is indexed)."""
        loaded = load_file(filename, data)
        del data  # the file's bytes are not kept while its text is stored (large uploads)
        return self._add(
            loaded,
            actor,
            Intake(
                source="upload",
                path=filename,
                collection=collection,
                also=also,
                same_file=same_file,
                idempotency_key=idempotency_key,
            ),
        )

    def _add(self, loaded: Loaded, actor: Actor, intake: Intake) -> Accepted:
        if not loaded.text.strip():
            raise InvalidInput(f"{loaded.title}: the document has no text")
        digest = content_hash(loaded.text)
        collection_id = self.collection_id(intake.collection)
        if (replay := self._replay(intake.idempotency_key, digest)) is not None:
            return replay
        previous = self._same_file(intake.path, collection_id) if intake.same_file else None
        if previous is not None and previous[1] == digest:
            return self._accepted(previous[0]).model_copy(update={"outcome": "unchanged"})
        try:
            accepted = self._store_document(
                loaded,
                digest,
                collection_id,
                actor,
                intake,
                replaces=previous[0] if previous else None,
            )
        except IntegrityError:
            if (replay := self._replay(intake.idempotency_key, digest)) is not None:
                return replay  # the same request, sent twice at once: the other one won
            raise
        assert accepted.job is not None
        self.jobs.dispatch(accepted.job.id)
        if previous is not None:
            return accepted.model_copy(update={"outcome": "replaced", "replaces": previous[0]})
        return accepted.model_copy(update={"outcome": "created"})

    def _store_document(
        self,
        loaded: Loaded,
        digest: str,
        collection_id: str | None,
        actor: Actor,
        intake: Intake,
        replaces: str | None,
    ) -> Accepted:
        """The document, its audit entry and its ingestion job, in one transaction."""
        with self.db.session() as session:
            memory = Memory(
                kind="document",
                content=loaded.text,
                content_hash=digest,
                meta={
                    **(intake.metadata or {}),
                    "collection_id": collection_id,
                    "format": loaded.fmt,
                    "title": loaded.title,
                    "pages": loaded.pages,
                },
            )
            session.add(memory)
            session.flush()
            document = Document(
                id=memory.id,
                collection_id=collection_id,
                title=loaded.title,
                url=intake.url,
                path=intake.path,
                source=intake.source,
                mime=loaded.mime,
                status="queued",
                idempotency_key=intake.idempotency_key,
            )
            session.add(document)
            session.flush()
            view = document_view(document)
            audit.record(session, actor, "document.create", ("document", view.id), None, view)
            payload = {"document_id": view.id}
            if replaces is not None:  # the old version goes once this one is indexed
                payload |= {"replaces": replaces, "actor": actor.name}
            job = self.jobs.row(INGEST, payload)
            session.add(job)
            if intake.also is not None:
                intake.also(session, view.id)
            session.flush()
            return Accepted(document=view, job=job_view(job))

    def _replay(self, idempotency_key: str | None, digest: str) -> Accepted | None:
        """What a request sent before with this Idempotency-Key made, answered again; a key
        sent before with other content is a mistake said as such."""
        if idempotency_key is None:
            return None
        with self.db.session() as session:
            found = session.execute(
                select(Document.id, Memory.content_hash)
                .join(Memory, Memory.id == Document.id)
                .where(Document.idempotency_key == idempotency_key)
            ).first()
        if found is None:
            return None
        if found[1] != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was sent before with other content: use a new key for "
                "a new request",
                details={"header": "Idempotency-Key", "document_id": found[0]},
            )
        return self._accepted(found[0]).model_copy(update={"replayed": True})

    def _same_file(self, path: str | None, collection_id: str | None) -> tuple[str, str] | None:
        """The newest upload under this name in this collection that did not fail:
        (document id, content hash)."""
        if path is None:
            return None
        in_collection = (
            Document.collection_id.is_(None)
            if collection_id is None
            else Document.collection_id == collection_id
        )
        with self.db.session() as session:
            found = session.execute(
                select(Document.id, Memory.content_hash)
                .join(Memory, Memory.id == Document.id)
                .where(
                    Document.path == path,
                    Document.source == "upload",
                    in_collection,
                    Document.status != "failed",
                )
                .order_by(Document.created_at.desc())
                .limit(1)
            ).first()
        return (found[0], found[1]) if found is not None else None

    def add_capture(
        self, capture: dict[str, Any], actor: Actor, idempotency_key: str | None = None
    ) -> Accepted:
        """A page, selection or note from the browser extension. The same URL with the same
        content creates nothing new; with new content, a new version `version_of` the last."""
        with self._capturing:
            return self._add_capture(capture, actor, idempotency_key)

    def _add_capture(
        self, capture: dict[str, Any], actor: Actor, idempotency_key: str | None
    ) -> Accepted:
        readable = capture_text(capture)
        digest = content_hash(readable)
        if (replay := self._replay(idempotency_key, digest)) is not None:
            return replay.model_copy(update={"duplicate": False})  # as the first answer said
        url = capture["url"]
        previous = self._captures_of(url)
        for document_id, known_hash in previous:
            if known_hash == digest:
                return self._accepted(document_id).model_copy(update={"duplicate": True})
        original = self._keep_original(capture.get("html"))
        title = capture.get("title") or url
        metadata = {
            key: capture.get(key) for key in ("selection", "note", "tags", "captured_at", "favicon")
        }
        metadata |= {
            "original": original,
            "version": len(previous) + 1,
            "capture": "selection"
            if capture.get("selection")
            else "page"
            if capture.get("html") or capture.get("text")
            else "note",
        }

        def version_of_previous(session: Session, document_id: str) -> None:
            session.add(
                Edge(source_id=document_id, target_id=previous[-1][0], relation="version_of")
            )

        accepted = self._add(
            Loaded(title, readable, "markdown", "text/markdown"),
            actor,
            Intake(
                source="capture",
                url=url,
                collection=capture.get("collection"),
                metadata=metadata,
                also=version_of_previous if previous else None,
                idempotency_key=idempotency_key,
            ),
        )
        return accepted.model_copy(update={"duplicate": False})

    def _captures_of(self, url: str) -> list[tuple[str, str]]:
        with self.db.session() as session:
            return list(
                session.execute(
                    select(Document.id, Memory.content_hash)
                    .join(Memory, Memory.id == Document.id)
                    .where(Document.url == url, Document.source == "capture")
                    .order_by(Document.created_at)
                ).all()
            )

    def _accepted(self, document_id: str) -> Accepted:
        with self.db.session() as session:
            job = session.scalar(
                select(Job)
                .where(Job.payload["document_id"].as_string() == document_id)
                .order_by(Job.created_at.desc())
            )
            return Accepted(
                document=self.get_document(document_id), job=job_view(job) if job else None
            )

    def _keep_original(self, html: str | None) -> str | None:
        """The page as captured, content-addressed under blobs/ (written atomically)."""
        if not html:
            return None
        digest = content_hash(html)
        path = self.settings.data_dir / "blobs" / f"{digest}.html"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(".tmp")
            temp.write_text(html, encoding="utf-8")
            os.replace(temp, path)
        return digest

    def get_document(self, document_id: str) -> DocumentRecord:
        with self.db.session() as session:
            return document_view(get_or_not_found(session, Document, document_id, "document"))

    def list_documents(
        self,
        *,
        collection: str | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[DocumentRecord], str | None]:
        """Newest first."""
        query = select(Document)
        if collection is not None:
            query = query.where(Document.collection_id == self.collection_id(collection))
        if status is not None:
            query = query.where(Document.status == status)
        with self.db.session() as session:
            return newest_first(session, query, Document, limit, cursor, document_view)

    def move_document(
        self, document_id: str, collection: str | None, actor: Actor
    ) -> DocumentRecord:
        """Into another collection (None: into none); its chunks follow it in searches."""
        before = self.get_document(document_id)
        collection_id = self.collection_id(collection)
        with self.db.session() as session:
            _move(session, document_id, collection_id)
            session.flush()
            after = document_view(get_or_not_found(session, Document, document_id, "document"))
            audit.record(session, actor, "document.move", ("document", document_id), before, after)
        return after

    def delete_document(self, document_id: str, actor: Actor) -> DocumentRecord:
        """Its chunks leave every index; an indexing still going on is cancelled (in the
        same transaction: the job stops at its next step, quietly)."""
        before = self.get_document(document_id)
        with self.db.session() as session:  # chunks, document and audit entry: all or none
            cancelled = self.jobs.cancel_live(session, INGEST, "document_id", document_id)
            rowids = drop_chunks(session, document_id)
            # the document row goes with its memory
            session.delete(get_or_not_found(session, Memory, document_id, "document"))
            audit.record(session, actor, "document.delete", ("document", document_id), before, None)
        self.jobs.announce(cancelled)
        self.search.remove(rowids)
        self.search.checkpoint()
        return before

    # ---- ingestion (the job)
    def _ingest_job(
        self, job_id: str, payload: dict[str, Any], progress: Callable[[float], None]
    ) -> None:
        document_id = payload["document_id"]
        with self.db.session() as session:
            meta = session.scalar(select(Memory.meta).where(Memory.id == document_id))
            # Only a document still waiting is indexed: not one deleted, failed by a cancel,
            # or indexed already (a job the start found, whose work was done).
            if meta is None or not _move_status(session, document_id, WAITING, "indexing"):
                return
        try:
            self.index_document(document_id, dict(meta), progress)
        except DocumentGone:
            raise JobCancelled(job_id) from None  # deleted meanwhile: its delete cancelled us
        except JobCancelled:
            self._fail(document_id, "indexing was cancelled")
            raise
        except Exception as exc:
            self._fail(document_id, str(exc) or type(exc).__name__)
            raise
        with self.db.session() as session:  # unless a cancel came first and failed it
            indexed = _move_status(session, document_id, ("indexing",), "indexed")
        if not indexed:
            self._fail(document_id, "indexing was cancelled")
        elif payload.get("replaces"):  # a new version of a file: now it is in, the old goes
            with contextlib.suppress(NotFound):  # deleted by hand meanwhile
                self.delete_document(payload["replaces"], Actor(payload.get("actor", "ingest")))

    def index_document(
        self, document_id: str, meta: dict[str, Any], progress: Callable[[float], None]
    ) -> None:
        """(One step of an ingest job, public: tests inject faults around it.)
        A window of text at a time: split, stored, embedded, then the next, so memory
        stays bounded (the text is read a window at a time too) and progress is the share
        of the text done."""
        self.search.remove(self._drop_chunks(document_id))  # what a crashed run left
        embedder = self.get_embedder()
        splitter = make_splitter(
            meta.get("format", "text"),
            self.settings.chunk_tokens,
            self.settings.chunk_overlap_tokens,
            lambda piece: max(len(embedder.tokens(piece)) - 2, 0),
        )
        inherited = {k: v for k, v in meta.items() if k not in DOCUMENT_ONLY}
        pages, stored = meta.get("pages"), 0
        progress(0.0)  # a job cancelled while it waited stops here
        for start, window, before, after in self._windows(document_id, pages):
            chunks = [
                Chunk(c.text, c.start + start, c.end + start) for c in split(window, splitter)
            ]
            ids = self._store_chunks(document_id, inherited, chunks, pages, first=stored)
            for done in range(0, len(ids), EMBED_BATCH):
                batch = ids[done : done + EMBED_BATCH]
                self.embed_and_store(batch, [chunks[done + i].text for i in range(len(batch))])
                progress(before + (after - before) * (done + len(batch)) / len(ids))
            stored += len(ids)
        with self.db.session() as session:
            document = session.get(Document, document_id)
            if document is None:
                raise DocumentGone(document_id)
            document.chunk_count = stored
        self.search.checkpoint()
        self.count_usage(documents=1, chunks=stored)

    def _windows(
        self, document_id: str, pages: list | None
    ) -> Iterator[tuple[int, str, float, float]]:
        """(start, text, share done before it, share done after it) of each window."""
        stored = StoredText(self.db, document_id)
        if stored.streamable and not pages:
            before = 0.0
            for start, window, after in stored.windows():
                yield start, window, before, after
                before = after
            return
        body = stored.whole()
        for start, window in document_windows(body, pages):
            yield (
                start,
                window,
                start / max(len(body), 1),
                (start + len(window)) / max(len(body), 1),
            )

    def _store_chunks(
        self,
        document_id: str,
        inherited: dict[str, Any],
        chunks: list[Chunk],
        pages: list | None,
        first: int,
    ) -> list[str]:
        """One window's chunks, in one transaction; each carries the document's metadata
        (search filters match chunks) beside its own place in it."""
        try:
            with self.db.session() as session:
                rows = [
                    Memory(
                        kind="chunk",
                        content=c.text,
                        content_hash=content_hash(c.text),
                        meta={
                            **inherited,
                            "document_id": document_id,
                            "start": c.start,
                            "end": c.end,
                            "index": first + i,
                            "page": page_of(pages, c.start),
                        },
                    )
                    for i, c in enumerate(chunks)
                ]
                session.add_all(rows)
                session.flush()
                session.add_all(
                    [
                        Edge(source_id=row.id, target_id=document_id, relation="part_of")
                        for row in rows
                    ]
                )
                return [row.id for row in rows]
        except IntegrityError as exc:
            if self._exists(document_id):
                raise
            raise DocumentGone(document_id) from exc

    def _exists(self, document_id: str) -> bool:
        with self.db.session() as session:
            return session.get(Document, document_id) is not None

    def embed_and_store(self, memory_ids: list[str], texts: list[str]) -> None:
        """(Public: tests inject faults around it.) Embed what has no vector by this
        embedder yet; identical text reuses one. The
        vector may be of more than the text (`embedding_inputs`: a turn with its context);
        the text's hash is what the stored vector is checked against."""
        name = self.search.embedder_name
        inputs = self.search.embedding_inputs(memory_ids, texts)
        hashes = [
            content_hash(t) if t == inputs[i] else f"context:{i}"  # never reused
            for i, t in enumerate(texts)
        ]
        with self.db.session() as session:
            known = dict(
                session.execute(
                    select(Memory.content_hash, Vector.vector)
                    .join(Vector, Vector.memory_id == Memory.id)
                    .where(Vector.embedder == name, Memory.content_hash.in_(hashes))
                ).all()
            )
        missing = [i for i, h in enumerate(hashes) if h not in known]
        fresh = self.get_embedder().embed([inputs[i] for i in missing]) if missing else []
        vectors = np.empty((len(texts), self.get_embedder().dimension), dtype=np.float32)
        for position, i in enumerate(missing):
            vectors[i] = fresh[position]
        for i, digest in enumerate(hashes):
            if digest in known:
                vectors[i] = np.frombuffer(known[digest], dtype="<f4")
        kept = store_vectors(self.db, name, memory_ids, vectors, texts)
        self.index_vectors([memory_ids[i] for i in kept], vectors[kept])

    def remember(self, memory_ids: list[str], texts: list[str]) -> None:
        """Embed and index memories written elsewhere (chat messages), for recall."""
        self.embed_and_store(memory_ids, texts)
        self.search.checkpoint()

    def index_vectors(self, memory_ids: list[str], vectors: np.ndarray) -> None:
        """Put stored vectors into the loaded vector index."""
        if not memory_ids:
            return
        self.search.add(self._rowids(memory_ids), vectors)

    def index_stored(self, memory_ids: list[str]) -> None:
        """Put the vectors the store holds for these memories (written by the re-embedder
        or a bundle import: vectors.stored) into the loaded index."""
        if memory_ids:
            self.search.index_stored(self._rowids(memory_ids))
            self.search.checkpoint()

    def _rowids(self, memory_ids: list[str]) -> list[int]:
        with self.db.session() as session:
            found: dict[str, int] = dict(
                session.execute(
                    select(Memory.id, text("memories.rowid")).where(Memory.id.in_(memory_ids))
                ).all()
            )
        return [found[m] for m in memory_ids]

    def _drop_chunks(self, document_id: str) -> list[int]:
        with self.db.session() as session:
            return drop_chunks(session, document_id)

    def _fail(self, document_id: str, error: str) -> None:
        """A document that failed is not half searchable: its chunks go, with its status."""
        with self.db.session() as session:
            rowids = drop_chunks(session, document_id)
            document = session.get(Document, document_id)
            if document is not None:
                document.status, document.error, document.chunk_count = "failed", error, 0
        self.search.remove(rowids)

    def _ingest_cancelled(self, session: Session, payload: dict[str, Any]) -> None:
        """In the cancel's transaction: a document whose indexing will never run (or
        finish) says so, rather than waiting forever."""
        _move_status(
            session, payload["document_id"], WAITING, "failed", error="indexing was cancelled"
        )

    def repair(self) -> None:
        """At start, before the jobs run: what a crash left between two steps. A document
        waiting with no job to index it gets one; a failed one keeps no chunks."""
        with self.db.session() as session:
            # Waiting documents first: one written with its job after this read is not
            # taken for one without.
            waiting = list(session.scalars(select(Document.id).where(Document.status.in_(WAITING))))
            live = {
                job.payload.get("document_id")
                for job in session.scalars(
                    select(Job).where(Job.kind == INGEST, Job.status.in_(("queued", "running")))
                )
            }
            session.add_all(
                [
                    self.jobs.row(INGEST, {"document_id": document_id})
                    for document_id in waiting
                    if document_id not in live
                ]
            )
            failed = list(
                session.scalars(
                    select(Document.id).where(
                        Document.status == "failed",
                        select(Edge.source_id)
                        .where(Edge.target_id == Document.id, Edge.relation == "part_of")
                        .exists(),
                    )
                )
            )
        for document_id in failed:
            self._fail(document_id, self.get_document(document_id).error or "failed")
