"""Per-request rate limits and usage counting, as request hooks.

Before the view: who is calling (if they sent a credential), their usage scope, and one
request taken from their buckets (429 with `Retry-After` when spent). After it: one request
counted, with its status and latency, against the caller, endpoint, agent and model."""

from __future__ import annotations

import contextvars
import time
from typing import TypedDict, cast

from flask import Flask, Response, g, request

from neurocache.access.keys import Principal
from neurocache.errors import NeurocacheError
from neurocache.metering.ratelimit import Allowance, RateLimited
from neurocache.metering.usage import usage_scope
from neurocache.web.auth import current_hub, resolve_principal

METERED_PREFIXES = ("/api/", "/v1/", "/metrics", "/mcp")
# Generating and embedding endpoints (API.md): the tight per-key limit.
GENERATING = {
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/api/v1/conversations/<conversation_id>/messages"),
    ("POST", "/api/v1/conversations/<conversation_id>/messages/<message_id>/regenerate"),
    ("POST", "/api/v1/channels/<channel_id>/messages"),
    ("POST", "/api/v1/channels/<channel_id>/query"),
    ("POST", "/api/v1/rag_ask"),  # Memory Cache's (web/memory_cache.py), when switched on
}


def endpoint_name() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    return f"{request.method} {rule}"


def _caller() -> Principal | None:
    """The caller when they sent a valid credential; a bad one is the view's to refuse
    (with its own message), so nothing is decided here."""
    try:
        g.principal = resolve_principal()
    except NeurocacheError:
        return None
    return cast("Principal | None", g.principal)


def caller_name(principal: Principal | None) -> str:
    if principal is None:
        return ""
    return "owner" if principal.kind == "owner" else f"key:{principal.id}"


def allowances_of(principal: Principal | None) -> list[Allowance]:
    settings = current_hub().settings
    if principal is None:  # refused anyway (401), but still the hub's to bear: its bucket
        return [Allowance("hub", settings.rate_limit_global_per_minute)]
    if principal.kind == "owner" and not settings.rate_limit_owner:
        return []
    generating = (request.method, getattr(request.url_rule, "rule", "")) in GENERATING
    kind, per_minute = (
        ("generate", settings.rate_limit_generate_per_minute)
        if generating
        else ("other", settings.rate_limit_per_minute)
    )
    return [
        Allowance(f"{caller_name(principal)}:{kind}", per_minute),
        Allowance("hub", settings.rate_limit_global_per_minute),
    ]


def _begin() -> None:
    if not request.path.startswith(METERED_PREFIXES):
        return
    g.metered_at = time.perf_counter()
    principal = _caller()
    g.usage_token = usage_scope.set({"caller": caller_name(principal), "endpoint": endpoint_name()})
    enforce_limits(allowances_of(principal))


def enforce_limits(allowances: list[Allowance]) -> None:
    g.allowances = allowances
    refused = current_hub().limiter.take(allowances)
    if refused is not None:
        spent, retry_after_s = refused
        whose = "this hub" if spent.bucket == "hub" else "this key"
        raise RateLimited(
            f"{whose} may make {spent.per_minute} such requests a minute; try again in "
            f"{max(1, round(retry_after_s))} s",
            retry_after_s=round(retry_after_s, 3),
            details={
                "limit_per_minute": spent.per_minute,
                "scope": "hub" if spent.bucket == "hub" else "key",
            },
        )


class _Subject(TypedDict, total=False):
    agent: str
    model: str


def _subject(response: Response) -> _Subject:
    """The agent or model a request was about — only once the hub answered for it: an id
    in a refused or failed request's URL is anyone's text, not a thing of this hub."""
    view_args = request.view_args or {}
    subject: _Subject = {}
    if response.status_code >= 400 or not g.get("principal"):
        return subject
    if "agent_id" in view_args:
        subject["agent"] = str(view_args["agent_id"])
    if "model_id" in view_args:
        subject["model"] = str(view_args["model_id"])
    return subject


def _finish(response: Response) -> Response:
    if "metered_at" not in g:
        return response
    elapsed_ms = (time.perf_counter() - g.metered_at) * 1000
    current_hub().usage.add(
        requests=1,
        errors=int(response.status_code >= 400),
        latency_ms=elapsed_ms,
        **_subject(response),
    )
    allowances = [a for a in g.get("allowances", []) if a.per_minute > 0]
    if allowances:  # the tightest of the caller's limits, as the IETF draft names them
        key = allowances[0]
        response.headers["RateLimit-Limit"] = str(key.per_minute)
        response.headers["RateLimit-Remaining"] = str(current_hub().limiter.remaining(key))
    return response


def _teardown(_exc: BaseException | None) -> None:
    token: contextvars.Token | None = g.pop("usage_token", None)
    if token is not None:
        usage_scope.reset(token)


def register_metering(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_teardown)
