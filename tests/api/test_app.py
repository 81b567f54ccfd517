"""The app factory, logging and status (the layering rules: test_layering.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store import Database
from tests.support.hub import assert_error, bearer, start_live_hub

SRC = Path(__file__).resolve().parents[2] / "src" / "neurocache"


def test_two_hubs_run_in_one_process_independently(tmp_path):
    first = start_live_hub(Settings(data_dir=tmp_path / "one"))
    second = start_live_hub(Settings(data_dir=tmp_path / "two"))
    try:
        key_one, key_two = first.key("read"), second.key("read")
        assert first.get("/api/v1/status", headers=bearer(key_one)).json()["data_dir"] == str(
            tmp_path / "one"
        )
        assert second.get("/api/v1/status", headers=bearer(key_two)).json()["data_dir"] == str(
            tmp_path / "two"
        )
        assert_error(first.get("/api/v1/status", headers=bearer(key_two)), 401)
        assert first.hub is not second.hub
        assert first.app.extensions["socketio"] is not second.app.extensions["socketio"]
    finally:
        first.server.stop()
        second.server.stop()
    # Stopped means stopped: nothing listens any more.
    for live in (first, second):
        try:
            requests.get(live.url + "/api/v1/health", timeout=1)
            raise AssertionError("a stopped hub still answers")
        except requests.ConnectionError:
            pass


def test_health_needs_no_credentials_and_status_reports_the_hub(client, admin_headers, hub):
    assert client.get("/api/v1/health").json == {"status": "ok", "version": "0.1.0"}
    status = client.get("/api/v1/status", headers=admin_headers).json
    assert status["version"] == "0.1.0"
    assert status["data_dir"] == str(hub.settings.data_dir)
    assert status["store"]["backend"] == "sqlite"
    assert status["store"]["schema_revision"] == Database.head_revision()
    assert status["store"]["size_bytes"] > 0 and status["store"]["memories"] == 0
    assert status["uptime_s"] >= 0
    assert status["indexes"] == {
        "vectors": {
            "size_bytes": 0,
            "loaded": False,
            "kind": None,  # known once loaded
            "vectors": None,
            "lists": None,
            "rebuilding": None,
        }
    }


def test_request_ids_are_echoed_or_made_and_logged(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, log_level="DEBUG"), testing=True)
    client, hub = app.test_client(), hub_of(app)
    given = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made.headers["X-Request-ID"]) == 32
    log = (hub.settings.data_dir / "logs" / "hub.log").read_text()
    assert "[abc-123] GET /api/v1/health 200" in log  # access lines are DEBUG
    hub.close()


def test_log_rotates_at_the_configured_size(tmp_path):
    app = create_app(
        Settings(data_dir=tmp_path, log_file_bytes=2000, log_file_count=2, log_level="DEBUG")
    )
    client = app.test_client()
    for _ in range(100):
        client.get("/api/v1/health")
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["hub.log", "hub.log.1", "hub.log.2"]
    assert all((tmp_path / "logs" / name).stat().st_size <= 2200 for name in logs)
    hub_of(app).close()


def test_the_same_cli_through_the_console_script_and_python_m():
    bin_dir = Path(sys.executable).parent
    script = subprocess.run(
        [bin_dir / "neurocache", "--version"], capture_output=True, text=True, check=True
    )
    module = subprocess.run(
        [sys.executable, "-m", "neurocache", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert script.stdout == module.stdout == "neurocache, version 0.1.0\n"


def test_repository_layout_of_the_design():
    root = SRC.parents[1]
    for folder in (
        "src/neurocache",
        "browser-extension",
        "tests",
        "bench",
        "requirements",
        "build_scripts",
        "docker",
        "docs/decisions",
    ):
        assert (root / folder).is_dir(), folder
    for variant in ("base", "cpu", "cuda", "rocm", "builder", "dev"):
        pins = (root / "requirements" / f"hub-{variant}.txt").read_text()
        requirements = [line for line in pins.splitlines() if line and line[0].isalpha()]
        assert requirements and all("==" in line for line in requirements), variant
