"""The hub's events: services say what happened, and whoever cares subscribes.

A service is handed `publish(name, payload, room)` and calls it after its change is
committed (`key.revoked`, `channel.member.removed`, `reply.finished`, `message.delta`...).
Subscribers register by name, or `*` for every event: the web layer's Socket.IO emitter is
one (it forwards the events that name a room), the services that follow another's changes
are others. Handlers run on the publisher's thread, in the order they subscribed; one that
fails is logged and the rest still run, so a broken listener never undoes the change that
was published.

This dispatcher is in-process. Its interface (publish and subscribe by name, payloads of
plain JSON-able values) is what a dispatcher carrying events between hub processes (through
Redis) would keep."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("neurocache.events")

EVERY = "*"


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any]
    room: str | None = None  # the Socket.IO room it is for, if clients should see it


Handler = Callable[[Event], None]
# How a service tells the world what happened: publish(name, payload, room).
Publish = Callable[[str, dict[str, Any], str | None], None]


def publish_nowhere(name: str, payload: dict[str, Any], room: str | None = None) -> None:
    """What a service publishes to when nobody listens (a service built alone, in tests)."""


class Events:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, name: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(event)` for each event `name` (or every event, with `*`); the
        answer undoes the subscription."""
        with self._lock:
            self._handlers[name].append(handler)

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers[name]:
                    self._handlers[name].remove(handler)

        return unsubscribe

    def publish(self, name: str, payload: dict[str, Any], room: str | None = None) -> None:
        event = Event(name, payload, room)
        with self._lock:
            handlers = [*self._handlers.get(name, ()), *self._handlers.get(EVERY, ())]
        for handler in handlers:
            try:
                handler(event)
            except Exception:  # one listener's failure is not the publisher's
                log.exception("a handler of %s failed", name)
