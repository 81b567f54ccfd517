"""`neurocache mcp` over stdio, a real subprocess driven by the official MCP client, as an
assistant's configuration runs it: against the hub running on the data dir (the owner's
token, or `NEUROCACHE_API_KEY` with that key's scopes), else a hub in its own process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from neurocache.client import HubClient
from neurocache.settings import Settings
from tests.support.hub import start_live_hub

pytestmark = pytest.mark.slow


def over_stdio(
    data_dir: Path, work: Callable[[Client], Awaitable[Any]], key: str | None = None
) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROCACHE_")}
    if key:
        env["NEUROCACHE_API_KEY"] = key
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "neurocache", "mcp", "--data-dir", str(data_dir)],
        env=env,
    )

    async def run() -> Any:
        async with Client(command, read_timeout_seconds=120) as client:
            return await work(client)

    return asyncio.run(run())


async def remember_and_search(client: Client) -> tuple[Any, ...]:
    tools = await client.list_tools()
    remembered = await client.call_tool(
        "remember", {"content": "The boat's spare oar hangs in the shed."}
    )
    found = await client.call_tool("search", {"query": "where is the spare oar"})
    return tools, remembered, found


def test_with_no_hub_running_it_serves_a_hub_of_its_own(tmp_path):
    tools, remembered, found = over_stdio(tmp_path / "data", remember_and_search)
    assert {t.name for t in tools.tools} >= {"search", "remember", "ask", "read", "recent"}
    assert not remembered.is_error, remembered.content
    [best, *_] = found.structured_content["result"]
    assert best["memory_id"] == remembered.structured_content["id"]


def test_it_talks_to_the_hub_running_on_the_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    live = start_live_hub(Settings(data_dir=data_dir))
    live.server.announce(data_dir)
    try:
        _tools, remembered, _found = over_stdio(data_dir, remember_and_search)
        memory_id = remembered.structured_content["id"]
        seen = HubClient(live.url, live.hub.owner_token.value).memory(memory_id)
        assert seen["content"] == "The boat's spare oar hangs in the shed."

        async def refused(client: Client) -> Any:
            return await client.call_tool("remember", {"content": "no"})

        answer = over_stdio(data_dir, refused, key=live.key("read"))
        assert answer.is_error and "`write` scope" in answer.content[0].text
    finally:
        live.server.stop()
