"""What the agent services answer: agents and their memories."""

from __future__ import annotations

from pydantic import Field

from neurocache.records import Record


class AgentRecord(Record):
    id: str
    name: str
    avatar: str | None
    persona: str = Field(description="Its system prompt.")
    model: str | None
    temperature: float | None
    collections: list[str] | None
    owner: str = Field(description="What its memories are owned by: `agent:<id>`.")
    rooms: list[str]
    memory_tiers: list[str]
    created_at: str
    updated_at: str


class Consolidated(Record):
    """What one consolidation of an agent's working memories did."""

    agent_id: str
    summaries: list[str] = Field(description="The long-term summaries written (their ids).")
    archived: int = Field(description="Working memories summarized and moved to the archive.")
