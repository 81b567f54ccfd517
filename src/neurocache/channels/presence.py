"""Who is in which channel right now: counted per socket, so a person with two tabs open
goes offline only when the last one leaves. Only a running hub knows this; nothing is
stored."""

from __future__ import annotations

import threading
from collections import Counter


class Presence:
    def __init__(self) -> None:
        self._online: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def arrive(self, channel_id: str, person: str) -> bool:
        """True when `person` was not here before (say so to the channel)."""
        with self._lock:
            here = self._online.setdefault(channel_id, Counter())
            here[person] += 1
            return here[person] == 1

    def leave(self, channel_id: str, person: str) -> bool:
        """True when `person`'s last socket left."""
        with self._lock:
            here = self._online.get(channel_id)
            if here is None or here[person] == 0:
                return False
            here[person] -= 1
            if here[person] == 0:
                del here[person]
                if not here:
                    del self._online[channel_id]
                return True
            return False

    def online(self, channel_id: str) -> set[str]:
        with self._lock:
            return set(self._online.get(channel_id, ()))


class RedisPresence:
    """The same counts in Redis (one hash per channel: person → open sockets), so every
    hub process of a team sees who is online, whichever process their socket reached.
    A process that dies without its sockets leaving leaves its counts behind until the
    channel's hash expires (a day after the last arrival)."""

    KEEP_S = 24 * 3600

    def __init__(self, url: str, prefix: str = "neurocache:presence:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix

    def arrive(self, channel_id: str, person: str) -> bool:
        key = self.prefix + channel_id
        with self._redis.pipeline() as pipe:
            pipe.hincrby(key, person, 1)
            pipe.expire(key, self.KEEP_S)
            count, _ = pipe.execute()
        return int(count) == 1

    def leave(self, channel_id: str, person: str) -> bool:
        key = self.prefix + channel_id
        count = int(self._redis.hincrby(key, person, -1))
        if count <= 0:
            self._redis.hdel(key, person)
            return count == 0
        return False

    def online(self, channel_id: str) -> set[str]:
        return {str(person) for person in self._redis.hkeys(self.prefix + channel_id)}
