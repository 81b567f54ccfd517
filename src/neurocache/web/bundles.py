"""Export and import bundles: a collection, an agent, a conversation, a channel (JSON), or
every chat you may read (JSONL, streamed); and the import of any of them into this hub.

Exporting needs `read` and shows only what the caller may read (another person's
conversation or a channel they are not in: 404, as everywhere). Importing needs `write`; it
makes new things with new ids, never touching what exists, and answers with the id map."""

from __future__ import annotations

import json
from typing import Any, Literal

from flask import Blueprint, Response, request
from pydantic import Field, RootModel

from neurocache.knowledge.histories import history_format, read_history
from neurocache.knowledge.records import HistoryImport
from neurocache.operations.bundle_format import (
    NDJSON,
    AgentBundle,
    ChannelBundle,
    CollectionBundle,
    ConversationBundle,
)
from neurocache.operations.bundles import for_hub
from neurocache.operations.records import ImportedBundle
from neurocache.web.api import CONFLICT, QueryModel, UnsupportedMediaType, endpoint
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("bundles", __name__, url_prefix="/api/v1")


class CollectionExportQuery(QueryModel):
    vectors: bool = Field(
        False,
        description="Carry the chunks' vectors (by this hub's "
        "embedder); by default the importing hub embeds them again.",
    )


class ImportQuery(QueryModel):
    kind: Literal["collection", "agent", "conversation", "channel", "chats"] | None = Field(
        None, description="Refuse (422) a bundle of any other kind."
    )


def download(bundle: dict[str, Any], kind: str, item_id: str) -> Response:
    return Response(
        json.dumps(bundle, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="neurocache-{kind}-{item_id}.json"'},
    )


def export(kind: str, item_id: str, **options: Any) -> Response:
    bundles = for_hub(current_hub())
    bundle = bundles.export(kind, item_id, current_principal().person, **options)
    return download(bundle, kind, item_id)


@bp.get("/collections/<collection_id>/export")
@endpoint(scope="read", query=CollectionExportQuery, responses={200: CollectionBundle})
def export_collection(collection_id: str, query: CollectionExportQuery) -> Response:
    """A collection as a bundle: its documents' full text and chunks (with offsets)."""
    return export("collection", collection_id, vectors=query.vectors)


@bp.get("/agents/<agent_id>/export")
@endpoint(scope="read", responses={200: AgentBundle})
def export_agent(agent_id: str) -> Response:
    """An agent as a bundle: persona, model, collections by name, its memories of every
    tier (those you may see) and the edges among them."""
    return export("agent", agent_id)


@bp.get("/conversations/<conversation_id>/export/bundle")
@endpoint(scope="read", responses={200: ConversationBundle})
def export_conversation(conversation_id: str) -> Response:
    """A conversation as a bundle: settings and every message (branches too), with
    roles, sources and times; a fork carries the history it shares."""
    return export("conversation", conversation_id)


@bp.get("/channels/<channel_id>/export")
@endpoint(scope="read", responses={200: ChannelBundle})
def export_channel(channel_id: str) -> Response:
    """A channel as a bundle: members by name, messages in `seq` order with their
    authors, threads and mentions."""
    return export("channel", channel_id)


@bp.get("/export/chats")
@endpoint(scope="read", responses={200: None})
def export_chats() -> Response:
    """Every conversation and channel you may read, as JSONL (streamed): a header line,
    then one line per conversation or channel."""
    lines = for_hub(current_hub()).export_chats(current_principal().person)
    return Response(
        lines,
        mimetype=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="neurocache-chats.jsonl"'},
    )


class ImportAnswer(RootModel[ImportedBundle | HistoryImport]):
    """A bundle's import, or a chat history's."""


@bp.post("/import")
@endpoint(scope="write", query=ImportQuery, responses={201: ImportAnswer}, errors=CONFLICT)
def import_bundle(query: ImportQuery) -> tuple[ImportedBundle | HistoryImport, int]:
    """Import a bundle: JSON (`application/json`), or JSONL (`application/x-ndjson`) for
    every chat. All or nothing; the answer maps each id of the bundle to its new id.

    Also a chat history from elsewhere: ChatGPT's `conversations.json` export, or JSONL of
    turns (`{"thread", "speaker", "at", "content"}` a line). Its turns become memories of
    kind `turn`; importing the same file again makes nothing new (`created`,
    `unchanged`)."""
    if request.mimetype not in ("application/json", NDJSON):
        raise UnsupportedMediaType(
            f"send the bundle as application/json, or JSONL as {NDJSON}",
            details={"content_type": request.mimetype or None},
        )
    raw = request.get_data(cache=False)
    fmt = history_format(raw) if query.kind is None else None
    if fmt is not None:  # a chat history from elsewhere, not a bundle
        hub = current_hub()
        return hub.histories.run(read_history(raw, fmt), current_actor()).view(fmt), 201
    principal = current_principal()
    imported = for_hub(current_hub()).import_bundle(
        raw,
        current_actor(),
        person=principal.person,
        ndjson=request.mimetype == NDJSON,
        expected_kind=query.kind,
    )
    return imported, 201
