"""The plain WebSocket subscribers of this hub process (`/ws`), by channel, and how every
pub/sub message reaches them.

A pub/sub message, published through Socket.IO's `publish` or through `/ws`'s `pub`, is one
Socket.IO emit of `event` to the room `pubsub:<channel>`. The Socket.IO client manager made
here taps the point where a process hands an emit to its own clients: that happens once in
every process for every emit, its own and, through the message queue in team mode (Redis),
every other process's. There each pub/sub message is also handed to the `/ws` subscribers
of that process, so both kinds of subscriber see every message, on every process, with no
second transport between the processes.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import socketio
from simple_websocket import ConnectionClosed, Server

from neurocache.access.keys import Principal
from neurocache.errors import InvalidInput
from neurocache.web.realtime import PUBSUB_PREFIX

log = logging.getLogger("neurocache.pubsub")

PUBSUB_EVENT = "event"  # the Socket.IO event a pub/sub message is emitted as (realtime.py)
# Frames a client has not yet taken: past this, it is not reading, and is let go rather
# than holding the hub's memory (or, through a blocking send, a publisher).
OUTBOX_LIMIT = 1000
MAX_CHANNELS = 100  # channels one `/ws` socket may be subscribed to at once
# WebSocket close codes (RFC 6455)
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013

Deliver = Callable[[str, dict[str, Any]], None]


class PubSubTap(socketio.Manager):
    """Socket.IO's client manager, also handing each pub/sub message this process delivers
    to `deliver(channel, message)`.

    Under a message queue it sits below the queue's manager in the method order: the
    queue calls this `emit` for the clients of this process (its own emits and the other
    processes'), so each message is handed over once per process."""

    deliver: Deliver | None = None

    def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> Any:
        target = to or room
        if event == PUBSUB_EVENT and isinstance(target, str) and isinstance(data, dict):
            self._hand_over(target, data)
        return super().emit(
            event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )

    def _hand_over(self, room: str, message: dict[str, Any]) -> None:
        if self.deliver is None or not room.startswith(PUBSUB_PREFIX):
            return
        try:
            self.deliver(room.removeprefix(PUBSUB_PREFIX), message)
        except Exception:  # the Socket.IO subscribers must still get it
            log.exception("handing a pub/sub message to the /ws subscribers failed")


class InitializedOnce:
    """`initialize()`, which starts a queue's listener thread, runs once, whoever calls it
    first: Socket.IO at the process's first client, or `/ws` at its first (`listen`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._initialize_lock = threading.Lock()
        self._initialized = False
        super().__init__(*args, **kwargs)

    def initialize(self) -> None:
        with self._initialize_lock:
            if self._initialized:
                return
            self._initialized = True
        super().initialize()  # type: ignore[misc]


# In this order: once-only first; the tap below the queue (see PubSubTap).
class TappedRedisManager(InitializedOnce, socketio.RedisManager, PubSubTap):
    pass


class TappedKombuManager(InitializedOnce, socketio.KombuManager, PubSubTap):
    pass


def client_manager(url: str | None, channel: str, deliver: Deliver) -> PubSubTap:
    """The manager Flask-SocketIO would make for `message_queue=url` (the same choice of
    queue by URL), tapped for `deliver`; without a URL, one process's."""
    manager: PubSubTap
    if not url:
        manager = PubSubTap()
    elif url.startswith(("redis://", "rediss://")):
        manager = TappedRedisManager(url, channel=channel)
    else:
        manager = TappedKombuManager(url, channel=channel)
    manager.deliver = deliver
    return manager


def listen(manager: PubSubTap) -> None:
    """A queue's listener starts with the process's first Socket.IO client; a `/ws` client
    needs it as much, since the other processes' messages come through it."""
    manager.initialize()  # once (InitializedOnce); nothing to do without a queue


@dataclass(frozen=True)
class Close:
    """What the writer does last: the WebSocket's close frame."""

    code: int
    reason: str


class WsConnection:
    """One `/ws` socket: who it is, its channels, and its outbox. One writer thread sends
    every frame (answers and messages alike, in order), so a publisher only queues."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.channels: set[str] = set()  # changed under the registry's lock
        self._outbox: queue.Queue[str | Close] = queue.Queue()
        self._closing = threading.Event()

    def send(self, frame: dict[str, Any]) -> None:
        self.send_text(json.dumps(frame))

    def send_text(self, text: str) -> None:
        if self._closing.is_set():
            return
        if self._outbox.qsize() >= OUTBOX_LIMIT:
            log.warning("a /ws client left %d frames unread: disconnected", OUTBOX_LIMIT)
            self._discard_unsent()
            self.close(TRY_AGAIN_LATER, "too many frames unread")
            return
        self._outbox.put(text)

    def _discard_unsent(self) -> None:
        """What a client that stopped reading would never get: its close comes next."""
        while True:
            try:
                self._outbox.get_nowait()
            except queue.Empty:
                return

    def close(self, code: int = GOING_AWAY, reason: str = "") -> None:
        """The close frame goes after what is already queued; nothing more after it."""
        if not self._closing.is_set():
            self._closing.set()
            self._outbox.put(Close(code, reason))

    def write_to(self, ws: Server) -> None:
        """The writer thread: sends the outbox until the close frame, or the socket ends."""
        while True:
            item = self._outbox.get()
            try:
                if isinstance(item, Close):
                    ws.close(item.code, item.reason)
                    return
                ws.send(item)
            except (ConnectionClosed, OSError):
                return


class WsSubscribers:
    """This process's `/ws` sockets, and which of them each channel reaches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: set[WsConnection] = set()
        self._by_channel: dict[str, set[WsConnection]] = {}

    def __len__(self) -> int:
        """The sockets open in this process."""
        with self._lock:
            return len(self._connections)

    def add(self, connection: WsConnection) -> None:
        with self._lock:
            self._connections.add(connection)

    def remove(self, connection: WsConnection) -> None:
        with self._lock:
            self._connections.discard(connection)
            self._drop(connection, set(connection.channels))

    def subscribe(self, connection: WsConnection, channels: Iterable[str]) -> None:
        with self._lock:
            wanted = connection.channels | set(channels)
            if len(wanted) > MAX_CHANNELS:
                raise InvalidInput(
                    f"a /ws socket may be subscribed to at most {MAX_CHANNELS} channels",
                    details={"limit": MAX_CHANNELS, "subscribed": len(connection.channels)},
                )
            for channel in wanted - connection.channels:
                self._by_channel.setdefault(channel, set()).add(connection)
            connection.channels = wanted

    def unsubscribe(self, connection: WsConnection, channels: Iterable[str]) -> None:
        with self._lock:
            self._drop(connection, set(channels) & connection.channels)

    def _drop(self, connection: WsConnection, channels: set[str]) -> None:
        for channel in channels:
            reached = self._by_channel.get(channel, set())
            reached.discard(connection)
            if not reached:
                self._by_channel.pop(channel, None)
        connection.channels = connection.channels - channels

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        """A pub/sub message to every socket subscribed to `channel` (queued, not sent)."""
        with self._lock:
            reached = list(self._by_channel.get(channel, ()))
        if not reached:
            return
        try:
            text = json.dumps(message)
        except (TypeError, ValueError):  # a Socket.IO client may publish binary content
            log.warning("a message on %s is not JSON: not sent to /ws subscribers", channel)
            return
        for connection in reached:
            connection.send_text(text)

    def close_key(self, key_id: str) -> None:
        """A revoked key's sockets are closed at once, as its Socket.IO sockets are."""
        for connection in self._snapshot():
            if connection.principal.kind == "key" and connection.principal.id == key_id:
                connection.close(POLICY_VIOLATION, "this API key was revoked")

    def close_all(self) -> None:
        """The hub is stopping: every socket is told so."""
        for connection in self._snapshot():
            connection.close(GOING_AWAY, "the hub is stopping")

    def _snapshot(self) -> list[WsConnection]:
        with self._lock:
            return list(self._connections)
