"""What the conversation services answer: conversations and their messages."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neurocache.records import Record
from neurocache.search.passages import Citation

Role = Literal["user", "assistant", "system"]
MessageStatus = Literal["streaming", "complete", "stopped", "failed"]


class ConversationRecord(Record):
    id: str
    title: str
    collections: list[str] = Field(description="The collections it draws on; none: all.")
    model: str | None
    agent_id: str | None
    short_term: bool
    long_term: bool
    head_id: str | None = Field(description="The newest message of the branch shown.")
    created_at: str
    updated_at: str


class MessageRecord(Record):
    id: str
    conversation_id: str
    parent_id: str | None
    role: Role
    content: str
    status: MessageStatus
    sources: list[Citation]
    model: str | None
    created_at: str
    error: str | None = None
    siblings: list[str] = Field(
        default_factory=list,
        description="In a conversation's messages: this one and the other replies to the same "
        "message (regenerated), oldest first, when there are several.",
    )


class ConversationDetail(ConversationRecord):
    """A conversation with the messages of its branch, oldest first."""

    messages: list[MessageRecord]
    forked_from: str | None = Field(None, description="The message of another it goes on from.")


class Posted(Record):
    """A question taken in: its reply follows (`reply_id`), or is here when waited for."""

    message: MessageRecord
    reply_id: str | None = None
    reply: MessageRecord | None = None
