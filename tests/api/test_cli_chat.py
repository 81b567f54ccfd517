"""`neurocache ask`: through a running hub, and in its own process (starting an installed
model for the question), with the tiny GGUF model."""

from __future__ import annotations

from neurocache.cli.main import main
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.chat_model import CHAT_SETTINGS, RIVERS, start_model
from tests.support.hub import start_live_hub

FLAGS = ["--chat-temperature", "0", "--chat-max-reply-tokens", "24"]


def test_ask_through_the_running_hub_streams_and_lists_sources(runner, tmp_path, tiny_chat_model):
    settings = Settings(data_dir=tmp_path / "d", **CHAT_SETTINGS)
    live = start_live_hub(settings)
    live.server.announce(settings.data_dir)
    try:
        start_model(live.hub, tiny_chat_model)
        live.hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=Actor("t"))
        assert live.hub.jobs.wait_idle(60)
        result = runner.invoke(
            main,
            [
                "ask",
                "Where do salmon swim?",
                "--max-tokens",
                "8",
                "--data-dir",
                str(settings.data_dir),
            ],
        )
        assert result.exit_code == 0, result.output
        answer, sources = result.output.split("\nSources:\n")
        assert answer.strip()
        assert "[1] Rivers" in sources
    finally:
        live.server.stop()


def test_ask_in_process_starts_an_installed_model_and_stops_it(runner, tmp_path, tiny_chat_model):
    data = tmp_path / "d"
    hub = Hub(Settings(data_dir=data))
    hub.models.register_local(str(tiny_chat_model), Actor("t"))
    hub.close()
    result = runner.invoke(
        main, ["ask", "Hello", "--no-memory", "--max-tokens", "8", "--data-dir", str(data), *FLAGS]
    )
    assert result.exit_code == 0, result.output
    assert "starting local-" in result.output and "Sources:" not in result.output
    hub = Hub(Settings(data_dir=data))
    assert all(m.state != "running" for m in hub.models.list())
    hub.close()


def test_ask_without_any_model_says_what_to_do(runner, tmp_path):
    result = runner.invoke(main, ["ask", "Hello", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "no chat model is installed" in result.output and "models pull" in result.output
