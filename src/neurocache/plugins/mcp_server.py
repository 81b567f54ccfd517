"""The hub's memory as an MCP server (the official SDK's `MCPServer`).

Tools (names are part of the contract): `search`, `remember`, `ask`, `list_collections`,
`read`, `recent`. Resources (templates: a client lists the collections with the tool): a
collection with its documents, and a document's text. Prompts: answering from memory, and
saving a conversation's gist.

Each call goes through the public API with `HubClient`: the hub of a data dir over
loopback (stdio, `neurocache mcp`), or, at `/mcp`, the hub's own app in-process with the
caller's key, so a read-only key calling `remember` is refused like `POST /api/v1/memories`
would be. A refusal is an MCP tool error with the hub's message; the session goes on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from neurocache import __version__
from neurocache.client import HubClient, HubError

JSON = dict[str, Any]
# The caller's hub, for the length of one call: the one of stdio (kept open), or one made
# for the request with its caller's key (HTTP), closed after.
HubFor = Callable[[Context], AbstractContextManager[HubClient]]

INSTRUCTIONS = (
    "Neurocache is the user's private memory: pages they read, their documents, chats and "
    "notes. Call `search` before answering from what the user knows; `remember` what they "
    "ask you to keep; `ask` for an answer written by their local model with numbered sources."
)

Query = Annotated[str, Field(min_length=1, max_length=10_000, description="What to look for.")]
Collections = Annotated[
    list[str] | None, Field(description="Collection names or ids; none: all memory.")
]


def mcp_server(hub_for: HubFor) -> MCPServer:
    """The server, its tools calling the hub `hub_for` gives for each request."""
    server = MCPServer(
        "neurocache",
        title="Neurocache",
        instructions=INSTRUCTIONS,
        version=__version__,
        # the SDK sets up the root logger when nothing did: warnings only, as Python's own
        # default (the hub's loggers have their own handlers)
        log_level="WARNING",
    )
    _add_memory_tools(server, hub_for)
    _add_answer_tools(server, hub_for)
    _add_resources(server, hub_for)
    _add_prompts(server)
    return server


@contextmanager
def refusals_as(error: type[Exception]) -> Iterator[None]:
    """The hub's refusal (no model, a missing scope, bad input) as the MCP error `error`
    (a tool's or a resource's) that says it, never a broken session."""
    try:
        yield
    except HubError as exc:
        raise error(f"{exc.message} ({exc.code})") from exc


def _add_memory_tools(server: MCPServer, hub_for: HubFor) -> None:
    @server.tool(name="search", description="Search the user's memory by meaning and words.")
    def search(
        query: Query,
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=50, description="How many results.")] = 8,
        mode: Literal["hybrid", "vector", "fulltext"] = "hybrid",
        collections: Collections = None,
        kinds: Annotated[
            list[str] | None, Field(description="Memory kinds, e.g. chunk, note, message.")
        ] = None,
    ) -> list[JSON]:
        with refusals_as(ToolError), hub_for(ctx) as hub:
            found = hub.search(query, k=k, mode=mode, collections=collections, kinds=kinds)
        return [_result(r) for r in found]

    @server.tool(
        name="remember",
        description="Keep something in the user's memory: a note (optionally a turn of a "
        "`thread`), a document in a `collection`, or an agent's memory in a tier.",
    )
    def remember(
        content: Annotated[str, Field(min_length=1, max_length=1_000_000)],
        ctx: Context,
        metadata: JSON | None = None,
        thread: Annotated[str | None, Field(max_length=200)] = None,
        collection: Annotated[str | None, Field(description="Kept as a document in it.")] = None,
        agent: Annotated[str | None, Field(description="An agent's id: its memory.")] = None,
        tier: Literal["working", "long_term", "personal_log", "archive"] | None = None,
    ) -> JSON:
        meta = {**(metadata or {}), **({"thread": thread} if thread else {})}
        with refusals_as(ToolError), hub_for(ctx) as hub:
            if agent:
                return hub.remember_for_agent(agent, content, tier or "long_term")
            if collection:
                title = (content.strip().splitlines() or ["A note"])[0][:120]
                return hub.add_text(content, title=title, collection=collection, metadata=meta)
            return hub.remember(content, metadata=meta, tier=tier)

    @server.tool(name="recent", description="The newest memories first.")
    def recent(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=200)] = 20,
        kinds: list[str] | None = None,
        thread: str | None = None,
    ) -> list[JSON]:
        with refusals_as(ToolError), hub_for(ctx) as hub:
            return hub.recent(kinds=kinds, thread=thread, limit=limit)

    @server.tool(name="read", description="A memory, document or conversation, whole, by id.")
    def read(id: Annotated[str, Field(min_length=1, max_length=200)], ctx: Context) -> JSON:
        with refusals_as(ToolError), hub_for(ctx) as hub:
            return _read(hub, id)


def _add_answer_tools(server: MCPServer, hub_for: HubFor) -> None:
    @server.tool(
        name="ask",
        description="An answer from the user's local model, drawn from their memory, with "
        "its numbered sources (needs a running chat model).",
    )
    def ask(
        question: Query,
        ctx: Context,
        collections: Collections = None,
        max_tokens: Annotated[int, Field(ge=1, le=4096)] = 512,
    ) -> JSON:
        with refusals_as(ToolError), hub_for(ctx) as hub:
            answer = hub.ask(question, collections=collections, max_tokens=max_tokens)
        return {"answer": answer["answer"], "sources": [_source(s) for s in answer["sources"]]}

    @server.tool(name="list_collections", description="The user's collections of documents.")
    def list_collections(ctx: Context) -> list[JSON]:
        with refusals_as(ToolError), hub_for(ctx) as hub:
            return hub.collections()


def _add_resources(server: MCPServer, hub_for: HubFor) -> None:
    @server.resource(
        "neurocache://collections/{collection_id}",
        name="collection",
        description="A collection (name or id) and its documents (the newest 500), as JSON.",
        mime_type="application/json",
    )
    def collection(collection_id: str, ctx: Context) -> str:
        with refusals_as(ResourceError), hub_for(ctx) as hub:
            found = hub.collection(collection_id)
            documents = hub.documents(collection=found["id"], limit=500)
            return json.dumps({**found, "documents": documents})

    @server.resource(
        "neurocache://documents/{document_id}",
        name="document",
        description="A document's readable text.",
        mime_type="text/plain",
    )
    def document(document_id: str, ctx: Context) -> str:
        with refusals_as(ResourceError), hub_for(ctx) as hub:
            return str(hub.memory(document_id)["content"])


def _add_prompts(server: MCPServer) -> None:
    @server.prompt(name="answer_from_memory", description="Answer a question from memory.")
    def answer_from_memory(question: str) -> str:
        return (
            f"Answer this question: {question}\n\nFirst call the `search` tool with it (and "
            "with other wordings if nothing fits). Answer only from what it finds, citing "
            "each source's title or URL; say so plainly when memory holds no answer."
        )

    @server.prompt(name="save_conversation", description="Keep the gist of this conversation.")
    def save_conversation(topic: str = "") -> str:
        about = f" about {topic}" if topic else ""
        return (
            f"Write the decisions, facts and open questions of this conversation{about} as "
            "short notes, and keep each with the `remember` tool (one call per note, the "
            "same `thread` for all)."
        )


def _read(hub: HubClient, memory_id: str) -> JSON:
    memory = hub.memory(memory_id)
    if memory["kind"] == "document":
        return {**memory, "document": hub.document(memory_id)}
    if memory["kind"] == "conversation":
        return {**memory, "conversation": hub.conversation(memory_id)}
    return memory


def _result(result: JSON) -> JSON:
    """A search result as a model reads it: the text, where it is from, how well it fits."""
    document = result.get("document") or {}
    source = {k: document.get(k) for k in ("title", "url", "path", "page") if document.get(k)}
    return {
        "text": result["text"],
        "score": result["score"],
        "kind": result["kind"],
        "memory_id": result["memory_id"],
        "source": {"document_id": document["id"], **source} if document else None,
    }


def _source(source: JSON) -> JSON:
    keep = ("number", "title", "url", "path", "page", "quote", "cited", "document_id", "memory_id")
    return {k: source[k] for k in keep if source.get(k) is not None}
