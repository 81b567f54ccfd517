"""Another static client at `/` (the `static_client_dir` setting), e.g. Memory Cache's
browser client's built `dist/`, which must be served at the root of its origin.

It is signed in as the hub's own client is: the login link's token (`/?token=...`, or the
sign-in page's form) becomes the same HttpOnly, SameSite=Strict session cookie, and `/`
without it is a sign-in page rather than a client whose every call would be refused. Its
files answer every GET that no route of the hub answers (a path of its router, such as
`/projects/3`, gets its `index.html`), never a path of the hub's API; the hub's own client
moves to `/app/`. The Host and Origin rules and the CSP are the hub's, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from flask import (
    Blueprint,
    Flask,
    Response,
    redirect,
    render_template,
    request,
    send_from_directory,
)
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from neurocache.settings import Settings
from neurocache.web.auth import SESSION_COOKIE, current_hub
from neurocache.web.client import client_dir, with_session

bp = Blueprint("static_client", __name__, template_folder="templates")
# The hub's own paths: an unknown one there stays the hub's 404, never the other client's.
HUB_SEGMENTS = frozenset({"api", "v1", "app", "socket.io", "ws", "mcp", "metrics"})


def register_static_client(app: Flask, settings: Settings) -> None:
    """Only with `static_client_dir` set; else `/` is the hub's own client."""
    if settings.static_client_dir is not None:
        app.register_blueprint(bp)


def other_client_dir() -> Path:
    folder = current_hub().settings.static_client_dir
    assert folder is not None  # registered only when it is set
    return folder


def signed_in() -> bool:
    return current_hub().owner_token.matches(request.cookies.get(SESSION_COOKIE))


def sign_in_with(token: str) -> Response:
    """As the hub's own page does: the cookie and a redirect (the token leaves the address
    bar), or, for a token that is not this hub's, the sign-in page saying so."""
    if not current_hub().owner_token.matches(token):
        return to("/?signin=stale")
    return with_session(to("/"), token)


def to(location: str) -> Response:
    # Flask's redirect makes the app's response class; its stub says werkzeug's base.
    return cast(Response, redirect(location, code=303))


def page() -> Response | str:
    if not signed_in():
        return render_template("static_sign_in.html", refused="signin" in request.args)
    return send_from_directory(other_client_dir(), "index.html", max_age=0)


def file_or_page(relative: str) -> Response | str | None:
    """One of its files; a path of its router (no extension) gets its page; None leaves
    the hub's 404."""
    folder = other_client_dir()
    found = safe_join(str(folder), relative)
    if found is not None and Path(found).is_file():
        return send_from_directory(folder, relative, max_age=0)
    if "." in relative.rsplit("/", 1)[-1]:
        return None
    return page()


@bp.before_app_request
def serve_other_client() -> Response | str | None:
    """Before any view: `/` is the other client's, and so is every GET the hub does not
    route outside its own paths (a hook, not a catch-all route, so that the API's unknown
    paths and methods keep their 404 and 405)."""
    if request.method not in ("GET", "HEAD"):
        return None
    if request.path == "/":
        token = request.args.get("token")
        return page() if token is None else sign_in_with(token)
    first = request.path.split("/", 2)[1]
    if isinstance(request.routing_exception, NotFound) and first not in HUB_SEGMENTS:
        return file_or_page(request.path.lstrip("/"))
    return None


@bp.post("/signin")
def sign_in() -> Response:
    """The sign-in page's form (a page with no script, as the CSP wants)."""
    return sign_in_with(request.form.get("token", ""))


@bp.get("/app/")
def own_client() -> Response:
    """The hub's own client, moved here from `/`."""
    return send_from_directory(client_dir(), "index.html", max_age=0)
