"""The OpenAPI 3 document, built from the routes and their `endpoint` declarations."""

from __future__ import annotations

import re
from typing import Any, cast

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from neurocache import __version__
from neurocache.errors import ERROR_CODES
from neurocache.web.api import EndpointSpec

REF = "#/components/schemas/{model}"
# Errors any operation may answer (503: the store is busy); others (409, 502) are declared
# by the endpoints that answer them (`endpoint(errors=...)`).
COMMON_ERRORS = (400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503)
ERROR_TEXT = {
    400: "Malformed JSON",
    401: "No valid credentials",
    403: "Forbidden: scope, host or origin",
    404: "Not found",
    405: "Method not allowed on this path",
    409: "Conflicts with the current state",
    413: "Body too large",
    415: "Not JSON",
    422: "Invalid fields",
    429: "Rate limited (see Retry-After)",
    500: "Internal error",
    502: "The model server failed",
    503: "Not available now (e.g. no model running)",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "status", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": sorted(ERROR_CODES),
                    "description": "; ".join(f"`{c}`: {m}" for c, m in ERROR_CODES.items()),
                },
                "message": {"type": "string"},
                "status": {"type": "integer"},
                "details": {"type": "object"},
            },
        }
    },
}
# Under /v1, OpenAI's own error body, so that its clients raise their usual errors.
OPENAI_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string", "examples": ["invalid_request_error"]},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def error_response_ref(path: str, status: int) -> dict[str, str]:
    family = "OpenAIError" if path.startswith("/v1/") else "Error"
    return {"$ref": f"#/components/responses/{family}{status}"}


def openapi_path(rule: str) -> str:
    """`/keys/<key_id>` or `/x/<int:n>` → `/keys/{key_id}`, `/x/{n}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _models(specs: list[EndpointSpec]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for spec in specs:
        for model in (spec.body, spec.query, *spec.responses.values()):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _operation(
    view: Any,
    spec: EndpointSpec,
    endpoint: str,
    refs: dict[Any, Any],
    path: str,
    path_params: list[str],
) -> dict[str, Any]:
    doc = (view.__doc__ or endpoint).strip()
    summary, _, description = doc.partition("\n")
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": summary.strip(),
        "tags": [endpoint.split(".")[0]],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in path_params
        ],
        "responses": {},
    }
    if description.strip():
        operation["description"] = " ".join(description.split())
    for name, help_text in spec.headers.items():
        operation["parameters"].append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": help_text,
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    if spec.query is not None:
        properties = spec.query.model_json_schema()["properties"]
        for name, field in spec.query.model_fields.items():
            operation["parameters"].append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": properties[name],
                }
            )
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
        if spec.multipart is not None:
            operation["requestBody"]["content"]["multipart/form-data"] = {"schema": spec.multipart}
    for status, model in spec.responses.items():
        content = {"application/json": {"schema": refs[(model, "serialization")]}} if model else {}
        operation["responses"][str(status)] = {
            "description": "Success",
            **({"content": content} if content else {}),
        }
    for status in sorted({*COMMON_ERRORS, *spec.errors}):
        operation["responses"][str(status)] = error_response_ref(path, status)
    operation["security"] = [] if spec.scope is None else [{"apiKey": []}, {"session": []}]
    if spec.scope is not None:
        operation["x-scope"] = spec.scope
    return operation


def build_openapi(app: Flask) -> dict[str, Any]:
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        spec = getattr(view, "endpoint_spec", None)
        if spec is not None:
            routes.append((rule, view, spec))
    models = _models([spec for _, _, spec in routes])
    modes: tuple[JsonSchemaMode, ...] = ("validation", "serialization")
    keyed = [(m, mode) for m in models for mode in modes]
    refs, defs = models_json_schema(keyed, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for rule, view, spec in sorted(routes, key=lambda r: r[0].rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = _operation(
                view, spec, rule.endpoint, refs, rule.rule, list(rule.arguments)
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Neurocache hub API",
            "version": __version__,
            "description": "Errors always have the body "
            '`{"error": {"code", "message", "status", "details"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": {
                **defs.get("$defs", {}),
                "Error": ERROR_SCHEMA,
                "OpenAIError": OPENAI_ERROR_SCHEMA,
            },
            "responses": {
                f"{family}{status}": {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": REF.format(model=family)}}},
                }
                for status, text in ERROR_TEXT.items()
                for family in ("Error", "OpenAIError")
            },
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "nc_... API key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "nc_session"},
            },
        },
    }


def openapi_document(app: Flask) -> dict[str, Any]:
    """Built on first use (every blueprint is registered by then) and kept."""
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = build_openapi(app)
    return cast(dict[str, Any], app.extensions["openapi"])
