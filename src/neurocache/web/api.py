"""One decorator per endpoint declares its scope, request and response models.

The same declaration checks the caller, validates the request (pydantic) and feeds the
OpenAPI document, so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.web.auth import require


class RequestModel(BaseModel):
    """Request bodies: unknown fields and wrong types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
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
            raise InvalidJSON("the request body is not valid JSON",
                              details=validation_details(exc)) from exc
        raise InvalidInput("the request body does not fit this endpoint",
                           details=validation_details(exc)) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidInput("the query string does not fit this endpoint",
                           details=validation_details(exc)) from exc


def endpoint(
    *,
    scope: str | None = "read",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    multipart: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`scope=None` makes an endpoint public. The view receives `body=` and `query=`; with
    `multipart`, a multipart form is accepted too and the view gets `body=None`."""
    spec = EndpointSpec(scope, body, query, responses or {200: None}, multipart)

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
            return view(*args, **kwargs)

        wrapper.endpoint_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate
