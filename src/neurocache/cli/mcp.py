"""`neurocache mcp`: the user's memory served to an MCP client over stdio.

An MCP client (a desktop assistant, a code editor) runs this command and speaks MCP on its
stdin/stdout. The tools go to the hub running on this data dir (or the one at `--url`),
with `NEUROCACHE_API_KEY` when set, else the owner's own token; with no hub running, to a
hub started in this process for as long as the client keeps the command running. Nothing
but MCP is written to stdout (logs go to stderr and the hub's log file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import click

from neurocache.app import create_app, hub_of
from neurocache.client import HubClient
from neurocache.settings import Settings


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.command("mcp")
    @click.option(
        "--url",
        help="A hub's address (e.g. a team's); default: the hub running on the data dir, "
        "else one in this process.",
    )
    @settings_options
    def mcp(url: str | None, **kwargs: Any) -> None:
        """Serve your memory to an MCP client over stdio (search, remember, ask…)."""
        from neurocache.plugins.mcp_server import mcp_server  # (not for the other commands)

        settings, _ = settings_from(kwargs)
        key = os.environ.get("NEUROCACHE_API_KEY") or None
        with hub_client(settings, url, key) as client:
            click.echo(f"neurocache mcp: serving the hub at {client.url} over stdio", err=True)
            mcp_server(lambda _ctx: nullcontext(client)).run("stdio")


@contextmanager
def hub_client(settings: Settings, url: str | None, key: str | None) -> Iterator[HubClient]:
    """The hub the tools call: at `url`, running on the data dir, or started here."""
    if url is not None:
        if key is None:
            raise click.UsageError("--url needs an API key in NEUROCACHE_API_KEY")
        with HubClient(url, key) as client:
            yield client
        return
    running = HubClient.of_data_dir(settings.data_dir)
    if running is not None:
        if key is not None:  # the key's scopes, not the owner's
            running.close()
            running = HubClient(running.url, key)
        with running as client:
            yield client
        return
    app = create_app(settings)
    hub = hub_of(app)
    try:
        with HubClient.in_process(app, key or hub.owner_token.value) as client:
            yield client
    finally:
        hub.close()
