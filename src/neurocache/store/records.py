"""What the memory graph answers: memories, the edges between them, a neighbourhood."""

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
