"""Hot history of channels shared by several hub processes: `ChannelCache` in Redis.

A channel's cached tail is a sorted set, `prefix + channel id`: each member a message's
JSON, scored by its `seq`, the newest `size` kept. As in memory, the tail is whole (every
message from its lowest seq up) or absent: a tail is loaded from the store only when no
write to the channel came while it loaded (a counter per channel, watched in the same
transaction), and a deleted message drops the tail (the next read reloads it). Expiry
follows activity: a write keeps the tail `active_ttl_s` (a day), a read at least
`idle_ttl_s` (an hour). Redis is only a cache: when it cannot be reached, the store answers
(a warning once), as a miss would."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from neurocache.channels.records import ChannelMessageRecord

log = logging.getLogger("neurocache.channels")
View = ChannelMessageRecord


class RedisChannelCache:
    def __init__(
        self,
        url: str,
        size: int = 200,
        *,
        active_ttl_s: float = 24 * 3600,
        idle_ttl_s: float = 3600,
        prefix: str = "neurocache:channel:",
        client: redis.Redis | None = None,
    ) -> None:
        self._redis = client or redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.size = size
        self.active_ttl_s, self.idle_ttl_s = int(active_ttl_s), int(idle_ttl_s)
        self.prefix = prefix
        self.hits = self.misses = 0
        self._away = False

    def latest(
        self, channel_id: str, limit: int, load: Callable[[int], list[View]]
    ) -> list[View] | None:
        """The newest `limit` messages, oldest first; None when more are asked than kept."""
        if limit > self.size:
            return None
        read: tuple[list[View] | None, int] | None = self._quietly(
            lambda: self._read(channel_id, -limit)
        )
        tail, writes = read or (None, None)
        if tail is not None:
            self.hits += 1
            return tail
        self.misses += 1
        views = load(self.size)
        if writes is not None:
            self._quietly(lambda: self._put(channel_id, views, writes))
        return views[-limit:]

    def after(self, channel_id: str, seq: int) -> list[View] | None:
        """The messages after `seq`, when the cached tail reaches back that far."""
        key = self.prefix + channel_id
        first = self._quietly(lambda: self._redis.zrange(key, 0, 0, withscores=True))
        if not first or first[0][1] > seq:  # seqs have gaps
            return None
        members = self._quietly(lambda: self._redis.zrangebyscore(key, f"({seq}", "+inf"))
        if members is None:
            return None
        self.hits += 1
        return [View.model_validate_json(m) for m in members]

    def added(self, view: View) -> None:
        """A new message, into a tail that exists (a tail loaded just after its commit may
        hold it already: one member per seq)."""
        self._quietly(lambda: self._write(view, replace=False))

    def changed(self, view: View) -> None:
        self._quietly(lambda: self._write(view, replace=True))

    def removed(self, channel_id: str, message_id: str) -> None:
        """A deleted message: the tail goes (it would be one short), to be reloaded."""
        self._quietly(lambda: self._drop(channel_id))

    def forget(self, channel_id: str | None = None) -> None:
        if channel_id is not None:
            self._quietly(lambda: self._drop(channel_id))
            return
        keys: list[bytes] = self._quietly(lambda: list(self._redis.scan_iter(self.prefix + "*")))
        if keys:
            self._quietly(lambda: self._redis.delete(*keys))

    # ---- in Redis
    def _read(self, channel_id: str, start: int) -> tuple[list[View] | None, int]:
        key = self.prefix + channel_id
        with self._redis.pipeline() as pipe:
            pipe.zrange(key, start, -1)
            pipe.expire(key, self.idle_ttl_s, gt=True)  # a read keeps it at least an hour
            pipe.get(self._writes_key(channel_id))
            members, _, writes = pipe.execute()
        tail = [View.model_validate_json(m) for m in members] if members else None
        return tail, int(writes or 0)

    def _put(self, channel_id: str, views: list[View], writes: int) -> None:
        key, counter = self.prefix + channel_id, self._writes_key(channel_id)

        def store(pipe: Any) -> None:
            if int(pipe.get(counter) or 0) != writes or pipe.exists(key):
                return  # a write came while the tail loaded: it may miss it
            pipe.multi()
            if views:
                pipe.zadd(key, {v.model_dump_json(): v.seq for v in views})
                pipe.expire(key, self.idle_ttl_s)

        self._redis.transaction(store, counter, key)

    def _write(self, view: View, *, replace: bool) -> None:
        key, counter = self.prefix + view.channel_id, self._writes_key(view.channel_id)

        def write(pipe: Any) -> None:
            present = pipe.exists(key)
            taken = pipe.zcount(key, view.seq, view.seq) if present else 0
            pipe.multi()
            pipe.incr(counter)
            pipe.expire(counter, self.active_ttl_s)
            if not present or (taken and not replace):
                return
            pipe.zremrangebyscore(key, view.seq, view.seq)
            pipe.zadd(key, {view.model_dump_json(): view.seq})
            pipe.zremrangebyrank(key, 0, -self.size - 1)  # the newest `size` stay
            pipe.expire(key, self.active_ttl_s)

        self._redis.transaction(write, key)

    def _drop(self, channel_id: str) -> None:
        with self._redis.pipeline() as pipe:
            pipe.incr(self._writes_key(channel_id))
            pipe.expire(self._writes_key(channel_id), self.active_ttl_s)
            pipe.delete(self.prefix + channel_id)
            pipe.execute()

    def _writes_key(self, channel_id: str) -> str:
        return f"{self.prefix.rstrip(':')}-writes:{channel_id}"  # not a tail: not forgotten

    def _quietly(self, call: Callable[[], Any]) -> Any:
        """The call's answer, or None while Redis is away (said once, and once back)."""
        try:
            answer = call()
        except redis.RedisError as exc:
            if not self._away:
                log.warning("the channel cache's Redis is away (%s): reading the store", exc)
            self._away = True
            return None
        if self._away:
            log.info("the channel cache's Redis is back")
            self._away = False
        return answer
