"""An agent's memories in tiers: `working` (recent context), `long_term` (kept
indefinitely), `personal_log` (its own notes and reflections), `archive` (rarely needed).

They are ordinary memories (kind `agent_memory`, owner `agent:<id>`), searchable with
everything else. After each turn an agent writes a working memory; consolidation turns old
working memories into one long-term summary (`summarizes` edges to each) and moves them to
the archive. Every change publishes `memory.updated` in room `agent:<id>`."""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from neurocache.agents.records import AgentRecord, Consolidated
from neurocache.agents.service import owner_of
from neurocache.errors import InvalidInput, NotFound
from neurocache.events import Publish
from neurocache.replies.streaming import stream_reply
from neurocache.search.records import SearchResult
from neurocache.search.service import Filters, SearchService
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.graph import TIERS, MemoryGraph, content_hash, memory_view
from neurocache.store.paging import newest_first
from neurocache.store.records import MemoryRecord
from neurocache.store.tables import Edge, Memory
from neurocache.store.types import utcnow

log = logging.getLogger("neurocache.chat")
KIND = "agent_memory"
# What an agent says in a channel is a memory it owns too, but a channel's, not its own.
NOT_AGENT_MEMORIES = ("channel_message",)
SYSTEM = Actor("system:consolidation")
# summarize(agent, texts) -> a summary, or "" when no model could write one
SUMMARY_INSTRUCTIONS = (
    "You are {name}. Below are your notes of recent conversations. Write a short summary "
    "of what is worth remembering for the long term: facts, people, decisions, open "
    "questions. Write only the summary."
)
Summarize = Callable[[AgentRecord, list[str]], str]


@dataclass(frozen=True)
class ConsolidationRules:
    working_max_age_s: float = 24 * 3600  # older working memories are consolidated
    batch: int = 20  # at most this many working memories per summary


def agent_of(owner: str | None) -> str | None:
    return owner.removeprefix("agent:") if owner and owner.startswith("agent:") else None


def extractive_summary(texts: list[str], width: int = 200) -> str:
    """A summary without a model: the start of each memory, one line each."""
    lines = [" ".join(t.split())[:width] for t in texts]
    return f"Summary of {len(texts)} earlier notes:\n" + "\n".join(f"- {line}" for line in lines)


def model_summarizer(backend_for: Callable[[str | None], Any], max_tokens: int = 256) -> Summarize:
    """Summaries written by the agent's own model (or the running one)."""

    def summarize(agent: AgentRecord, texts: list[str]) -> str:
        backend = backend_for(agent.model)
        notes = "\n".join(f"- {t}" for t in texts)
        messages = [
            {"role": "system", "content": SUMMARY_INSTRUCTIONS.format(name=agent.name)},
            # a character is at most a token: what is cut never overflows
            {
                "role": "user",
                "content": notes[: max(backend.context_tokens - max_tokens - 200, 200)],
            },
        ]
        return stream_reply(backend, messages, max_tokens=max_tokens, temperature=0.2)[0]

    return summarize


class AgentMemories:
    def __init__(
        self,
        db: Database,
        graph: MemoryGraph,
        search: SearchService,
        get_agent: Callable[[str], AgentRecord],
        remember: Callable[[builtins.list[str], builtins.list[str]], None],
        publish: Publish,
        rules: ConsolidationRules,
        summarize: Summarize | None = None,
    ) -> None:
        self.db, self.graph, self.searcher = db, graph, search
        self.get_agent, self.remember, self.publish = get_agent, remember, publish
        # turns are embedded off the reply's path (memory.written: the hub's indexer
        # subscribes); what people write, at once
        self.rules = rules
        self.summarize = summarize or (lambda _agent, _texts: "")
        self._consolidating: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # ---- what the API does
    def create(
        self,
        agent_id: str,
        actor: Actor,
        *,
        tier: str,
        content: str,
        metadata: dict[str, Any] | None = None,
        later: bool = False,
    ) -> MemoryRecord:
        self.get_agent(agent_id)  # 404 for an unknown agent
        memory = self.graph.create(
            actor,
            kind=KIND,
            content=content,
            metadata=metadata or {},
            tier=tier,
            owner=owner_of(agent_id),
        )
        if later:
            self.publish("memory.written", {"memory_id": memory.id, "text": content}, None)
        else:
            self.remember([memory.id], [content])
        self.announce("created", memory)
        return memory

    def list(
        self,
        agent_id: str,
        *,
        tiers: builtins.list[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[builtins.list[MemoryRecord], str | None]:
        self.get_agent(agent_id)
        query = select(Memory).where(*self._of_agent(agent_id))
        if tiers:
            query = query.where(Memory.tier.in_(tiers))
        with self.db.session() as session:
            return newest_first(session, query, Memory, limit, cursor, memory_view)

    def search(
        self,
        agent_id: str,
        query: str,
        *,
        tiers: Sequence[str] | None = None,
        k: int = 10,
        mode: str = "hybrid",
        highlights: bool = True,
    ) -> builtins.list[SearchResult]:
        """Its memories most relevant to `query` (what it said in channels is not among
        them: those are the channels' messages, with no tier)."""
        self.get_agent(agent_id)
        return self.searcher.search(
            query,
            k=k,
            mode=mode,
            filters=Filters(owners=[owner_of(agent_id)], tiers=tiers or list(TIERS)),
            highlights=highlights,
        )

    def get(self, agent_id: str, memory_id: str) -> MemoryRecord:
        memory = self.graph.get(memory_id)
        if memory.owner != owner_of(agent_id) or memory.kind in NOT_AGENT_MEMORIES:
            raise NotFound(f"agent {agent_id} has no memory {memory_id}")
        return memory

    def update(
        self, agent_id: str, memory_id: str, changes: dict[str, Any], actor: Actor
    ) -> MemoryRecord:
        self.get(agent_id, memory_id)
        memory = self.graph.update(memory_id, changes, actor)
        if "content" in changes:
            self.remember([memory_id], [memory.content])
        self.announce("moved" if set(changes) == {"tier"} else "updated", memory)
        return memory

    def move(self, agent_id: str, memory_id: str, tier: str, actor: Actor) -> MemoryRecord:
        if tier not in TIERS:
            raise InvalidInput(f"tier is one of {', '.join(TIERS)}", details={"field": "tier"})
        return self.update(agent_id, memory_id, {"tier": tier}, actor)

    def delete(self, agent_id: str, memory_id: str, actor: Actor) -> None:
        memory = self.get(agent_id, memory_id)
        rowids = [self.graph.delete(memory_id, actor)]
        self.publish("memories.deleted", {"rowids": rowids}, None)
        self.announce("deleted", memory)

    def announce(self, action: str, memory: MemoryRecord) -> None:
        """`memory.updated` in the owning agent's room (other owners: nobody listens)."""
        agent_id = agent_of(memory.owner)
        if agent_id is not None:
            self.publish(
                "memory.updated",
                {"action": action, "agent_id": agent_id, "memory": memory.plain()},
                f"agent:{agent_id}",
            )

    @staticmethod
    def _of_agent(agent_id: str) -> tuple[Any, ...]:
        return (Memory.owner == owner_of(agent_id), Memory.kind.not_in(NOT_AGENT_MEMORIES))

    # ---- what agents do by themselves
    def record_turn(
        self, agent_id: str, where: str, said: str, answered: str, source: dict[str, str]
    ) -> None:
        """After each turn: what was said and what the agent answered, as working memory;
        `source` names the channel or conversation (who may read the memory follows it).
        Never fails the turn it records."""
        content = f"In {where}: {said.strip()[:2000]}\nI answered: {answered.strip()[:2000]}"
        try:
            self.create(
                agent_id,
                Actor(owner_of(agent_id)),
                tier="working",
                content=content,
                metadata={"where": where, "source": "turn", **source},
                later=True,
            )
        except NotFound:  # the agent was deleted while it answered
            pass
        except Exception:
            log.exception("agent %s could not remember a turn", agent_id)

    def consolidate(
        self, agent_id: str, now: datetime | None = None, max_age_s: float | None = None
    ) -> Consolidated:
        """Working memories older than `max_age_s` (the rule's by default) → one long-term
        summary per batch; the originals move to the archive, linked from the summary by
        `summarizes` edges. One run per agent at a time; each batch is one transaction."""
        agent = self.get_agent(agent_id)
        age = self.rules.working_max_age_s if max_age_s is None else max_age_s
        cutoff = (now or utcnow()) - timedelta(seconds=age)
        summaries, archived = [], 0
        with self._agent_lock(agent_id):
            while old := self._old_working(agent_id, cutoff):
                summary = self._store_summary(agent, old, self._summary_text(agent, old))
                summaries.append(summary.id)
                archived += len(old)
        return Consolidated(agent_id=agent_id, summaries=summaries, archived=archived)

    def _agent_lock(self, agent_id: str) -> threading.Lock:
        with self._lock:
            return self._consolidating.setdefault(agent_id, threading.Lock())

    def _old_working(self, agent_id: str, cutoff: datetime) -> builtins.list[Memory]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Memory)
                    .where(
                        *self._of_agent(agent_id),
                        Memory.tier == "working",
                        Memory.created_at < cutoff,
                    )
                    .order_by(Memory.created_at)
                    .limit(self.rules.batch)
                )
            )

    def _summary_text(self, agent: AgentRecord, old: builtins.list[Memory]) -> tuple[str, bool]:
        texts = [m.content for m in old]
        try:
            text = self.summarize(agent, texts).strip()
        except Exception as exc:  # no model, or it failed: the notes are still summarized
            log.info("summarizing %s's memories without a model: %s", agent.id, exc)
            text = ""
        return (text, True) if text else (extractive_summary(texts), False)

    def _store_summary(
        self, agent: AgentRecord, old: builtins.list[Memory], written: tuple[str, bool]
    ) -> MemoryRecord:
        """The summary, its edges and the moves to the archive land together or not at all
        (a crash between them would summarize the same memories twice)."""
        text, by_model = written
        sources = {
            key: sorted({m.meta[key] for m in old if m.meta.get(key)})
            for key in ("channel_id", "conversation_id")
        }
        with self.db.session() as session:
            summary = Memory(
                kind=KIND,
                content=text,
                content_hash=content_hash(text),
                owner=owner_of(agent.id),
                tier="long_term",
                meta={
                    "source": "consolidation",
                    "by_model": by_model,
                    "from": old[0].created_at.isoformat(),
                    "to": old[-1].created_at.isoformat(),
                    **{f"{k}s": v for k, v in sources.items() if v},
                },
            )
            session.add(summary)
            session.flush()
            view = memory_view(summary)
            audit.record(session, SYSTEM, "memory.create", ("memory", summary.id), None, view)
            moved: builtins.list[MemoryRecord] = []
            for memory in old:
                row = get_or_not_found(session, Memory, memory.id, "memory")
                before = memory_view(row)
                row.tier, row.updated_at = "archive", utcnow()
                session.add(Edge(source_id=summary.id, target_id=row.id, relation="summarizes"))
                session.flush()
                moved.append(memory_view(row))
                audit.record(
                    session, SYSTEM, "memory.update", ("memory", row.id), before, moved[-1]
                )
        self.remember([view.id], [text])
        self.announce("created", view)
        for moved_view in moved:
            self.announce("moved", moved_view)
        return view
