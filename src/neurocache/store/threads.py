"""Threads of turns: which thread a memory is a turn of, and its place in it.

A memory whose `metadata.thread` is set (any string: a session of a chat log a plugin
writes turn by turn, with `metadata.speaker` and `metadata.at`) is one turn of that thread,
ordered by `at`, else by when it was made. The hub's own memories are threads already: a
conversation's messages, a channel's messages, a document's chunks (in their order). The
place is kept in columns (`thread`, `position`, `speaker`), so that a memory's neighbours
are one indexed lookup away (retrieval uses them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Place = tuple[str | None, float | None, str | None]  # thread, position, speaker


def place_in_thread(kind: str, meta: dict[str, Any] | None, created_at: datetime) -> Place:
    meta = meta or {}
    made = created_at.timestamp()
    if kind == "chunk" and meta.get("document_id"):
        return f"document:{meta['document_id']}", float(meta.get("index") or 0), None
    if kind == "message" and meta.get("conversation_id"):
        return f"conversation:{meta['conversation_id']}", made, meta.get("role")
    if kind == "channel_message" and meta.get("channel_id"):
        return f"channel:{meta['channel_id']}", made, meta.get("author_name")
    thread = meta.get("thread")
    if isinstance(thread, str) and thread:
        speaker = meta.get("speaker")
        return (
            thread[:200],
            said_at(meta.get("at")) or made,
            speaker[:200] if isinstance(speaker, str) and speaker else None,
        )
    return None, None, None


def said_at(value: Any) -> float | None:
    """`metadata.at` as seconds since 1970 (UTC when it names no zone); None if it is no
    ISO 8601 time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
