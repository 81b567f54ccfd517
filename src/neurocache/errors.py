"""Errors the services raise. `web/errors.py` turns each into the one error body of the API.

Services know nothing of HTTP, but each error carries the status it maps to, so the boundary
needs no table and a new error needs no edit there.
"""

from __future__ import annotations

from typing import Any

# Every `code` an error body of the API may carry: a closed set (tests/unit/test_error_codes.py
# finds each code the source uses here; the OpenAPI document lists them as an enum, so the
# fuzzing checks every error the hub answers).
ERROR_CODES: dict[str, str] = {
    "bad_request": "the request could not be read (400)",
    "invalid_json": "the body is not the JSON it should be (400)",
    "unauthorized": "no valid credentials (401)",
    "forbidden": "not allowed: scope, Host or Origin (403)",
    "not_found": "no such thing, or no such path (404)",
    "method_not_allowed": "the path takes other methods (405)",
    "conflict": "it conflicts with the current state (409)",
    "idempotency_key_reused": "this Idempotency-Key came with other content (422)",
    "payload_too_large": "the body is over the limit (413)",
    "unsupported_media_type": "a content type or file kind the hub does not take (415)",
    "validation_error": "fields that are missing, of the wrong type or out of range (422)",
    "input_too_long": "a question or text longer than the model can read (422)",
    "context_length_exceeded": "the messages do not fit the model's context (400, /v1)",
    "invalid_backup": "not a backup this hub can restore (422)",
    "unsupported": "a backup or bundle feature this hub cannot take (422)",
    "unsupported_version": "a bundle of a format version this hub does not read (422)",
    "wrong_kind": "a bundle of another kind than the endpoint imports (422)",
    "rate_limited": "too many requests; see Retry-After (429)",
    "internal_error": "the hub failed; its log says why (500)",
    "backend_error": "the model server failed (502)",
    "model_rejected_request": "the model server refused the request (400)",
    "backend_unavailable": "the model server cannot be reached (503)",
    "unavailable": "not available now, e.g. no model running (503)",
    "store_busy": "the store stayed locked past its busy timeout; retry (503)",
}


class NeurocacheError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    @classmethod
    def with_status(
        cls, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> NeurocacheError:
        """An error with a status and code chosen at run time (e.g. a batch's first)."""
        error = cls(message, details=details)
        error.status, error.code = status, code
        return error


class InvalidInput(NeurocacheError):
    status = 422
    code = "validation_error"


class Unauthorized(NeurocacheError):
    status = 401
    code = "unauthorized"


class Forbidden(NeurocacheError):
    status = 403
    code = "forbidden"


class NotFound(NeurocacheError):
    status = 404
    code = "not_found"


class Conflict(NeurocacheError):
    status = 409
    code = "conflict"


class Unavailable(NeurocacheError):
    status = 503
    code = "unavailable"
