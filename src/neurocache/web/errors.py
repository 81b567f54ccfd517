"""The one error body of the API, made here and nowhere else:
`{"error": {"code", "message", "status", "details"}}` — and under `/v1/`, the
OpenAI-compatible API, OpenAI's own `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from neurocache.errors import NeurocacheError
from neurocache.logging_setup import request_id_var
from neurocache.store.database import store_busy

log = logging.getLogger("neurocache.web")
OPENAI_PREFIX = "/v1/"

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def code_for(status: int) -> str:
    """The code of an error that names none: its status's (ERROR_CODES lists them all)."""
    return CODES.get(status, "bad_request" if status < 500 else "internal_error")


def error_body(
    status: int, message: str, code: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code or code_for(status),
            "message": message,
            "status": status,
            "details": details or {},
        }
    }


def openai_error_body(
    status: int, message: str, code: str | None, details: dict[str, Any] | None
) -> dict[str, Any]:
    """OpenAI's shape, for `/v1/...`, so that its clients raise their usual errors."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    details = details or {}
    errors = details.get("errors") or [{}]
    param = details.get("field") or ".".join(map(str, errors[0].get("loc") or [])) or None
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": code or code_for(status),
        }
    }


def error_response(
    status: int, message: str, code: str | None = None, details: dict[str, Any] | None = None
) -> Response:
    if request.path.startswith(OPENAI_PREFIX):
        status = 400 if status == 422 else status  # OpenAI's answer to a bad parameter
        response = jsonify(openai_error_body(status, message, code, details))
    else:
        response = jsonify(error_body(status, message, code, details))
    response.status_code = status
    return response


def wsgi_error(
    start_response: Callable[..., Any],
    status: int,
    message: str,
    code: str,
    environ: dict[str, Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    """The same body for refusals made below Flask (the trust middleware, body limits);
    OpenAI's under `/v1/` (given the request's `environ`)."""
    path = (environ or {}).get("PATH_INFO", "")
    body = (
        openai_error_body(status, message, code, None)
        if path.startswith(OPENAI_PREFIX)
        else error_body(status, message, code)
    )
    payload = json.dumps(body).encode()
    start_response(
        f"{status} {code.replace('_', ' ')}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            *(headers or []),
        ],
    )
    return [payload]


def _from_ours(exc: NeurocacheError) -> Response:
    response = error_response(exc.status, exc.message, exc.code, exc.details)
    response.headers.update(getattr(exc, "headers", {}))  # Retry-After on 429
    return response


def _http_message(exc: HTTPException) -> str:
    if exc.code == 404:
        return f"Nothing is at {request.path}; the API is described at /api/v1/docs."
    if exc.code == 405:
        allowed = ", ".join(m for m in getattr(exc, "valid_methods", None) or [] if m != "OPTIONS")
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}."
    if exc.code == 413:
        limit = request.max_content_length
        return f"The request body is larger than this hub accepts ({limit} bytes)."
    return exc.description or exc.name


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    response = error_response(status, _http_message(exc))
    # Keep what the exception says about itself: Allow on 405, Retry-After on 429, ...
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _from_anything(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _from_http(exc)
    if store_busy(exc):  # transient: the client tries again; no traceback in the log
        log.warning(
            "the store was busy past its timeout (%s %s): answered 503",
            request.method,
            request.path,
        )
        response = error_response(
            503, "The hub's store is busy; try again in a moment.", "store_busy"
        )
        response.headers["Retry-After"] = "1"
        return response
    request_id = request_id_var.get()
    log.exception("unhandled error")
    return error_response(
        500,
        f"The hub hit an internal error; the hub log has the details (request {request_id}).",
        details={"request_id": request_id},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(NeurocacheError, _from_ours)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _from_anything)


class SocketIOErrorShape:
    """Engine.IO answers protocol errors on /socket.io/ in plain text; give them our body."""

    def __init__(self, app: Callable[..., Iterable[bytes]], path: str = "/socket.io/") -> None:
        self.app = app
        self.path = path

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.app(environ, start_response)
        failed: dict[str, int] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            code = int(status.split(" ", 1)[0])
            if code < 400:
                return start_response(status, headers, exc_info)
            failed["status"] = code
            return lambda _data: None

        body = self.app(environ, capture)
        if "status" not in failed:
            return body
        for _chunk in body:  # drain and close what Engine.IO produced, then answer ours
            pass
        getattr(body, "close", lambda: None)()
        status = failed["status"]
        return wsgi_error(
            start_response,
            status,
            "Socket.IO refused this request: connect with a Socket.IO client to /socket.io/.",
            code_for(status),
        )
