"""What API and end-to-end tests share besides fixtures: keys, headers, the one error
shape, and a real hub on a free loopback port in this process."""

from __future__ import annotations

from dataclasses import dataclass

import requests
from flask import Flask

from neurocache.app import create_app, hub_of
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.web.server import HubServer


def make_key(hub: Hub, *scopes: str, name: str = "test key") -> str:
    _view, secret = hub.keys.create(name, list(scopes) or ["read"], Actor("test"))
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class LiveHub:
    app: Flask
    server: HubServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def hub(self) -> Hub:
        return hub_of(self.app)

    def key(self, *scopes: str) -> str:
        return make_key(self.hub, *scopes)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)


def start_live_hub(settings: Settings) -> LiveHub:
    app = create_app(settings)
    return LiveHub(app, HubServer(app, "127.0.0.1", 0).start())


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape of the API (works for Flask and `requests` responses)."""
    assert response.status_code == status, response.text if hasattr(response, "text") else None
    body = response.json() if callable(response.json) else response.json
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "status", "details"}, error
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in str(body)
    return error
