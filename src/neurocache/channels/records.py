"""What the channel services answer: channels, their members and messages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neurocache.records import Record
from neurocache.search.passages import Citation

MemberKind = Literal["person", "agent"]
MemberMode = Literal["mention", "auto"]
ChannelMessageStatus = Literal["streaming", "complete", "stopped", "failed"]


class ChannelRecord(Record):
    id: str
    name: str
    description: str
    created_by: str
    archived: bool
    archived_at: str | None
    room: str = Field(description="The Socket.IO room its events go to.")
    created_at: str
    updated_at: str


class MemberRecord(Record):
    member: str = Field(description="`owner`, `user:<id>` or `agent:<id>`.")
    kind: MemberKind
    name: str
    handle: str = Field(description="How it is @mentioned.")
    mode: MemberMode = Field(description="`auto`: an agent that answers every person.")
    joined_at: str | None
    online: bool | None = Field(None, description="Connected right now (in the API's answers).")


class ChannelDetail(ChannelRecord):
    members: list[MemberRecord]


class ChannelMessageRecord(Record):
    id: str
    seq: int = Field(description="Its place in the channel: pages and catching up use it.")
    channel_id: str
    author: str
    author_name: str
    author_kind: MemberKind
    content: str
    reply_to: str | None
    mentions: list[str]
    status: ChannelMessageStatus
    sources: list[Citation]
    created_at: str
    edited_at: str | None
    trigger_id: str | None = Field(None, description="An agent's reply: what set it off.")
    error: str | None = None


class MessagePage(Record):
    messages: list[ChannelMessageRecord]
    has_more: bool
    before: int | None = Field(description="Pass as `before` for the older page.")
    after: int | None = Field(description="Pass as `after` to catch up from here.")


class AgentAnswer(Record):
    agent_id: str
    name: str
    answer: str
    sources: list[Citation]


class QueryAnswer(Record):
    """A question to a channel's agents: each one's answer, and one combining them."""

    question: str
    answer: str
    sources: list[Citation]
    answers: list[AgentAnswer]
    message_id: str | None = Field(
        None, description="The question's message in the channel, when it was kept there."
    )
