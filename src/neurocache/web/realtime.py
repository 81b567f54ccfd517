"""Socket.IO: authenticated connections, rooms, and the plugins' ephemeral pub/sub."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, SocketIO, join_room, leave_room

from neurocache.access.keys import OWNER, Principal
from neurocache.hub import Hub
from neurocache.web.auth import SESSION_COOKIE
from neurocache.web.errors import error_body
from neurocache.web.trust import cross_origin

ROOM = re.compile(r"^(?:(?:conversation|channel|agent):[A-Za-z0-9_.-]{1,100}|jobs|models)$")
PUBSUB_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
PUBSUB_PREFIX = "pubsub:"


def refusal(status: int, message: str) -> dict[str, Any]:
    return {"ok": False, "error": error_body(status, message)["error"]}


def _sid() -> str:
    """The socket whose event is being handled. Flask-SocketIO sets `sid` on Flask's
    request for each event, an attribute Flask's types do not have."""
    sid: str = request.sid  # type: ignore[attr-defined]
    return sid


OK = {"ok": True}
REVOKED = refusal(401, "this connection's API key was revoked")


class Realtime:
    """Handlers bound to one hub; which principal each socket is lives here, per hub."""

    def __init__(self, socketio: SocketIO, hub: Hub) -> None:
        self.hub = hub
        self.socketio = socketio
        self.principals: dict[str, Principal] = {}
        # sid → (its person, the channels it is present in): kept apart from `principals`
        # so that a socket dropped for a revoked key still says it left
        self.channels_of: dict[str, tuple[str, set[str]]] = {}
        for name in ("connect", "disconnect", "join", "leave", "subscribe", "publish", "typing"):
            socketio.on_event(name, getattr(self, f"on_{name}"))
        hub.events.subscribe("key.revoked", lambda e: self.disconnect_key(e.payload["key_id"]))
        hub.events.subscribe(
            "channel.member.removed",
            lambda e: self.evict(e.payload["channel_id"], e.payload["member"]),
        )

    def disconnect_key(self, key_id: str) -> None:
        """A revoked key's sockets are closed at once, not at their next message."""
        for sid, principal in list(self.principals.items()):
            if principal.kind == "key" and principal.id == key_id:
                self.socketio.server.disconnect(sid)

    def principal(self) -> Principal | None:
        """This socket's principal while its key is live. A key revoked by another
        process (the CLI) is caught here, at the socket's next message."""
        principal = self.principals.get(_sid())
        if (
            principal is not None
            and principal.kind == "key"
            and not self.hub.keys.is_live(principal.id)
        ):
            self.principals.pop(_sid(), None)
            self.socketio.server.disconnect(_sid())
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
        self.principals[_sid()] = principal

    def evict(self, channel_id: str, person: str) -> None:
        """A member removed from a channel leaves its room at once (every socket of
        theirs): they may no longer read it. The owner reads every channel: stays."""
        if person == "owner":
            return
        room = f"channel:{channel_id}"
        for sid, principal in list(self.principals.items()):
            if principal.person == person:
                self.socketio.server.leave_room(sid, room, namespace="/")
                self._leave_channel(sid, channel_id)

    def on_disconnect(self, *_reason: Any) -> None:
        self.principals.pop(_sid(), None)
        person, channels = self.channels_of.pop(_sid(), ("", set()))
        for channel_id in channels:
            self._left(channel_id, person)

    def may_read(self, principal: Principal, room: str) -> bool:
        # A room needs the scope its API needs; a channel's, membership too (the owner
        # reads every channel).
        if room.startswith("conversation:"):
            return principal.can("chat") and self.hub.conversations.may_read(
                principal.person, room.removeprefix("conversation:")
            )
        if room.startswith("channel:"):
            return principal.can("read") and self.hub.channels.may_read(
                principal.person, room.removeprefix("channel:")
            )
        if room.startswith("agent:"):  # its memories of every channel and conversation
            return principal.can("read") and principal.is_owner
        return principal.can("read")

    def on_join(self, data: Any = None) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if not isinstance(room, str) or not ROOM.match(room):
            return refusal(
                422,
                "join needs {'room': 'conversation:<id>' | 'channel:<id>' | "
                "'agent:<id>' | 'jobs' | 'models'}",
            )
        principal = self.principal()
        if principal is None:
            return REVOKED
        if not self.may_read(principal, room):
            return refusal(403, f"you may not read {room}")
        join_room(room)
        if room.startswith("channel:"):
            self._arrived(room.removeprefix("channel:"), principal)
        return OK

    def on_leave(self, data: Any = None) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if not isinstance(room, str):
            return refusal(422, "leave needs {'room': '...'}")
        leave_room(room)
        self._leave_channel(_sid(), room.removeprefix("channel:"))
        return OK

    def on_typing(self, data: Any = None) -> dict[str, Any]:
        """`typing` {"room": "channel:<id>", "typing": bool} → the others in the room."""
        room = data.get("room") if isinstance(data, dict) else None
        channel_id = room.removeprefix("channel:") if isinstance(room, str) else None
        if channel_id is None or not isinstance(data.get("typing", True), bool):
            return refusal(422, "typing needs {'room': 'channel:<id>', 'typing': true|false}")
        principal = self.principal()
        if principal is None:
            return REVOKED
        if channel_id not in self.channels_of.get(_sid(), ("", set()))[1]:
            return refusal(403, f"join {room} before typing in it")
        self.socketio.emit(
            "typing",
            {
                "channel_id": channel_id,
                "member": principal.person,
                "name": self.hub.channels.name_of(principal.person),
                "typing": data.get("typing", True),
            },
            to=room,
            skip_sid=_sid(),
        )
        return OK

    def _arrived(self, channel_id: str, principal: Principal) -> None:
        _, joined = self.channels_of.setdefault(_sid(), (principal.person, set()))
        if channel_id not in joined:
            joined.add(channel_id)
            if self.hub.presence.arrive(channel_id, principal.person):
                self._presence(channel_id, principal.person, "online")

    def _leave_channel(self, sid: str, channel_id: str) -> None:
        person, joined = self.channels_of.get(sid, ("", set()))
        if channel_id in joined:
            joined.discard(channel_id)
            self._left(channel_id, person)

    def _left(self, channel_id: str, person: str) -> None:
        if self.hub.presence.leave(channel_id, person):
            self._presence(channel_id, person, "offline")

    def _presence(self, channel_id: str, person: str, status: str) -> None:
        self.socketio.emit(
            "presence",
            {
                "channel_id": channel_id,
                "member": person,
                "name": self.hub.channels.name_of(person),
                "status": status,
            },
            to=f"channel:{channel_id}",
        )

    def on_subscribe(self, data: Any = None) -> dict[str, Any]:
        channels = data.get("channels") if isinstance(data, dict) else None
        if not isinstance(channels, list) or not all(
            isinstance(c, str) and PUBSUB_CHANNEL.match(c) for c in channels
        ):
            return refusal(
                422, "subscribe needs {'channels': ['name', ...]} (letters, digits, _ . : -)"
            )
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
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("channel"), str)
            or not PUBSUB_CHANNEL.match(data["channel"])
            or "content" not in data
        ):
            return refusal(422, "publish needs {'channel', 'content', 'metadata'?}")
        event = {
            "channel": data["channel"],
            "content": data["content"],
            "metadata": data.get("metadata") or {},
            "sender": principal.actor().name,
        }
        self.socketio.emit("event", event, to=PUBSUB_PREFIX + data["channel"])
        return OK
