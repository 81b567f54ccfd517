"""Short-term memory: the recent turns of conversations, kept hot in memory.

The store always holds every turn; this is only a cache in front of it, so a miss (expired,
evicted, or a restarted hub) reloads from the store. An entry lives 24 hours after the
conversation's last new message while it is active, and an hour after it is merely read."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from neurocache.replies.prompt import Turn

Chain = list[tuple[str, Turn]]  # (message id, turn), oldest first


class HistoryCache(Protocol):
    """What answering asks of the hot history: `HotHistory` here, `RedisHotHistory` for
    processes sharing a store."""

    def get(self, conversation_id: str, load: Callable[[], Chain]) -> Chain: ...
    def set(self, conversation_id: str, turns: Chain) -> None: ...
    def extend(
        self, conversation_id: str, after_id: str | None, message_id: str, turn: Turn
    ) -> None: ...
    def forget(self, conversation_id: str) -> None: ...


@dataclass
class _Entry:
    turns: Chain
    expires_at: float


class HotHistory:
    def __init__(
        self,
        *,
        active_ttl_s: float = 24 * 3600,
        idle_ttl_s: float = 3600,
        max_conversations: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.active_ttl_s, self.idle_ttl_s = active_ttl_s, idle_ttl_s
        self.max_conversations = max_conversations
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, conversation_id: str, load: Callable[[], Chain]) -> Chain:
        """The turns, from memory when fresh, else from `load` (the store)."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None and entry.expires_at > now:
                self.hits += 1
                entry.expires_at = max(entry.expires_at, now + self.idle_ttl_s)
                self._entries.move_to_end(conversation_id)
                return list(entry.turns)
            self.misses += 1
        turns = load()
        self._put(conversation_id, turns, now + self.idle_ttl_s)
        return list(turns)

    def set(self, conversation_id: str, turns: Chain) -> None:
        """After a new message: the conversation is active."""
        self._put(conversation_id, turns, self.clock() + self.active_ttl_s)

    def extend(
        self, conversation_id: str, after_id: str | None, message_id: str, turn: Turn
    ) -> None:
        """A new message after `after_id`: kept when the cached chain ends there."""
        with self._lock:
            entry = self._entries.get(conversation_id)
            if entry is not None and (entry.turns[-1][0] if entry.turns else None) == after_id:
                entry.turns.append((message_id, turn))
                entry.expires_at = self.clock() + self.active_ttl_s

    def forget(self, conversation_id: str) -> None:
        with self._lock:
            self._entries.pop(conversation_id, None)

    def _put(self, conversation_id: str, turns: Chain, expires_at: float) -> None:
        with self._lock:
            self._entries[conversation_id] = _Entry(list(turns), expires_at)
            self._entries.move_to_end(conversation_id)
            while len(self._entries) > self.max_conversations:
                self._entries.popitem(last=False)
