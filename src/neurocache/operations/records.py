"""What the operations answer: a backup's manifest (what a backup or a restore took), and
what a bundle's import made.

A bundle itself is not a record: it is a file format (bundle_format.py reads it, loosely,
since another hub's version wrote it), and an export's answer is that file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from neurocache.records import Record


# ---- backups
class BackupDatabase(Record):
    file: str
    size: int
    sha256: str


class BackupModel(Record):
    """A model as a manifest lists it: never its API key (the store has it; a manifest is
    meant to be read by people) nor its free-form metadata. A store of an older schema may
    lack a column: its field is then None."""

    id: str
    name: str | None = None
    role: str | None = None
    format: str | None = None
    source: str | None = None
    url: str | None = None
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    state: str | None = None
    base_url: str | None = None
    remote_model: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> BackupModel:
        """From a `models` row of any schema: the columns a manifest lists, no others."""
        return cls(**{k: v for k, v in row.items() if k in cls.model_fields})


class StoreContents(Record):
    """What a backup's copy of the store holds, read from that copy's own state."""

    store: Literal["sqlite", "postgresql"]
    file: str
    schema_revision: str | None
    counts: dict[str, int]
    models: list[BackupModel]


class BackupManifest(Record):
    """A backup's `manifest.json`: what it holds. Model files are not in a backup, so
    `models` is what a restored hub may have to download again."""

    format_version: int
    hub_version: str
    created_at: str
    store: str
    schema_revision: str | None
    database: BackupDatabase
    indexes: list[str]
    counts: dict[str, int] = Field(description="Rows per table of the store.")
    models: list[BackupModel]


# ---- bundle imports
class Created(Record):
    """One thing an import made, with the id it had in the bundle (`source_id`; None for a
    collection or an agent, which a bundle names by name only)."""

    type: str
    id: str
    name: str
    source_id: str | None


class CreatedCollection(Created):
    type: Literal["collection"]
    documents: int


class CreatedAgent(Created):
    type: Literal["agent"]
    memories: int


class CreatedChat(Created):
    type: Literal["conversation", "channel"]
    messages: int


# Each kind says its own count, and only that one (a collection's entry has no `messages`).
AnyCreated = Annotated[CreatedCollection | CreatedAgent | CreatedChat, Field(discriminator="type")]


class ImportedBundle(Record):
    kind: str
    created: list[AnyCreated]
    counts: dict[str, int] = Field(description="Memories made, by kind, and edges.")
    id_map: dict[str, str] = Field(description="Each id of the bundle → its new id here.")
    warnings: list[str] = Field(
        description="What was left out: a collection, agent, user "
        "or model this hub does not have; a name taken (a suffix was "
        "added)."
    )
