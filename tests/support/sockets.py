"""A person at a socket, for the realtime tests: a real python-socketio client that keeps
every channel event it receives, in order."""

from __future__ import annotations

import queue
import time

import socketio

EVENTS = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.delta",
    "message.completed",
    "typing",
    "presence",
    "memory.updated",
)


class Member:
    """A person at a socket: every event received, in order."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.received: queue.Queue = queue.Queue()
        self.socket = socketio.Client(reconnection=False)
        for event in EVENTS:
            self.socket.on(event, lambda data, event=event: self.received.put((event, data)))
        self.socket.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)

    def join(self, room: str) -> dict:
        return self.socket.call("join", {"room": room}, timeout=5)

    def next(self, event: str, timeout: float = 5.0) -> dict:
        """The next event of this name (others before it are passed over)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name, data = self.received.get(timeout=max(deadline - time.monotonic(), 0.01))
            if name == event:
                return data
        raise AssertionError(f"no {event} within {timeout}s")

    def drain(self) -> list[tuple[str, dict]]:
        time.sleep(0.3)
        seen = []
        while not self.received.empty():
            seen.append(self.received.get())
        return seen

    def close(self) -> None:
        if self.socket.connected:
            self.socket.disconnect()
