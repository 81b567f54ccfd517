"""Conversations and their messages: the chat API (answers stream over Socket.IO)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import Field

from neurocache.conversations.records import (
    ConversationDetail,
    ConversationRecord,
    MessageRecord,
    Posted,
)
from neurocache.errors import InvalidInput, NotFound
from neurocache.web.api import (
    CONFLICT,
    MODEL_ERRORS,
    ApiModel,
    PageQuery,
    QueryModel,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub, current_principal, require

bp = Blueprint("conversations", __name__, url_prefix="/api/v1")


class NewConversation(RequestModel):
    title: str | None = Field(None, max_length=500)
    collections: list[str] | None = Field(
        None, description="Collections (ids or names) answers draw from; none: all memory."
    )
    model: str | None = Field(None, description="A chat model's id; none: the running one.")
    agent_id: str | None = None
    short_term: bool = Field(True, description="Offer the recent turns to the model.")
    long_term: bool = Field(
        True, description="Remember these messages, and recall earlier conversations."
    )


class ConversationChange(RequestModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    collections: list[str] | None = None
    model: str | None = None
    short_term: bool | None = None
    long_term: bool | None = None


class ConversationList(ApiModel):
    conversations: list[ConversationRecord]
    next_cursor: str | None


class NewMessage(RequestModel):
    content: str = Field(min_length=1, max_length=200_000)
    wait: bool = Field(False, description="Answer when the reply is complete (for scripts).")


class Regenerate(RequestModel):
    wait: bool = False


class Fork(RequestModel):
    message_id: str
    title: str | None = Field(None, max_length=500)


class ExportQuery(QueryModel):
    format: Literal["markdown", "json"] = "markdown"


@bp.before_request
def only_your_own_conversations() -> None:
    """A user reads and writes their own conversations (the owner, every one): any other
    is answered as missing."""
    conversation_id = (request.view_args or {}).get("conversation_id")
    if conversation_id is not None:
        person = require("chat").person
        current_hub().conversations.check_readable(person, conversation_id)


@bp.post("/conversations")
@endpoint(scope="chat", body=NewConversation, responses={201: ConversationRecord})
def create_conversation(body: NewConversation) -> tuple[ConversationRecord, int]:
    """Start a conversation."""
    return current_hub().conversations.create(
        current_actor(), **body.model_dump(), owner=current_principal().person
    ), 201


@bp.get("/conversations")
@endpoint(scope="chat", query=PageQuery, responses={200: ConversationList})
def list_conversations(query: PageQuery) -> dict[str, Any]:
    """Newest first, paged with `cursor`."""
    conversations, next_cursor = current_hub().conversations.list(
        limit=query.limit, cursor=query.cursor, person=current_principal().person
    )
    return {"conversations": conversations, "next_cursor": next_cursor}


@bp.get("/conversations/<conversation_id>")
@endpoint(scope="chat", responses={200: ConversationDetail})
def get_conversation(conversation_id: str) -> ConversationDetail:
    """With its messages, oldest first (a fork shows the history it shares)."""
    return current_hub().conversations.get(conversation_id)


@bp.patch("/conversations/<conversation_id>")
@endpoint(scope="chat", body=ConversationChange, responses={200: ConversationRecord})
def update_conversation(conversation_id: str, body: ConversationChange) -> ConversationRecord:
    """Rename it, or change what it draws from."""
    changes = body.model_dump(exclude_unset=True)
    nulls = [
        name
        for name in ("title", "short_term", "long_term")
        if name in changes and changes[name] is None
    ]
    if nulls:
        raise InvalidInput(f"{', '.join(nulls)} cannot be null", details={"field": nulls[0]})
    return current_hub().conversations.update(conversation_id, changes, current_actor())


@bp.delete("/conversations/<conversation_id>")
@endpoint(scope="chat", responses={204: None})
def delete_conversation(conversation_id: str) -> tuple[str, int]:
    """Its messages go with it, but for those a fork still shows."""
    hub = current_hub()
    hub.conversations.delete(conversation_id, current_actor())  # and leaves the index (event)
    hub.answers.hot.forget(conversation_id)
    return "", 204


@bp.get("/conversations/<conversation_id>/export")
@endpoint(scope="chat", query=ExportQuery, responses={200: None})
def export_conversation(conversation_id: str, query: ExportQuery) -> Response:
    """The whole conversation as Markdown (for people) or JSON (for programs)."""
    body, mime = current_hub().conversations.export(conversation_id, query.format)
    extension = "md" if query.format == "markdown" else "json"
    return Response(
        body,
        mimetype=mime.split(";")[0],
        headers={
            "Content-Disposition": f'attachment; filename="conversation-{conversation_id}.'
            f'{extension}"'
        },
    )


@bp.post("/conversations/<conversation_id>/messages")
@endpoint(scope="chat", body=NewMessage, responses={200: Posted, 202: Posted}, errors=MODEL_ERRORS)
def post_message(conversation_id: str, body: NewMessage) -> tuple[Posted, int]:
    """Ask. The reply streams in room `conversation:<id>` (`message.delta`, then
    `message.completed`); with `wait`, the answer carries the finished reply."""
    posted = current_hub().answers.post(conversation_id, body.content, wait=body.wait)
    return posted, 200 if body.wait else 202


@bp.post("/conversations/<conversation_id>/messages/<message_id>/regenerate")
@endpoint(
    scope="chat",
    body=Regenerate,
    responses={200: Posted, 202: Posted},
    errors=CONFLICT + MODEL_ERRORS,
)
def regenerate(conversation_id: str, message_id: str, body: Regenerate) -> tuple[Posted, int]:
    """Another reply to the same question, beside the first (kept as a branch)."""
    posted = current_hub().answers.regenerate(conversation_id, message_id, wait=body.wait)
    return posted, 200 if body.wait else 202


@bp.post("/conversations/<conversation_id>/messages/<message_id>/stop")
@endpoint(scope="chat", responses={200: MessageRecord}, errors=CONFLICT)
def stop_reply(conversation_id: str, message_id: str) -> MessageRecord:
    """Stop a reply being written; what it wrote so far is kept (status `stopped`)."""
    hub = current_hub()
    if hub.conversations.message(message_id).conversation_id != conversation_id:
        raise NotFound(f"message {message_id} is not in conversation {conversation_id}")
    return hub.answers.stop(message_id)


class Branch(RequestModel):
    message_id: str = Field(description="One of the replies listed in a message's `siblings`.")


@bp.post("/conversations/<conversation_id>/branch")
@endpoint(scope="chat", body=Branch, responses={200: ConversationDetail})
def show_branch(conversation_id: str, body: Branch) -> ConversationDetail:
    """Show another branch: the conversation goes on from that reply (regenerated replies
    stay side by side, as `siblings`)."""
    return current_hub().conversations.show_branch(
        conversation_id, body.message_id, current_actor()
    )


@bp.post("/conversations/<conversation_id>/fork")
@endpoint(scope="chat", body=Fork, responses={201: ConversationDetail}, errors=CONFLICT)
def fork_conversation(conversation_id: str, body: Fork) -> tuple[ConversationDetail, int]:
    """A new conversation sharing this one's history up to `message_id`."""
    return current_hub().conversations.fork(
        conversation_id, body.message_id, current_actor(), body.title, current_principal().person
    ), 201
