"""Keyset paging: a list answers `limit` rows and an opaque cursor for the next page."""

from __future__ import annotations

import base64
import json
from typing import Any

from neurocache.errors import InvalidInput


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int, *types: type) -> list[Any]:
    """The values of a cursor, checked against `types` (one per value) when given."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not one this hub gave out") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("cursor is not one this hub gave out")
    # bool is an int to isinstance, never to a cursor
    if types and not all(isinstance(v, t) and not isinstance(v, bool)
                         for v, t in zip(values, types, strict=True)):
        raise InvalidInput("cursor is not one this hub gave out")
    return values
