"""The memory graph API: memories, edges between them, and traversal."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint
from pydantic import Field, RootModel

from neurocache.errors import InvalidInput, NotFound
from neurocache.store.graph import MAX_DEPTH
from neurocache.store.records import EdgeRecord, MemoryRecord, Neighbourhood
from neurocache.web.api import CONFLICT, ApiModel, QueryModel, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("memories", __name__, url_prefix="/api/v1")
Tier = Literal["working", "long_term", "personal_log", "archive"]
MAX_BATCH = 1000  # memories one request may write


class NewMemory(RequestModel):
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_.-]*$")
    content: str = Field(min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    tier: Tier | None = None
    owner: str | None = Field(None, max_length=100)


class MemoryChange(RequestModel):
    content: str | None = Field(None, min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] | None = None
    tier: Tier | None = None


class NewEdge(RequestModel):
    source: str
    target: str
    relation: str = Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_.-]*$")
    weight: float = Field(1.0, ge=-1e6, le=1e6)
    metadata: dict[str, Any] = Field(default_factory=dict)


class GraphQuery(QueryModel):
    depth: int = Field(1, ge=0, le=MAX_DEPTH)


def seen(memory_id: str) -> None:
    """404 for a memory this caller may not see (another person's channel or chat)."""
    hub = current_hub()
    if hub.visibility.hidden(current_principal().person, [memory_id]):
        raise NotFound(f"no memory with id {memory_id}")


class NewMemories(
    RootModel[NewMemory | Annotated[list[NewMemory], Field(min_length=1, max_length=MAX_BATCH)]]
):
    """One memory, or a list of them (written in one transaction)."""


class MemoriesOut(ApiModel):
    memories: list[MemoryRecord]


class CreatedMemories(RootModel[MemoryRecord | MemoriesOut]):
    """The memory made, or `{"memories": [...]}` for a list, in its order."""


@bp.post("/memories")
@endpoint(scope="write", body=NewMemories, responses={201: CreatedMemories})
def create_memory(body: NewMemories) -> tuple[dict[str, list[MemoryRecord]] | MemoryRecord, int]:
    """A memory of your own kind (a note, a fact, a turn of a chat: `metadata.thread`,
    `speaker`, `at`), or a list of up to 1000 in one transaction; searchable at once
    (a list is embedded in batches)."""
    hub = current_hub()
    items = body.root if isinstance(body.root, list) else [body.root]
    memories = hub.graph.create_many(current_actor(), [i.model_dump() for i in items])
    hub.knowledge.remember([m.id for m in memories], [m.content for m in memories])
    for memory in memories:
        hub.tiers.announce("created", memory)
    if isinstance(body.root, list):
        return {"memories": memories}, 201
    return memories[0], 201


class RecentQuery(QueryModel):
    kind: str | None = Field(
        None,
        max_length=1000,
        pattern=r"^[a-z][a-z0-9_.-]*(,[a-z][a-z0-9_.-]*)*$",
        description="Only these kinds, comma-separated (`note,fact`).",
    )
    thread: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Only this thread's turns.",
    )
    limit: int = Field(20, ge=1, le=200)


@bp.get("/memories")
@endpoint(scope="read", query=RecentQuery, responses={200: MemoriesOut})
def recent_memories(query: RecentQuery) -> dict[str, list[MemoryRecord]]:
    """The newest memories first (of any kind but document chunks, unless `kind` names
    them), those you may see."""
    hub = current_hub()
    person = current_principal().person
    # over-read, so what another person's channels hide still leaves `limit` to show
    kinds = [k.strip() for k in (query.kind or "").split(",") if k.strip()] or None
    found = hub.graph.recent(kinds, query.thread, query.limit * 4)
    return {"memories": hub.visibility.visible_memories(person, found)[: query.limit]}


@bp.get("/memories/<memory_id>")
@endpoint(scope="read", responses={200: MemoryRecord})
def get_memory(memory_id: str) -> MemoryRecord:
    """One memory, of any kind."""
    seen(memory_id)
    return current_hub().graph.get(memory_id)


@bp.patch("/memories/<memory_id>")
@endpoint(scope="write", body=MemoryChange, responses={200: MemoryRecord}, errors=CONFLICT)
def update_memory(memory_id: str, body: MemoryChange) -> MemoryRecord:
    """Change its content (its hash and vector follow), metadata or tier."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("content", "") is None or changes.get("metadata", {}) is None:
        raise InvalidInput("content and metadata cannot be null")
    seen(memory_id)
    hub = current_hub()
    memory = hub.graph.update(memory_id, changes, current_actor())
    if "content" in changes:
        hub.knowledge.remember([memory_id], [memory.content])
    hub.tiers.announce("updated", memory)
    return memory


@bp.delete("/memories/<memory_id>")
@endpoint(scope="write", responses={204: None})
def delete_memory(memory_id: str) -> tuple[str, int]:
    """It leaves every index; its edges go with it."""
    seen(memory_id)
    hub = current_hub()
    memory = hub.graph.get(memory_id)
    hub.search.remove([hub.graph.delete(memory_id, current_actor())])
    hub.tiers.announce("deleted", memory)
    return "", 204


@bp.get("/memories/<memory_id>/graph")
@endpoint(scope="read", query=GraphQuery, responses={200: Neighbourhood})
def memory_graph(memory_id: str, query: GraphQuery) -> Neighbourhood:
    """The memories within `depth` edges of this one, either way, and those edges (those
    you may see)."""
    seen(memory_id)
    hub = current_hub()
    graph = hub.graph.neighbourhood(memory_id, query.depth)
    memories = hub.visibility.visible_memories(current_principal().person, graph.memories)
    kept = {m.id for m in memories}
    return graph.model_copy(
        update={
            "memories": memories,
            "edges": [e for e in graph.edges if {e.source, e.target} <= kept],
        }
    )


@bp.post("/edges")
@endpoint(scope="write", body=NewEdge, responses={201: EdgeRecord}, errors=CONFLICT)
def create_edge(body: NewEdge) -> tuple[EdgeRecord, int]:
    """A typed, weighted relation; one that would close a cycle of a hierarchical relation
    (`part_of`, `reply_to`, `forked_from`, `in_session`, `child_of`) is refused with 409."""
    return current_hub().graph.connect(current_actor(), **body.model_dump()), 201


@bp.delete("/edges/<edge_id>")
@endpoint(scope="write", responses={204: None})
def delete_edge(edge_id: str) -> tuple[str, int]:
    current_hub().graph.disconnect(edge_id, current_actor())
    return "", 204
