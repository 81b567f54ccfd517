"""`neurocache models list|pull|add|start|stop|rm`.

With a hub running on this data dir (it writes `hub.json` there), the commands go through
its API, so what they do is what the hub does. Without one, `list`, `pull`, `add` and `rm`
work on the store directly; `start` and `stop` need the hub, which runs the servers.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import click

from neurocache.client import HubClient, HubError
from neurocache.errors import NeurocacheError
from neurocache.events import Publish, publish_nowhere
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor

CLI_ACTOR = Actor("cli")


def running_hub(settings: Settings) -> HubClient | None:
    """The hub serving this data dir, if one runs (the commands then go through it)."""
    return HubClient.of_data_dir(settings.data_dir)


def _call(running: HubClient, method: str, path: str, **kwargs: Any) -> Any:
    """`/api/v1/models…` of the running hub; a refusal is the command's error message."""
    try:
        return running.request(method, f"/api/v1/models{path}", **kwargs)
    except HubError as exc:
        raise click.ClickException(exc.message) from exc


def _table(models: list[dict[str, Any]]) -> None:
    for model in models:
        size = f"{model['size'] / 1e9:.2f} GB" if model.get("size") else "-"
        extra = f"  ({model['error']})" if model.get("error") else ""
        click.echo(
            f"{model['id']:<40} {model['role']:<9} {model['state']:<11} {size:>9}  "
            f"{model['name']}{extra}"
        )


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.group()
    def models() -> None:
        """List, download, register, start and stop models."""

    def context(kwargs: dict[str, Any]) -> tuple[Settings, HubClient | None]:
        settings, _ = settings_from(kwargs)
        return settings, running_hub(settings)

    def local(settings: Settings, work: Any, publish: Publish = publish_nowhere) -> Any:
        hub = Hub(settings, publish)
        try:
            return work(hub)
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            hub.close()

    @models.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @settings_options
    def list_(as_json: bool, **kwargs: Any) -> None:
        """The catalog and registered models, with their state."""
        settings, running = context(kwargs)
        rows = (
            _call(running, "GET", "")["models"]
            if running
            else local(settings, lambda hub: [model.plain() for model in hub.models.list()])
        )
        click.echo(json.dumps(rows, indent=2)) if as_json else _table(rows)

    @models.command("add")
    @click.argument("path", required=False)
    @click.option("--base-url", help="A remote OpenAI-compatible server instead of a file.")
    @click.option("--model", "remote_model", help="The remote server's model name.")
    @click.option("--api-key", help="Key for the remote server.")
    @click.option("--name")
    @click.option("--role", type=click.Choice(["chat", "embedding"]))
    @settings_options
    def add(
        path: str | None,
        base_url: str | None,
        remote_model: str | None,
        api_key: str | None,
        name: str | None,
        role: str | None,
        **kwargs: Any,
    ) -> None:
        """Register a local .gguf / llamafile (PATH) or a remote server (--base-url)."""
        if (path is None) == (base_url is None) or (base_url and not remote_model):
            raise click.UsageError("give PATH, or --base-url with --model")
        settings, running = context(kwargs)
        body = {
            k: v
            for k, v in {
                "path": path,
                "base_url": base_url,
                "model": remote_model,
                "api_key": api_key,
                "name": name,
                "role": role,
            }.items()
            if v
        }
        if running:
            model = _call(running, "POST", "", json=body)
        elif path:
            model = local(
                settings,
                lambda hub: hub.models.register_local(
                    path, CLI_ACTOR, name=name, role=role
                ).plain(),
            )
        else:
            model = local(
                settings,
                lambda hub: hub.models.register_remote(
                    base_url or "",
                    remote_model or "",
                    CLI_ACTOR,
                    api_key=api_key,
                    name=name,
                    role=role or "chat",
                ).plain(),
            )
        click.echo(f"Added {model['id']} ({model['role']}, {model['state']}).")

    @models.command("pull")
    @click.argument("model_id")
    @settings_options
    def pull(model_id: str, **kwargs: Any) -> None:
        """Download a catalog model, with a progress bar; resumes an interrupted one."""
        settings, running = context(kwargs)
        if running:
            final = _pull_via_hub(running, model_id)
        else:
            watcher = DownloadWatcher(model_id)
            final = local(settings, watcher.pull, publish=watcher.publish)
        if final["state"] != "installed":
            raise click.ClickException(f"{model_id}: {final.get('error') or final['state']}")
        check = "verified" if final.get("verified") else "not verified (no published checksum)"
        click.echo(f"Installed {model_id} ({check}; sha256 {final.get('sha256')}).")

    @models.command("start")
    @click.argument("model_id")
    @settings_options
    def start(model_id: str, **kwargs: Any) -> None:
        """Start a model's server in the running hub."""
        _, running = context(kwargs)
        if running is None:
            raise click.ClickException(
                "no hub is running on this data dir: start one with `neurocache serve`"
            )
        model = _call(running, "POST", f"/{model_id}/start")
        while model["state"] == "starting":
            time.sleep(0.3)
            model = _call(running, "GET", f"/{model_id}")
        if model["state"] != "running":
            raise click.ClickException(f"{model_id} did not start: {model.get('error')}")
        server = model.get("server") or {}
        click.echo(f"{model_id} is running ({server.get('note', '')}).")

    @models.command("stop")
    @click.argument("model_id")
    @settings_options
    def stop(model_id: str, **kwargs: Any) -> None:
        """Stop a model's server in the running hub."""
        _, running = context(kwargs)
        if running is None:
            raise click.ClickException("no hub is running on this data dir")
        click.echo(f"{model_id}: {_call(running, 'POST', f'/{model_id}/stop')['state']}.")

    @models.command("rm")
    @click.argument("model_id")
    @settings_options
    def rm(model_id: str, **kwargs: Any) -> None:
        """Delete a downloaded model's file, or forget a registered one."""
        settings, running = context(kwargs)
        if running:
            _call(running, "DELETE", f"/{model_id}")
        else:
            local(settings, lambda hub: hub.models.delete(model_id, CLI_ACTOR))
        click.echo(f"Removed {model_id}.")


def _bar(total: int | None, label: str) -> Any:
    return click.progressbar(
        length=total or 1, label=label, show_eta=True, show_percent=True, width=30
    )


def _pull_via_hub(running: HubClient, model_id: str) -> dict[str, Any]:
    model: dict[str, Any] = _call(running, "POST", f"/{model_id}/download")
    retries = _Retries()
    with _bar(model.get("size"), model_id) as bar:
        while model["state"] == "downloading":
            time.sleep(0.3)
            model = _call(running, "GET", f"/{model_id}")
            progress = model.get("progress") or {}
            _advance(bar, progress, retries)
    return model


class _Retries:
    """Says each failed try once, the moment it is known: why, and when the next is."""

    def __init__(self) -> None:
        self.shown = 0

    def show(self, progress: dict[str, Any]) -> None:
        retry = progress.get("retry") or 0
        if retry > self.shown:
            self.shown = retry
            click.echo(
                f"\n  {progress.get('error')}: try {retry + 1} of "
                f"{progress.get('retries', 0) + 1} in "
                f"{progress.get('next_attempt_s') or 0:.0f} s",
                err=True,
            )


class DownloadWatcher:
    """Follows one download in this process through the manager's events."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.progress: dict[str, Any] = {}
        self.done = threading.Event()

    def publish(self, event: str, payload: dict[str, Any], _room: str | None = None) -> None:
        if payload.get("id") != self.model_id:
            return
        if event == "model.download.progress":
            self.progress = payload
        elif event == "model.status" and payload["state"] != "downloading":
            self.done.set()

    def pull(self, hub: Hub) -> dict[str, Any]:
        """The model once downloaded, as JSON: what `pull` reads of a running hub too."""
        model = hub.models.download(self.model_id, CLI_ACTOR)
        retries = _Retries()
        with _bar(model.size, self.model_id) as bar:
            while not self.done.wait(0.3):
                _advance(bar, self.progress, retries)
            _advance(bar, self.progress, retries)
        return hub.models.get(self.model_id).plain()


def _advance(bar: Any, progress: dict[str, Any], retries: _Retries) -> None:
    retries.show(progress)
    if progress.get("total"):
        bar.length = progress["total"]
    if "bytes" in progress:
        bar.update(progress["bytes"] - bar.pos)
        rate = progress.get("rate") or 0
        bar.label = f"{rate / 1e6:5.1f} MB/s"
