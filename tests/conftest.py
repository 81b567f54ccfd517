"""Fixtures in the style of Flask's tutorial: `app`, `client`, `runner`, plus a real hub
on a free loopback port (`live_hub`) for end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from neurocache.app import create_app, hub_of
from neurocache.hub import Hub
from neurocache.settings import Settings
from tests.support.hub import LiveHub, bearer, make_key, start_live_hub
from tests.support.postgres import fresh_database, postgres_bin_dir, postgres_server
from tests.support.tiny_gguf import write_tiny_llama


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's environment or data dir."""
    for name in list(os.environ):
        if name.startswith("NEUROCACHE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / "data"))


@pytest.fixture(scope="session")
def postgres_for_hubs() -> Iterator[str | None]:
    """With TEST_STORE=postgresql, every `settings` hub runs on PostgreSQL with pgvector
    (one throw-away server for the session, a fresh database per test): the same API
    tests, on the team store."""
    if os.environ.get("TEST_STORE") != "postgresql":
        yield None
        return
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("TEST_STORE=postgresql, but no PostgreSQL server programs here")
    with postgres_server(bin_dir) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, postgres_for_hubs: str | None) -> Settings:
    if postgres_for_hubs is None:
        return Settings(data_dir=tmp_path / "data")
    return Settings(
        data_dir=tmp_path / "data",
        database_url=fresh_database(postgres_for_hubs),
        vector_backend="pgvector",
    )


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


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """A real hub serving HTTP and Socket.IO on a free loopback port, in this process."""
    live = start_live_hub(Settings(data_dir=tmp_path / "live"))
    yield live
    live.server.stop()


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    # 2048 positions: the instructions alone are ~450 tokens in its byte-level vocabulary.
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-chat.gguf", n_ctx=2048)
