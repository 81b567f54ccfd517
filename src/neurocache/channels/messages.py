"""Messages of channels: post, page (by `seq`), threads, edit, delete, retention.

Each message is a memory (kind `channel_message`, owned by its author, `in_session` its
channel, `reply_to` the message it answers in a thread). The store is written first, then
the hot cache (`ChannelCache`, or `RedisChannelCache` for a team's processes), then the
event goes out: a client that missed events fetches what it missed with
`after=<last seq seen>`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select

from neurocache.channels.cache import MessageCache
from neurocache.channels.records import ChannelMessageRecord, ChannelMessageStatus, MessagePage
from neurocache.channels.service import Channels
from neurocache.errors import Forbidden, InvalidInput, NotFound
from neurocache.events import Publish
from neurocache.records import plain
from neurocache.search.passages import Citation
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.graph import content_hash, delete_memories, set_content
from neurocache.store.tables import ChannelMessage, Edge, Memory
from neurocache.store.types import isoformat, utcnow

KIND = "channel_message"
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.-]+)")


def room(channel_id: str) -> str:
    return f"channel:{channel_id}"


def message_view(row: ChannelMessage, memory: Memory) -> ChannelMessageRecord:
    return ChannelMessageRecord(
        id=row.id,
        seq=row.seq,
        channel_id=row.channel_id,
        author=row.author,
        author_name=memory.meta.get("author_name", row.author),
        author_kind="agent" if row.author.startswith("agent:") else "person",
        content=memory.content,
        reply_to=row.reply_to,
        mentions=row.mentions or [],
        status=cast(ChannelMessageStatus, row.status),
        sources=[Citation.stored(s) for s in row.sources or []],
        created_at=isoformat(row.created_at) or "",
        edited_at=isoformat(row.edited_at),
        trigger_id=row.trigger_id or None,  # an agent's reply: the message that set it off
        error=row.error or None,
    )


def mentioned(content: str, handles: Callable[[], dict[str, str]]) -> list[str]:
    """The members @mentioned in `content`, in order, each once (`handles` is only asked
    when there is an @ to resolve)."""
    names = MENTION.findall(content)
    if not names:
        return []
    known = handles()
    found = [known.get(h.lower().rstrip(".")) for h in names]
    return list(dict.fromkeys(m for m in found if m))


class ChannelMessages:
    def __init__(
        self,
        db: Database,
        channels: Channels,
        cache: MessageCache,
        publish: Publish,
    ) -> None:
        # publish: message.* for the channel's room; memory.written {memory_id, text} and
        # memories.deleted {rowids} for the index
        self.db, self.channels, self.cache, self.publish = db, channels, cache, publish

    def post(
        self,
        channel_id: str,
        author: str,
        content: str,
        *,
        reply_to: str | None = None,
        trigger_id: str | None = None,
        status: str = "complete",
        via: str | None = None,
    ) -> ChannelMessageRecord:
        """A new message; `trigger_id` names the person's message an agent answers."""
        mentions = mentioned(content, lambda: self.channels.handles(channel_id))
        author_name = self.channels.name_of(author)
        with self.db.session() as session:
            if reply_to is not None:
                self._check_thread(session, channel_id, reply_to)
            meta = {
                "channel_id": channel_id,
                "author_name": author_name,
                **({"reply_to": reply_to} if reply_to else {}),
                **({"via": via} if via else {}),
            }
            memory = Memory(
                kind=KIND,
                content=content,
                content_hash=content_hash(content),
                meta=meta,
                owner=author,
            )
            session.add(memory)
            session.flush()
            row = ChannelMessage(
                id=memory.id,
                channel_id=channel_id,
                author=author,
                reply_to=reply_to,
                mentions=mentions,
                status=status,
                trigger_id=trigger_id,
                sources=[],
            )
            session.add(row)
            session.add(Edge(source_id=memory.id, target_id=channel_id, relation="in_session"))
            if reply_to is not None:
                session.add(Edge(source_id=memory.id, target_id=reply_to, relation="reply_to"))
            session.flush()
            view = message_view(row, memory)
        self.cache.added(view)
        self.publish("message.created", view.plain(), room(channel_id))
        if status == "complete":
            self.written(view.id, content)
        return view

    def page(
        self,
        channel_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
        thread: str | None = None,
    ) -> MessagePage:
        """Oldest first. `before`: the page before that seq (scrolling back); `after`: what
        came after it (catching up); neither: the newest. `thread`: the replies to one."""
        if before is not None and after is not None:
            raise InvalidInput("give `before` or `after`, not both")
        if thread is None and before is None:
            cached = (
                self.cache.after(channel_id, after)
                if after is not None
                else self.cache.latest(
                    channel_id, limit + 1, lambda n: self._load(channel_id, None, None, n, None)
                )
            )
            if cached is not None:
                return _page(cached, limit, newest=after is None)
        views = self._load(channel_id, before, after, limit + 1, thread)
        return _page(views, limit, newest=after is None)

    def get(self, channel_id: str, message_id: str) -> ChannelMessageRecord:
        with self.db.session() as session:
            row, memory = self._row(session, channel_id, message_id)
            return message_view(row, memory)

    def edit(
        self, channel_id: str, message_id: str, content: str, person: str, actor: Actor
    ) -> ChannelMessageRecord:
        with self.db.session() as session:
            row, memory = self._row(session, channel_id, message_id)
            self._check_author(row, person, "edit")
            before = message_view(row, memory)
            set_content(session, memory, content)
            memory.updated_at = row.edited_at = utcnow()
            row.mentions = mentioned(content, lambda: self.channels.handles(channel_id))
            session.flush()
            view = message_view(row, memory)
            audit.record(
                session, actor, "channel.message.edit", ("memory", message_id), before, view
            )
        self.cache.changed(view)
        self.publish("message.updated", view.plain(), room(channel_id))
        self.written(message_id, content)
        return view

    def written(self, message_id: str, content: str) -> None:
        """A message's final text, for whoever indexes it (embedded off the request path)."""
        self.publish("memory.written", {"memory_id": message_id, "text": content}, None)

    def delete(self, channel_id: str, message_id: str, person: str, actor: Actor) -> None:
        with self.db.session() as session:
            row, memory = self._row(session, channel_id, message_id)
            self._check_author(row, person, "delete")
            audit.record(
                session,
                actor,
                "channel.message.delete",
                ("memory", message_id),
                message_view(row, memory),
                None,
            )
            rowids = delete_memories(session, Memory.id == message_id)
        self.cache.removed(channel_id, message_id)
        self.publish("memories.deleted", {"rowids": rowids}, None)
        self.publish(
            "message.deleted",
            {"id": message_id, "channel_id": channel_id, "seq": row.seq},
            room(channel_id),
        )

    def finish(self, message_id: str, content: str, **fields: Any) -> ChannelMessageRecord:
        """An agent's reply as written so far (or whole), with its status and sources."""
        with self.db.session() as session:
            row = session.scalar(select(ChannelMessage).where(ChannelMessage.id == message_id))
            memory = session.get(Memory, message_id)
            if row is None or memory is None:
                raise NotFound(f"message {message_id} was deleted")
            set_content(session, memory, content)
            for name, value in fields.items():
                setattr(row, name, plain(value))  # a reply's citations: JSON
            if "content" in fields or fields.get("status") == "complete":
                row.mentions = mentioned(content, lambda: self.channels.handles(row.channel_id))
            session.flush()
            view = message_view(row, memory)
        self.cache.changed(view)
        return view

    def fail_unfinished(self) -> int:
        """At start: agent replies a stopped hub left half-written are marked failed."""
        with self.db.session() as session:
            unfinished = list(
                session.scalars(select(ChannelMessage).where(ChannelMessage.status == "streaming"))
            )
            for row in unfinished:
                row.status = "failed"
                row.error = "the hub stopped while this reply was being written"
        return len(unfinished)

    def agent_turns_since(self, trigger_id: str) -> int:
        """How many agent replies a person's message has set off so far."""
        with self.db.session() as session:
            return (
                session.scalar(select(func.count()).where(ChannelMessage.trigger_id == trigger_id))
                or 0
            )

    def delete_older_than(self, cutoff: datetime, batch: int = 500) -> int:
        """Retention: messages made before `cutoff` leave the store and every index, a
        batch per transaction (a long backlog never makes one huge statement)."""
        deleted = 0
        while True:
            with self.db.session() as session:
                old = list(
                    session.execute(
                        select(ChannelMessage.id, ChannelMessage.channel_id)
                        .where(ChannelMessage.created_at < cutoff)
                        .limit(batch)
                    )
                )
                if not old:
                    return deleted
                rowids = delete_memories(session, Memory.id.in_([i for i, _ in old]))
            for channel_id in {c for _, c in old}:
                self.cache.forget(channel_id)
            self.publish("memories.deleted", {"rowids": rowids}, None)
            deleted += len(old)

    # ---- helpers
    def _load(
        self, channel_id: str, before: int | None, after: int | None, limit: int, thread: str | None
    ) -> list[ChannelMessageRecord]:
        query = (
            select(ChannelMessage, Memory)
            .join(Memory, Memory.id == ChannelMessage.id)
            .where(ChannelMessage.channel_id == channel_id)
        )
        if thread is not None:
            query = query.where(ChannelMessage.reply_to == thread)
        if before is not None:
            query = query.where(ChannelMessage.seq < before)
        if after is not None:
            query = query.where(ChannelMessage.seq > after)
        order = ChannelMessage.seq.asc() if after is not None else ChannelMessage.seq.desc()
        with self.db.session() as session:
            rows = [
                message_view(r, m) for r, m in session.execute(query.order_by(order).limit(limit))
            ]
        return rows if after is not None else rows[::-1]

    @staticmethod
    def _row(session: Any, channel_id: str, message_id: str) -> tuple[ChannelMessage, Memory]:
        row = session.scalar(select(ChannelMessage).where(ChannelMessage.id == message_id))
        if row is None or row.channel_id != channel_id:
            raise NotFound(f"no message {message_id} in channel {channel_id}")
        return row, session.get(Memory, message_id)

    @staticmethod
    def _check_thread(session: Any, channel_id: str, reply_to: str) -> None:
        parent = session.scalar(
            select(ChannelMessage.channel_id).where(ChannelMessage.id == reply_to)
        )
        if parent != channel_id:
            raise InvalidInput(
                f"reply_to: no message {reply_to} in this channel", details={"field": "reply_to"}
            )

    @staticmethod
    def _check_author(row: ChannelMessage, person: str, what: str) -> None:
        if person != "owner" and row.author != person:
            raise Forbidden(f"only its author (or the hub's owner) may {what} a message")


def _page(views: list[ChannelMessageRecord], limit: int, *, newest: bool) -> MessagePage:
    """`views` holds up to limit + 1 rows: the extra one says there is more."""
    more = len(views) > limit
    page = (views[-limit:] if newest else views[:limit]) if more else views
    return MessagePage(
        messages=page,
        has_more=more,
        before=page[0].seq if page else None,
        after=page[-1].seq if page else None,
    )
