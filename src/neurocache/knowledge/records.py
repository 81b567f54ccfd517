"""What the knowledge services answer: collections, documents, watched folders."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neurocache.records import Named, Record
from neurocache.runtime.jobs import JobRecord

DocumentStatus = Literal["queued", "indexing", "indexed", "failed"]


class CollectionRecord(Record):
    id: str
    name: str
    description: str
    created_at: str


class Titled(Record):
    id: str
    title: str


class UsedBy(Record):
    """The agents and conversations that draw on a collection."""

    agents: list[Named]
    conversations: list[Titled]


class CollectionDetail(CollectionRecord):
    """A collection with what a person is warned of before deleting it."""

    documents: int = Field(description="How many documents it holds (or held, once deleted).")
    used_by: UsedBy
    warning: str | None = Field(description="What deleting it does to those drawing on it.")


class CollectionDeleted(CollectionDetail):
    documents_deleted: bool


class DocumentRecord(Record):
    id: str
    title: str
    url: str | None
    path: str | None
    collection_id: str | None
    source: str
    mime: str | None
    status: DocumentStatus
    error: str | None
    chunk_count: int
    created_at: str
    updated_at: str


class Accepted(Record):
    """A document taken in, and the job that indexes it."""

    document: DocumentRecord
    job: JobRecord | None
    outcome: Literal["created", "unchanged", "replaced"] | None = Field(
        None,
        description="`unchanged`: this file (its name, in this collection) was taken in "
        "before with the same content, nothing new was made; `replaced`: a new version of "
        "it, which replaces the old one once indexed (`replaces`).",
    )
    replaces: str | None = Field(None, description="The document this new version replaces.")
    replayed: bool | None = Field(
        None,
        description="True: a retry with an Idempotency-Key "
        "seen before; the answer is the first request's.",
    )
    duplicate: bool | None = Field(
        None, description="A capture only: the same page with the same content was kept before."
    )


class FolderRecord(Record):
    id: str
    path: str
    collection_id: str | None
    created_at: str
    scanned_at: str | None


HistoryFormat = Literal["chatgpt", "turns"]


class HistoryImport(Record):
    """What importing a chat history from elsewhere did."""

    format: HistoryFormat
    threads: int
    turns: int
    created: int = Field(description="Turns new to this hub.")
    unchanged: int = Field(description="Turns imported before (the same file again).")
