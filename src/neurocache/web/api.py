"""One decorator per endpoint declares its scope, request and response models.

The same declaration checks the caller, validates the request (pydantic) and feeds the
OpenAPI document, so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from flask import Response, current_app, request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.records import plain
from neurocache.web.auth import require

# Bounds for the numbers the API takes: each number is bounded, so none reaches the store or
# a library (a C int, a timedelta) it cannot be held in.
MAX_SEQ = 2**62  # message sequence numbers: far beyond any channel, well inside 64 bits
MAX_SECONDS = 100 * 365 * 24 * 3600.0  # a century: the longest duration that means anything
MAX_TOKENS = 1_000_000  # tokens a request may ask a model for
INT64 = 2**63 - 1
# Statuses some endpoints answer besides the ones every endpoint may (`errors=`).
CONFLICT = (409,)  # the resource's state forbids it now (archived, exists, not running...)
MODEL_ERRORS = (502, 503)  # the model server failed, or no model can answer


def _in_utc(value: datetime) -> datetime:
    """A time without a zone is UTC (API.md); one with a zone must still be a time once
    moved to UTC (`0001-01-01T00:00:00+14:00` is not)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range once converted to UTC") from exc


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text is a time here: pydantic would also read `0.5` (or `1e9`) as
    seconds since 1970, which nobody means in a query string. Parsed here (a strict model
    would refuse the text itself)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 time: {exc}") from exc
    raise ValueError("give an ISO 8601 time, e.g. 2026-03-01T12:00:00Z")


# Every time the API takes: ISO 8601, converted to UTC at the boundary.
Moment = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a path cannot hold a NUL character")
    return value


# A file or folder on this machine, as a person gives it (no NUL: the OS refuses those).
LocalPath = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_no_nul)]


class ApiModel(BaseModel):
    """A model of the API's JSON. Its validator is built when it is first used, not when
    the hub starts (as records' are: see records.py)."""

    model_config = ConfigDict(defer_build=True)


class RequestModel(ApiModel):
    """Request bodies: unknown fields and wrong types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(ApiModel):
    """Query strings arrive as text: numbers are parsed, unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


class PageQuery(QueryModel):
    limit: int = Field(50, ge=1, le=500, description="Rows per page.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


class InvalidJSON(NeurocacheError):
    status = 400
    code = "invalid_json"


class UnsupportedMediaType(NeurocacheError):
    status = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class EndpointSpec:
    scope: str | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    multipart: dict[str, Any] | None = None  # JSON schema of a multipart form also accepted
    errors: tuple[int, ...] = ()  # statuses it may answer besides the common ones
    headers: dict[str, str] = field(default_factory=dict)  # request headers it reads: help


def validation_details(exc: ValidationError) -> dict[str, Any]:
    return {
        "errors": [
            {"loc": list(err["loc"]), "message": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
    }


def parse_body(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "send a JSON body with `Content-Type: application/json`",
            details={"content_type": request.mimetype or None},
        )
    raw = request.get_data(cache=True) or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise InvalidJSON(
                "the request body is not valid JSON", details=validation_details(exc)
            ) from exc
        raise InvalidInput(
            "the request body does not fit this endpoint", details=validation_details(exc)
        ) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string as `model`. Every parameter is one value (several are written
    comma-separated), so one given twice is refused, not silently cut to its first."""
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise InvalidInput(
            f"give each query parameter once: {', '.join(repeated)} came more than once",
            details={"fields": repeated},
        )
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidInput(
            "the query string does not fit this endpoint", details=validation_details(exc)
        ) from exc


class ResponseContractBroken(NeurocacheError):
    """An answer that does not match the model its endpoint declares (tests only)."""


def check_response(spec: EndpointSpec, answer: Any) -> None:
    """The view's answer against the model declared for its status (a JSON body only:
    streams, files and pages are not modelled)."""
    body, status = (answer, 200) if not isinstance(answer, tuple) else answer[:2]
    if isinstance(body, Response):
        if body.mimetype != "application/json":
            return
        status, body = body.status_code, body.get_json()
    model = spec.responses.get(status)
    if model is None:
        if status not in spec.responses and status < 300:
            raise ResponseContractBroken(f"status {status} is not declared for this endpoint")
        return
    try:
        model.model_validate(body)
    except ValidationError as exc:
        raise ResponseContractBroken(
            f"the answer does not match {model.__name__}",
            details={"errors": exc.errors(include_url=False, include_context=False)},
        ) from exc


def plain_answer(answer: Any) -> Any:
    """A view's answer with the services' records in it made plain JSON (a body, or the
    body of a `(body, status[, headers])` tuple; responses pass as they are)."""
    if isinstance(answer, tuple):
        return (plain(answer[0]), *answer[1:])
    return answer if isinstance(answer, Response) else plain(answer)


def endpoint(
    *,
    scope: str | None = "read",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    multipart: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
    headers: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`scope=None` makes an endpoint public. The view receives `body=` and `query=`; with
    `multipart`, a multipart form is accepted too and the view gets `body=None`. `errors`:
    the statuses it may answer besides those every endpoint may (409, 502, 503, ...);
    `headers`: the optional request headers it reads, with their help (for the document)."""
    spec = EndpointSpec(
        scope, body, query, responses or {200: None}, multipart, errors, headers or {}
    )

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if spec.scope is not None:
                require(spec.scope)
            if spec.multipart is not None and request.mimetype == "multipart/form-data":
                kwargs["body"] = None
            elif spec.body is not None:
                kwargs["body"] = parse_body(spec.body)
            if spec.query is not None:
                kwargs["query"] = parse_query(spec.query)
            answer = plain_answer(view(*args, **kwargs))
            if current_app.testing:  # the contract, checked on every answer the tests get
                check_response(spec, answer)
            return answer

        wrapper.endpoint_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate
