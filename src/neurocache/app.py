"""`create_app(settings)`: one hub, its services built once, wired to Flask and Socket.IO."""

from __future__ import annotations

from typing import Any, cast

from flask import Flask
from flask_socketio import SocketIO

from neurocache.events import Publish
from neurocache.hub import Hub
from neurocache.logging_setup import configure_logging
from neurocache.settings import Settings, load_settings
from neurocache.web import (
    agents,
    audit,
    bundles,
    captures,
    channels,
    client,
    collections,
    conversations,
    documents,
    folders,
    jobs,
    keys,
    mcp,
    memories,
    models,
    openai_api,
    pairing,
    search,
    system,
    usage,
    users,
)
from neurocache.web.bodies import ChunkedBodyLimit
from neurocache.web.errors import SocketIOErrorShape, register_error_handlers
from neurocache.web.hooks import register_request_hooks
from neurocache.web.memory_cache import register_memory_cache
from neurocache.web.metering import register_metering
from neurocache.web.pubsub_sockets import client_manager
from neurocache.web.pubsub_ws import attach_ws_pubsub
from neurocache.web.realtime import Realtime
from neurocache.web.static_client import register_static_client
from neurocache.web.trust import OriginPolicy, TrustMiddleware

BLUEPRINTS = (
    system.bp,
    keys.bp,
    audit.bp,
    models.bp,
    collections.bp,
    documents.bp,
    captures.bp,
    jobs.bp,
    search.bp,
    folders.bp,
    conversations.bp,
    memories.bp,
    agents.bp,
    channels.bp,
    users.bp,
    usage.bp,
    openai_api.bp,
    client.bp,
    bundles.bp,
    pairing.bp,
    mcp.bp,
)
# Threading mode: chosen by measurement, see docs/decisions/0001-socketio-async-mode.md.
ASYNC_MODE = "threading"


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings)
    app = Flask("neurocache", static_folder=None)
    app.config.update(TESTING=testing, MAX_CONTENT_LENGTH=settings.max_request_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    policy = OriginPolicy(settings)
    socketio = SocketIO()
    hub = Hub(settings, publish=_emitter(socketio))
    app.extensions["neurocache"] = hub
    ws_subscribers = attach_ws_pubsub(app, hub)  # `/ws`: Socket.IO's client manager feeds it
    socketio.init_app(
        app,
        async_mode=ASYNC_MODE,
        cors_allowed_origins=policy,
        cors_credentials=False,
        manage_session=False,
        max_http_buffer_size=settings.max_request_bytes,
        # several hub processes: an event emitted by one reaches the clients of all, and a
        # pub/sub message the `/ws` subscribers of all (web/pubsub_sockets.py)
        client_manager=client_manager(
            settings.redis_url, "neurocache-socketio", ws_subscribers.deliver
        ),
    )
    app.extensions["neurocache.realtime"] = Realtime(socketio, hub)
    mcp.init_mcp(app, hub)

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    register_request_hooks(app)
    register_metering(app)
    # Off by default: another client's API and pages (docs/memory-cache.md).
    register_memory_cache(app, settings)
    register_static_client(app, settings)
    app.wsgi_app = TrustMiddleware(  # type: ignore[method-assign]
        ChunkedBodyLimit(SocketIOErrorShape(app.wsgi_app), settings.max_request_bytes), policy
    )
    hub.start_background_work()  # last: what it publishes needs Socket.IO ready
    return app


def _emitter(socketio: SocketIO) -> Publish:
    def publish(event: str, payload: dict[str, Any], room: str | None = None) -> None:
        socketio.emit(event, payload, to=room)

    return publish


def hub_of(app: Flask) -> Hub:
    return cast(Hub, app.extensions["neurocache"])


def socketio_of(app: Flask) -> SocketIO:
    return app.extensions["socketio"]
