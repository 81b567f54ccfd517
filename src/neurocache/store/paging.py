"""Keyset paging: a list answers `limit` rows and an opaque cursor for the next page."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from neurocache.errors import InvalidInput

V = TypeVar("V")  # what a row is shown as


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
    if types and not all(
        isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, types, strict=True)
    ):
        raise InvalidInput("cursor is not one this hub gave out")
    return values


def parse_cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput("cursor is not one this hub gave out") from exc
    if moment.tzinfo is None:
        raise InvalidInput("cursor is not one this hub gave out")
    return moment


def newest_first(
    session: Session,
    query: Select,
    model: Any,
    limit: int,
    cursor: str | None,
    view: Callable[[Any], V],
) -> tuple[list[V], str | None]:
    """A page of `model` rows, newest first, after `cursor`: keyset paging on
    (created_at, id), so pages stay right while rows are added."""
    query = query.order_by(model.created_at.desc(), model.id.desc())
    if cursor:
        created, key = decode_cursor(cursor, 2, str, str)
        moment = parse_cursor_time(created)
        query = query.where(
            or_(model.created_at < moment, and_(model.created_at == moment, model.id < key))
        )
    rows = list(session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at.isoformat(), page[-1].id) if more else None
    return [view(row) for row in page], next_cursor
