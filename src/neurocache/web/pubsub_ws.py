"""`/ws`: pub/sub over a plain WebSocket (MemoriesDB's protocol), on the same channels as
Socket.IO's `subscribe` / `publish`, for scripts that have nothing but a WebSocket library.

Frames are JSON text. `?c=<channel>` (repeatable) subscribes while connecting; then
`{"method": "sub" | "unsub", "params": {"channels": [...]}}` and
`{"method": "pub", "params": {"channel", "content", "metadata"?}}`, each answered by
`{"ok": true, ...}` or `{"ok": false, "error": {...}}` (the API's error body) with the
command's `id` and `method`. Messages arrive as Socket.IO's `event` carries them:
`{"channel", "content", "metadata", "sender"}`. A bad frame is answered with an error frame
and the socket stays open. Nothing is stored.

The handshake is a request like the others: the Host/Origin rules below Flask, the rate
limits, one request of usage (with the upgrade's latency, not the socket's life). What
happens on the socket afterwards is not metered, as Socket.IO's events are not.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask_socketio import SocketIO
from simple_websocket import ConnectionClosed, Server

from neurocache.access.keys import Principal
from neurocache.errors import Forbidden, InvalidInput, NeurocacheError, Unauthorized
from neurocache.hub import Hub
from neurocache.web.api import InvalidJSON, UnsupportedMediaType
from neurocache.web.auth import current_hub, resolve_principal
from neurocache.web.errors import error_body
from neurocache.web.metering import allowances_of, caller_name, endpoint_name, enforce_limits
from neurocache.web.pubsub_sockets import (
    MAX_CHANNELS,
    POLICY_VIOLATION,
    PUBSUB_EVENT,
    WsConnection,
    WsSubscribers,
    listen,
)
from neurocache.web.realtime import PUBSUB_CHANNEL, PUBSUB_PREFIX

bp = Blueprint("pubsub_ws", __name__)
log = logging.getLogger("neurocache.pubsub")
EXTENSION = "neurocache.pubsub_ws"
PING_INTERVAL_S = 25  # finds the clients gone without a word (a laptop put to sleep)
RECEIVE_POLL_S = 1.0  # how soon a socket the hub closed ends its request's thread
# A frame over `max_request_bytes` is read and refused with an error frame; one over this
# many times that is not read at all: the socket is closed (1009, "message too big").
UNREAD_FACTOR = 2
METHODS = ("sub", "unsub", "pub")
INTERNAL_ERROR = "The hub hit an internal error; the hub log has the details."
CONNECT_HELP = "connect with an API key: `Authorization: Bearer <key>` or `/ws?token=<key>`"


def attach_ws_pubsub(app: Flask, hub: Hub) -> WsSubscribers:
    """`/ws` on this app: its route and its subscribers, which Socket.IO's client manager
    feeds (pubsub_sockets.py), closed for a revoked key and when the hub stops."""
    subscribers = WsSubscribers()
    app.extensions[EXTENSION] = subscribers
    app.register_blueprint(bp)
    hub.events.subscribe("key.revoked", lambda e: subscribers.close_key(e.payload["key_id"]))
    hub.runtime.add("ws-pubsub", stop=subscribers.close_all)
    return subscribers


def pubsub_socket() -> Response:
    """Pub/sub over a plain WebSocket: `?c=` channels, a Bearer key or `?token=`."""
    started = time.perf_counter()
    credential = _credential()
    try:
        enforce_limits(allowances_of(credential))  # the same buckets as every other request
        principal, channels = _admitted(credential)
    except NeurocacheError as exc:
        _count(credential, exc.status, started)
        raise
    return _serve(principal, channels, started)


# Werkzeug routes an upgrade only to a rule marked `websocket`; the plain rule is there to
# answer an HTTP GET in the API's words (400: use a WebSocket) rather than Werkzeug's.
bp.add_url_rule("/ws", view_func=pubsub_socket, websocket=True)
bp.add_url_rule("/ws", view_func=pubsub_socket)


def _credential() -> Principal | None:
    """A Bearer key; else `?token=` (a browser's WebSocket cannot send headers); else the
    session cookie of the hub's own page. None when none is valid."""
    if "Authorization" not in request.headers and "token" in request.args:
        return current_hub().authenticate(request.args["token"])
    try:
        return resolve_principal()
    except NeurocacheError:  # a malformed or unknown key: refused with the rest, below
        return None


def _admitted(principal: Principal | None) -> tuple[Principal, list[str]]:
    """Who connects and their `?c=` channels, for an upgrade the hub will make; else the
    error it answers (plain HTTP, before any upgrade)."""
    if principal is None:
        raise Unauthorized(CONNECT_HELP)
    channels = _checked_channels(request.args.getlist("c"), "?c=")
    if channels and not principal.can("read"):
        raise Forbidden("subscribing needs the `read` scope", details={"required_scope": "read"})
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise NeurocacheError.with_status(
            400, "bad_request", "/ws is a WebSocket: connect with a WebSocket client"
        )
    return principal, channels


def _checked_channels(channels: Any, where: str) -> list[str]:
    if (
        not isinstance(channels, list)
        or len(channels) > MAX_CHANNELS
        or not all(isinstance(c, str) and PUBSUB_CHANNEL.fullmatch(c) for c in channels)
    ):
        raise InvalidInput(
            f"{where} takes up to {MAX_CHANNELS} channel names (1-100 of letters, digits, _ . : -)",
            details={"field": "channels", "limit": MAX_CHANNELS},
        )
    return channels


def _count(principal: Principal | None, status: int, started: float) -> None:
    """The handshake is one request of usage, as metering.py counts the others."""
    current_hub().usage.add(
        requests=1,
        errors=int(status >= 400),
        latency_ms=(time.perf_counter() - started) * 1000,
        caller=caller_name(principal),
        endpoint=endpoint_name(),
    )


def _serve(principal: Principal, channels: list[str], started: float) -> Response:
    """Upgrades, then answers the socket's frames on this request's thread until it ends."""
    hub = current_hub()
    subscribers: WsSubscribers = current_app.extensions[EXTENSION]
    socketio: SocketIO = current_app.extensions["socketio"]
    connection = WsConnection(principal)
    subscribers.add(connection)
    try:
        # before the upgrade is answered: a client that has its 101 misses no message
        subscribers.subscribe(connection, channels)
        listen(socketio.server.manager)
        limit = hub.settings.max_request_bytes
        ws = Server(
            request.environ, ping_interval=PING_INTERVAL_S, max_message_size=UNREAD_FACTOR * limit
        )
        _count(principal, 101, started)
        hub.threads.start("ws-pubsub-writer", connection.write_to, ws)
        Session(hub, socketio.emit, subscribers, connection, limit).serve(ws)
        return ClosedSocket(ws.mode)
    finally:
        subscribers.remove(connection)
        connection.close()


class ClosedSocket(Response):
    """What an upgraded request answers once its socket closed: nothing, as the server
    expects it (as flask-sock and Engine.IO do it). Werkzeug is told by ConnectionError,
    which server.py's `connection_dropped` takes as the connection's end; gunicorn, by
    StopIteration."""

    def __init__(self, mode: str) -> None:
        super().__init__(status=101)
        self.mode = mode

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.mode == "werkzeug":
            raise ConnectionError
        if self.mode == "gunicorn":
            raise StopIteration
        return []


@dataclass(frozen=True)
class Command:
    method: Any
    params: Any
    echo: dict[str, Any]  # what the answer carries back: the frame's `id` and `method`


def decode(frame: str | bytes, max_bytes: int) -> Command:
    """A frame as a command, or the error that answers it."""
    if isinstance(frame, bytes):
        raise UnsupportedMediaType("frames are JSON text; this one was binary")
    if len(frame.encode()) > max_bytes:
        raise NeurocacheError.with_status(
            413,
            "payload_too_large",
            f"a frame may hold at most {max_bytes} bytes",
            {"limit": max_bytes},
        )
    try:
        data = json.loads(frame, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(f"the frame is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput('a frame is a JSON object: {"method", "params", "id"?}')
    echo = {name: data[name] for name in ("id", "method") if name in data}
    return Command(data.get("method"), data.get("params", {}), echo)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; nobody else


def pubsub_message(params: Any, principal: Principal) -> dict[str, Any]:
    """What subscribers receive: the same as Socket.IO's `publish` sends (realtime.py)."""
    if (
        not isinstance(params, dict)
        or not isinstance(params.get("channel"), str)
        or not PUBSUB_CHANNEL.fullmatch(params["channel"])
        or "content" not in params
    ):
        raise InvalidInput(
            'pub needs {"params": {"channel", "content", "metadata"?}} '
            "(a channel is 1-100 of letters, digits, _ . : -)"
        )
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata, when given, is a JSON object", details={"field": "metadata"})
    return {
        "channel": params["channel"],
        "content": params["content"],
        "metadata": metadata,
        "sender": principal.actor().name,
    }


class Session:
    """The commands of one `/ws` socket, answered in the order they came."""

    def __init__(
        self,
        hub: Hub,
        emit: Callable[..., Any],
        subscribers: WsSubscribers,
        connection: WsConnection,
        max_bytes: int,
    ) -> None:
        self.hub, self.emit, self.max_bytes = hub, emit, max_bytes
        self.subscribers, self.connection = subscribers, connection
        self.principal = connection.principal
        self.revoked = False
        self.handlers: dict[str, Callable[[Any], dict[str, Any]]] = {
            "sub": self.sub,
            "unsub": self.unsub,
            "pub": self.pub,
        }

    def serve(self, ws: Server) -> None:
        """Until the socket closes: by the client, or by the hub (a revoked key, a stop)."""
        while True:
            try:
                frame = ws.receive(timeout=RECEIVE_POLL_S)
            except ConnectionClosed:
                return
            if frame is None:
                continue
            self.connection.send(self.answer(frame))
            if self.revoked:
                self.connection.close(POLICY_VIOLATION, "this API key was revoked")

    def answer(self, frame: str | bytes) -> dict[str, Any]:
        echo: dict[str, Any] = {}
        try:
            command = decode(frame, self.max_bytes)
            echo = command.echo
            return {"ok": True, **echo, **self.run(command)}
        except NeurocacheError as exc:
            error = error_body(exc.status, exc.message, exc.code, exc.details)["error"]
        except Exception:  # answered like any request's failure; the socket stays open
            log.exception("a /ws command failed")
            error = error_body(500, INTERNAL_ERROR)["error"]
        return {"ok": False, **echo, "error": error}

    def run(self, command: Command) -> dict[str, Any]:
        self._check_live()
        method = command.method
        handler = self.handlers.get(method) if isinstance(method, str) else None
        if handler is None:
            raise InvalidInput(
                f"method is one of {', '.join(METHODS)}",
                details={"field": "method", "allowed": list(METHODS)},
            )
        return handler(command.params)

    def _check_live(self) -> None:
        """A key revoked by another process (the CLI) is caught at its next command, as
        Socket.IO catches it; one revoked here has had its socket closed already."""
        if self.principal.kind == "key" and not self.hub.keys.is_live(self.principal.id):
            self.revoked = True
            raise Unauthorized("this connection's API key was revoked")

    def sub(self, params: Any) -> dict[str, Any]:
        channels = _channels_param(params, "sub")
        if not self.principal.can("read"):
            raise Forbidden(
                "subscribing needs the `read` scope", details={"required_scope": "read"}
            )
        self.subscribers.subscribe(self.connection, channels)
        return {"channels": sorted(self.connection.channels)}

    def unsub(self, params: Any) -> dict[str, Any]:
        self.subscribers.unsubscribe(self.connection, _channels_param(params, "unsub"))
        return {"channels": sorted(self.connection.channels)}

    def pub(self, params: Any) -> dict[str, Any]:
        """Ephemeral: to the channel's subscribers of both kinds now, stored nowhere."""
        if not self.principal.can("write"):
            raise Forbidden(
                "publishing needs the `write` scope", details={"required_scope": "write"}
            )
        message = pubsub_message(params, self.principal)
        self.emit(PUBSUB_EVENT, message, to=PUBSUB_PREFIX + message["channel"])
        return {}


def _channels_param(params: Any, method: str) -> list[str]:
    channels = params.get("channels") if isinstance(params, dict) else None
    return _checked_channels(channels, f'{method} {{"params": {{"channels": [...]}}}}')
