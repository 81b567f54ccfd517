"""Chat histories from elsewhere, as threads of turns: ChatGPT's `conversations.json`
export, or JSONL of turns (`{"thread", "speaker", "at", "content"}`, one per line).

Each turn becomes a memory of kind `turn` (`metadata.thread`, `speaker`, `at`, and the
thread's `title`), written a batch at a time in one transaction each, then embedded. A
turn carries a key of where it came from (its thread, time, speaker and text, hashed):
importing the same file again finds every turn and makes nothing new; a file that grew
adds only what is new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from neurocache.errors import InvalidInput
from neurocache.knowledge.records import HistoryFormat, HistoryImport
from neurocache.store import Database, audit
from neurocache.store.audit import Actor
from neurocache.store.graph import content_hash
from neurocache.store.tables import Memory

KIND = "turn"
BATCH = 500
MAX_TURN_CHARS = 100_000


@dataclass(frozen=True)
class TurnIn:
    thread: str
    speaker: str
    at: str | None  # ISO 8601
    content: str
    title: str | None = None

    @property
    def key(self) -> str:
        return hashlib.sha256(
            "\0".join((self.thread, self.at or "", self.speaker, self.content)).encode()
        ).hexdigest()


def history_format(raw: bytes) -> HistoryFormat | None:
    """`chatgpt`, `turns`, or None (not a chat history: perhaps a bundle)."""
    text = raw.lstrip()[:200_000].decode("utf-8", "replace")
    if text.startswith("["):
        return "chatgpt" if '"mapping"' in text[:200_000] else None
    first = text.split("\n", 1)[0]
    try:
        line = json.loads(first)
    except ValueError:
        return None
    if isinstance(line, dict) and "content" in line and "neurocache_bundle" not in line:
        return "turns"
    return None


def read_history(raw: bytes, fmt: str) -> list[TurnIn]:
    """Every turn of the file, checked (a bad line says which)."""
    text = raw.decode("utf-8", "replace")
    turns = list(_chatgpt(text) if fmt == "chatgpt" else _jsonl(text))
    if not turns:
        raise InvalidInput("the file holds no turns to import")
    return turns


def _jsonl(text: str) -> Iterator[TurnIn]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(
                f"line {number} is not JSON: {exc}", details={"line": number}
            ) from exc
        yield _turn(item, number)


def _turn(item: Any, number: int) -> TurnIn:
    if not isinstance(item, dict) or not isinstance(item.get("content"), str):
        raise InvalidInput(
            f"line {number}: a turn is an object with `content` (text)", details={"line": number}
        )
    at = item.get("at")
    if at is not None and (not isinstance(at, str) or _iso(at) is None):
        raise InvalidInput(f"line {number}: `at` is an ISO 8601 time", details={"line": number})
    return TurnIn(
        str(item.get("thread") or "imported"),
        str(item.get("speaker") or ""),
        at,
        item["content"][:MAX_TURN_CHARS],
        item.get("title"),
    )


def _iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _chatgpt(text: str) -> Iterator[TurnIn]:
    try:
        conversations = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"conversations.json is not JSON: {exc}") from exc
    if not isinstance(conversations, list):
        raise InvalidInput("a ChatGPT export is a list of conversations")
    for conversation in conversations:
        if isinstance(conversation, dict):
            yield from _chatgpt_conversation(conversation)


def _chatgpt_conversation(conversation: dict[str, Any]) -> Iterator[TurnIn]:
    """The branch the person last saw (from `current_node` up to the root), in order."""
    mapping = conversation.get("mapping") or {}
    thread = f"chatgpt:{conversation.get('conversation_id') or conversation.get('id') or ''}"
    title = conversation.get("title")
    for node in reversed(list(_branch(mapping, conversation.get("current_node")))):
        message = node.get("message") or {}
        role = (message.get("author") or {}).get("role")
        content = _parts_text(message.get("content") or {})
        if role not in ("user", "assistant") or not content.strip():
            continue  # system prompts, tool calls, empty nodes
        if (message.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
            continue
        created = message.get("create_time") or conversation.get("create_time")
        at = (
            datetime.fromtimestamp(created, UTC).isoformat().replace("+00:00", "Z")
            if isinstance(created, int | float)
            else None
        )
        yield TurnIn(thread, role, at, content[:MAX_TURN_CHARS], title)


def _branch(mapping: dict[str, Any], leaf: str | None) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    node_id = (
        leaf
        if leaf in mapping
        else next((i for i, n in mapping.items() if not n.get("children")), None)
    )
    while node_id is not None and node_id in mapping and node_id not in seen:
        seen.add(node_id)
        yield mapping[node_id]
        node_id = mapping[node_id].get("parent")


def _parts_text(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(p for p in parts if isinstance(p, str))
    text = content.get("text")
    return text if isinstance(text, str) else ""


@dataclass
class HistoryImported:
    turns: int = 0
    created: int = 0
    unchanged: int = 0
    threads: int = 0

    def view(self, fmt: HistoryFormat) -> HistoryImport:
        return HistoryImport(
            format=fmt,
            threads=self.threads,
            turns=self.turns,
            created=self.created,
            unchanged=self.unchanged,
        )


class HistoryImporter:
    def __init__(self, db: Database, remember: Callable[[list[str], list[str]], None]) -> None:
        self.db = db
        self.remember = remember  # (memory ids, texts): embed and index them

    def run(
        self,
        turns: list[TurnIn],
        actor: Actor,
        progress: Callable[[int, int], None] = lambda _done, _total: None,
    ) -> HistoryImported:
        """Write what is new, a batch at a time, each embedded before the next."""
        result = HistoryImported(turns=len(turns), threads=len({t.thread for t in turns}))
        for start in range(0, len(turns), BATCH):
            made = self._write(turns[start : start + BATCH], actor)
            result.created += len(made)
            result.unchanged += min(BATCH, len(turns) - start) - len(made)
            if made:
                self.remember([m.id for m in made], [m.content for m in made])
            progress(min(start + BATCH, len(turns)), len(turns))
        return result

    def _write(self, batch: Iterable[TurnIn], actor: Actor) -> list[Memory]:
        fresh = {t.key: t for t in batch}
        with self.db.session() as session:
            known = set(
                session.scalars(select(Memory.origin_key).where(Memory.origin_key.in_(list(fresh))))
            )
            made = [
                Memory(
                    kind=KIND,
                    content=t.content,
                    content_hash=content_hash(t.content),
                    origin_key=key,
                    owner=actor.name,
                    meta={
                        "thread": t.thread,
                        "speaker": t.speaker,
                        "at": t.at,
                        **({"title": t.title} if t.title else {}),
                    },
                )
                for key, t in fresh.items()
                if key not in known
            ]
            session.add_all(made)
            session.flush()
            for memory in made:
                audit.record(
                    session,
                    actor,
                    "memory.import",
                    ("memory", memory.id),
                    None,
                    {"kind": KIND, "thread": memory.thread},
                )
        return made
