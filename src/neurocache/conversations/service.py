"""Conversations: create, list, read, rename, delete, export and fork; their messages.

A conversation's title is a memory (kind `conversation`) and each message is a memory (kind
`message`, `in_session` the conversation, `reply_to` the message before it). A conversation
shows the chain of messages from its head back along `parent_id`: a fork is a new
conversation whose head is a message of the first (and a `forked_from` edge), so the two
share their past without a copied row. Answering lives in `chat.answering`."""

from __future__ import annotations

import builtins
from typing import Any, cast

from sqlalchemy import select, text

from neurocache.conversations.records import (
    ConversationDetail,
    ConversationRecord,
    MessageRecord,
    MessageStatus,
    Role,
)
from neurocache.errors import InvalidInput, NotFound
from neurocache.events import Publish, publish_nowhere
from neurocache.records import plain
from neurocache.replies.prompt import Turn
from neurocache.search.passages import Citation
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.graph import content_hash, delete_memories, set_content
from neurocache.store.paging import newest_first
from neurocache.store.tables import Conversation, Edge, Memory, Message
from neurocache.store.types import isoformat, utcnow

SETTABLE = ("title", "collections", "model", "short_term", "long_term")
UNTITLED = "New conversation"
TITLE_CHARS = 60


def title_of(question: str) -> str:
    """A conversation's title from its first question: its first line, cut at a word."""
    line = " ".join(question.strip().splitlines()[0].split()) if question.strip() else UNTITLED
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0] or line[:TITLE_CHARS]
    return f"{cut}…"


def conversation_view(conversation: Conversation) -> ConversationRecord:
    return ConversationRecord(
        id=conversation.id,
        title=conversation.title,
        collections=conversation.collections or [],
        model=conversation.model,
        agent_id=conversation.agent_id,
        short_term=conversation.short_term,
        long_term=conversation.long_term,
        head_id=conversation.head_id,
        created_at=isoformat(conversation.created_at) or "",
        updated_at=isoformat(conversation.updated_at) or "",
    )


def message_view(message: Message, content: str) -> MessageRecord:
    return MessageRecord(
        id=message.id,
        conversation_id=message.conversation_id,
        parent_id=message.parent_id,
        role=cast(Role, message.role),
        content=content,
        status=cast(MessageStatus, message.status),
        sources=[Citation.stored(s) for s in message.sources or []],
        model=message.model,
        created_at=isoformat(message.created_at) or "",
        error=message.error or None,
    )


class Conversations:
    def __init__(
        self,
        db: Database,
        resolve_collection: Any,
        check_model: Any,
        check_agent: Any = lambda _agent_id: None,
        publish: Publish = publish_nowhere,
    ) -> None:
        self.db = db
        self.publish = publish  # memories.deleted {rowids}, after the commit
        self.resolve_collection = resolve_collection  # name or id → id (404 if unknown)
        self.check_model = check_model  # model id → raises when it is no chat model
        self.check_agent = check_agent  # agent id → raises when there is no such agent

    # ---- conversations
    def create(
        self,
        actor: Actor,
        *,
        title: str | None = None,
        collections: builtins.list[str] | None = None,
        model: str | None = None,
        agent_id: str | None = None,
        short_term: bool = True,
        long_term: bool = True,
        owner: str = "owner",
        forked_from: str | None = None,
        kept: builtins.list[str] | None = None,
    ) -> ConversationRecord:
        """`owner` is the person whose conversation it is (`owner` or `user:<id>`);
        `forked_from`, a message of another conversation this one goes on from; `kept`,
        collection ids taken as they are (a fork's, deleted ones included)."""
        if model is not None:
            self.check_model(model)
        if agent_id is not None:
            self.check_agent(agent_id)
        ids = [c if c in (kept or []) else self.resolve_collection(c) for c in collections or []]
        title = (title or "").strip() or UNTITLED
        with self.db.session() as session:
            memory = Memory(
                kind="conversation",
                content=title,
                content_hash=content_hash(title),
                meta={"collections": ids},
            )
            session.add(memory)
            session.flush()
            conversation = Conversation(
                id=memory.id,
                title=title,
                owner=owner,
                collections=ids,
                model=model,
                agent_id=agent_id,
                short_term=short_term,
                long_term=long_term,
                head_id=forked_from,
            )
            session.add(conversation)
            if forked_from is not None:  # with the conversation: never an empty fork alone
                session.add(
                    Edge(source_id=memory.id, target_id=forked_from, relation="forked_from")
                )
            session.flush()
            view = conversation_view(conversation)
            audit.record(
                session, actor, "conversation.create", ("conversation", memory.id), None, view
            )
        return view

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        person: str = "owner",
    ) -> tuple[builtins.list[ConversationRecord], str | None]:
        """The conversations `person` may read: a user's own; every one for the owner."""
        query = select(Conversation)
        if person != "owner":
            query = query.where(Conversation.owner == person)
        with self.db.session() as session:
            return newest_first(session, query, Conversation, limit, cursor, conversation_view)

    def may_read(self, person: str, conversation_id: str) -> bool:
        """The hub's owner reads every conversation; a user, their own (conversations made
        before people existed name a key or `cli` as owner: they are the owner's)."""
        if person == "owner":
            return True
        with self.db.session() as session:
            owner = session.scalar(
                select(Conversation.owner).where(Conversation.id == conversation_id)
            )
        return owner == person

    def check_readable(self, person: str, conversation_id: str) -> None:
        if not self.may_read(person, conversation_id):
            raise NotFound(f"no conversation with id {conversation_id}")

    def get(self, conversation_id: str) -> ConversationDetail:
        with self.db.session() as session:
            conversation = get_or_not_found(session, Conversation, conversation_id, "conversation")
            chain = self._chain(session, conversation.head_id)
            siblings = self._siblings(session, conversation_id, [m for m, _ in chain])
            messages = [
                message_view(m, c).model_copy(update={"siblings": siblings.get(m.id, [])})
                for m, c in chain
            ]
            forked = session.scalar(
                select(Edge.target_id).where(
                    Edge.source_id == conversation_id, Edge.relation == "forked_from"
                )
            )
            return ConversationDetail(
                **dict(conversation_view(conversation)), messages=messages, forked_from=forked
            )

    def row(self, conversation_id: str) -> Conversation:
        with self.db.session() as session:
            return get_or_not_found(session, Conversation, conversation_id, "conversation")

    def update(
        self, conversation_id: str, changes: dict[str, Any], actor: Actor
    ) -> ConversationRecord:
        if changes.get("model") is not None:
            self.check_model(changes["model"])
        if "collections" in changes:  # those it draws on now stay, even if deleted since
            kept = self.row(conversation_id).collections or []
            changes["collections"] = [
                c if c in kept else self.resolve_collection(c) for c in changes["collections"] or []
            ]
        with self.db.session() as session:
            conversation = get_or_not_found(session, Conversation, conversation_id, "conversation")
            before = conversation_view(conversation)
            for name in SETTABLE:
                if name in changes:
                    setattr(conversation, name, changes[name])
            if "title" in changes:
                memory = get_or_not_found(session, Memory, conversation_id, "conversation")
                set_content(session, memory, changes["title"])
            conversation.updated_at = utcnow()
            session.flush()
            after = conversation_view(conversation)
            audit.record(
                session,
                actor,
                "conversation.update",
                ("conversation", conversation_id),
                before,
                after,
            )
        return after

    def show_branch(
        self, conversation_id: str, message_id: str, actor: Actor
    ) -> ConversationDetail:
        """Show the branch of `message_id` (one of regenerated replies): the conversation's
        head becomes that message's newest descendant, and the next question goes on there."""
        with self.db.session() as session:
            message = session.get(Message, message_id)
            if message is None or message.conversation_id != conversation_id:
                raise InvalidInput(
                    f"message {message_id} is not in conversation {conversation_id}",
                    details={"field": "message_id"},
                )
            head = message_id
            while child := session.scalar(
                select(Message.id)
                .where(Message.parent_id == head, Message.conversation_id == conversation_id)
                .order_by(Message.created_at.desc(), Message.id.desc())
                .limit(1)
            ):
                head = child
            conversation = get_or_not_found(session, Conversation, conversation_id, "conversation")
            before = conversation_view(conversation)
            conversation.head_id = head
            session.flush()
            audit.record(
                session,
                actor,
                "conversation.branch",
                ("conversation", conversation_id),
                before,
                conversation_view(conversation),
            )
        return self.get(conversation_id)

    @staticmethod
    def _siblings(
        session: Any, conversation_id: str, chain: builtins.list[Message]
    ) -> dict[str, builtins.list[str]]:
        """message id → the replies to its parent in this conversation, when several."""
        parents = {
            m.parent_id for m in chain if m.parent_id and m.conversation_id == conversation_id
        }
        if not parents:
            return {}
        rows = session.execute(
            select(Message.id, Message.parent_id)
            .where(Message.parent_id.in_(parents), Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        ).all()
        by_parent: dict[str, builtins.list[str]] = {}
        for message_id, parent_id in rows:
            by_parent.setdefault(parent_id, []).append(message_id)
        return {
            m.id: by_parent[m.parent_id]
            for m in chain
            if m.parent_id in by_parent and len(by_parent[m.parent_id]) > 1
        }

    def name_after_first_question(self, conversation_id: str, question: str) -> None:
        """A conversation made without a title ("New conversation") is named after its
        first question, as a person would name it."""
        conversation = self.row(conversation_id)
        if conversation.title == UNTITLED and conversation.head_id is None:
            self.update(conversation_id, {"title": title_of(question)}, Actor("neurocache"))

    def delete(self, conversation_id: str, actor: Actor) -> builtins.list[int]:
        """Deletes the conversation and its messages, but for those another conversation
        (a fork) still shows: they move to it. Returns the rowids gone (for the index)."""
        with self.db.session() as session:
            conversation = get_or_not_found(session, Conversation, conversation_id, "conversation")
            before = conversation_view(conversation)
            own = set(
                session.scalars(
                    select(Message.id).where(Message.conversation_id == conversation_id)
                )
            )
            # Only a fork (a conversation with a `forked_from` edge) can show messages of
            # another conversation; plain conversations need no walk.
            forks = session.scalars(
                select(Conversation)
                .join(Edge, Edge.source_id == Conversation.id)
                .where(Edge.relation == "forked_from", Conversation.id != conversation_id)
                .distinct()
            )
            for other in forks:
                shared = {m.id for m, _ in self._chain(session, other.head_id)} & own
                if shared:
                    session.query(Message).filter(Message.id.in_(shared)).update(
                        {"conversation_id": other.id}
                    )
                    own -= shared
            gone = set(own) | {conversation_id}
            rowids = delete_memories(session, Memory.id.in_(gone))
            audit.record(
                session,
                actor,
                "conversation.delete",
                ("conversation", conversation_id),
                before,
                None,
            )
        self.publish("memories.deleted", {"rowids": rowids}, None)
        return rowids

    def fork(
        self,
        conversation_id: str,
        message_id: str,
        actor: Actor,
        title: str | None = None,
        owner: str = "owner",
    ) -> ConversationDetail:
        original = self.get(conversation_id)
        if message_id not in {m.id for m in original.messages}:
            raise InvalidInput(
                f"message {message_id} is not in conversation {conversation_id}",
                details={"field": "message_id"},
            )
        fork = self.create(
            actor,
            title=title or f"{original.title} (fork)",
            collections=original.collections,
            model=original.model,
            agent_id=original.agent_id,
            short_term=original.short_term,
            long_term=original.long_term,
            owner=owner,
            forked_from=message_id,
            kept=original.collections,
        )
        return self.get(fork.id)

    def export(self, conversation_id: str, fmt: str) -> tuple[str, str]:
        """(body, mime type): Markdown for people, JSON for programs."""
        conversation = self.get(conversation_id)
        if fmt == "json":
            return conversation.model_dump_json(indent=2), "application/json"
        lines = [f"# {conversation.title}", ""]
        for message in conversation.messages:
            lines += [f"**{message.role}** ({message.created_at}):", "", message.content, ""]
            for source in message.sources:
                where = source.url or source.path or ""
                lines.append(f"[{source.number}] {source.title or 'note'} {where}")
            if message.sources:
                lines.append("")
        return "\n".join(lines), "text/markdown; charset=utf-8"

    # ---- messages
    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        parent_id: str | None,
        status: str = "complete",
        model: str | None = None,
    ) -> MessageRecord:
        """A new message at the head of the conversation."""
        with self.db.session() as session:
            memory = Memory(
                kind="message",
                content=content,
                content_hash=content_hash(content),
                meta={"conversation_id": conversation_id, "role": role},
            )
            session.add(memory)
            session.flush()
            message = Message(
                id=memory.id,
                conversation_id=conversation_id,
                parent_id=parent_id,
                role=role,
                status=status,
                model=model,
            )
            session.add(message)
            session.add(Edge(source_id=memory.id, target_id=conversation_id, relation="in_session"))
            if parent_id is not None:
                session.add(Edge(source_id=memory.id, target_id=parent_id, relation="reply_to"))
            conversation = get_or_not_found(session, Conversation, conversation_id, "conversation")
            conversation.head_id, conversation.updated_at = memory.id, utcnow()
            session.flush()
            return message_view(message, content)

    def message(self, message_id: str) -> MessageRecord:
        with self.db.session() as session:
            message = get_or_not_found(session, Message, message_id, "message")
            memory = get_or_not_found(session, Memory, message_id, "message")
            return message_view(message, memory.content)

    def finish_message(self, message_id: str, content: str, **fields: Any) -> MessageRecord:
        """Store a reply's text (partial or final) and its status, sources, error, usage."""
        with self.db.session() as session:
            message = session.get(Message, message_id)
            if message is None:
                raise NotFound(f"message {message_id} was deleted")
            memory = get_or_not_found(session, Memory, message_id, "message")
            set_content(session, memory, content)
            for name, value in fields.items():
                setattr(message, name, plain(value))  # a reply's citations: JSON
            session.flush()
            return message_view(message, content)

    def history(self, head_id: str | None) -> builtins.list[tuple[str, Turn]]:
        """(message id, turn) from the oldest to `head_id`, complete or stopped ones only."""
        with self.db.session() as session:
            return [
                (m.id, Turn(m.role, content))
                for m, content in self._chain(session, head_id)
                if m.status in ("complete", "stopped") and content
            ]

    def recallable_roles(
        self, message_ids: builtins.list[str], besides: str, owner: str = "owner"
    ) -> dict[str, str]:
        """id → role of those messages of `owner`'s other conversations than `besides` that
        keep long-term memory (a conversation's own turns, its old branches included, are
        not "earlier conversations"; nor is anybody else's conversation)."""
        whose = (
            Conversation.owner == owner
            if owner.startswith("user:")
            else Conversation.owner.not_like("user:%")
        )
        with self.db.session() as session:
            return dict(
                session.execute(
                    select(Message.id, Message.role)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(
                        Message.id.in_(message_ids),
                        Conversation.long_term.is_(True),
                        Message.conversation_id != besides,
                        whose,
                    )
                ).all()
            )

    def fail_unfinished(self) -> int:
        """At start: replies a stopped hub left half-written are marked failed (their text
        so far is kept)."""
        with self.db.session() as session:
            unfinished = list(session.scalars(select(Message).where(Message.status == "streaming")))
            for message in unfinished:
                message.status = "failed"
                message.error = "the hub stopped while this reply was being written"
        return len(unfinished)

    @staticmethod
    def _chain(session: Any, head_id: str | None) -> builtins.list[tuple[Message, str]]:
        if head_id is None:
            return []
        ids = list(
            session.scalars(
                text(
                    "WITH RECURSIVE chain(id, parent_id, depth) AS ("
                    " SELECT id, parent_id, 0 FROM messages WHERE id = :head"
                    " UNION ALL SELECT m.id, m.parent_id, c.depth + 1 FROM messages m"
                    " JOIN chain c ON m.id = c.parent_id WHERE c.depth < 100000)"
                    " SELECT id FROM chain ORDER BY depth DESC"
                ),
                {"head": head_id},
            )
        )
        messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
        contents = dict(
            session.execute(select(Memory.id, Memory.content).where(Memory.id.in_(ids))).all()
        )
        return [(messages[i], contents[i]) for i in ids if i in messages]
