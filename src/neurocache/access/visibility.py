"""Who may see a memory, on a hub shared by several people.

The owner sees everything. A user does not see what belongs to a channel they are not a
member of, nor to another person's conversation: the channel's name and messages, a
conversation's title and messages, and an agent's memories of a turn taken there (tagged
with `channel_id` / `conversation_id`, or `channel_ids` / `conversation_ids` for a summary
of several). Everything else (documents, notes, agents' own notes) is the hub's shared
knowledge. The generic memory, graph and search endpoints filter through here; the channel
and conversation APIs check membership and ownership themselves."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import select

from neurocache.store import Database
from neurocache.store.records import MemoryRecord
from neurocache.store.tables import ChannelMember, Conversation, Memory


class Found(Protocol):
    """A memory a search found, by its id (`search.records.SearchResult`: `access/` is
    not above `search/`, so it names only what it reads)."""

    @property
    def memory_id(self) -> str: ...


F = TypeVar("F", bound=Found)


def places(memory_id: str, kind: str, meta: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(channel ids, conversation ids) a memory belongs to."""
    channels = set(meta.get("channel_ids") or []) | (
        {meta["channel_id"]} if meta.get("channel_id") else set()
    )
    conversations = set(meta.get("conversation_ids") or []) | (
        {meta["conversation_id"]} if meta.get("conversation_id") else set()
    )
    if kind == "channel":
        channels.add(memory_id)
    if kind == "conversation":
        conversations.add(memory_id)
    return channels, conversations


class Visibility:
    def __init__(self, db: Database) -> None:
        self.db = db

    def hidden(self, person: str, memory_ids: list[str]) -> set[str]:
        """Those of `memory_ids` that `person` may not see."""
        if person == "owner" or not memory_ids:
            return set()
        with self.db.session() as session:
            rows = session.execute(
                select(Memory.id, Memory.kind, Memory.meta).where(Memory.id.in_(memory_ids))
            ).all()
        wanted = [
            (memory_id, *places(memory_id, kind, meta or {})) for memory_id, kind, meta in rows
        ]
        channels = set().union(*(c for _, c, _ in wanted))
        conversations = set().union(*(v for _, _, v in wanted))
        readable_channels, own_conversations = self._readable(person, channels, conversations)
        return {
            memory_id
            for memory_id, c, v in wanted
            if not c <= readable_channels or not v <= own_conversations
        }

    def visible(self, person: str, found: list[F]) -> list[F]:
        """Those of `found` (search results) that `person` may see."""
        hidden = self.hidden(person, [item.memory_id for item in found])
        return [item for item in found if item.memory_id not in hidden]

    def visible_memories(self, person: str, memories: list[MemoryRecord]) -> list[MemoryRecord]:
        """Those of `memories` that `person` may see."""
        hidden = self.hidden(person, [m.id for m in memories])
        return [m for m in memories if m.id not in hidden]

    def to_all(self, people: list[str], found: list[F]) -> list[F]:
        """Those of `found` every one of `people` may see (what an agent may recall in a
        channel they are all in)."""
        for person in people:
            found = self.visible(person, found)
        return found

    def _readable(
        self, person: str, channels: set[str], conversations: set[str]
    ) -> tuple[set[str], set[str]]:
        with self.db.session() as session:
            members = (
                set(
                    session.scalars(
                        select(ChannelMember.channel_id).where(
                            ChannelMember.member == person, ChannelMember.channel_id.in_(channels)
                        )
                    )
                )
                if channels
                else set()
            )
            own = (
                set(
                    session.scalars(
                        select(Conversation.id).where(
                            Conversation.owner == person, Conversation.id.in_(conversations)
                        )
                    )
                )
                if conversations
                else set()
            )
        return members, own
