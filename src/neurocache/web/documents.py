"""Documents: text, HTML and uploaded files taken in (idempotently), listed, moved and deleted."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from pydantic import (
    ConfigDict,
    Field,
    model_validator,
)

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.knowledge.records import Accepted, DocumentRecord
from neurocache.records import plain
from neurocache.runtime.jobs import JobRecord
from neurocache.web.api import (
    ApiModel,
    PageQuery,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub
from neurocache.web.errors import error_body

bp = Blueprint("documents", __name__, url_prefix="/api/v1")


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


class UploadItem(ApiModel):
    """One file of a multi-file upload: its document and job, or its error."""

    model_config = ConfigDict(extra="allow")
    file: str
    document: DocumentRecord | None = None
    job: JobRecord | None = None
    error: dict[str, Any] | None = None


class AcceptedAnswer(Accepted):
    """One document: `document` and `job`. Several uploaded files: `items`, each with its
    `file` and either `document` + `job` or `error`."""

    model_config = ConfigDict(extra="forbid")
    document: DocumentRecord | None = None  # type: ignore[assignment]
    job: JobRecord | None = None
    items: list[UploadItem] | None = None


UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "One or more files (field `file`, repeated).",
        },
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
        raise InvalidInput(
            "Idempotency-Key takes 1 to 255 visible ASCII characters",
            details={"header": "Idempotency-Key"},
        )
    return hashlib.sha256(f"{current_actor().name}\0{given}\0{part}".encode()).hexdigest()


def replayed(
    answer: Accepted | dict[str, Any], status: int
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A replayed answer says so in a header too, as other APIs with idempotency keys do."""
    body = plain(answer)
    headers = {"Idempotent-Replayed": "true"} if body.get("replayed") else {}
    return body, status, headers


IDEMPOTENCY_HELP = {
    "Idempotency-Key": "Any string of yours (1 to 255 visible characters): "
    "a retry with the same key makes nothing new and answers as the first "
    "time (`Idempotent-Replayed: true`)."
}


@bp.post("/documents")
@endpoint(
    scope="write",
    body=NewDocument,
    multipart=UPLOAD_FORM,
    responses={202: AcceptedAnswer},
    headers=IDEMPOTENCY_HELP,
)
def add_document(body: NewDocument | None) -> ResponseReturnValue:
    """Take in documents: JSON text/HTML, or uploaded files (multipart, one or many).

    Each is indexed in the background (follow its job). With several files, the answer
    lists each one's document and job, or its error; the others still go in. A file
    uploaded again under its name into the same collection is `unchanged` (nothing is
    made) or, with new content, `replaced` once the new version is indexed."""
    knowledge = current_hub().knowledge
    if body is None:
        return _upload(knowledge)
    fmt, content = ("html", body.html) if body.html is not None else ("text", body.text)
    return replayed(
        knowledge.add_text(
            title=body.title,
            body=content or "",
            fmt=fmt,
            url=body.url,
            collection=body.collection,
            metadata=body.metadata,
            actor=current_actor(),
            idempotency_key=idempotency_key(),
        ),
        202,
    )


def _upload(knowledge: Any) -> ResponseReturnValue:
    files = request.files.getlist("file")
    if not files:
        raise InvalidInput("send the files in the multipart field `file`")
    collection = request.form.get("collection") or None
    knowledge.collection_id(collection)  # an unknown collection fails the whole request
    items = []
    for number, upload in enumerate(files):
        name = upload.filename or "upload"
        try:
            items.append(
                {
                    "file": name,
                    **knowledge.add_file(
                        name,
                        upload.read(),
                        current_actor(),
                        collection,
                        same_file=True,
                        idempotency_key=idempotency_key(f"{number}:{name}"),
                    ).plain(),
                }
            )
        except NeurocacheError as exc:
            items.append(
                {
                    "file": name,
                    "error": error_body(exc.status, exc.message, exc.code, exc.details)["error"],
                }
            )
    accepted = [item for item in items if "document" in item]
    if not accepted:  # nothing went in: the request failed, with each file's reason
        first = items[0]["error"]
        raise NeurocacheError.with_status(
            first["status"],
            first["code"],
            f"no file could be taken in: {first['message']}",
            {"files": items},
        )
    if len(files) == 1:
        return replayed({k: v for k, v in accepted[0].items() if k != "file"}, 202)
    return {"items": items}, 202


@bp.get("/documents/<document_id>")
@endpoint(scope="read", responses={200: DocumentRecord})
def get_document(document_id: str) -> DocumentRecord:
    """One document and its indexing status."""
    return current_hub().knowledge.get_document(document_id)


@bp.delete("/documents/<document_id>")
@endpoint(scope="write", responses={200: DocumentRecord})
def delete_document(document_id: str) -> DocumentRecord:
    """Delete a document: its chunks leave every index."""
    return current_hub().knowledge.delete_document(document_id, current_actor())


class DocumentQuery(PageQuery):
    collection: str | None = Field(None, description="A collection's id or name.")
    status: Literal["queued", "indexing", "indexed", "failed"] | None = None


class DocumentList(ApiModel):
    documents: list[DocumentRecord]
    next_cursor: str | None


class DocumentChange(RequestModel):
    collection: str | None = Field(
        description="Move into this collection (id or name); null: into none."
    )


@bp.get("/documents")
@endpoint(scope="read", query=DocumentQuery, responses={200: DocumentList})
def list_documents(query: DocumentQuery) -> dict[str, Any]:
    """Documents, newest first, by collection and status."""
    documents, next_cursor = current_hub().knowledge.list_documents(
        collection=query.collection, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return {"documents": documents, "next_cursor": next_cursor}


@bp.patch("/documents/<document_id>")
@endpoint(scope="write", body=DocumentChange, responses={200: DocumentRecord})
def move_document(document_id: str, body: DocumentChange) -> DocumentRecord:
    """Move a document to another collection."""
    return current_hub().knowledge.move_document(document_id, body.collection, current_actor())
