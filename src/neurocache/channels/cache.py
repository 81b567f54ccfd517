"""Hot history of channels: the latest messages of active channels, kept in memory.

The store is written first and always holds every message; this is only a cache in front
of it. A channel is cached whole-tail: its newest `size` messages as loaded from the store,
then kept current by every new, edited and deleted message. A miss (never read, evicted,
or a restarted hub) reloads from the store."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from neurocache.channels.records import ChannelMessageRecord

View = ChannelMessageRecord


class MessageCache(Protocol):
    """What channel messages ask of the hot tail: `ChannelCache` here,
    `RedisChannelCache` for processes sharing a store."""

    def latest(
        self, channel_id: str, limit: int, load: Callable[[int], list[View]]
    ) -> list[View] | None: ...
    def after(self, channel_id: str, seq: int) -> list[View] | None: ...
    def added(self, view: View) -> None: ...
    def changed(self, view: View) -> None: ...
    def removed(self, channel_id: str, message_id: str) -> None: ...
    def forget(self, channel_id: str | None = None) -> None: ...


class ChannelCache:
    def __init__(self, size: int = 200, max_channels: int = 100) -> None:
        self.size, self.max_channels = size, max_channels
        self._tails: OrderedDict[str, deque[View]] = OrderedDict()
        # Writes per channel: a tail loaded while a write landed may miss it, so it is
        # only kept when no write came between the start of its load and its end.
        self._writes: dict[str, int] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def latest(
        self, channel_id: str, limit: int, load: Callable[[int], list[View]]
    ) -> list[View] | None:
        """The newest `limit` messages, oldest first; None when more are asked than kept."""
        if limit > self.size:
            return None
        with self._lock:
            tail = self._tails.get(channel_id)
            if tail is not None:
                self.hits += 1
                self._tails.move_to_end(channel_id)
                return list(tail)[-limit:]
            self.misses += 1
            writes = self._writes.get(channel_id, 0)
        views = load(self.size)
        with self._lock:
            if self._writes.get(channel_id, 0) == writes and channel_id not in self._tails:
                self._put(channel_id, deque(views, maxlen=self.size))
        return views[-limit:]

    def after(self, channel_id: str, seq: int) -> list[View] | None:
        """The messages after `seq`, when the cached tail reaches back that far."""
        with self._lock:
            tail = self._tails.get(channel_id)
            if tail is None or not tail or tail[0].seq > seq:  # seqs have gaps
                return None
            self.hits += 1
            return [v for v in tail if v.seq > seq]

    def added(self, view: View) -> None:
        """A new message. A tail loaded just after its commit may hold it already, and
        two posts may arrive here in the other order than their seqs."""
        with self._lock:
            channel_id = view.channel_id
            self._count_write(channel_id)
            tail = self._tails.get(channel_id)
            if tail is None or any(v.id == view.id for v in tail):
                return
            tail.append(view)
            if len(tail) > 1 and tail[-2].seq > view.seq:
                self._tails[channel_id] = deque(sorted(tail, key=lambda v: v.seq), maxlen=self.size)

    def changed(self, view: View) -> None:
        with self._lock:
            self._count_write(view.channel_id)
            tail = self._tails.get(view.channel_id)
            for i, old in enumerate(tail or ()):
                if old.id == view.id:
                    tail[i] = view  # type: ignore[index]

    def removed(self, channel_id: str, message_id: str) -> None:
        """A deleted message: the tail is reloaded (it would be one short otherwise)."""
        with self._lock:
            self._count_write(channel_id)
            tail = self._tails.get(channel_id)
            if tail is not None and any(v.id == message_id for v in tail):
                del self._tails[channel_id]

    def forget(self, channel_id: str | None = None) -> None:
        with self._lock:
            for key in [channel_id] if channel_id else list(self._tails):
                self._count_write(key)
                self._tails.pop(key, None)

    def _count_write(self, channel_id: str) -> None:
        self._writes[channel_id] = self._writes.get(channel_id, 0) + 1

    def _put(self, channel_id: str, tail: deque[View]) -> None:
        self._tails[channel_id] = tail
        while len(self._tails) > self.max_channels:
            self._tails.popitem(last=False)
