"""The bundle format: what an export writes and an import accepts, checked before anything
is written.

A bundle starts with a header `{"neurocache_bundle": 1, "kind", "exported_at",
"hub_version"}`. As JSON, the header's fields and the kind's body share one object; as JSONL
(kind `chats` only), the first line is the header and every other line one conversation or
channel. Ids in a bundle are the exporting hub's: an import maps each to a new one, so every
relation it names (a reply, a thread, an edge, a fork) must point inside the bundle."""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.store.graph import HIERARCHICAL, MANAGED_KINDS

VERSION = 1
KINDS = ("collection", "agent", "conversation", "channel", "chats")
NDJSON = "application/x-ndjson"
Tier = Literal["working", "long_term", "personal_log", "archive"]
Status = Literal["streaming", "complete", "stopped", "failed"]


class BadBundleJSON(NeurocacheError):
    status = 400
    code = "invalid_json"


class Loose(BaseModel):
    """Fields a later format version adds are ignored; missing or mistyped ones are not."""

    model_config = ConfigDict(extra="ignore")


class Header(Loose):
    neurocache_bundle: int
    kind: Literal["collection", "agent", "conversation", "channel", "chats"]
    exported_at: str
    hub_version: str


class EdgeIn(Loose):
    source: str
    target: str
    relation: str = Field(min_length=1, max_length=50)
    weight: float = 1.0
    metadata: dict[str, Any] = Field(default_factory=dict)


# ---- collection
class EmbedderIn(Loose):
    name: str
    dimension: int = Field(ge=1)


class ChunkIn(Loose):
    id: str
    content: str
    start: int | None = None
    end: int | None = None
    page: int | None = None
    vector: str | None = Field(
        None,
        description="base64 of float32 little-endian, only when the bundle names its `embedder`.",
    )


class DocumentIn(Loose):
    id: str
    title: str
    text: str = Field(min_length=1)
    url: str | None = None
    path: str | None = None
    source: str = Field("text", max_length=20)
    mime: str | None = Field(None, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    chunks: list[ChunkIn] = Field(default_factory=list)


class CollectionIn(Loose):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    created_at: datetime | None = None


class CollectionBundle(Header):
    collection: CollectionIn
    documents: list[DocumentIn]
    edges: list[EdgeIn] = Field(default_factory=list)
    embedder: EmbedderIn | None = None


# ---- agent
class AgentIn(Loose):
    name: str = Field(min_length=1, max_length=200)
    persona: str = ""
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    avatar: str | None = None
    collections: list[str] = Field(default_factory=list, description="By name.")


class MemoryIn(Loose):
    id: str
    kind: str = Field("agent_memory", min_length=1, max_length=50)
    content: str
    tier: Tier | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AgentBundle(Header):
    agent: AgentIn
    memories: list[MemoryIn]
    edges: list[EdgeIn] = Field(default_factory=list)


# ---- conversation
class MessageIn(Loose):
    id: str
    role: Literal["user", "assistant", "system"]
    content: str
    parent_id: str | None = None
    status: Status = "complete"
    sources: list[dict[str, Any]] = Field(default_factory=list)
    model: str | None = None
    error: str | None = None
    created_at: datetime | None = None


class ConversationIn(Loose):
    id: str
    title: str = Field(min_length=1)
    collections: list[str] = Field(default_factory=list, description="By name.")
    model: str | None = None
    agent: str | None = Field(None, description="The agent's name.")
    short_term: bool = True
    long_term: bool = True
    head_id: str | None = None
    forked_from: str | None = Field(
        None, description="A message of another conversation of the bundle."
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ConversationBody(Loose):
    conversation: ConversationIn
    messages: list[MessageIn]


class ConversationBundle(Header, ConversationBody):
    pass


# ---- channel
class MemberRef(Loose):
    kind: Literal["owner", "user", "agent"]
    name: str = Field(min_length=1)


class MemberIn(MemberRef):
    mode: Literal["mention", "auto"] = "mention"


class ChannelMessageIn(Loose):
    id: str
    seq: int | None = None
    author: MemberRef
    author_name: str | None = None
    content: str
    reply_to: str | None = None
    mentions: list[MemberRef] = Field(default_factory=list)
    status: Status = "complete"
    sources: list[dict[str, Any]] = Field(default_factory=list)
    trigger_id: str | None = None
    created_at: datetime | None = None
    edited_at: datetime | None = None


class ChannelIn(Loose):
    id: str
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    description: str = ""
    archived: bool = False
    created_at: datetime | None = None


class ChannelBody(Loose):
    channel: ChannelIn
    members: list[MemberIn] = Field(default_factory=list)
    messages: list[ChannelMessageIn]


class ChannelBundle(Header, ChannelBody):
    pass


# ---- all chats
class ConversationItem(ConversationBody):
    type: Literal["conversation"]


class ChannelItem(ChannelBody):
    type: Literal["channel"]


class ChatsBundle(Header):
    items: list[Annotated[ConversationItem | ChannelItem, Field(discriminator="type")]]


Bundle = CollectionBundle | AgentBundle | ConversationBundle | ChannelBundle | ChatsBundle
MODELS: dict[str, type[Bundle]] = {
    "collection": CollectionBundle,
    "agent": AgentBundle,
    "conversation": ConversationBundle,
    "channel": ChannelBundle,
    "chats": ChatsBundle,
}


# ---- reading
def parse(raw: bytes | str, ndjson: bool = False) -> dict[str, Any]:
    """The bundle as one object: JSONL's header line with its other lines as `items`."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not ndjson:
        return _object(_loads(text, None))
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise InvalidInput("the bundle is empty: its first line is the header")
    header = _object(_loads(lines[0][1], lines[0][0]))
    return {**header, "items": [_loads(line, n) for n, line in lines[1:]]}


def _loads(text: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        where = f" (line {line})" if line else ""
        raise BadBundleJSON(
            f"the bundle is not valid JSON{where}: {exc}", details={"line": line} if line else {}
        ) from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("a bundle is a JSON object (or JSONL whose first line is one)")
    return value


def validate(document: dict[str, Any], expected_kind: str | None = None) -> Bundle:
    """The checked bundle, or the first reason it cannot be imported (nothing is written
    before this passes)."""
    _check_header(document, expected_kind)
    try:
        bundle = MODELS[document["kind"]].model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(
            f"the {document['kind']} bundle is missing or mistypes fields", details=_errors(exc)
        ) from exc
    problems = relation_problems(bundle)
    if problems:
        raise InvalidInput(
            "the bundle names things it does not hold", details={"errors": problems[:50]}
        )
    return bundle


def _check_header(document: dict[str, Any], expected_kind: str | None) -> None:
    version = document.get("neurocache_bundle")
    if version is None:
        raise InvalidInput(
            "not a Neurocache bundle: no `neurocache_bundle` header",
            details={"field": "neurocache_bundle"},
        )
    if version != VERSION:
        raise NeurocacheError.with_status(
            422,
            "unsupported_version",
            f"bundle format version {version!r} is not one this hub reads (it reads {VERSION})",
            {"field": "neurocache_bundle", "supported": [VERSION]},
        )
    kind = document.get("kind")
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown bundle kind {kind!r}; one of {', '.join(KINDS)}", details={"field": "kind"}
        )
    if expected_kind is not None and kind != expected_kind:
        raise NeurocacheError.with_status(
            422,
            "wrong_kind",
            f"this is a {kind} bundle; a {expected_kind} bundle was asked for",
            {"field": "kind", "expected": expected_kind, "found": kind},
        )


def _errors(exc: ValidationError) -> dict[str, Any]:
    return {
        "errors": [
            {"loc": list(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)[:50]
        ]
    }


# ---- relations
def relation_problems(bundle: Bundle) -> list[dict[str, Any]]:
    """What points outside the bundle, an id given twice, or a hierarchy that cycles."""
    if isinstance(bundle, CollectionBundle):
        ids = [d.id for d in bundle.documents] + [c.id for d in bundle.documents for c in d.chunks]
        return _unique(ids) + _edge_problems(bundle.edges, set(ids)) + _vector_problems(bundle)
    if isinstance(bundle, AgentBundle):
        ids = [m.id for m in bundle.memories]
        managed = [
            {
                "id": m.id,
                "field": "memories.kind",
                "problem": f"{m.kind} memories are made by the hub itself",
            }
            for m in bundle.memories
            if m.kind in MANAGED_KINDS
        ]
        return _unique(ids) + managed + _edge_problems(bundle.edges, set(ids))
    bodies = bundle.items if isinstance(bundle, ChatsBundle) else [bundle]
    conversations: list[ConversationBody] = [b for b in bodies if isinstance(b, ConversationBody)]
    channels: list[ChannelBody] = [b for b in bodies if isinstance(b, ChannelBody)]
    ids = (
        [b.conversation.id for b in conversations]
        + [b.channel.id for b in channels]
        + [m.id for b in conversations for m in b.messages]
        + [m.id for b in channels for m in b.messages]
    )
    return (
        _unique(ids)
        + _conversation_problems(conversations)
        + [p for channel in channels for p in _channel_problems(channel)]
    )


def _unique(ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"id": i, "problem": "given twice"}
        for i, count in sorted(Counter(ids).items())
        if count > 1
    ]


def _outside(what: str, value: str | None, known: set[str]) -> list[dict[str, Any]]:
    if value is None or value in known:
        return []
    return [{"field": what, "id": value, "problem": "not in the bundle"}]


def _edge_problems(edges: list[EdgeIn], known: set[str]) -> list[dict[str, Any]]:
    problems = [
        p
        for e in edges
        for p in _outside("edges.source", e.source, known)
        + _outside("edges.target", e.target, known)
    ]
    hierarchy = [(e.source, e.target) for e in edges if e.relation in HIERARCHICAL]
    return problems + _cycles(hierarchy)


def _cycles(links: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each start of a cycle among `links` (child → parent): walks up from every node."""
    up: dict[str, list[str]] = {}
    for child, parent in links:
        up.setdefault(child, []).append(parent)
    done: set[str] = set()
    for start in up:
        path, stack = set(), [(start, iter(up.get(start, [])))]
        path.add(start)
        while stack:
            node, parents = stack[-1]
            above = next(parents, None)
            if above is None:
                stack.pop()
                path.discard(node)
                done.add(node)
            elif above in path:
                return [{"id": above, "problem": "a hierarchy (reply, part of, fork) cycles"}]
            elif above not in done:
                path.add(above)
                stack.append((above, iter(up.get(above, []))))
    return []


def _conversation_problems(bodies: list[ConversationBody]) -> list[dict[str, Any]]:
    messages = [m for b in bodies for m in b.messages]
    known = {m.id for m in messages}
    problems: list[dict[str, Any]] = []
    for body in bodies:
        problems += _outside("conversation.head_id", body.conversation.head_id, known)
        problems += _outside("conversation.forked_from", body.conversation.forked_from, known)
    problems += [p for m in messages for p in _outside("messages.parent_id", m.parent_id, known)]
    return problems + _cycles([(m.id, m.parent_id) for m in messages if m.parent_id])


def _channel_problems(body: ChannelBody) -> list[dict[str, Any]]:
    known = {m.id for m in body.messages}
    problems: list[dict[str, Any]] = []
    for message in body.messages:
        problems += _outside("messages.reply_to", message.reply_to, known)
        problems += _outside("messages.trigger_id", message.trigger_id, known)
    return problems + _cycles([(m.id, m.reply_to) for m in body.messages if m.reply_to])


def _vector_problems(bundle: CollectionBundle) -> list[dict[str, Any]]:
    """Vectors come with the embedder that made them, and have its dimension."""
    given = [c for d in bundle.documents for c in d.chunks if c.vector is not None]
    if given and bundle.embedder is None:
        return [{"field": "embedder", "problem": "vectors without the embedder that made them"}]
    size = 4 * bundle.embedder.dimension if bundle.embedder else 0
    return [
        {"field": "chunks.vector", "id": c.id, "problem": f"not base64 of {size // 4} float32"}
        for c in given
        if _vector_size(c.vector) != size
    ]


def _vector_size(encoded: str | None) -> int:
    try:
        return len(base64.b64decode(encoded or "", validate=True))
    except (binascii.Error, ValueError):
        return -1
