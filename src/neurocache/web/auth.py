"""Who is calling: an API key (`Authorization: Bearer nc_...`), the owner's token, or the
browser client's session cookie."""

from __future__ import annotations

from typing import cast

from flask import current_app, g, request

from neurocache.access.keys import OWNER, Principal
from neurocache.errors import Forbidden, Unauthorized
from neurocache.hub import Hub
from neurocache.store.audit import Actor
from neurocache.web.trust import cross_origin

SESSION_COOKIE = "nc_session"


def current_hub() -> Hub:
    return cast(Hub, current_app.extensions["neurocache"])


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be `Bearer <api key>`")
    return token.strip()


def resolve_principal() -> Principal | None:
    """An explicit credential wins over the cookie: a bad key is refused, not ignored."""
    hub = current_hub()
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        principal = hub.authenticate(token)
        if principal is None:
            raise Unauthorized("that API key is not valid (unknown or revoked)")
        return principal
    if cross_origin(request.environ):
        return None  # the session cookie is for the hub's own page, never another origin
    return OWNER if hub.owner_token.matches(request.cookies.get(SESSION_COOKIE)) else None


def require(scope: str) -> Principal:
    if "principal" not in g:
        g.principal = resolve_principal()
    principal: Principal | None = g.principal
    if principal is None:
        raise Unauthorized("sign in, or send an API key as `Authorization: Bearer nc_...`")
    if not principal.can(scope):
        raise Forbidden(f"this key lacks the `{scope}` scope", details={"required_scope": scope})
    return principal


def current_principal() -> Principal:
    """Who this request is (after `require`)."""
    return cast(Principal, g.principal)


def current_actor() -> Actor:
    """The audit actor of this request (after `require`)."""
    return cast(Principal, g.principal).actor(g.get("request_id"))
