"""Fixtures in the style of Flask's tutorial: `app`, `client`, `runner`, plus a real hub
on a free loopback port (`live_hub`) for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from neurocache.app import create_app, hub_of
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.web.server import HubServer
from tests.support.tiny_gguf import write_tiny_llama


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's environment or data dir."""
    import os

    for name in list(os.environ):
        if name.startswith("NEUROCACHE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "data"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, testing=True)
    yield app
    hub_of(app).close()


@pytest.fixture
def hub(app: Flask) -> Hub:
    return hub_of(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def make_key(hub: Hub, *scopes: str, name: str = "test key") -> str:
    _view, secret = hub.keys.create(name, list(scopes) or ["read"], Actor("test"))
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin_headers(hub: Hub) -> dict[str, str]:
    return bearer(make_key(hub, "admin", name="admin"))


@pytest.fixture
def owner(hub: Hub) -> dict[str, str]:
    """The owner's credentials, as headers (what every API test sends)."""
    return bearer(hub.owner_token.value)


@pytest.fixture
def owner_client(app: Flask, hub: Hub) -> FlaskClient:
    """A browser-like client signed in through the login link."""
    client = app.test_client()
    assert client.get(f"/?token={hub.owner_token.value}").status_code == 303
    return client


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


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A real hub serving HTTP and Socket.IO on a free loopback port, in this process."""
    live = start_live_hub(Settings(data_dir=tmp_path / "live"))
    yield live
    live.server.stop()


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


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    # 2048 positions: the instructions alone are ~450 tokens in its byte-level vocabulary.
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-chat.gguf", n_ctx=2048)
