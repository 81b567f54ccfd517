"""The memory graph: memories and the typed, weighted edges between them.

Hierarchical relations (a chunk `part_of` its document, a message `reply_to` the one before,
a fork `forked_from` its message, ...) can never form a cycle: an edge that would close one
is refused with 409. Memories the hub keeps for itself (documents, their chunks,
conversations, messages) are written by their own services, not through here."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from neurocache.errors import Conflict, InvalidInput
from neurocache.store import audit
from neurocache.store.audit import Actor
from neurocache.store.database import Database, get_or_not_found
from neurocache.store.records import EdgeRecord, MemoryRecord, Neighbourhood
from neurocache.store.tables import Edge, Memory, Vector
from neurocache.store.types import isoformat, utcnow

HIERARCHICAL = frozenset({"part_of", "reply_to", "forked_from", "in_session", "child_of"})
MANAGED_KINDS = frozenset(
    {"document", "chunk", "conversation", "message", "channel", "channel_message"}
)
TIERS = ("working", "long_term", "personal_log", "archive")
MAX_DEPTH = 5


def memory_view(memory: Memory) -> MemoryRecord:
    return MemoryRecord(
        id=memory.id,
        kind=memory.kind,
        content=memory.content,
        content_hash=memory.content_hash,
        metadata=dict(memory.meta or {}),
        owner=memory.owner,
        tier=memory.tier,
        created_at=isoformat(memory.created_at) or "",
        updated_at=isoformat(memory.updated_at) or "",
    )


def edge_view(edge: Edge) -> EdgeRecord:
    return EdgeRecord(
        id=edge.id,
        source=edge.source_id,
        target=edge.target_id,
        relation=edge.relation,
        weight=edge.weight,
        metadata=dict(edge.meta or {}),
        created_at=isoformat(edge.created_at) or "",
    )


def delete_memories(session: Session, *where: Any) -> list[int]:
    """Delete the memories matching `where` (their edges, vectors and full text go with
    them); returns their rowids, for the caller to take out of the vector index."""
    rowids = list(session.scalars(select(text("memories.rowid")).select_from(Memory).where(*where)))
    session.query(Memory).filter(*where).delete()
    return rowids


def set_content(session: Session, memory: Memory, content: str) -> None:
    """New text: the vectors of the old go in the same transaction, so a crash before the
    new one is made leaves the memory unembedded (found and embedded at the next start),
    never searchable by what it no longer says."""
    if content != memory.content:
        memory.content, memory.content_hash = content, content_hash(content)
        session.execute(delete(Vector).where(Vector.memory_id == memory.id))


HASHED_AT_ONCE = 1 << 20  # characters: a long text is hashed a piece at a time


def content_hash(content: str) -> str:
    """The SHA-256 every memory carries (text that cannot be UTF-8 is hashed as replaced);
    a long text is encoded a piece at a time (a 50 MB document: no 50 MB copy)."""
    digest = hashlib.sha256()
    for start in range(0, len(content), HASHED_AT_ONCE):
        piece = content[start : start + HASHED_AT_ONCE]
        digest.update(piece.encode("utf-8", "replace"))
    return digest.hexdigest()


class MemoryGraph:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- memories
    def create(
        self,
        actor: Actor,
        *,
        kind: str,
        content: str,
        metadata: dict[str, Any],
        tier: str | None = None,
        owner: str | None = None,
    ) -> MemoryRecord:
        if kind in MANAGED_KINDS:
            raise InvalidInput(
                f"memories of kind {kind!r} are made by the hub itself", details={"field": "kind"}
            )
        with self.db.session() as session:
            memory = Memory(
                kind=kind,
                content=content,
                content_hash=content_hash(content),
                meta=metadata,
                tier=tier,
                owner=owner or actor.name,
            )
            session.add(memory)
            session.flush()
            view = memory_view(memory)
            audit.record(session, actor, "memory.create", ("memory", memory.id), None, view)
        return view

    def create_many(self, actor: Actor, items: list[dict[str, Any]]) -> list[MemoryRecord]:
        """Many memories in one transaction (all or none), each audited: how a plugin writes
        a chat log turn by turn, or an importer a year of it."""
        for item in items:
            if item["kind"] in MANAGED_KINDS:
                raise InvalidInput(
                    f"memories of kind {item['kind']!r} are made by the hub itself",
                    details={"field": "kind"},
                )
        with self.db.session() as session:
            memories = [
                Memory(
                    kind=i["kind"],
                    content=i["content"],
                    content_hash=content_hash(i["content"]),
                    meta=i.get("metadata") or {},
                    tier=i.get("tier"),
                    owner=i.get("owner") or actor.name,
                )
                for i in items
            ]
            session.add_all(memories)
            session.flush()
            views = [memory_view(memory) for memory in memories]
            for view in views:
                audit.record(session, actor, "memory.create", ("memory", view.id), None, view)
        return views

    def recent(
        self, kinds: list[str] | None = None, thread: str | None = None, limit: int = 20
    ) -> list[MemoryRecord]:
        """The newest memories first: of these kinds (default: all but chunks, which are
        pieces of a document listed whole), or of one thread."""
        query = select(Memory).order_by(Memory.created_at.desc(), Memory.id.desc()).limit(limit)
        if kinds:
            query = query.where(Memory.kind.in_(kinds))
        elif thread is None:
            query = query.where(Memory.kind != "chunk")
        if thread is not None:
            query = query.where(Memory.thread == thread)
        with self.db.session() as session:
            return [memory_view(memory) for memory in session.scalars(query)]

    def get(self, memory_id: str) -> MemoryRecord:
        with self.db.session() as session:
            return memory_view(get_or_not_found(session, Memory, memory_id, "memory"))

    def update(self, memory_id: str, changes: dict[str, Any], actor: Actor) -> MemoryRecord:
        with self.db.session() as session:
            memory = self._editable(session, memory_id)
            before = memory_view(memory)
            if "content" in changes:
                set_content(session, memory, changes["content"])
            if "metadata" in changes:
                memory.meta = changes["metadata"]
            if "tier" in changes:
                memory.tier = changes["tier"]
            memory.updated_at = utcnow()
            session.flush()
            after = memory_view(memory)
            audit.record(session, actor, "memory.update", ("memory", memory_id), before, after)
        return after

    def delete(self, memory_id: str, actor: Actor) -> int:
        """Its edges go with it. Returns its rowid (to leave the vector index)."""
        with self.db.session() as session:
            memory = self._editable(session, memory_id)
            rowid = session.scalar(
                text("SELECT rowid FROM memories WHERE id = :id"), {"id": memory_id}
            )
            audit.record(
                session, actor, "memory.delete", ("memory", memory_id), memory_view(memory), None
            )
            session.delete(memory)
        return int(rowid)

    @staticmethod
    def _editable(session: Session, memory_id: str) -> Memory:
        memory = get_or_not_found(session, Memory, memory_id, "memory")
        if memory.kind in MANAGED_KINDS:
            raise Conflict(
                f"memory {memory_id} is a {memory.kind}: change it through its "
                "own API (documents, conversations, channels)"
            )
        return memory

    # ---- edges
    def connect(
        self,
        actor: Actor,
        *,
        source: str,
        target: str,
        relation: str,
        weight: float = 1.0,
        metadata: dict[str, Any] | None = None,
    ) -> EdgeRecord:
        with self.db.session() as session:
            for memory_id in (source, target):
                get_or_not_found(session, Memory, memory_id, "memory")
            if relation in HIERARCHICAL and self._reaches(session, target, source):
                raise Conflict(
                    f"a {relation!r} edge from {source} to {target} would close a "
                    "cycle in a hierarchy",
                    details={"relation": relation},
                )
            edge = Edge(
                source_id=source,
                target_id=target,
                relation=relation,
                weight=weight,
                meta=metadata or {},
            )
            session.add(edge)
            session.flush()
            view = edge_view(edge)
            audit.record(session, actor, "edge.create", ("edge", edge.id), None, view)
        return view

    def disconnect(self, edge_id: str, actor: Actor) -> None:
        with self.db.session() as session:
            edge = get_or_not_found(session, Edge, edge_id, "edge")
            audit.record(session, actor, "edge.delete", ("edge", edge_id), edge_view(edge), None)
            session.delete(edge)

    @staticmethod
    def _reaches(session: Session, start: str, goal: str) -> bool:
        """Whether `goal` is `start` or lies above it along hierarchical edges."""
        if start == goal:
            return True
        relations = sorted(HIERARCHICAL)
        found = session.scalar(
            text(
                "WITH RECURSIVE up(id, depth) AS (SELECT CAST(:start AS VARCHAR(36)), 0 UNION "
                " SELECT e.target_id, up.depth + 1 FROM edges e JOIN up ON e.source_id = up.id"
                f" WHERE e.relation IN ({', '.join(f':r{i}' for i in range(len(relations)))})"
                " AND up.depth < 10000)"
                " SELECT 1 FROM up WHERE id = :goal LIMIT 1"
            ),
            {"start": start, "goal": goal, **{f"r{i}": r for i, r in enumerate(relations)}},
        )
        return found is not None

    # ---- traversal
    def neighbourhood(self, memory_id: str, depth: int) -> Neighbourhood:
        """The memories within `depth` edges of one (either direction), and those edges."""
        if not 0 <= depth <= MAX_DEPTH:
            raise InvalidInput(f"depth is 0 to {MAX_DEPTH}", details={"field": "depth"})
        with self.db.session() as session:
            root = get_or_not_found(session, Memory, memory_id, "memory")
            seen, frontier, edges = {memory_id}, {memory_id}, {}
            for _ in range(depth):
                found = session.scalars(
                    select(Edge).where(Edge.source_id.in_(frontier) | Edge.target_id.in_(frontier))
                )
                frontier = set()
                for edge in found:
                    edges[edge.id] = edge
                    frontier |= {edge.source_id, edge.target_id} - seen
                seen |= frontier
            memories = session.scalars(select(Memory).where(Memory.id.in_(seen)))
            return Neighbourhood(
                root=memory_view(root),
                memories=[memory_view(m) for m in memories],
                edges=[edge_view(e) for e in edges.values()],
            )
