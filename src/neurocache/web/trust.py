"""Who may talk to the hub at all, checked below Flask so that it covers every path,
Socket.IO's included.

A server on localhost is reachable by every web page the user visits. A page cannot
choose the `Host` header, but DNS rebinding can make the browser send one that names an
attacker's domain: so only the hub's own names are served. And a page may send
cross-origin requests: so only the hub's own origin, extensions and configured origins
are served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from neurocache.settings import Settings
from neurocache.web.errors import wsgi_error

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://", "safari-web-extension://")
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})
SOCKETIO_PATH = "/socket.io/"


def split_host(host: str) -> tuple[str, str | None]:
    """`[::1]:4444` → (`[::1]`, `4444`); `localhost` → (`localhost`, None)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        if rest and not rest.startswith(":"):
            return "", None  # `[::1]junk`: names no host
        return name + "]", rest[1:] if rest else None
    name, sep, port = host.partition(":")
    return name, port if sep else None


def cross_origin(environ: dict[str, Any]) -> bool:
    """Whether the request carries an Origin other than the hub's own."""
    origin = environ.get("HTTP_ORIGIN")
    return origin is not None and not OriginPolicy.same_origin(origin, environ)


def bind_address_as_host(address: str) -> str:
    """How a Host header names a bind address: IPv6 in brackets."""
    bare = address.strip("[]").lower()
    return f"[{bare}]" if ":" in bare else bare


class OriginPolicy:
    def __init__(self, settings: Settings) -> None:
        names = set(LOOPBACK_NAMES) | {name.lower() for name in settings.allowed_hosts}
        if settings.host not in WILDCARD_HOSTS:
            names.add(bind_address_as_host(settings.host))
        self.host_names = frozenset(names)
        # behind a load balancer: its address (name and port) is ours too
        self.public_host = (
            urlsplit(settings.public_url).netloc.lower() if settings.public_url else None
        )
        self.extra_origins = frozenset(o.rstrip("/").lower() for o in settings.allowed_origins)
        self.allow_extensions = settings.allow_extension_origins

    def host_allowed(self, environ: dict[str, Any]) -> bool:
        host = environ.get("HTTP_HOST")
        if not host:
            return True  # HTTP/1.0 without Host: not something a browser sends
        if self.public_host is not None and host.lower() == self.public_host:
            return True
        name, port = split_host(host)
        if name not in self.host_names:
            return False
        return port is None or port == str(environ.get("SERVER_PORT"))

    @staticmethod
    def same_origin(origin: str, environ: dict[str, Any]) -> bool:
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin.lower() == own.lower()

    def origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None or self.same_origin(origin, environ):
            return True
        if self.allow_extensions and origin.lower().startswith(EXTENSION_SCHEMES):
            return True
        return origin.rstrip("/").lower() in self.extra_origins

    def __call__(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """Engine.IO's `cors_allowed_origins` hook: the same rule for Socket.IO."""
        return self.origin_allowed(origin, environ)


CORS_HEADERS = [
    ("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    ("Access-Control-Max-Age", "600"),
]


class TrustMiddleware:
    """Refuses foreign hosts and origins; answers CORS for the origins it allows.

    Allowed cross-origin callers get no credentials (cookies): they use API keys."""

    def __init__(self, app: Callable[..., Iterable[bytes]], policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not self.policy.host_allowed(environ):
            return wsgi_error(
                start_response,
                403,
                "This hub does not answer to that host name.",
                "forbidden_host",
                environ,
            )
        origin = environ.get("HTTP_ORIGIN")
        if not self.policy.origin_allowed(origin, environ):
            return wsgi_error(
                start_response,
                403,
                f"Requests from {origin} are not allowed.",
                "forbidden_origin",
                environ,
            )
        if (
            origin is None  # not cross-origin
            or not cross_origin(environ)
            or environ.get("PATH_INFO", "").startswith(SOCKETIO_PATH)
        ):
            return self.app(environ, start_response)  # Engine.IO adds its own CORS headers
        preflight = "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        if environ["REQUEST_METHOD"] == "OPTIONS" and preflight:
            start_response("204 No Content", [*self._allow(origin), *CORS_HEADERS])
            return [b""]

        def start_with_cors(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, *self._allow(origin)], *args)

        return self.app(environ, start_with_cors)

    @staticmethod
    def _allow(origin: str) -> list[tuple[str, str]]:
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
