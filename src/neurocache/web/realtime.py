"""Socket.IO: authenticated connections, rooms, and the plugins' ephemeral pub/sub."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room, leave_room

from neurocache.hub import Hub
from neurocache.store.keys import OWNER, Principal
from neurocache.web.auth import SESSION_COOKIE
from neurocache.web.errors import error_body
from neurocache.web.trust import cross_origin

ROOM = re.compile(r"^(?:(?:conversation|channel|agent):[A-Za-z0-9_.-]{1,100}|jobs|models)$")
PUBSUB_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
PUBSUB_PREFIX = "pubsub:"


def refusal(status: int, message: str) -> dict[str, Any]:
    return {"ok": False, "error": error_body(status, message)["error"]}


OK = {"ok": True}
REVOKED = refusal(401, "this connection's API key was revoked")


class Realtime:
    """Handlers bound to one hub; which principal each socket is lives here, per hub."""

    def __init__(self, socketio: SocketIO, hub: Hub) -> None:
        self.hub = hub
        self.socketio = socketio
        self.principals: dict[str, Principal] = {}
        for name in ("connect", "disconnect", "join", "leave", "subscribe", "publish"):
            socketio.on_event(name, getattr(self, f"on_{name}"))
        hub.keys.on_revoke(self.disconnect_key)

    def disconnect_key(self, key_id: str) -> None:
        """A revoked key's sockets are closed at once, not at their next message."""
        for sid, principal in list(self.principals.items()):
            if principal.kind == "key" and principal.id == key_id:
                self.socketio.server.disconnect(sid)

    def principal(self) -> Principal | None:
        """This socket's principal while its key is live. A key revoked by another
        process (the CLI) is caught here, at the socket's next message."""
        principal = self.principals.get(request.sid)
        if principal is not None and principal.kind == "key" \
                and not self.hub.keys.is_live(principal.id):
            self.principals.pop(request.sid, None)
            self.socketio.server.disconnect(request.sid)
            return None
        return principal

    def on_connect(self, auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None:
            principal = self.hub.authenticate(token) if isinstance(token, str) else None
        elif not cross_origin(request.environ):  # the cookie is for the hub's own page only
            cookie = request.cookies.get(SESSION_COOKIE)
            principal = OWNER if self.hub.owner_token.matches(cookie) else None
        else:
            principal = None
        if principal is None:
            message = "connect with auth={'token': '<api key or session token>'}"
            raise ConnectionRefusedError(message, error_body(401, message))
        self.principals[request.sid] = principal

    def on_disconnect(self, *_reason: Any) -> None:
        self.principals.pop(request.sid, None)

    def may_read(self, principal: Principal, room: str) -> bool:
        # A conversation's room needs the scope its API needs; other rooms `read` (channels
        # and agents narrow this when they come).
        if room.startswith("conversation:"):
            return principal.can("chat")
        return principal.can("read")

    def on_join(self, data: Any = None) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if not isinstance(room, str) or not ROOM.match(room):
            return refusal(422, "join needs {'room': 'conversation:<id>' | 'channel:<id>' | "
                                "'agent:<id>' | 'jobs' | 'models'}")
        principal = self.principal()
        if principal is None:
            return REVOKED
        if not self.may_read(principal, room):
            return refusal(403, f"you may not read {room}")
        join_room(room)
        return OK

    def on_leave(self, data: Any = None) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if not isinstance(room, str):
            return refusal(422, "leave needs {'room': '...'}")
        leave_room(room)
        return OK

    def on_subscribe(self, data: Any = None) -> dict[str, Any]:
        channels = data.get("channels") if isinstance(data, dict) else None
        if not isinstance(channels, list) or not all(
            isinstance(c, str) and PUBSUB_CHANNEL.match(c) for c in channels
        ):
            return refusal(422, "subscribe needs {'channels': ['name', ...]} "
                                "(letters, digits, _ . : -)")
        principal = self.principal()
        if principal is None:
            return REVOKED
        if not principal.can("read"):
            return refusal(403, "subscribing needs the `read` scope")
        for channel in channels:
            join_room(PUBSUB_PREFIX + channel)
        return OK

    def on_publish(self, data: Any = None) -> dict[str, Any]:
        """Ephemeral: delivered to the channel's subscribers now, stored nowhere."""
        principal = self.principal()
        if principal is None:
            return REVOKED
        if not principal.can("write"):
            return refusal(403, "publishing needs the `write` scope")
        if not isinstance(data, dict) or not isinstance(data.get("channel"), str) \
                or not PUBSUB_CHANNEL.match(data["channel"]) or "content" not in data:
            return refusal(422, "publish needs {'channel', 'content', 'metadata'?}")
        event = {
            "channel": data["channel"],
            "content": data["content"],
            "metadata": data.get("metadata") or {},
            "sender": principal.actor().name,
        }
        self.socketio.emit("event", event, to=PUBSUB_PREFIX + data["channel"])
        return OK
