"""Agents: personas with their own model, knowledge and memories."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from neurocache.errors import InvalidInput
from neurocache.web.api import PageQuery, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub

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


class AgentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    persona: str
    rooms: list[str]
    memory_tiers: list[str]


class AgentList(BaseModel):
    agents: list[AgentOut]
    next_cursor: str | None


@bp.post("/agents")
@endpoint(scope="write", body=NewAgent, responses={201: AgentOut})
def create_agent(body: NewAgent):
    """A new agent; the answer names the room to join and its memory tiers."""
    return current_hub().agents.create(current_actor(), **body.model_dump()), 201


@bp.get("/agents")
@endpoint(scope="read", query=PageQuery, responses={200: AgentList})
def list_agents(query: PageQuery):
    agents, next_cursor = current_hub().agents.list(limit=query.limit, cursor=query.cursor)
    return {"agents": agents, "next_cursor": next_cursor}


@bp.get("/agents/<agent_id>")
@endpoint(scope="read", responses={200: AgentOut})
def get_agent(agent_id: str):
    return current_hub().agents.get(agent_id)


@bp.patch("/agents/<agent_id>")
@endpoint(scope="write", body=AgentChange, responses={200: AgentOut})
def update_agent(agent_id: str, body: AgentChange):
    """Rename it, or change its persona, model, temperature or knowledge."""
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name, "") is None for name in ("name", "persona")):
        raise InvalidInput("name and persona cannot be null")
    return current_hub().agents.update(agent_id, changes, current_actor())


@bp.delete("/agents/<agent_id>")
@endpoint(scope="write", responses={204: None})
def delete_agent(agent_id: str):
    """The agent and every memory it owns."""
    hub = current_hub()
    hub.search.remove(hub.agents.delete(agent_id, current_actor()))
    return "", 204
