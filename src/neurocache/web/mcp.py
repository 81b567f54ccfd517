"""`/mcp`: the hub's MCP server (plugins/mcp_server.py) over streamable HTTP.

A request here is the hub's like any other: the Host and Origin rules (TrustMiddleware),
the rate limits and usage (request hooks), then this view, which wants an API key
(`Authorization: Bearer …`; the session cookie of the hub's own page is not enough) before
it hands the request to the SDK's ASGI app through a2wsgi. The server is stateless and
answers JSON (no session to keep, so any hub process of a team can take any request).
Each tool calls the API in-process with the caller's key (`HubClient.in_process`), so a
tool is allowed exactly what its endpoint allows that key.

The SDK's app runs on an event loop of its own, started at the first request (most hubs
never get one) and stopped with the hub."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Flask, current_app, request

from neurocache.client import HubClient
from neurocache.errors import Unauthorized
from neurocache.hub import Hub
from neurocache.threads import Threads
from neurocache.web.auth import bearer_token, require

if TYPE_CHECKING:  # the SDK is imported at the first request (half a second of start-up)
    from a2wsgi import ASGIMiddleware
    from mcp.server.mcpserver import Context
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

bp = Blueprint("mcp", __name__)
START_TIMEOUT_S = 10.0


class McpEndpoint:
    """The SDK's streamable-HTTP app and the event loop it runs on."""

    def __init__(self, app: Flask, threads: Threads) -> None:
        self._app = app  # the hub's own app: the tools call its API in-process
        self._threads = threads
        self._lock = threading.Lock()
        self._wsgi: ASGIMiddleware | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def wsgi(self) -> ASGIMiddleware:
        with self._lock:
            if self._wsgi is None:
                self._wsgi = self._start()
            return self._wsgi

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None and self._stopping is not None:
                self._loop.call_soon_threadsafe(self._stopping.set)

    def _start(self) -> ASGIMiddleware:
        from a2wsgi import ASGIMiddleware
        from mcp.server.transport_security import TransportSecuritySettings

        from neurocache.plugins.mcp_server import mcp_server

        server = mcp_server(self._hub_for)
        asgi = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            # the hub's own Host and Origin rules already held for this request
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._threads.start("mcp-http", self._serve, loop, server.session_manager, ready)
        if not ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the MCP server did not start")
        self._loop = loop
        return ASGIMiddleware(cast(Any, asgi), loop=loop)  # (Starlette's looser types)

    def _serve(
        self,
        loop: asyncio.AbstractEventLoop,
        manager: StreamableHTTPSessionManager,
        ready: threading.Event,
    ) -> None:
        async def serve() -> None:
            self._stopping = asyncio.Event()
            async with manager.run():
                ready.set()
                await self._stopping.wait()

        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()

    def _hub_for(self, ctx: Context) -> HubClient:
        """The hub's API as the caller of this request (its key)."""
        key = bearer_token((ctx.headers or {}).get("authorization"))
        return HubClient.in_process(self._app, key)


def init_mcp(app: Flask, hub: Hub) -> None:
    """The endpoint of this app, stopped with its hub."""
    endpoint = McpEndpoint(app, hub.threads)
    app.extensions["neurocache.mcp"] = endpoint
    hub.runtime.add("mcp endpoint", stop=endpoint.stop)


@bp.post("/mcp", strict_slashes=False)
def mcp() -> Any:
    """The MCP endpoint (streamable HTTP, POST only: a stateless server opens no event
    stream, so GET is 405): an API key with `read` required; each tool needs the scope of
    the endpoint it calls."""
    if bearer_token(request.headers.get("Authorization")) is None:
        raise Unauthorized("MCP clients send an API key: `Authorization: Bearer nc_...`")
    require("read")
    return current_app.extensions["neurocache.mcp"].wsgi()
