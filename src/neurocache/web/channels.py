"""Channels: rooms where people and agents talk; members, messages, threads, the query.

A user sees only the channels they are a member of (404 for the others); the hub's owner
sees them all. Messages page by `seq`: `before` scrolls back, `after` catches up."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint
from pydantic import Field, model_validator

from neurocache.channels.records import (
    ChannelDetail,
    ChannelMessageRecord,
    ChannelRecord,
    MemberRecord,
    MessagePage,
    QueryAnswer,
)
from neurocache.errors import InvalidInput
from neurocache.web.api import (
    CONFLICT,
    MAX_SEQ,
    MODEL_ERRORS,
    ApiModel,
    PageQuery,
    QueryModel,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("channels", __name__, url_prefix="/api/v1")


class NewChannel(RequestModel):
    name: str = Field(min_length=1, max_length=80, description="Like `general`: a-z 0-9 _ -.")
    description: str = Field("", max_length=10_000)


class ChannelChange(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=80)
    description: str | None = Field(None, max_length=10_000)
    archived: bool | None = Field(
        None, description="true archives (read-only), false brings it back."
    )


class ChannelListQuery(PageQuery):
    archived: bool = Field(False, description="List archived channels too.")


class NewMember(RequestModel):
    agent_id: str | None = None
    user_id: str | None = Field(None, description="A user's id or name, or `owner`.")
    mode: Literal["mention", "auto"] = Field(
        "mention", description="Agents: answer when @mentioned, or every person's message."
    )

    @model_validator(mode="after")
    def one_member(self) -> NewMember:
        if (self.agent_id is None) == (self.user_id is None):
            raise ValueError("give agent_id or user_id (one of them)")
        return self


class NewChannelMessage(RequestModel):
    content: str = Field(min_length=1, max_length=100_000)
    reply_to: str | None = Field(None, description="A message of this channel: a thread.")
    wait: bool = Field(False, description="Answer when the agents it calls on have replied.")


class MessageChange(RequestModel):
    content: str = Field(min_length=1, max_length=100_000)


class MessagesQuery(QueryModel):
    before: int | None = Field(
        None, ge=0, le=MAX_SEQ, description="The `seq` of a message: the page before it."
    )
    after: int | None = Field(
        None,
        ge=0,
        le=MAX_SEQ,
        description="The `seq` of the last message seen: what came "
        "since (catching up after a reconnect).",
    )
    limit: int = Field(50, ge=1, le=500)
    thread: str | None = Field(None, description="A message id: only the replies to it.")


class ChannelQuestion(RequestModel):
    question: str = Field(min_length=1, max_length=20_000)
    post: bool = Field(
        False,
        description="Keep the question and the answers in the channel, streamed as they "
        "are written: the question as your message, each agent's answer and the combined "
        "one as replies in its thread.",
    )


class ChannelList(ApiModel):
    channels: list[ChannelRecord]
    next_cursor: str | None


class MemberList(ApiModel):
    members: list[MemberRecord]


class ChannelPosted(ApiModel):
    message: ChannelMessageRecord
    replies: list[ChannelMessageRecord] | None = Field(
        None, description="With `wait`: the replies of the agents it called on."
    )


def person() -> str:
    return current_principal().person


def readable(channel_id: str) -> None:
    current_hub().channels.check_readable(person(), channel_id)


def writable(channel_id: str) -> None:
    current_hub().channels.check_writable(person(), channel_id)


def manageable(channel_id: str) -> None:
    current_hub().channels.check_manageable(person(), channel_id)


def with_presence(channel_id: str, members: list[MemberRecord]) -> list[MemberRecord]:
    online = current_hub().presence.online(channel_id)
    return [m.model_copy(update={"online": m.member in online}) for m in members]


def channel_with_presence(channel_id: str) -> ChannelDetail:
    channel = current_hub().channels.get(channel_id)
    return channel.model_copy(update={"members": with_presence(channel_id, channel.members)})


@bp.post("/channels")
@endpoint(scope="write", body=NewChannel, responses={201: ChannelDetail}, errors=CONFLICT)
def create_channel(body: NewChannel) -> tuple[ChannelDetail, int]:
    """A new channel; whoever creates it is its first member."""
    hub = current_hub()
    channel = hub.channels.create(current_actor(), person(), **body.model_dump())
    return channel_with_presence(channel.id), 201


@bp.get("/channels")
@endpoint(scope="read", query=ChannelListQuery, responses={200: ChannelList})
def list_channels(query: ChannelListQuery) -> dict[str, Any]:
    """The channels you may read, newest first."""
    channels, next_cursor = current_hub().channels.list(
        person(), archived=query.archived, limit=query.limit, cursor=query.cursor
    )
    return {"channels": channels, "next_cursor": next_cursor}


@bp.get("/channels/<channel_id>")
@endpoint(scope="read", responses={200: ChannelDetail})
def get_channel(channel_id: str) -> ChannelDetail:
    readable(channel_id)
    return channel_with_presence(channel_id)


@bp.patch("/channels/<channel_id>")
@endpoint(scope="write", body=ChannelChange, responses={200: ChannelRecord}, errors=CONFLICT)
def update_channel(channel_id: str, body: ChannelChange) -> ChannelRecord:
    """Rename, describe, archive (`archived: true`) or bring back (`archived: false`): the
    channel's creator, or the hub's owner."""
    manageable(channel_id)
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise InvalidInput("name, description and archived cannot be null")
    return current_hub().channels.update(channel_id, changes, current_actor())


@bp.get("/channels/<channel_id>/members")
@endpoint(scope="read", responses={200: MemberList})
def list_members(channel_id: str) -> dict[str, list[MemberRecord]]:
    """People and agents of the channel; `online` for those connected right now."""
    readable(channel_id)
    return {"members": with_presence(channel_id, current_hub().channels.members(channel_id))}


@bp.post("/channels/<channel_id>/members")
@endpoint(scope="write", body=NewMember, responses={201: MemberRecord}, errors=CONFLICT)
def add_member(channel_id: str, body: NewMember) -> tuple[MemberRecord, int]:
    """An agent (`mode`: answer when @mentioned, or `auto`) or a person. Adding one again
    changes its mode."""
    writable(channel_id)
    hub = current_hub()
    if body.agent_id is not None:
        member = f"agent:{hub.agents.get(body.agent_id).id}"
    else:
        user_id = body.user_id
        assert user_id is not None  # NewMember names one of agent_id and user_id
        member = "owner" if user_id == "owner" else hub.users.get(user_id).person
    view = hub.channels.add_member(channel_id, member, current_actor(), body.mode)
    return with_presence(channel_id, [view])[0], 201


@bp.delete("/channels/<channel_id>/members/<member>")
@endpoint(scope="write", responses={204: None}, errors=CONFLICT)
def remove_member(channel_id: str, member: str) -> tuple[str, int]:
    """`member` as listed: `owner`, `user:<id>` or `agent:<id>`. Anyone may leave; removing
    someone else is the channel's creator's (or the hub owner's)."""
    if member == person():
        writable(channel_id)
    else:
        manageable(channel_id)
        writable(channel_id)
    current_hub().channels.remove_member(channel_id, member, current_actor())
    return "", 204


@bp.get("/channels/<channel_id>/messages")
@endpoint(scope="read", query=MessagesQuery, responses={200: MessagePage})
def list_messages(channel_id: str, query: MessagesQuery) -> MessagePage:
    """Oldest first. Newest page by default; `before=<seq>` scrolls back; `after=<seq>`
    catches up on what came since; `thread=<message id>` lists a thread."""
    readable(channel_id)
    return current_hub().channel_messages.page(
        channel_id, before=query.before, after=query.after, limit=query.limit, thread=query.thread
    )


@bp.post("/channels/<channel_id>/messages")
@endpoint(
    scope="chat",
    body=NewChannelMessage,
    responses={201: ChannelPosted, 200: ChannelPosted},
    errors=CONFLICT + MODEL_ERRORS,
)
def post_message(channel_id: str, body: NewChannelMessage) -> tuple[dict[str, Any], int]:
    """Say something. Agents @mentioned, and agents in `auto` mode, answer in turn (their
    replies stream as `message.delta` in room `channel:<id>`)."""
    writable(channel_id)
    hub = current_hub()
    principal = current_principal()
    message = hub.channel_messages.post(
        channel_id,
        principal.person,
        body.content,
        reply_to=body.reply_to,
        via=None if principal.kind == "owner" else f"key:{principal.id}",
    )
    replies = hub.channel_agents.on_message(message)
    if body.wait:
        return {"message": message, "replies": hub.channel_agents.wait(replies, timeout=600)}, 200
    return {"message": message}, 201


@bp.get("/channels/<channel_id>/messages/<message_id>")
@endpoint(scope="read", responses={200: ChannelMessageRecord})
def get_message(channel_id: str, message_id: str) -> ChannelMessageRecord:
    readable(channel_id)
    return current_hub().channel_messages.get(channel_id, message_id)


@bp.patch("/channels/<channel_id>/messages/<message_id>")
@endpoint(scope="chat", body=MessageChange, responses={200: ChannelMessageRecord}, errors=CONFLICT)
def edit_message(channel_id: str, message_id: str, body: MessageChange) -> ChannelMessageRecord:
    """Its author (or the hub's owner) may change it; `message.updated` tells the room."""
    writable(channel_id)
    return current_hub().channel_messages.edit(
        channel_id, message_id, body.content, person(), current_actor()
    )


@bp.post("/channels/<channel_id>/messages/<message_id>/stop")
@endpoint(scope="chat", responses={200: ChannelMessageRecord}, errors=CONFLICT)
def stop_agent_reply(channel_id: str, message_id: str) -> ChannelMessageRecord:
    """Stop an agent's reply being written; what it wrote so far is kept (status `stopped`:
    `message.completed` tells the room)."""
    writable(channel_id)
    return current_hub().channel_agents.stop(channel_id, message_id)


@bp.delete("/channels/<channel_id>/messages/<message_id>")
@endpoint(scope="chat", responses={204: None}, errors=CONFLICT)
def delete_message(channel_id: str, message_id: str) -> tuple[str, int]:
    """Its author (or the hub's owner) may delete it; `message.deleted` tells the room."""
    writable(channel_id)
    current_hub().channel_messages.delete(channel_id, message_id, person(), current_actor())
    return "", 204


@bp.post("/channels/<channel_id>/query")
@endpoint(
    scope="chat", body=ChannelQuestion, responses={200: QueryAnswer}, errors=CONFLICT + MODEL_ERRORS
)
def query_channel(channel_id: str, body: ChannelQuestion) -> QueryAnswer:
    """Every agent of the channel answers from its own knowledge and memory; then one
    combined answer, with the sources of all."""
    if not body.post:
        readable(channel_id)
        return current_hub().channel_agents.query(channel_id, body.question)
    writable(channel_id)
    principal = current_principal()
    via = None if principal.kind == "owner" else f"key:{principal.id}"
    return current_hub().channel_agents.query(
        channel_id, body.question, asker=principal.person, via=via
    )
