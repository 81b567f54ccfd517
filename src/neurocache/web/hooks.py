"""Per-request plumbing: request ids, an access log line, and security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from neurocache.logging_setup import request_id_var

log = logging.getLogger("neurocache.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The client is our own static page; model output and captured pages are shown as text,
# so nothing needs inline scripts or foreign sources.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def _begin() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    g.request_id_token = request_id_var.set(g.request_id)


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
    if "request_started" in g:  # at DEBUG: at INFO, a busy hour buried the sign-in link
        elapsed_ms = (time.perf_counter() - g.request_started) * 1000
        log.debug("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms)
    return response


def _teardown(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)


def register_request_hooks(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_teardown)
