"""The hub's HTTP + WebSocket server: Werkzeug's threaded server, one thread per
connection (see docs/decisions/0001-socketio-async-mode.md), with a clean stop."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import cast

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from neurocache.settings import RUNTIME_FILE
from neurocache.threads import Threads
from neurocache.web.trust import bind_address_as_host

log = logging.getLogger("neurocache.server")


class QuietRequestHandler(WSGIRequestHandler):
    """The hub writes its own access log (with request ids); Werkzeug's is switched off."""

    def setup(self) -> None:
        super().setup()
        # Werkzeug sends a response's headers and body in separate writes; with Nagle's
        # algorithm the body then waits for the client's (delayed) ACK of the headers.
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass

    def connection_dropped(self, error: BaseException, environ: object = None) -> None:
        # A finished WebSocket ends its request this way. Without closing here, Werkzeug
        # keeps the connection alive and parses the client's closing frames as a new
        # HTTP request (a 400), and the client waits seconds for the socket to close.
        self.close_connection = True


class HubServer:
    """Binds at construction (so a taken port fails at once, with OSError)."""

    def __init__(
        self, app: Flask, host: str = "127.0.0.1", port: int = 0, threads: Threads | None = None
    ) -> None:
        self.app = app
        self.threads = threads or Threads()
        # Bound here rather than by Werkzeug, which prints and exits on a taken port; the
        # deep backlog absorbs hundreds of clients (re)connecting at once.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host.strip("[]"), port), family=family, backlog=1024)
        try:
            self._server: BaseWSGIServer = make_server(
                host.strip("[]"),
                port,
                app,
                threaded=True,
                request_handler=QuietRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # Werkzeug holds its own duplicate of the socket
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._serving = threading.Event()
        self._announced: Path | None = None

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        # An IP socket's address is text (only a Unix socket's may be bytes).
        host = bind_address_as_host(cast(str, self._server.server_address[0]))
        # A wildcard bind is reached, from this machine, through its loopback address.
        host = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self._serving.set()
        self._server.serve_forever(poll_interval=0.2)

    def announce(self, data_dir: Path) -> None:
        """Tell CLI commands on this machine where this hub listens (`hub.json`)."""
        path = data_dir / RUNTIME_FILE
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps({"pid": os.getpid(), "url": self.url}))
        os.replace(temp, path)
        self._announced = path

    def start(self) -> HubServer:
        """Serve from a background thread (tests, the desktop shell)."""
        self._thread = self.threads.start("hub-server", self.serve_forever)
        return self

    def _disconnect_clients(self, grace_s: float = 2.0) -> None:
        """Tell every Socket.IO client it is disconnected, all at once.

        Engine.IO's own disconnect-all closes sockets one at a time and waits on each
        socket's queue, which never drains when the client hangs up first: with many
        clients, a stop then hangs for good. Here every socket gets its CLOSE packet
        queued at once, and the wait (bounded) is for the writers to have taken it.
        """
        eio = self.app.extensions["socketio"].server.eio
        sockets = list(eio.sockets.values())
        for sock in sockets:
            sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
        deadline = time.monotonic() + grace_s
        # A queue holds [CLOSE, None] until its writer takes CLOSE (then at most [None]).
        while time.monotonic() < deadline and any(s.queue.qsize() > 1 for s in sockets):
            time.sleep(0.02)
        eio.sockets = {}
        self.app.extensions["socketio"].server.shutdown()

    def stop(self) -> None:
        """Disconnect Socket.IO clients, stop accepting, close the services. Idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._disconnect_clients()
        if self._serving.is_set():
            self._server.shutdown()  # waits for serve_forever to return
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.extensions["neurocache"].close()
        if self._announced is not None:
            self._announced.unlink(missing_ok=True)
        log.info("hub stopped")
