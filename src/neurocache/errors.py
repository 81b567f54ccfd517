"""Errors the services raise. `web/errors.py` turns each into the one error body of the API.

Services know nothing of HTTP, but each error carries the status it maps to, so the boundary
needs no table and a new error needs no edit there.
"""

from __future__ import annotations

from typing import Any


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
