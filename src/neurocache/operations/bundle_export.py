"""Exports: a collection, an agent, a conversation, a channel, or every chat a person may
read, as a bundle (bundle_format.py). Things of this hub that another hub knows by name
(collections, agents, users) are written by name; everything the bundle holds keeps this
hub's ids, which the importing hub maps to its own.

A bundle is built as plain dicts, not records (neurocache.records): it is a file format
written for another hub, whose own version of bundle_format.py reads it, not an answer of
this hub's services."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurocache import __version__
from neurocache.errors import NotFound
from neurocache.operations.bundle_format import VERSION
from neurocache.store.database import Database, get_or_not_found
from neurocache.store.tables import (
    Agent,
    Channel,
    ChannelMember,
    ChannelMessage,
    Collection,
    Conversation,
    Document,
    Edge,
    Memory,
    Message,
    User,
    Vector,
)
from neurocache.store.types import isoformat, utcnow

# hidden(person, memory ids) -> those the person may not see (access/visibility.py)
Hidden = Callable[[str, list[str]], set[str]]
# A document's metadata that means nothing on another hub: its collection's id here, and
# the digest of the captured page's HTML, a blob the bundle does not carry.
LOCAL_DOCUMENT_META = ("collection_id", "original")
BATCH = 500  # ids per IN (...): far below every backend's limit on parameters


def header(kind: str) -> dict[str, Any]:
    return {
        "neurocache_bundle": VERSION,
        "kind": kind,
        "exported_at": isoformat(utcnow()),
        "hub_version": __version__,
    }


def batches(ids: Iterable[str]) -> Iterator[list[str]]:
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def edge_out(edge: Edge) -> dict[str, Any]:
    return {
        "source": edge.source_id,
        "target": edge.target_id,
        "relation": edge.relation,
        "weight": edge.weight,
        "metadata": edge.meta,
    }


def edges_among(session: Session, ids: set[str]) -> list[dict[str, Any]]:
    """The edges whose both ends are in `ids`."""
    found = []
    for batch in batches(ids):
        found += [
            edge_out(e)
            for e in session.scalars(
                select(Edge).where(Edge.source_id.in_(batch)).order_by(Edge.created_at, Edge.id)
            )
            if e.target_id in ids
        ]
    return found


def member_ref(
    member: str, names: dict[str, dict[str, str]], fallback: str | None = None
) -> dict[str, str]:
    """How another hub finds a member: by kind and name. A member gone from this hub (or
    one an import could not match: `imported:<kind>:<name>`) keeps the name it had."""
    if member in names:
        return names[member]
    kind, _, rest = member.partition(":")
    if kind == "imported":  # its name is the one it was imported by
        kind, _, fallback = rest.partition(":")
    return {
        "kind": kind if kind in ("agent", "user") else "user",
        "name": fallback or rest or member,
    }


def member_names(session: Session, members: set[str]) -> dict[str, dict[str, str]]:
    names = {"owner": {"kind": "owner", "name": "owner"}} if "owner" in members else {}
    users = [m.removeprefix("user:") for m in members if m.startswith("user:")]
    agents = [m.removeprefix("agent:") for m in members if m.startswith("agent:")]
    for batch in batches(users):
        for user in session.scalars(select(User).where(User.id.in_(batch))):
            names[f"user:{user.id}"] = {"kind": "user", "name": user.name}
    for batch in batches(agents):
        for agent in session.scalars(select(Agent).where(Agent.id.in_(batch))):
            names[f"agent:{agent.id}"] = {"kind": "agent", "name": agent.name}
    return names


def collection_names(session: Session, ids: list[str]) -> list[str]:
    """Names, in the order of `ids`; a collection deleted since is left out."""
    found = (
        dict(
            session.execute(
                select(Collection.id, Collection.name).where(Collection.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return [found[i] for i in ids if i in found]


class Exporter:
    def __init__(self, db: Database, hidden: Hidden, embedder_name: str) -> None:
        self.db = db
        self.hidden = hidden
        self.embedder_name = embedder_name  # whose vectors travel, when they are asked for

    # ---- collection
    def collection(self, name_or_id: str, vectors: bool = False) -> dict[str, Any]:
        """Its documents with their full text and their chunks (with offsets), oldest
        first; with `vectors`, the chunks' vectors by this hub's active embedder."""
        with self.db.session() as session:
            collection = session.scalar(
                select(Collection).where(
                    (Collection.id == name_or_id) | (Collection.name == name_or_id)
                )
            )
            if collection is None:
                raise NotFound(f"no collection {name_or_id!r}")
            documents = list(
                session.scalars(
                    select(Document)
                    .where(Document.collection_id == collection.id)
                    .order_by(Document.created_at, Document.id)
                )
            )
            ids = [d.id for d in documents]
            texts = self._memories(session, ids)
            chunks = self._chunks(session, ids)
            stored = (
                self._vectors(session, [c.id for cs in chunks.values() for c in cs])
                if vectors
                else {}
            )
            bundle = {
                **header("collection"),
                "collection": {
                    "name": collection.name,
                    "description": collection.description,
                    "created_at": isoformat(collection.created_at),
                },
                "documents": [
                    self._document(d, texts[d.id], chunks.get(d.id, []), stored)
                    for d in documents
                    if d.id in texts
                ],
                "edges": [e for e in edges_among(session, set(ids)) if e["relation"] != "part_of"],
            }
        if stored:
            dimension = len(next(iter(stored.values()))) // 4
            bundle["embedder"] = {"name": self.embedder_name, "dimension": dimension}
        return bundle

    @staticmethod
    def _memories(session: Session, ids: list[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for batch in batches(ids):
            found |= {m.id: m for m in session.scalars(select(Memory).where(Memory.id.in_(batch)))}
        return found

    @staticmethod
    def _chunks(session: Session, document_ids: list[str]) -> dict[str, list[Memory]]:
        """document id → its chunks, in the document's order."""
        found: dict[str, list[Memory]] = {}
        for batch in batches(document_ids):
            for document_id, chunk in session.execute(
                select(Edge.target_id, Memory)
                .join(Memory, Memory.id == Edge.source_id)
                .where(Edge.relation == "part_of", Edge.target_id.in_(batch))
            ):
                found.setdefault(document_id, []).append(chunk)
        for chunks in found.values():
            chunks.sort(key=lambda c: (c.meta.get("index") or 0, c.meta.get("start") or 0))
        return found

    def _vectors(self, session: Session, ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for batch in batches(ids):
            found |= dict(
                session.execute(
                    select(Vector.memory_id, Vector.vector).where(
                        Vector.memory_id.in_(batch), Vector.embedder == self.embedder_name
                    )
                ).all()
            )
        return found

    @staticmethod
    def _document(
        document: Document, memory: Memory, chunks: list[Memory], vectors: dict[str, bytes]
    ) -> dict[str, Any]:
        return {
            "id": document.id,
            "title": document.title,
            "url": document.url,
            "path": document.path,
            "source": document.source,
            "mime": document.mime,
            "metadata": {k: v for k, v in memory.meta.items() if k not in LOCAL_DOCUMENT_META},
            "created_at": isoformat(document.created_at),
            "text": memory.content,
            "chunks": [
                {
                    "id": c.id,
                    "content": c.content,
                    "start": c.meta.get("start"),
                    "end": c.meta.get("end"),
                    "page": c.meta.get("page"),
                    **(
                        {"vector": base64.b64encode(vectors[c.id]).decode()}
                        if c.id in vectors
                        else {}
                    ),
                }
                for c in chunks
            ],
        }

    # ---- agent
    def agent(self, agent_id: str, person: str) -> dict[str, Any]:
        """Its settings, and its memories of every tier that `person` may see, with the
        edges among them. What it said in channels is the channels'."""
        with self.db.session() as session:
            agent = get_or_not_found(session, Agent, agent_id, "agent")
            memories = list(
                session.scalars(
                    select(Memory)
                    .where(Memory.owner == f"agent:{agent_id}", Memory.kind != "channel_message")
                    .order_by(Memory.created_at, Memory.id)
                )
            )
            hidden = self.hidden(person, [m.id for m in memories])
            memories = [m for m in memories if m.id not in hidden]
            return {
                **header("agent"),
                "agent": {
                    "name": agent.name,
                    "persona": agent.persona,
                    "model": agent.model,
                    "temperature": agent.temperature,
                    "avatar": agent.avatar,
                    "collections": collection_names(session, agent.collections or []),
                },
                "memories": [
                    {
                        "id": m.id,
                        "kind": m.kind,
                        "content": m.content,
                        "tier": m.tier,
                        "metadata": m.meta,
                        "created_at": isoformat(m.created_at),
                        "updated_at": isoformat(m.updated_at),
                    }
                    for m in memories
                ],
                "edges": edges_among(session, {m.id for m in memories}),
            }

    # ---- conversation
    def conversation(self, conversation_id: str, person: str) -> dict[str, Any]:
        """Self-contained: a fork carries the history it shares with its origin."""
        with self.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None or person not in ("owner", conversation.owner):
                raise NotFound(f"no conversation with id {conversation_id}")
            return {
                **header("conversation"),
                **self._conversation_body(session, conversation, {conversation_id}),
            }

    def _conversation_body(
        self, session: Session, conversation: Conversation, exported: set[str]
    ) -> dict[str, Any]:
        """Its own messages (branches too), plus those it shows from conversations that
        are not in the bundle; a fork of one that is keeps pointing at it."""
        own = list(
            session.scalars(select(Message).where(Message.conversation_id == conversation.id))
        )
        messages, elsewhere = self._with_ancestors(
            session, own, conversation.head_id, exported - {conversation.id}
        )
        in_bundle = {m.id for m in messages} | elsewhere
        contents = {
            m.id: m.content for m in self._memories(session, [m.id for m in messages]).values()
        }
        forked = session.scalar(
            select(Edge.target_id).where(
                Edge.source_id == conversation.id, Edge.relation == "forked_from"
            )
        )
        agent = session.get(Agent, conversation.agent_id) if conversation.agent_id else None
        return {
            "conversation": {
                "id": conversation.id,
                "title": conversation.title,
                "collections": collection_names(session, conversation.collections or []),
                "model": conversation.model,
                "agent": agent.name if agent else None,
                "short_term": conversation.short_term,
                "long_term": conversation.long_term,
                "head_id": conversation.head_id if conversation.head_id in in_bundle else None,
                "forked_from": forked if forked in elsewhere else None,
                "created_at": isoformat(conversation.created_at),
                "updated_at": isoformat(conversation.updated_at),
            },
            "messages": [self._message(m, contents.get(m.id, ""), in_bundle) for m in messages],
        }

    @staticmethod
    def _with_ancestors(
        session: Session, own: list[Message], head_id: str | None, exported: set[str]
    ) -> tuple[list[Message], set[str]]:
        """`own` and the messages above them (and the head) that no other conversation
        of the bundle holds; and the ids of those another one does."""
        have = {m.id: m for m in own}
        elsewhere: set[str] = set()
        looked: set[str] = set()
        wanted = {m.parent_id for m in own if m.parent_id} | ({head_id} if head_id else set())
        while missing := wanted - have.keys() - looked:
            looked |= missing
            for row in session.scalars(select(Message).where(Message.id.in_(missing))):
                if row.conversation_id in exported:
                    elsewhere.add(row.id)
                else:
                    have[row.id] = row
                    wanted |= {row.parent_id} if row.parent_id else set()
        return sorted(have.values(), key=lambda m: (m.created_at, m.id)), elsewhere

    @staticmethod
    def _message(message: Message, content: str, in_bundle: set[str]) -> dict[str, Any]:
        return {
            "id": message.id,
            "role": message.role,
            "content": content,
            "parent_id": message.parent_id if message.parent_id in in_bundle else None,
            "status": message.status,
            "sources": message.sources,
            "model": message.model,
            "error": message.error,
            "created_at": isoformat(message.created_at),
        }

    # ---- channel
    def channel(self, channel_id: str, person: str) -> dict[str, Any]:
        with self.db.session() as session:
            channel = self._readable_channel(session, channel_id, person)
            return {**header("channel"), **self._channel_body(session, channel)}

    @staticmethod
    def _readable_channel(session: Session, channel_id: str, person: str) -> Channel:
        channel = session.get(Channel, channel_id)
        if channel is None or (
            person != "owner" and session.get(ChannelMember, (channel_id, person)) is None
        ):
            raise NotFound(f"no channel {channel_id}")
        return channel

    def _channel_body(self, session: Session, channel: Channel) -> dict[str, Any]:
        members = list(
            session.scalars(
                select(ChannelMember)
                .where(ChannelMember.channel_id == channel.id)
                .order_by(ChannelMember.joined_at)
            )
        )
        rows = list(
            session.execute(
                select(ChannelMessage, Memory)
                .join(Memory, Memory.id == ChannelMessage.id)
                .where(ChannelMessage.channel_id == channel.id)
                .order_by(ChannelMessage.seq)
            )
        )
        everyone = (
            {m.member for m in members}
            | {r.author for r, _ in rows}
            | {mention for r, _ in rows for mention in r.mentions or []}
        )
        names = member_names(session, everyone)
        ids = {r.id for r, _ in rows}
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "description": channel.description,
                "archived": channel.archived_at is not None,
                "created_at": isoformat(channel.created_at),
            },
            "members": [{**member_ref(m.member, names), "mode": m.mode} for m in members],
            "messages": [self._channel_message(r, memory, names, ids) for r, memory in rows],
        }

    @staticmethod
    def _channel_message(
        row: ChannelMessage, memory: Memory, names: dict[str, dict[str, str]], ids: set[str]
    ) -> dict[str, Any]:
        """A reply to a message deleted since is a message of its own."""
        author_name = memory.meta.get("author_name")
        return {
            "id": row.id,
            "seq": row.seq,
            "author": member_ref(row.author, names, author_name),
            "author_name": author_name,
            "content": memory.content,
            "reply_to": row.reply_to if row.reply_to in ids else None,
            "mentions": [member_ref(m, names) for m in row.mentions or []],
            "status": row.status,
            "sources": row.sources,
            "trigger_id": row.trigger_id if row.trigger_id in ids else None,
            "created_at": isoformat(row.created_at),
            "edited_at": isoformat(row.edited_at),
        }

    # ---- every chat
    def chats(self, person: str) -> Iterator[dict[str, Any]]:
        """The header, then one conversation or channel at a time (each read in its own
        short transaction, so a long export never holds the store)."""
        yield header("chats")
        conversations, channels = self._chat_ids(person)
        exported = set(conversations)
        for conversation_id in conversations:
            with self.db.session() as session:
                conversation = session.get(Conversation, conversation_id)
                item: dict[str, Any] | None = (
                    None
                    if conversation is None
                    else {
                        "type": "conversation",
                        **self._conversation_body(session, conversation, exported),
                    }
                )
            if item:
                yield item
        for channel_id in channels:
            with self.db.session() as session:
                channel = session.get(Channel, channel_id)
                item = (
                    None
                    if channel is None
                    else {"type": "channel", **self._channel_body(session, channel)}
                )
            if item:
                yield item

    def _chat_ids(self, person: str) -> tuple[list[str], list[str]]:
        conversations = select(Conversation.id).order_by(Conversation.created_at, Conversation.id)
        channels = select(Channel.id).order_by(Channel.created_at, Channel.id)
        if person != "owner":
            conversations = conversations.where(Conversation.owner == person)
            channels = channels.where(
                Channel.id.in_(
                    select(ChannelMember.channel_id).where(ChannelMember.member == person)
                )
            )
        with self.db.session() as session:
            return list(session.scalars(conversations)), list(session.scalars(channels))
