"""`neurocache models ...`: on the store directly, and through a running hub."""

from __future__ import annotations

import hashlib
import json

import pytest

from neurocache.cli.main import main
from neurocache.settings import Settings
from tests.support.file_server import FileServer
from tests.support.hub import start_live_hub
from tests.support.tiny_gguf import write_tiny_llama


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("m") / "tiny.gguf")


@pytest.fixture
def catalog(tmp_path, tiny_model):
    server = FileServer()
    data = tiny_model.read_bytes()
    url = server.serve("/tiny.gguf", data, rate_bytes_per_s=1_000_000)
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {
                        "id": "tiny",
                        "name": "Tiny",
                        "role": "chat",
                        "format": "gguf",
                        "url": url,
                        "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "license": "MIT",
                    }
                ],
            }
        )
    )
    yield path
    server.close()


def run(runner, *args):
    return runner.invoke(main, ["models", *map(str, args)], catch_exceptions=False)


def test_without_a_hub_models_are_added_pulled_listed_and_removed(
    runner, tmp_path, catalog, tiny_model
):
    common = ["--data-dir", tmp_path / "d", "--catalog-path", catalog]
    added = run(runner, "add", tiny_model, *common)
    assert added.exit_code == 0 and added.output.startswith("Added local-")
    pulled = run(runner, "pull", "tiny", *common)
    assert pulled.exit_code == 0, pulled.output
    assert "Installed tiny (verified" in pulled.output and "MB/s" in pulled.output
    listed = run(runner, "list", *common)
    assert "tiny" in listed.output and "installed" in listed.output
    rows = json.loads(run(runner, "list", "--json", *common).output)
    assert {r["state"] for r in rows} == {"installed"}
    assert run(runner, "rm", "tiny", *common).exit_code == 0
    assert '"absent"' in run(runner, "list", "--json", *common).output
    started = run(runner, "start", "tiny", *common)
    assert started.exit_code == 1 and "no hub is running" in started.output


def test_errors_are_messages_not_tracebacks(runner, tmp_path, catalog):
    common = ["--data-dir", tmp_path / "d", "--catalog-path", catalog]
    assert "give PATH" in run(runner, "add", *common).output
    missing = run(runner, "add", tmp_path / "nope.gguf", *common)
    assert missing.exit_code == 1 and "no file at" in missing.output
    unknown = run(runner, "pull", "nope", *common)
    assert unknown.exit_code == 1 and "not in the catalog" in unknown.output


def test_with_a_running_hub_the_commands_go_through_it(runner, tmp_path, catalog, tiny_model):
    settings = Settings(data_dir=tmp_path / "d", catalog_path=catalog, model_health_interval_s=0.2)
    live = start_live_hub(settings)
    live.server.announce(settings.data_dir)
    common = ["--data-dir", settings.data_dir]
    try:
        assert run(runner, "pull", "tiny", *common).exit_code == 0
        assert live.hub.models.get("tiny").state == "installed"  # the hub did it
        started = run(runner, "start", "tiny", *common)
        assert started.exit_code == 0 and "tiny is running" in started.output, started.output
        assert "no GPU found" in started.output
        assert "running" in run(runner, "list", *common).output
        assert "installed" in run(runner, "stop", "tiny", *common).output
        refused = run(runner, "start", "nope", *common)
        assert refused.exit_code == 1 and "no model with id nope" in refused.output
    finally:
        live.server.stop()
    assert not (settings.data_dir / "hub.json").exists()


def test_pull_with_no_route_says_each_try_at_once_then_one_sentence(runner, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {
                        "id": "far",
                        "name": "Far",
                        "role": "chat",
                        "format": "gguf",
                        "size": 1000,
                        "url": f"http://127.0.0.1:{port}/far.gguf",
                        "license": "MIT",
                    }
                ],
            }
        )
    )
    pulled = run(
        runner,
        "pull",
        "far",
        "--data-dir",
        tmp_path / "d",
        "--catalog-path",
        path,
        "--download-retries",
        "1",
    )
    assert pulled.exit_code == 1
    assert "cannot reach 127.0.0.1: the connection was refused: try 2 of 2 in 1 s" in pulled.output
    assert pulled.output.strip().endswith(
        "Error: far: cannot reach 127.0.0.1: the connection was refused (gave up after 2 tries)"
    )
    assert "urllib3" not in pulled.output
