"""Imports: a checked bundle (bundle_format.validate) written in the caller's one
transaction, with new ids for everything and every relation of the bundle mapped to them.

Importing the same bundle twice makes a second copy: names that must be unique (a
collection's, a channel's) and an agent's name (how it is @mentioned) get a suffix, ` (2)`
or `-2`. Collections, agents and users that a bundle names are looked up by name on this hub;
one that is not here is left out, with a warning. Embedding is not done here: the caller
hands `Imported.embed` to the hub's usual paths after the commit."""

from __future__ import annotations

import base64
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurocache.operations.bundle_format import (
    AgentBundle,
    Bundle,
    ChannelBody,
    CollectionBundle,
    ConversationBody,
    EdgeIn,
    MemberRef,
)
from neurocache.operations.records import (
    AnyCreated,
    CreatedAgent,
    CreatedChat,
    CreatedCollection,
    ImportedBundle,
)
from neurocache.store import audit
from neurocache.store.audit import Actor
from neurocache.store.graph import content_hash
from neurocache.store.tables import (
    UNEMBEDDED_KINDS,
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
from neurocache.store.types import new_id, utcnow


@dataclass
class Imported:
    """What an import made, for the answer; and what is left to do after the commit."""

    kind: str
    created: list[AnyCreated] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    id_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    embed: list[tuple[str, str]] = field(default_factory=list)  # (memory id, text)
    vectors: list[tuple[str, bytes]] = field(default_factory=list)  # stored with the rows
    ingest: list[str] = field(default_factory=list)  # jobs splitting unsplit documents

    def view(self) -> ImportedBundle:
        return ImportedBundle(
            kind=self.kind,
            created=self.created,
            counts=dict(self.counts),
            id_map=self.id_map,
            warnings=self.warnings,
        )


def when(value: datetime | None) -> datetime:
    """A bundle's time, or now; a time without a zone is taken as UTC."""
    if value is None:
        return utcnow()
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def unfinished(status: str) -> tuple[str, str | None]:
    """A reply exported while it was being written will never finish here."""
    if status == "streaming":
        return "failed", "this reply was being written when it was exported"
    return status, None


class Writer:
    """One import. Rows are flushed as they go (each table after the ones it refers to);
    edges wait for `finish`, since a fork may point into a conversation written later."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        person: str,
        kind: str,
        embedder_name: str,
        model_ok: Any,
        embedder_dimension: int | None = None,
        ingest_job: Any = None,
    ) -> None:
        self.session, self.actor, self.person = session, actor, person
        self.ingest_job = ingest_job  # document id -> its ingestion job's row
        self.embedder_name = embedder_name
        self.embedder_dimension = embedder_dimension
        self.model_ok = model_ok  # model id -> whether this hub has that chat model
        self.result = Imported(kind)
        self._edges: list[Edge] = []

    # ---- ids and names
    def new(self, old_id: str) -> str:
        return self.result.id_map.setdefault(old_id, new_id())

    @overload
    def mapped(self, old_id: str) -> str: ...
    @overload
    def mapped(self, old_id: None) -> None: ...
    @overload
    def mapped(self, old_id: str | None) -> str | None: ...
    def mapped(self, old_id: str | None) -> str | None:
        return None if old_id is None else self.result.id_map[old_id]

    def warn(self, text: str) -> None:
        if text not in self.result.warnings:
            self.result.warnings.append(text)

    def free_name(self, column: Any, name: str, limit: int, suffix: str) -> str:
        """`name`, or the first `name` + suffix (numbered from 2) not taken yet."""
        taken = set(
            self.session.scalars(
                select(column).where(column.startswith(name[: limit - 8], autoescape=True))
            )
        )
        if name not in taken:
            return name
        for number in itertools.count(2):
            ending = suffix.format(n=number)
            candidate = name[: limit - len(ending)] + ending
            if candidate not in taken:
                self.warn(f"{name!r} exists on this hub: imported as {candidate!r}")
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover

    def collections(self, names: list[str]) -> list[str]:
        found = (
            dict(
                self.session.execute(
                    select(Collection.name, Collection.id).where(Collection.name.in_(names))
                ).all()
            )
            if names
            else {}
        )
        for name in names:
            if name not in found:
                self.warn(
                    f"no collection named {name!r} on this hub: left out (import its "
                    "collection bundle first)"
                )
        return [found[n] for n in names if n in found]

    def agent_named(self, name: str | None) -> str | None:
        found = self._agent_id(name) if name is not None else None
        if name is not None and found is None:
            self.warn(f"no agent named {name!r} on this hub: left out")
        return found

    def _agent_id(self, name: str) -> str | None:
        """The oldest agent of that name (a copy imported later is `name (2)`)."""
        return self.session.scalar(
            select(Agent.id).where(Agent.name == name).order_by(Agent.created_at).limit(1)
        )

    def model(self, model_id: str | None) -> str | None:
        if model_id is None or self.model_ok(model_id):
            return model_id
        self.warn(f"no chat model {model_id!r} on this hub: the running one answers instead")
        return None

    def member(self, ref: MemberRef) -> str | None:
        """`owner`, `user:<id>` or `agent:<id>` of this hub with that name, if any."""
        if ref.kind == "owner":
            return "owner"
        if ref.kind == "user":
            found = self.session.scalar(select(User.id).where(User.name == ref.name))
            return f"user:{found}" if found else None
        found = self._agent_id(ref.name)
        return f"agent:{found}" if found else None

    # ---- writing
    def memory(
        self, old_id: str, kind: str, content: str, meta: dict[str, Any], **columns: Any
    ) -> Memory:
        memory = Memory(
            id=self.new(old_id),
            kind=kind,
            content=content,
            content_hash=content_hash(content),
            meta=meta,
            **columns,
        )
        self.session.add(memory)
        self.result.counts[kind] += 1
        return memory

    def edge(
        self,
        source: str,
        target: str,
        relation: str,
        weight: float = 1.0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._edges.append(
            Edge(
                source_id=source,
                target_id=target,
                relation=relation,
                weight=weight,
                meta=meta or {},
            )
        )

    def bundle_edges(self, edges: list[EdgeIn]) -> None:
        for edge in edges:
            self.edge(
                self.mapped(edge.source),
                self.mapped(edge.target),
                edge.relation,
                edge.weight,
                edge.metadata,
            )

    def created(self, made: AnyCreated) -> None:
        """One entry in the answer and one in the audit log per thing imported."""
        self.result.created.append(made)
        audit.record(
            self.session,
            self.actor,
            f"{made.type}.import",
            (made.type, made.id),
            None,
            {**made.plain(), "bundle": self.result.kind},
        )

    def finish(self) -> Imported:
        # A bundle may hold one edge twice (a reply is `reply_to` by row and by edge).
        unique = {(e.source_id, e.target_id, e.relation): e for e in self._edges}
        self.session.add_all(unique.values())
        self.session.flush()
        self.result.counts["edge"] += len(unique)
        return self.result

    # ---- kinds
    def write(self, bundle: Bundle) -> Imported:
        if isinstance(bundle, CollectionBundle):
            self.collection(bundle)
        elif isinstance(bundle, AgentBundle):
            self.agent(bundle)
        else:
            bodies = getattr(bundle, "items", [bundle])
            for body in bodies:  # ids first: a fork may point into a later conversation
                self._claim_ids(body)
            for body in bodies:
                if isinstance(body, ConversationBody):
                    self.conversation(body)
                else:
                    self.channel(body)
        return self.finish()

    def _claim_ids(self, body: ConversationBody | ChannelBody) -> None:
        top = body.conversation if isinstance(body, ConversationBody) else body.channel
        for old in [top.id, *(m.id for m in body.messages)]:
            self.new(old)

    def collection(self, bundle: CollectionBundle) -> None:
        given = bundle.collection
        name = self.free_name(Collection.name, given.name, 200, " ({n})")
        collection = Collection(
            name=name, description=given.description, created_at=when(given.created_at)
        )
        self.session.add(collection)
        self.session.flush()
        # Same name is not enough: names are chosen by people; the dimension must agree too.
        vectors = (
            bundle.embedder is not None
            and bundle.embedder.name == self.embedder_name
            and bundle.embedder.dimension == self.embedder_dimension
        )
        if bundle.embedder is not None and not vectors:
            self.warn(
                f"the vectors are {bundle.embedder.name}'s, this hub embeds with "
                f"{self.embedder_name}: the chunks are embedded again"
            )
        for document in bundle.documents:
            self._document(document, collection.id, bundle.embedder if vectors else None)
        self.session.flush()
        self.store_vectors()
        self.bundle_edges(bundle.edges)
        self.created(
            CreatedCollection(
                type="collection",
                id=collection.id,
                name=name,
                source_id=None,
                documents=len(bundle.documents),
            )
        )

    def _document(self, given: Any, collection_id: str, embedder: Any) -> None:
        document = self.memory(
            given.id,
            "document",
            given.text,
            {**given.metadata, "collection_id": collection_id, "title": given.title},
            created_at=when(given.created_at),
        )
        for index, chunk in enumerate(given.chunks):
            self._chunk(chunk, index, document.id, collection_id, embedder)
        self.session.flush()
        self.session.add(
            Document(
                id=document.id,
                collection_id=collection_id,
                title=given.title,
                url=given.url,
                path=given.path,
                source=given.source,
                mime=given.mime,
                status="indexed" if given.chunks else "queued",
                chunk_count=len(given.chunks),
                created_at=document.created_at,
            )
        )
        if not given.chunks:  # a document exported before it was split: with its job
            job = self.ingest_job(document.id)
            self.session.add(job)
            self.result.ingest.append(job.id)

    def _chunk(
        self, chunk: Any, index: int, document_id: str, collection_id: str, embedder: Any
    ) -> None:
        memory = self.memory(
            chunk.id,
            "chunk",
            chunk.content,
            {
                "document_id": document_id,
                "collection_id": collection_id,
                "start": chunk.start,
                "end": chunk.end,
                "index": index,
                "page": chunk.page,
            },
        )
        self.edge(memory.id, document_id, "part_of")
        if embedder is not None and chunk.vector is not None:
            self.result.vectors.append((memory.id, base64.b64decode(chunk.vector)))
        else:
            self.result.embed.append((memory.id, chunk.content))

    def store_vectors(self) -> None:
        """Vectors that came with the bundle go in with the rows they belong to."""
        for memory_id, vector in self.result.vectors:
            self.session.add(
                Vector(
                    memory_id=memory_id,
                    embedder=self.embedder_name,
                    dimension=len(vector) // 4,
                    vector=vector,
                )
            )

    def agent(self, bundle: AgentBundle) -> None:
        given = bundle.agent
        agent = Agent(
            name=self.free_name(Agent.name, given.name, 200, " ({n})"),
            persona=given.persona,
            model=self.model(given.model),
            temperature=given.temperature,
            avatar=given.avatar,
            collections=self.collections(given.collections),
        )
        self.session.add(agent)
        self.session.flush()
        for memory in bundle.memories:
            row = self.memory(
                memory.id,
                memory.kind,
                memory.content,
                memory.metadata,
                owner=f"agent:{agent.id}",
                tier=memory.tier,
                created_at=when(memory.created_at),
                updated_at=when(memory.updated_at or memory.created_at),
            )
            if memory.kind not in UNEMBEDDED_KINDS:
                self.result.embed.append((row.id, memory.content))
        self.session.flush()
        self.bundle_edges(bundle.edges)
        self.created(
            CreatedAgent(
                type="agent",
                id=agent.id,
                name=agent.name,
                source_id=None,
                memories=len(bundle.memories),
            )
        )

    def conversation(self, body: ConversationBody) -> None:
        given = body.conversation
        collections = self.collections(given.collections)
        conversation_id = self.new(given.id)
        self.memory(
            given.id,
            "conversation",
            given.title,
            {"collections": collections},
            created_at=when(given.created_at),
        )
        for message in body.messages:
            self.memory(
                message.id,
                "message",
                message.content,
                {"conversation_id": conversation_id, "role": message.role},
                created_at=when(message.created_at),
            )
        self.session.flush()
        self.session.add(
            Conversation(
                id=conversation_id,
                title=given.title,
                owner=self.person,
                collections=collections,
                model=self.model(given.model),
                agent_id=self.agent_named(given.agent),
                head_id=self.mapped(given.head_id),
                short_term=given.short_term,
                long_term=given.long_term,
                created_at=when(given.created_at),
                updated_at=when(given.updated_at or given.created_at),
            )
        )
        self.session.flush()
        self._messages(body, conversation_id)
        if given.forked_from:
            self.edge(conversation_id, self.mapped(given.forked_from), "forked_from")
        self.created(
            CreatedChat(
                type="conversation",
                id=conversation_id,
                name=given.title,
                source_id=given.id,
                messages=len(body.messages),
            )
        )

    def _messages(self, body: ConversationBody, conversation_id: str) -> None:
        for message in body.messages:
            status, error = unfinished(message.status)
            row = Message(
                id=self.mapped(message.id),
                conversation_id=conversation_id,
                parent_id=self.mapped(message.parent_id),
                role=message.role,
                status=status,
                error=message.error or error,
                sources=message.sources,
                model=message.model,
                created_at=when(message.created_at),
            )
            self.session.add(row)
            self.edge(row.id, conversation_id, "in_session")
            if row.parent_id:
                self.edge(row.id, row.parent_id, "reply_to")
            # recalled later only where the conversation keeps long-term memory
            if body.conversation.long_term and status != "failed" and message.content:
                self.result.embed.append((row.id, message.content))
        self.session.flush()

    def channel(self, body: ChannelBody) -> None:
        given = body.channel
        name = self.free_name(Channel.name, given.name, 80, "-{n}")
        channel_id = self.new(given.id)
        self.memory(
            given.id,
            "channel",
            name,
            {"description": given.description},
            owner=self.person,
            created_at=when(given.created_at),
        )
        authors = [self._author(m.author) for m in body.messages]
        for message, author in zip(body.messages, authors, strict=True):
            self.memory(
                message.id,
                "channel_message",
                message.content,
                {
                    "channel_id": channel_id,
                    "author_name": message.author_name or message.author.name,
                    **({"reply_to": self.mapped(message.reply_to)} if message.reply_to else {}),
                },
                owner=author,
                created_at=when(message.created_at),
            )
        self.session.flush()
        self.session.add(
            Channel(
                id=channel_id,
                name=name,
                description=given.description,
                created_by=self.person,
                created_at=when(given.created_at),
                archived_at=utcnow() if given.archived else None,
            )
        )
        self.session.flush()
        self._members(body, channel_id)
        self._channel_messages(body, channel_id, authors)
        self.created(
            CreatedChat(
                type="channel",
                id=channel_id,
                name=name,
                source_id=given.id,
                messages=len(body.messages),
            )
        )

    def _author(self, ref: MemberRef) -> str:
        """Its member on this hub, or a name that says it was imported (an author is never
        silently given to somebody else)."""
        found = self.member(ref)
        if found is not None and self.person != "owner" and found != self.person:
            # a user's import may not put words in the owner's, another user's or an
            # agent's mouth: those authors keep their names only
            self.warn("messages by others than you keep their authors' names only")
            return f"imported:{ref.kind}:{ref.name}"
        if found is None:
            self.warn(
                f"no {ref.kind} named {ref.name!r} on this hub: their messages keep the name only"
            )
        return found or f"imported:{ref.kind}:{ref.name}"

    def _members(self, body: ChannelBody, channel_id: str) -> None:
        members = {self.person: "mention"}  # whoever imports it may read it
        for given in body.members:
            member = self.member(given)
            if member is None:
                self.warn(f"no {given.kind} named {given.name!r} on this hub: not a member")
            else:
                members.setdefault(member, given.mode if member.startswith("agent:") else "mention")
        self.session.add_all(
            [
                ChannelMember(channel_id=channel_id, member=m, mode=mode)
                for m, mode in members.items()
            ]
        )
        self.session.flush()

    def _channel_messages(self, body: ChannelBody, channel_id: str, authors: list[str]) -> None:
        """In the bundle's `seq` order, so that the new seqs keep it."""
        order = sorted(
            range(len(body.messages)),
            key=lambda i: (body.messages[i].seq if body.messages[i].seq is not None else i, i),
        )
        for message, author in ((body.messages[i], authors[i]) for i in order):
            status, error = unfinished(message.status)
            mentions = [m for m in map(self.member, message.mentions) if m]
            row = ChannelMessage(
                id=self.mapped(message.id),
                channel_id=channel_id,
                author=author,
                reply_to=self.mapped(message.reply_to),
                mentions=mentions,
                status=status,
                error=error,
                sources=message.sources,
                trigger_id=self.mapped(message.trigger_id),
                created_at=when(message.created_at),
                edited_at=message.edited_at and when(message.edited_at),
            )
            self.session.add(row)
            self.session.flush()  # one at a time: the seq is given in this order
            self.edge(row.id, channel_id, "in_session")
            if row.reply_to:
                self.edge(row.id, row.reply_to, "reply_to")
            if status == "complete":
                self.result.embed.append((row.id, message.content))
