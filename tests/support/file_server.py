"""A loopback HTTP file server that misbehaves on request: it can break a transfer
mid-file, ignore Range, answer 404 or 500, or stall. The downloads the tests make reach
only this server."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE = re.compile(r"bytes=(\d+)-")


@dataclass
class Served:
    data: bytes
    break_after: int | None = None  # close the connection after this many bytes ...
    breaks: int = 0  # ... this many times
    ignore_range: bool = False
    status: int | None = None  # answer only this status (404, 500, ...)
    fail_first: int = 0  # answer 500 to this many requests first
    stall_after: int | None = None  # stop sending (without closing) after this many bytes
    stall_s: float = 0.0
    rate_bytes_per_s: float | None = None
    requests: list[dict] = field(default_factory=list)


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, data: bytes, **behaviour) -> str:
        self.files[path] = Served(data, **behaviour)
        return self.url + path

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        served = self.files.get(request.path)
        range_header = request.headers.get("Range")
        if served is not None:
            served.requests.append({"range": range_header})
        if served is None or served.status:
            request.send_error(served.status if served else 404)
            return
        if served.fail_first > 0:
            served.fail_first -= 1
            request.send_error(500)
            return
        match = RANGE.match(range_header or "")
        start = int(match.group(1)) if match and not served.ignore_range else 0
        if start >= len(served.data) and match and not served.ignore_range:
            request.send_response(416)
            request.send_header("Content-Range", f"bytes */{len(served.data)}")
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        body = served.data[start:]
        request.send_response(206 if start else 200)
        if start:
            request.send_header(
                "Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}"
            )
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Accept-Ranges", "none" if served.ignore_range else "bytes")
        request.end_headers()
        self._send(request, served, body)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, served: Served, body: bytes) -> None:
        limit = len(body)
        if served.break_after is not None and served.breaks > 0:
            served.breaks -= 1
            limit = min(limit, served.break_after)
        sent = 0
        try:
            while sent < limit:
                piece = body[sent : min(limit, sent + 64 * 1024)]
                if served.stall_after is not None and sent >= served.stall_after:
                    served.stall_after = None  # stall once
                    time.sleep(served.stall_s)
                    return
                request.wfile.write(piece)
                sent += len(piece)
                if served.rate_bytes_per_s:
                    time.sleep(len(piece) / served.rate_bytes_per_s)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if limit < len(body):
            request.close_connection = True  # the break: fewer bytes than announced

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
