"""Collections, documents, jobs and search: the knowledge API."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from flask import Blueprint, request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.search.service import METADATA_KEY, Filters
from neurocache.web.api import (
    CONFLICT,
    INT64,
    LocalPath,
    Moment,
    PageQuery,
    QueryModel,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub, current_principal
from neurocache.web.errors import error_body

bp = Blueprint("knowledge", __name__, url_prefix="/api/v1")


class NewCollection(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: str


class CollectionList(BaseModel):
    collections: list[CollectionOut]


class NewDocument(RequestModel):
    """Text or HTML; HTML is reduced to its main content."""

    title: str = Field("", max_length=1000)
    text: str | None = None
    html: str | None = None
    url: str | None = Field(None, max_length=8000)
    collection: str | None = Field(None, description="A collection's id or name.")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_body(self) -> NewDocument:
        if (self.text is None) == (self.html is None):
            raise ValueError("give exactly one of `text` and `html`")
        return self


class DocumentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    title: str
    status: Literal["queued", "indexing", "indexed", "failed"]
    chunk_count: int


class JobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(description="The share of the work done, 0..1.")
    error: str | None = None
    elapsed_s: float | None = Field(None, description="Seconds it has run (while running).")
    eta_s: float | None = Field(None, description="Seconds it should still take, at its "
                                "pace so far (while running).")


class Accepted(BaseModel):
    """One document: `document` and `job`. Several uploaded files: `items`, each with its
    `file` and either `document` + `job` or `error`."""

    model_config = ConfigDict(extra="allow")
    document: DocumentOut | None = None
    job: JobOut | None = None
    outcome: Literal["created", "unchanged", "replaced"] | None = Field(
        None, description="`unchanged`: this file (its name, in this collection) was taken in "
        "before with the same content, nothing new was made; `replaced`: a new version of "
        "it, which replaces the old one once indexed (`replaces`).")
    replaces: str | None = Field(None, description="The document this new version replaces.")
    replayed: bool | None = Field(None, description="True: a retry with an Idempotency-Key "
                                  "seen before; the answer is the first request's.")


MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY)]
FilterValue = (Annotated[str, Field(max_length=10_000)] | bool
               | Annotated[int, Field(ge=-INT64 - 1, le=INT64)]
               | Annotated[float, Field(ge=-1e308, le=1e308)])


class SearchRequest(RequestModel):
    query: str = Field(min_length=1, max_length=10_000)
    k: int = Field(10, ge=1, le=200)
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"
    collections: list[str] | None = Field(None, description="Collection ids or names.")
    kinds: list[str] | None = Field(None, description="Memory kinds (default: all but whole "
                                    "documents).")
    documents: list[str] | None = None
    filters: dict[MetadataKey, FilterValue] = Field(
        default_factory=dict, max_length=32,
        description="Metadata fields that must equal these values (`a.b`: field `b` inside "
        "field `a`).")
    since: Moment | None = Field(None, description="Only memories made at or after this.")
    until: Moment | None = Field(None, description="Only memories made before this.")
    owners: list[str] | None = Field(None, description="Only memories of these owners "
                                     "(`owner`, `user:<id>`, `agent:<id>`).")
    tiers: list[Literal["working", "long_term", "personal_log", "archive"]] | None = Field(
        None, description="Only memories in these tiers (agents' memories).")
    context: bool = Field(False, description="Each turn of a thread comes with the turns "
                          "just before and after it (`context`).")
    rerank: bool | None = Field(None, description="Order the best few again with the "
                                "reranker model (default: the `rerank` setting; needs a "
                                "reranker installed).")


class ContextTurn(BaseModel):
    memory_id: str
    speaker: str | None
    at: str | None
    text: str
    place: Literal["before", "after"]


class SearchResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    memory_id: str
    kind: str
    text: str
    score: float
    context: list[ContextTurn] | None = None


class SearchResults(BaseModel):
    results: list[SearchResult]


@bp.post("/collections")
@endpoint(scope="write", body=NewCollection, responses={201: CollectionOut}, errors=CONFLICT)
def create_collection(body: NewCollection):
    """Create a named knowledge base."""
    return current_hub().knowledge.create_collection(body.name, body.description,
                                                     current_actor()), 201


class CollectionChange(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class CollectionDeletion(QueryModel):
    documents: Literal["keep", "delete"] = Field(
        "keep", description="`keep`: its documents stay, in no collection; `delete`: they "
        "go too.")


class ScopeUser(BaseModel):
    id: str
    name: str | None = None
    title: str | None = None


class UsedBy(BaseModel):
    agents: list[ScopeUser]
    conversations: list[ScopeUser]


class CollectionDetail(CollectionOut):
    documents: int
    used_by: UsedBy = Field(description="Agents and conversations that draw on it.")
    warning: str | None = Field(description="What deleting it does to them, for a person.")


class CollectionDeleted(CollectionOut):
    documents: int
    documents_deleted: bool
    used_by: UsedBy = Field(description="They draw on nothing from it now (a deleted "
                            "collection stays in their lists and matches nothing: a scope "
                            "never widens by itself).")
    warning: str | None


@bp.patch("/collections/<collection_id>")
@endpoint(scope="write", body=CollectionChange, responses={200: CollectionOut}, errors=CONFLICT)
def update_collection(collection_id: str, body: CollectionChange):
    """Rename a collection or change its description (by id or name)."""
    return current_hub().knowledge.update_collection(
        collection_id, current_actor(), name=body.name, description=body.description)


@bp.delete("/collections/<collection_id>")
@endpoint(scope="write", query=CollectionDeletion, responses={200: CollectionDeleted})
def delete_collection(collection_id: str, query: CollectionDeletion):
    """Delete a collection; its documents stay (in no collection) unless
    `?documents=delete`."""
    return current_hub().knowledge.delete_collection(
        collection_id, current_actor(), delete_documents=query.documents == "delete")


@bp.get("/collections/<collection_id>")
@endpoint(scope="read", responses={200: CollectionDetail})
def get_collection(collection_id: str):
    """A collection (by id or name), its document count, and who draws on it."""
    return current_hub().knowledge.get_collection(collection_id)


@bp.get("/collections")
@endpoint(scope="read", responses={200: CollectionList})
def list_collections():
    """Every collection, by name."""
    return {"collections": current_hub().knowledge.list_collections()}


UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "One or more files (field `file`, repeated)."},
        "collection": {"type": "string", "description": "A collection's id or name."},
    },
}


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(part: str = "") -> str | None:
    """The request's `Idempotency-Key`, hashed with who sends it (one caller's key never
    finds another's document) and `part` (each file of an upload is its own)."""
    given = request.headers.get("Idempotency-Key")
    if given is None:
        return None
    if not IDEMPOTENCY_KEY.match(given):
        raise InvalidInput("Idempotency-Key takes 1 to 255 visible ASCII characters",
                           details={"header": "Idempotency-Key"})
    return hashlib.sha256(f"{current_actor().name}\0{given}\0{part}".encode()).hexdigest()


def replayed(answer: dict[str, Any], status: int) -> Any:
    """A replayed answer says so in a header too, as other APIs with idempotency keys do."""
    headers = {"Idempotent-Replayed": "true"} if answer.get("replayed") else {}
    return answer, status, headers


IDEMPOTENCY_HELP = {"Idempotency-Key": "Any string of yours (1 to 255 visible characters): "
                    "a retry with the same key makes nothing new and answers as the first "
                    "time (`Idempotent-Replayed: true`)."}


@bp.post("/documents")
@endpoint(scope="write", body=NewDocument, multipart=UPLOAD_FORM, responses={202: Accepted},
          headers=IDEMPOTENCY_HELP)
def add_document(body: NewDocument | None):
    """Take in documents: JSON text/HTML, or uploaded files (multipart, one or many).

    Each is indexed in the background (follow its job). With several files, the answer
    lists each one's document and job, or its error; the others still go in. A file
    uploaded again under its name into the same collection is `unchanged` (nothing is
    made) or, with new content, `replaced` once the new version is indexed."""
    knowledge = current_hub().knowledge
    if body is None:
        return _upload(knowledge)
    fmt, content = ("html", body.html) if body.html is not None else ("text", body.text)
    return replayed(knowledge.add_text(
        title=body.title, body=content or "", fmt=fmt, url=body.url,
        collection=body.collection, metadata=body.metadata, actor=current_actor(),
        idempotency_key=idempotency_key()), 202)


def _upload(knowledge: Any):
    files = request.files.getlist("file")
    if not files:
        raise InvalidInput("send the files in the multipart field `file`")
    collection = request.form.get("collection") or None
    knowledge.collection_id(collection)  # an unknown collection fails the whole request
    items = []
    for number, upload in enumerate(files):
        name = upload.filename or "upload"
        try:
            items.append({"file": name, **knowledge.add_file(
                name, upload.read(), current_actor(), collection, same_file=True,
                idempotency_key=idempotency_key(f"{number}:{name}"))})
        except NeurocacheError as exc:
            items.append({"file": name, "error": error_body(exc.status, exc.message,
                                                            exc.code, exc.details)["error"]})
    accepted = [item for item in items if "document" in item]
    if not accepted:  # nothing went in: the request failed, with each file's reason
        first = items[0]["error"]
        raise NeurocacheError.with_status(first["status"], first["code"],
                                          f"no file could be taken in: {first['message']}",
                                          {"files": items})
    if len(files) == 1:
        return replayed({k: v for k, v in accepted[0].items() if k != "file"}, 202)
    return {"items": items}, 202


class NewCapture(RequestModel):
    """What the browser extension sends: a page, a selection or a note."""

    url: str = Field(min_length=1, max_length=8000)
    title: str = Field("", max_length=1000)
    html: str | None = None
    text: str | None = None
    selection: str | None = None
    note: str | None = Field(None, max_length=100_000)
    captured_at: Moment | None = None
    tags: list[str] = Field(default_factory=list, max_length=100)
    collection: str | None = None
    favicon: str | None = Field(None, max_length=100_000,
                                description="The page's icon: an http(s) or data: URL.")

    @field_validator("favicon")
    @classmethod
    def _icon_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "data:image/")):
            raise ValueError("favicon must be an http(s) or data:image/ URL")
        return value


class CaptureAccepted(Accepted):
    duplicate: bool = Field(description="True: the same URL with the same content was "
                            "captured before; nothing new was made.")


@bp.post("/captures")
@endpoint(scope="write", body=NewCapture, responses={202: CaptureAccepted},
          headers=IDEMPOTENCY_HELP)
def add_capture(body: NewCapture):
    """Save a page, selection or note; the same content twice is kept once."""
    capture = body.model_dump(mode="json")
    return replayed(current_hub().knowledge.add_capture(capture, current_actor(),
                                                        idempotency_key()), 202)


@bp.get("/documents/<document_id>")
@endpoint(scope="read", responses={200: DocumentOut})
def get_document(document_id: str):
    """One document and its indexing status."""
    return current_hub().knowledge.get_document(document_id)


@bp.delete("/documents/<document_id>")
@endpoint(scope="write", responses={200: DocumentOut})
def delete_document(document_id: str):
    """Delete a document: its chunks leave every index."""
    return current_hub().knowledge.delete_document(document_id, current_actor())


class DocumentQuery(PageQuery):
    collection: str | None = Field(None, description="A collection's id or name.")
    status: Literal["queued", "indexing", "indexed", "failed"] | None = None


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_cursor: str | None


class DocumentChange(RequestModel):
    collection: str | None = Field(description="Move into this collection (id or name); "
                                   "null: into none.")


@bp.get("/documents")
@endpoint(scope="read", query=DocumentQuery, responses={200: DocumentList})
def list_documents(query: DocumentQuery):
    """Documents, newest first, by collection and status."""
    documents, next_cursor = current_hub().knowledge.list_documents(
        collection=query.collection, status=query.status, limit=query.limit,
        cursor=query.cursor)
    return {"documents": documents, "next_cursor": next_cursor}


@bp.patch("/documents/<document_id>")
@endpoint(scope="write", body=DocumentChange, responses={200: DocumentOut})
def move_document(document_id: str, body: DocumentChange):
    """Move a document to another collection."""
    return current_hub().knowledge.move_document(document_id, body.collection, current_actor())


@bp.delete("/jobs/<job_id>")
@endpoint(scope="write", responses={200: JobOut})
def cancel_job(job_id: str):
    """Cancel a job: a queued one never runs, a running one stops at its next step."""
    return current_hub().jobs.cancel(job_id)


@bp.get("/jobs/<job_id>")
@endpoint(scope="read", responses={200: JobOut})
def get_job(job_id: str):
    """A background job's status and progress."""
    return current_hub().jobs.get(job_id)


@bp.post("/search")
@endpoint(scope="read", body=SearchRequest, responses={200: SearchResults})
def search(body: SearchRequest):
    """Search every memory by meaning and by words."""
    knowledge = current_hub().knowledge
    collections = [knowledge.collection_id(c) for c in body.collections] \
        if body.collections else None
    filters = Filters(kinds=body.kinds, collections=collections, documents=body.documents,
                      metadata=body.filters, since=body.since, until=body.until,
                      owners=body.owners, tiers=body.tiers)
    hub = current_hub()
    results = hub.search.search(body.query, k=body.k, mode=body.mode, filters=filters,
                                context=body.context, rerank=hub.rerank_wanted(body.rerank))
    return {"results": hub.visibility.visible(current_principal().person, results,
                                              key="memory_id")}


class NewFolder(RequestModel):
    path: LocalPath = Field(description="A folder on this machine.")
    collection: str | None = Field(None, description="A collection's id or name.")


class FolderOut(BaseModel):
    id: str
    path: str
    collection_id: str | None
    created_at: str
    scanned_at: str | None


class FolderList(BaseModel):
    folders: list[FolderOut]


@bp.post("/folders")
@endpoint(scope="admin", body=NewFolder, responses={201: FolderOut}, errors=CONFLICT)
def watch_folder(body: NewFolder):
    """Watch a folder: its files go in now, and changes follow (owner only)."""
    owner = current_principal().kind == "owner"
    return current_hub().folders.register(body.path, current_actor(),
                                          collection=body.collection, owner=owner), 201


@bp.get("/folders")
@endpoint(scope="read", responses={200: FolderList})
def list_folders():
    """The watched folders."""
    return {"folders": current_hub().folders.list()}


@bp.delete("/folders/<folder_id>")
@endpoint(scope="admin", responses={200: FolderOut})
def unwatch_folder(folder_id: str):
    """Stop watching a folder (its documents stay)."""
    return current_hub().folders.remove(folder_id, current_actor())
