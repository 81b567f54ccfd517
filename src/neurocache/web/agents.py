"""Agents: personas with their own model, knowledge and memories."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint
from pydantic import Field

from neurocache.agents.records import AgentRecord, Consolidated
from neurocache.errors import InvalidInput
from neurocache.search.records import SearchResults
from neurocache.store.graph import TIERS
from neurocache.store.records import MemoryRecord
from neurocache.web.api import (
    MAX_SECONDS,
    MODEL_ERRORS,
    ApiModel,
    PageQuery,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub, current_principal
from neurocache.web.memories import Tier, seen

bp = Blueprint("agents", __name__, url_prefix="/api/v1")


class NewAgent(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    avatar: str | None = Field(None, max_length=100_000, description="A URL or data URL.")
    persona: str = Field("", max_length=100_000, description="Its system prompt.")
    model: str | None = Field(None, description="A chat model's id; none: the running one.")
    temperature: float | None = Field(None, ge=0, le=2)
    collections: list[str] | None = Field(None, description="Collections it draws from.")


class AgentChange(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    avatar: str | None = Field(None, max_length=100_000)
    persona: str | None = Field(None, max_length=100_000)
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    collections: list[str] | None = None


class AgentList(ApiModel):
    agents: list[AgentRecord]
    next_cursor: str | None


@bp.post("/agents")
@endpoint(scope="write", body=NewAgent, responses={201: AgentRecord})
def create_agent(body: NewAgent) -> tuple[AgentRecord, int]:
    """A new agent; the answer names the room to join and its memory tiers."""
    return current_hub().agents.create(current_actor(), **body.model_dump()), 201


@bp.get("/agents")
@endpoint(scope="read", query=PageQuery, responses={200: AgentList})
def list_agents(query: PageQuery) -> dict[str, Any]:
    agents, next_cursor = current_hub().agents.list(limit=query.limit, cursor=query.cursor)
    return {"agents": agents, "next_cursor": next_cursor}


@bp.get("/agents/<agent_id>")
@endpoint(scope="read", responses={200: AgentRecord})
def get_agent(agent_id: str) -> AgentRecord:
    return current_hub().agents.get(agent_id)


@bp.patch("/agents/<agent_id>")
@endpoint(scope="write", body=AgentChange, responses={200: AgentRecord})
def update_agent(agent_id: str, body: AgentChange) -> AgentRecord:
    """Rename it, or change its persona, model, temperature or knowledge."""
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name, "") is None for name in ("name", "persona")):
        raise InvalidInput("name and persona cannot be null")
    return current_hub().agents.update(agent_id, changes, current_actor())


@bp.delete("/agents/<agent_id>")
@endpoint(scope="write", responses={204: None})
def delete_agent(agent_id: str) -> tuple[str, int]:
    """The agent and every memory it owns."""
    hub = current_hub()
    hub.agents.delete(agent_id, current_actor())  # its memories leave the index (event)
    return "", 204


# ---- an agent's memories, in tiers


class NewAgentMemory(RequestModel):
    tier: Tier
    content: str = Field(min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AgentMemoryChange(RequestModel):
    content: str | None = Field(None, min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] | None = None
    tier: Tier | None = None


class MoveMemory(RequestModel):
    tier: Tier


class AgentMemoryQuery(PageQuery):
    tier: str | None = Field(None, description="One tier, or several comma-separated.")


class AgentMemorySearch(RequestModel):
    query: str = Field(min_length=1, max_length=10_000)
    tiers: list[Tier] | None = None
    k: int = Field(10, ge=1, le=200)
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"


class Consolidate(RequestModel):
    older_than_s: float | None = Field(
        None,
        ge=0,
        le=MAX_SECONDS,
        description="Consolidate working memories older than this (default: the "
        "`agent_working_max_age_s` setting).",
    )


class AgentMemoryList(ApiModel):
    memories: list[MemoryRecord]
    next_cursor: str | None


def tiers_of(raw: str | None) -> list[str] | None:
    tiers = [t.strip() for t in raw.split(",") if t.strip()] if raw else None
    unknown = sorted(set(tiers or ()) - set(TIERS))
    if unknown:
        raise InvalidInput(
            f"tier is one of {', '.join(TIERS)}", details={"field": "tier", "unknown": unknown}
        )
    return tiers


@bp.get("/agents/<agent_id>/memories")
@endpoint(scope="read", query=AgentMemoryQuery, responses={200: AgentMemoryList})
def list_agent_memories(agent_id: str, query: AgentMemoryQuery) -> dict[str, Any]:
    """Newest first, in one tier or several (`?tier=working,long_term`)."""
    hub = current_hub()
    memories, next_cursor = hub.tiers.list(
        agent_id, tiers=tiers_of(query.tier), limit=query.limit, cursor=query.cursor
    )
    return {
        "memories": hub.visibility.visible_memories(current_principal().person, memories),
        "next_cursor": next_cursor,
    }


@bp.post("/agents/<agent_id>/memories")
@endpoint(scope="write", body=NewAgentMemory, responses={201: MemoryRecord})
def create_agent_memory(agent_id: str, body: NewAgentMemory) -> tuple[MemoryRecord, int]:
    """A memory of the agent's, in a tier; searchable at once."""
    return current_hub().tiers.create(agent_id, current_actor(), **body.model_dump()), 201


@bp.post("/agents/<agent_id>/search")
@endpoint(scope="read", body=AgentMemorySearch, responses={200: SearchResults})
def search_agent_memories(agent_id: str, body: AgentMemorySearch) -> SearchResults:
    """The agent's memories most relevant to `query` (in `tiers`, or all)."""
    hub = current_hub()
    results = hub.tiers.search(agent_id, body.query, tiers=body.tiers, k=body.k, mode=body.mode)
    return SearchResults(results=hub.visibility.visible(current_principal().person, results))


@bp.post("/agents/<agent_id>/consolidate")
@endpoint(scope="write", body=Consolidate, responses={200: Consolidated}, errors=MODEL_ERRORS)
def consolidate_agent_memories(agent_id: str, body: Consolidate) -> Consolidated:
    """Run the consolidation now (it also runs on a schedule): old working memories
    become a long-term summary and move to the archive."""
    return current_hub().tiers.consolidate(agent_id, max_age_s=body.older_than_s)


@bp.get("/agents/<agent_id>/memories/<memory_id>")
@endpoint(scope="read", responses={200: MemoryRecord})
def get_agent_memory(agent_id: str, memory_id: str) -> MemoryRecord:
    seen(memory_id)
    return current_hub().tiers.get(agent_id, memory_id)


@bp.patch("/agents/<agent_id>/memories/<memory_id>")
@endpoint(scope="write", body=AgentMemoryChange, responses={200: MemoryRecord})
def update_agent_memory(agent_id: str, memory_id: str, body: AgentMemoryChange) -> MemoryRecord:
    """Change its content (hash and vector follow), metadata or tier."""
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise InvalidInput("content, metadata and tier cannot be null")
    seen(memory_id)
    return current_hub().tiers.update(agent_id, memory_id, changes, current_actor())


@bp.post("/agents/<agent_id>/memories/<memory_id>/move")
@endpoint(scope="write", body=MoveMemory, responses={200: MemoryRecord})
def move_agent_memory(agent_id: str, memory_id: str, body: MoveMemory) -> MemoryRecord:
    """Into another tier."""
    seen(memory_id)
    return current_hub().tiers.move(agent_id, memory_id, body.tier, current_actor())


@bp.delete("/agents/<agent_id>/memories/<memory_id>")
@endpoint(scope="write", responses={204: None})
def delete_agent_memory(agent_id: str, memory_id: str) -> tuple[str, int]:
    seen(memory_id)
    current_hub().tiers.delete(agent_id, memory_id, current_actor())
    return "", 204
