"""Settings: defaults → config file → environment → CLI flags, and every one documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from neurocache.cli.main import main
from neurocache.settings import Settings, default_data_dir, load_settings, setting_sources

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_defaults_bind_loopback_on_4444_with_per_user_data_dir(tmp_path):
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 4444
    assert settings.data_dir == default_data_dir().resolve()
    assert str(tmp_path / "home") in str(settings.data_dir)  # platformdirs, under $HOME
    assert settings.effective_database_url == f"sqlite:///{settings.data_dir / 'neurocache.db'}"


def test_each_layer_overrides_the_one_below(tmp_path, monkeypatch):
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text('port = 5001\nlog_level = "DEBUG"\nlog_file_count = 9\n')
    monkeypatch.setenv("NEUROCACHE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("NEUROCACHE_PORT", "5002")
    monkeypatch.setenv("NEUROCACHE_LOG_LEVEL", "WARNING")
    flags = {"log_level": "ERROR", "host": None}

    settings = load_settings(flags)

    assert (settings.log_file_count, settings.port, settings.log_level) == (9, 5002, "ERROR")
    sources = setting_sources(settings, flags)
    assert sources["log_file_count"] == "file"
    assert sources["port"] == "env"
    assert sources["log_level"] == "flag"
    assert sources["host"] == "default"
    assert sources["data_dir"] == "env"


def test_config_file_is_read_from_a_data_dir_given_as_flag(tmp_path):
    (tmp_path / "config.toml").write_text("port = 6000\n")
    assert load_settings({"data_dir": tmp_path}).port == 6000


def test_lists_from_the_environment_are_comma_separated(monkeypatch):
    monkeypatch.setenv("NEUROCACHE_ALLOWED_HOSTS", "hub.lan, other.lan")
    assert load_settings().allowed_hosts == ["hub.lan", "other.lan"]


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("NEUROCACHE_PORT", "not-a-port"),
        ("NEUROCACHE_PORT", "70000"),
        ("NEUROCACHE_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_are_refused_with_the_setting_named(monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=env.removeprefix("NEUROCACHE_").lower()):
        load_settings()


def test_unknown_or_broken_config_file_is_a_clear_error(tmp_path):
    (tmp_path / "config.toml").write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings({"data_dir": tmp_path})
    (tmp_path / "config.toml").write_text("port = = 1\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_settings({"data_dir": tmp_path})


def test_config_command_prints_every_value_and_its_source(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROCACHE_PORT", "4999")
    result = runner.invoke(main, ["config", "--data-dir", str(tmp_path), "--log-level", "DEBUG"])
    assert result.exit_code == 0, result.output
    for name in Settings.model_fields:
        assert re.search(rf"^{name}\s", result.output, re.M), name
    assert re.search(r"^port\s+4999\s+\(env\)", result.output, re.M)
    assert re.search(r'^log_level\s+"DEBUG"\s+\(flag\)', result.output, re.M)
    assert re.search(r"^host\s+\"127.0.0.1\"\s+\(default\)", result.output, re.M)

    as_json = json.loads(runner.invoke(main, ["config", "--json", "--port", "1"]).output)
    assert as_json["port"] == {"value": 1, "source": "flag"}


def test_config_command_reports_invalid_settings(runner):
    result = runner.invoke(main, ["config", "--port", "-5"])
    assert result.exit_code == 2
    assert "invalid settings" in result.output and "port" in result.output


def test_every_setting_has_help_text_and_is_documented():
    docs = DOCS.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no help text"
        assert f"`{name}`" in docs, f"{name} is missing from docs/settings.md"
        assert f"NEUROCACHE_{name.upper()}" in docs
        assert f"--{name.replace('_', '-')}" in docs


def test_every_setting_is_a_flag_of_serve(runner):
    help_text = runner.invoke(main, ["serve", "--help-all"]).output
    for name in Settings.model_fields:
        assert f"--{name.replace('_', '-')}" in help_text
    own, hub = help_text.split("Hub settings")
    assert "--help-all" in own and "--vector-nprobe" in hub


@pytest.mark.parametrize(
    "command", [["ingest"], ["models", "pull"], ["search"], ["keys", "create"]]
)
def test_help_shows_a_commands_own_options_first_and_the_settings_apart(runner, command):
    help_text = runner.invoke(main, [*command, "--help"]).output
    own, _, hub = help_text.partition("Hub settings")
    assert "--help-all" in own and "--data-dir" not in own
    assert "--data-dir" in hub and "--vector-nprobe" not in help_text  # the rest: --help-all
    assert len(help_text.splitlines()) < 40


def test_environment_names_match_without_regard_to_case(monkeypatch, tmp_path):
    (tmp_path / "config.toml").write_text("port = 5000\n")
    monkeypatch.setenv("neurocache_data_dir", str(tmp_path))
    monkeypatch.setenv("Neurocache_Log_Level", "DEBUG")
    settings = load_settings()
    assert (settings.data_dir, settings.port, settings.log_level) == (tmp_path, 5000, "DEBUG")
    sources = setting_sources(settings)
    assert (sources["data_dir"], sources["port"], sources["log_level"]) == ("env", "file", "env")


def test_the_config_file_cannot_choose_the_data_dir(tmp_path):
    (tmp_path / "config.toml").write_text(f'data_dir = "{tmp_path / "elsewhere"}"\n')
    with pytest.raises(ValueError, match="data_dir cannot be set in the config file"):
        load_settings({"data_dir": tmp_path})


def test_comma_separated_flags_are_split_too(runner, tmp_path):
    result = runner.invoke(
        main,
        [
            "config",
            "--json",
            "--data-dir",
            str(tmp_path),
            "--allowed-hosts",
            "a.test,b.test",
            "--allowed-hosts",
            "c",
        ],
    )
    assert json.loads(result.output)["allowed_hosts"]["value"] == ["a.test", "b.test", "c"]
