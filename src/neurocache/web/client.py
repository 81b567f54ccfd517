"""The browser client's pages and its login: the token from the first URL (or a form)
becomes an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from flask import Blueprint, Response, jsonify, redirect, request, send_from_directory
from flask.typing import ResponseReturnValue
from pydantic import Field

from neurocache.access.keys import OWNER, Principal
from neurocache.errors import Unauthorized
from neurocache.web.api import ApiModel, RequestModel, endpoint
from neurocache.web.auth import SESSION_COOKIE, current_hub, require

bp = Blueprint("client", __name__)
SESSION_DAYS = 30


def client_dir() -> Path:
    """The browser client: package data (`neurocache/client/browser`), in a checkout, a
    wheel or the binary alike."""
    return Path(__file__).resolve().parent.parent / "client" / "browser"


def principal_view(principal: Principal) -> dict[str, object]:
    """`person` is whose credential it is (`owner` or `user:<id>`), `user` their name."""
    user = (
        None
        if principal.is_owner
        else current_hub().users.get(principal.person.removeprefix("user:")).name
    )
    return {
        "kind": principal.kind,
        "id": principal.id,
        "name": principal.name,
        "scopes": sorted(principal.scopes),
        "person": principal.person,
        "user": user,
    }


def with_session(response: Response, token: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
    return response


@bp.get("/")
def index() -> ResponseReturnValue:
    token = request.args.get("token")
    if token is not None:
        # Redirect so the token leaves the address bar and the history. A link that is not
        # (or no longer) this hub's lands on the sign-in page, which says so: no cookie.
        if not current_hub().owner_token.matches(token):
            return redirect("/?signin=stale", code=303)
        # Flask's redirect makes the app's response class; its stub says werkzeug's base.
        return with_session(cast(Response, redirect("/", code=303)), token)
    return send_from_directory(client_dir(), "index.html", max_age=0)


@bp.get("/app/<path:filename>")
def asset(filename: str) -> Response:
    return send_from_directory(client_dir(), filename, max_age=0)


class Login(RequestModel):
    token: str = Field(min_length=1, description="The owner's login token (printed by `serve`).")


class WhoAmI(ApiModel):
    kind: str
    id: str
    name: str
    scopes: list[str]
    person: str = Field(description="Whose credential: `owner` or `user:<id>`.")
    user: str | None = Field(description="The user's name, for a user's key.")


class Session(ApiModel):
    principal: WhoAmI


@bp.post("/api/v1/session")
@endpoint(scope=None, body=Login, responses={200: Session})
def login(body: Login) -> Response:
    """Sign the browser in with the owner's token; sets the session cookie."""
    if not current_hub().owner_token.matches(body.token):
        raise Unauthorized("that token is not this hub's login token")
    response = jsonify({"principal": principal_view(OWNER)})
    return with_session(response, body.token)


@bp.get("/api/v1/session")
@endpoint(scope="read", responses={200: Session})
def whoami() -> dict[str, dict[str, object]]:
    """Who the credentials of this request belong to."""
    return {"principal": principal_view(require("read"))}


@bp.delete("/api/v1/session")
@endpoint(scope=None, responses={200: None})
def logout() -> Response:
    """Forget the session cookie."""
    response = jsonify({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict", httponly=True)
    return response
