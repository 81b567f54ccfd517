"""docker/compose.team.yml, linted here since Docker cannot run on this machine: its
settings are the hub's, the files it names exist, the hubs run what `cluster up` runs, and
only the balancer is published, on loopback."""

from __future__ import annotations

from pathlib import Path

import yaml

from neurocache.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.team.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_every_hub_setting_named_is_a_setting_and_the_team_ones_are_there():
    settings = compose()["x-hub-settings"]
    names = {name.removeprefix(ENV_PREFIX).lower() for name in settings}
    assert names <= set(Settings.model_fields), names - set(Settings.model_fields)
    assert {"database_url", "vector_backend", "redis_url", "public_url"} <= names
    assert settings["NEUROCACHE_VECTOR_BACKEND"] == "pgvector"
    assert settings["NEUROCACHE_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_services_a_team_hub_needs_and_what_they_run():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "hub", "balancer"}
    assert "pgvector" in services["postgres"]["image"]
    hub = services["hub"]
    assert "neurocache.cluster.wsgi:app" in hub["command"]
    assert "python:neurocache.cluster.gunicorn_conf" in hub["command"]
    assert (ROOT / "src/neurocache/cluster/wsgi.py").is_file()
    assert hub["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["neurocache", "migrate"]


def test_the_files_it_names_exist_and_only_the_balancer_is_published_on_loopback():
    services = compose()["services"]
    for service in services.values():
        build = service.get("build")
        if build:
            assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), source
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"balancer": ["127.0.0.1:4444:4444"]}
