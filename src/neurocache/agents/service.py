"""Agents: a persona with its own model, temperature, knowledge and memories. An agent's
memories are memories owned by `agent:<id>`; deleting the agent deletes them."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from neurocache.agents.records import AgentRecord
from neurocache.events import Publish, publish_nowhere
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.graph import TIERS, delete_memories
from neurocache.store.paging import newest_first
from neurocache.store.tables import Agent, ChannelMember, Memory
from neurocache.store.types import isoformat, utcnow

SETTABLE = ("name", "avatar", "persona", "model", "temperature", "collections")


def owner_of(agent_id: str) -> str:
    return f"agent:{agent_id}"


def agent_view(agent: Agent) -> AgentRecord:
    return AgentRecord(
        id=agent.id,
        name=agent.name,
        avatar=agent.avatar,
        persona=agent.persona,
        model=agent.model,
        temperature=agent.temperature,
        collections=agent.collections,
        owner=owner_of(agent.id),
        rooms=[f"agent:{agent.id}"],
        memory_tiers=list(TIERS),
        created_at=isoformat(agent.created_at) or "",
        updated_at=isoformat(agent.updated_at) or "",
    )


class Agents:
    def __init__(
        self,
        db: Database,
        resolve_collection: Callable[[str], str],
        check_model: Callable[[str], None],
        publish: Publish = publish_nowhere,
    ) -> None:
        self.db = db
        self.publish = publish  # memories.deleted {rowids}, after the commit
        self.resolve_collection = resolve_collection
        self.check_model = check_model

    def create(self, actor: Actor, **fields: Any) -> AgentRecord:
        fields = self._checked(fields)
        with self.db.session() as session:
            agent = Agent(**{k: v for k, v in fields.items() if v is not None})
            session.add(agent)
            session.flush()
            view = agent_view(agent)
            audit.record(session, actor, "agent.create", ("agent", agent.id), None, view)
        return view

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[builtins.list[AgentRecord], str | None]:
        with self.db.session() as session:
            return newest_first(session, select(Agent), Agent, limit, cursor, agent_view)

    def ids(self) -> builtins.list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Agent.id).order_by(Agent.created_at)))

    def get(self, agent_id: str) -> AgentRecord:
        with self.db.session() as session:
            return agent_view(get_or_not_found(session, Agent, agent_id, "agent"))

    def update(self, agent_id: str, changes: dict[str, Any], actor: Actor) -> AgentRecord:
        changes = self._checked(changes, kept=self.get(agent_id).collections or [])
        with self.db.session() as session:
            agent = get_or_not_found(session, Agent, agent_id, "agent")
            before = agent_view(agent)
            for name in SETTABLE:
                if name in changes:
                    setattr(agent, name, changes[name])
            agent.updated_at = utcnow()
            session.flush()
            after = agent_view(agent)
            audit.record(session, actor, "agent.update", ("agent", agent_id), before, after)
        return after

    def delete(self, agent_id: str, actor: Actor) -> builtins.list[int]:
        """The agent and its memories; returns their rowids (to leave the vector index)."""
        with self.db.session() as session:
            agent = get_or_not_found(session, Agent, agent_id, "agent")
            owner = owner_of(agent_id)
            # What it said in channels stays there (its name with it): those are the
            # channels' messages.
            rowids = delete_memories(
                session, Memory.owner == owner, Memory.kind != "channel_message"
            )
            session.query(ChannelMember).filter(ChannelMember.member == owner).delete()
            audit.record(
                session,
                actor,
                "agent.delete",
                ("agent", agent_id),
                {**agent_view(agent).plain(), "memories": len(rowids)},
                None,
            )
            session.delete(agent)
        self.publish("memories.deleted", {"rowids": rowids}, None)
        return rowids

    def _checked(
        self, fields: dict[str, Any], kept: builtins.list[str] | None = None
    ) -> dict[str, Any]:
        """`kept`: the collections it draws on now, which stay even if deleted since (a
        deleted one matches nothing: see `knowledge.service.used_by`)."""
        if fields.get("model") is not None:
            self.check_model(fields["model"])
        if fields.get("collections") is not None:
            fields = {
                **fields,
                "collections": [
                    c if c in (kept or []) else self.resolve_collection(c)
                    for c in fields["collections"]
                ],
            }
        return fields
