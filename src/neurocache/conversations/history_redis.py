"""Short-term memory shared by several hub processes: `HotHistory`'s interface in Redis.

Each conversation's recent chain is one JSON value, `prefix + conversation id`, and Redis
keeps the activity-based expiry: a new message sets it to live `active_ttl_s` (a day), a
read extends it to at least `idle_ttl_s` (an hour) from now, never shortens it. Every
process reads and writes the same values, so the turn one process answers is the history
the next process sees. Redis is only a cache here: when it cannot be reached, the store
answers (a warning once), as a miss would."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from neurocache.conversations.history import Chain
from neurocache.replies.prompt import Turn

log = logging.getLogger("neurocache.chat")


def encode(turns: Chain) -> str:
    return json.dumps([[i, t.role, t.content] for i, t in turns])


def decode(value: str | bytes) -> Chain:
    return [(i, Turn(role, content)) for i, role, content in json.loads(value)]


class RedisHotHistory:
    def __init__(
        self,
        url: str,
        *,
        active_ttl_s: float,
        idle_ttl_s: float,
        prefix: str = "neurocache:history:",
        client: redis.Redis | None = None,
    ) -> None:
        self._redis = client or redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.active_ttl_s, self.idle_ttl_s = int(active_ttl_s), int(idle_ttl_s)
        self.prefix = prefix
        self.hits = self.misses = 0
        self._away = False

    def get(self, conversation_id: str, load: Callable[[], Chain]) -> Chain:
        key = self.prefix + conversation_id
        found = self._quietly(lambda: self._read(key))
        if found is not None:
            self.hits += 1
            return decode(found)
        self.misses += 1
        turns = load()
        self._quietly(lambda: self._redis.set(key, encode(turns), ex=self.idle_ttl_s, nx=True))
        return turns

    def set(self, conversation_id: str, turns: Chain) -> None:
        """After a new message: the conversation is active."""
        key = self.prefix + conversation_id
        self._quietly(lambda: self._redis.set(key, encode(turns), ex=self.active_ttl_s))

    def extend(
        self, conversation_id: str, after_id: str | None, message_id: str, turn: Turn
    ) -> None:
        """A new message after `after_id`: kept when the cached chain ends there (read,
        checked and written in one transaction: another process may extend it too)."""
        key = self.prefix + conversation_id

        def append(pipe: Any) -> None:
            value = pipe.get(key)
            if value is None:
                return
            turns = decode(value)
            if (turns[-1][0] if turns else None) != after_id:
                pipe.multi()
                pipe.delete(key)  # another branch: the next read loads it from the store
                return
            pipe.multi()
            pipe.set(key, encode([*turns, (message_id, turn)]), ex=self.active_ttl_s)

        self._quietly(lambda: self._redis.transaction(append, key))

    def forget(self, conversation_id: str) -> None:
        self._quietly(lambda: self._redis.delete(self.prefix + conversation_id))

    def _read(self, key: str) -> bytes | None:
        with self._redis.pipeline() as pipe:
            pipe.get(key)
            pipe.expire(key, self.idle_ttl_s, gt=True)  # a read keeps it at least an hour
            value, _ = pipe.execute()
        return value  # type: ignore[no-any-return]

    def _quietly(self, call: Callable[[], Any]) -> Any:
        """The call's answer, or None while Redis is away (said once, and once back)."""
        try:
            answer = call()
        except redis.RedisError as exc:
            if not self._away:
                log.warning("the hot history's Redis is away (%s): reading the store", exc)
            self._away = True
            return None
        if self._away:
            log.info("the hot history's Redis is back")
            self._away = False
        return answer
