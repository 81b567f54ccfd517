"""What the store answers: memories, the edges between them, a neighbourhood; the audit
log's entries and the settings change it records at start."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from neurocache.records import Record


class MemoryRecord(Record):
    id: str
    kind: str
    content: str
    content_hash: str
    metadata: dict[str, Any]
    owner: str | None
    tier: str | None = Field(
        description="An agent's memory: working, long_term, personal_log, archive."
    )
    created_at: str
    updated_at: str


class EdgeRecord(Record):
    id: str
    source: str
    target: str
    relation: str
    weight: float
    metadata: dict[str, Any]
    created_at: str


class Neighbourhood(Record):
    root: MemoryRecord
    memories: list[MemoryRecord]
    edges: list[EdgeRecord]


class AuditTarget(Record):
    type: str
    id: str


class AuditRecord(Record):
    """One audit entry: the state before and after as the service's records were, plain."""

    id: str
    at: str
    actor: str
    action: str
    target: AuditTarget
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class SettingsChange(Record):
    """The settings that differ from the last start's (`before`: None at the first)."""

    before: dict[str, Any] | None
    after: dict[str, Any]
