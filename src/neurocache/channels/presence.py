"""Who is in which channel right now: counted per socket, so a person with two tabs open
goes offline only when the last one leaves. Only a running hub knows this; nothing is
stored."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import cast

from neurocache.threads import Threads

log = logging.getLogger("neurocache.presence")


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
    """The same counts in Redis, so every hub process of a team sees who is online,
    whichever process their socket reached: one hash per channel, a field per person and
    process (`person|process` → open sockets), and per process a heartbeat key it renews
    while it runs. A process that dies without its sockets leaving stops renewing, and
    within `ALIVE_S` its counts stop counting (they are not deleted: a process that only
    missed a beat, Redis away a moment, counts again at its next; the hash expires)."""

    KEEP_S = 24 * 3600  # a channel's hash, after its last arrival
    ALIVE_S = 30.0  # a process's heartbeat lives this long; renewed every third of it

    def __init__(
        self, url: str, process: str, threads: Threads, prefix: str = "neurocache:presence:"
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self.process, self.prefix, self._threads = process, prefix, threads
        self._stopping = threading.Event()

    def start(self) -> None:
        self._beat()
        self._threads.start("presence-heartbeat", self._keep_beating)

    def stop(self) -> None:
        self._stopping.set()
        self._redis.delete(self._alive_key(self.process))  # its sockets are gone with it

    def arrive(self, channel_id: str, person: str) -> bool:
        key = self.prefix + channel_id
        with self._redis.pipeline() as pipe:
            pipe.hincrby(key, self._field(person), 1)
            pipe.expire(key, self.KEEP_S)
            pipe.execute()
        return self._live_sockets(channel_id).get(person, 0) == 1

    def leave(self, channel_id: str, person: str) -> bool:
        key, field = self.prefix + channel_id, self._field(person)
        count = int(self._redis.hincrby(key, field, -1))
        if count <= 0:
            self._redis.hdel(key, field)
            return count == 0 and person not in self._live_sockets(channel_id)
        return False

    def online(self, channel_id: str) -> set[str]:
        return set(self._live_sockets(channel_id))

    def _live_sockets(self, channel_id: str) -> dict[str, int]:
        """Open sockets per person, counting only processes still alive."""
        key = self.prefix + channel_id
        fields = cast(dict[str, str], self._redis.hgetall(key))
        processes = sorted({field.rpartition("|")[2] for field in fields})
        if not processes:
            return {}
        beats = cast(list[str | None], self._redis.mget([self._alive_key(p) for p in processes]))
        alive = {process for process, beat in zip(processes, beats, strict=True) if beat}
        counts: dict[str, int] = {}
        for field, count in fields.items():
            person, _, process = field.rpartition("|")
            if process in alive and int(count) > 0:
                counts[person] = counts.get(person, 0) + int(count)
        return counts

    def _keep_beating(self) -> None:
        while not self._stopping.wait(self.ALIVE_S / 3):
            try:
                self._beat()
            except Exception:  # Redis away a moment: the next beat tries again
                log.warning("the presence heartbeat could not reach Redis", exc_info=True)

    def _beat(self) -> None:
        self._redis.set(self._alive_key(self.process), "1", ex=int(self.ALIVE_S))

    def _field(self, person: str) -> str:
        return f"{person}|{self.process}"

    def _alive_key(self, process: str) -> str:
        return f"{self.prefix}alive:{process}"
