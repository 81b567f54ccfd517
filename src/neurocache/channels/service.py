"""Channels: Slack-like rooms where people and agents talk. This module keeps channels and
their members; `chat.channel_messages` their messages; `chat.channel_agents` makes agents
speak.

A channel's name is a memory (kind `channel`) so its messages can be `in_session` it.
Members are `owner`, `user:<id>` or `agent:<id>`. The hub's owner reads every channel; a
user reads the channels they are a member of. An archived channel can be read, not written."""

from __future__ import annotations

import builtins
import re
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from neurocache.channels.records import ChannelDetail, ChannelRecord, MemberMode, MemberRecord
from neurocache.errors import Conflict, Forbidden, InvalidInput, NotFound
from neurocache.events import Publish, publish_nowhere
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.database import get_or_not_found
from neurocache.store.graph import content_hash, set_content
from neurocache.store.paging import newest_first
from neurocache.store.tables import Agent, Channel, ChannelMember, Memory, User
from neurocache.store.types import isoformat, utcnow

CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
NOT_A_HANDLE = re.compile(r"[^a-z0-9_.-]+")


def handle_of(name: str) -> str:
    """How an agent is @mentioned: its name in lower case, other characters as `-`."""
    return NOT_A_HANDLE.sub("-", name.lower()).strip("-") or "agent"


def channel_view(channel: Channel) -> ChannelRecord:
    return ChannelRecord(
        id=channel.id,
        name=channel.name,
        description=channel.description,
        created_by=channel.created_by,
        archived=channel.archived_at is not None,
        archived_at=isoformat(channel.archived_at),
        room=f"channel:{channel.id}",
        created_at=isoformat(channel.created_at) or "",
        updated_at=isoformat(channel.updated_at) or "",
    )


class Channels:
    def __init__(self, db: Database, publish: Publish = publish_nowhere) -> None:
        self.db = db
        self.publish = publish  # channel.member.removed {channel_id, member}, after the commit

    # ---- channels
    def create(
        self, actor: Actor, person: str, *, name: str, description: str = ""
    ) -> ChannelRecord:
        self._check_name(name)
        try:
            return self._create(actor, person, name, description)
        except IntegrityError as exc:  # the same name made at the same moment
            raise Conflict(f"a channel named {name!r} exists", details={"field": "name"}) from exc

    def _create(self, actor: Actor, person: str, name: str, description: str) -> ChannelRecord:
        with self.db.session() as session:
            self._check_free(session, name)
            memory = Memory(
                kind="channel",
                content=name,
                content_hash=content_hash(name),
                meta={"description": description},
                owner=person,
            )
            session.add(memory)
            session.flush()
            channel = Channel(id=memory.id, name=name, description=description, created_by=person)
            session.add(channel)
            session.add(ChannelMember(channel_id=memory.id, member=person))
            session.flush()
            view = channel_view(channel)
            audit.record(session, actor, "channel.create", ("channel", channel.id), None, view)
        return view

    def list(
        self, person: str, *, archived: bool = False, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[ChannelRecord], str | None]:
        """Channels `person` may read, newest first; archived ones only when asked."""
        query = select(Channel)
        if not archived:
            query = query.where(Channel.archived_at.is_(None))
        if person != "owner":
            query = query.where(
                Channel.id.in_(
                    select(ChannelMember.channel_id).where(ChannelMember.member == person)
                )
            )
        with self.db.session() as session:
            return newest_first(session, query, Channel, limit, cursor, channel_view)

    def get(self, channel_id: str) -> ChannelDetail:
        with self.db.session() as session:
            view = channel_view(get_or_not_found(session, Channel, channel_id, "channel"))
        return ChannelDetail(**dict(view), members=self.members(channel_id))

    def name(self, channel_id: str) -> str:
        with self.db.session() as session:
            name = session.scalar(select(Channel.name).where(Channel.id == channel_id))
        if name is None:
            raise NotFound(f"no channel with id {channel_id}")
        return name

    def update(self, channel_id: str, changes: dict[str, Any], actor: Actor) -> ChannelRecord:
        """Rename, describe, archive (`archived: true`) or bring back (`false`)."""
        with self.db.session() as session:
            channel = get_or_not_found(session, Channel, channel_id, "channel")
            before = channel_view(channel)
            if "name" in changes and changes["name"] != channel.name:
                self._check_name(changes["name"])
                self._check_free(session, changes["name"])
                channel.name = changes["name"]
                memory = get_or_not_found(session, Memory, channel_id, "channel")
                set_content(session, memory, channel.name)
            if "description" in changes:
                channel.description = changes["description"]
            if "archived" in changes:
                archived = channel.archived_at is not None
                if changes["archived"] != archived:
                    channel.archived_at = utcnow() if changes["archived"] else None
            channel.updated_at = utcnow()
            session.flush()
            after = channel_view(channel)
            audit.record(session, actor, "channel.update", ("channel", channel_id), before, after)
        return after

    # ---- who may do what
    def may_read(self, person: str, channel_id: str) -> bool:
        if person == "owner":
            return True
        with self.db.session() as session:
            return session.get(ChannelMember, (channel_id, person)) is not None

    def check_readable(self, person: str, channel_id: str) -> Channel:
        """The channel, or 404 when it does not exist or `person` may not see it."""
        with self.db.session() as session:
            channel = session.get(Channel, channel_id)
        if channel is None or not self.may_read(person, channel_id):
            raise NotFound(f"no channel {channel_id}")
        return channel

    def check_manageable(self, person: str, channel_id: str) -> Channel:
        """Renaming, archiving and removing others: its creator's, or the hub owner's."""
        channel = self.check_readable(person, channel_id)
        if person not in ("owner", channel.created_by):
            raise Forbidden("only the channel's creator (or the hub's owner) may do this")
        return channel

    def check_writable(self, person: str, channel_id: str) -> Channel:
        channel = self.check_readable(person, channel_id)
        if channel.archived_at is not None:
            raise Conflict(
                f"channel {channel.name} is archived: bring it back first "
                "(PATCH with archived: false)"
            )
        return channel

    # ---- members
    def members(self, channel_id: str) -> builtins.list[MemberRecord]:
        """Members with their names (and, for agents, when they speak), oldest first."""
        with self.db.session() as session:
            rows = list(
                session.scalars(
                    select(ChannelMember)
                    .where(ChannelMember.channel_id == channel_id)
                    .order_by(ChannelMember.joined_at)
                )
            )
            names = self._names(session, {r.member for r in rows})
        return [self._member_view(row, names.get(row.member)) for row in rows]

    def add_member(
        self, channel_id: str, member: str, actor: Actor, mode: str = "mention"
    ) -> MemberRecord:
        with self.db.session() as session:
            get_or_not_found(session, Channel, channel_id, "channel")
            names = self._names(session, {member})
            if member not in names:
                raise NotFound(f"no {member.replace(':', ' ')} to add")
            row = session.get(ChannelMember, (channel_id, member))
            before = self._member_view(row, names[member]) if row else None
            if row is None:
                row = ChannelMember(channel_id=channel_id, member=member, joined_at=utcnow())
                session.add(row)
            row.mode = mode if member.startswith("agent:") else "mention"
            session.flush()
            view = self._member_view(row, names[member])
            audit.record(
                session, actor, "channel.member.add", ("channel", channel_id), before, view
            )
        return view

    def remove_member(self, channel_id: str, member: str, actor: Actor) -> None:
        with self.db.session() as session:
            row = session.get(ChannelMember, (channel_id, member))
            if row is None:
                raise NotFound(f"{member} is not a member of channel {channel_id}")
            audit.record(
                session,
                actor,
                "channel.member.remove",
                ("channel", channel_id),
                {"member": member},
                None,
            )
            session.delete(row)
        self.publish("channel.member.removed", {"channel_id": channel_id, "member": member}, None)

    def agents_in(self, channel_id: str) -> builtins.list[tuple[str, str]]:
        """(agent id, mode) of the channel's agents, in the order they joined (asked at
        every message: one small query)."""
        with self.db.session() as session:
            rows = session.execute(
                select(ChannelMember.member, ChannelMember.mode)
                .where(
                    ChannelMember.channel_id == channel_id,
                    ChannelMember.member.startswith("agent:"),
                )
                .order_by(ChannelMember.joined_at)
            )
            return [(member.removeprefix("agent:"), mode) for member, mode in rows]

    def handles(self, channel_id: str) -> dict[str, str]:
        """@handle → member, for the channel's members."""
        return {m.handle: m.member for m in self.members(channel_id)}

    def name_of(self, member: str) -> str:
        with self.db.session() as session:
            return self._names(session, {member}).get(member, (member, member))[1]

    @staticmethod
    def _member_view(row: ChannelMember, naming: tuple[str, str] | None) -> MemberRecord:
        handle, name = naming or (row.member, row.member)
        return MemberRecord(
            member=row.member,
            kind="agent" if row.member.startswith("agent:") else "person",
            name=name,
            handle=handle,
            mode=cast(MemberMode, row.mode),
            joined_at=isoformat(row.joined_at),
        )

    @staticmethod
    def _names(session: Any, members: set[str]) -> dict[str, tuple[str, str]]:
        """member → (its @handle, its name), for those that exist."""
        names = {"owner": ("owner", "owner")} if "owner" in members else {}
        users = [m.removeprefix("user:") for m in members if m.startswith("user:")]
        agents = [m.removeprefix("agent:") for m in members if m.startswith("agent:")]
        if users:
            for user in session.scalars(select(User).where(User.id.in_(users))):
                names[f"user:{user.id}"] = (user.name, user.display_name)
        if agents:
            for agent in session.scalars(select(Agent).where(Agent.id.in_(agents))):
                names[f"agent:{agent.id}"] = (handle_of(agent.name), agent.name)
        return names

    @staticmethod
    def _check_name(name: str) -> None:
        if not CHANNEL_NAME.match(name):
            raise InvalidInput(
                "a channel name is 1 to 80 of a-z 0-9 _ - (lower case, like #general)",
                details={"field": "name"},
            )

    @staticmethod
    def _check_free(session: Any, name: str) -> None:
        if session.scalar(select(Channel.id).where(Channel.name == name)):
            raise Conflict(f"a channel named {name!r} exists", details={"field": "name"})
