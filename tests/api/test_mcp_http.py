"""The hub's `/mcp` endpoint (streamable HTTP) with the official MCP client (`mcp`), on a
real hub on a loopback port, with the tiny random-weight chat model running for `ask`.

The tools, resources and prompts; a read-only key refused `remember` as a tool error in a
session that goes on; no key (401) and a foreign Origin (403) refused before MCP; the
requests metered like every other endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from neurocache.client import HubClient
from neurocache.settings import Settings
from tests.support.chat_model import CHAT_SETTINGS, start_model
from tests.support.hub import bearer, start_live_hub

TOOLS = {"search", "remember", "ask", "list_collections", "read", "recent"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_chat_model):
    settings = Settings(data_dir=tmp_path_factory.mktemp("mcp"), **CHAT_SETTINGS)
    live = start_live_hub(settings)
    start_model(live.hub, tiny_chat_model)
    yield live
    live.server.stop()


def session(live, key: str | None, work: Callable[[Client], Awaitable[Any]]) -> Any:
    """`work` run in an MCP session with the hub's `/mcp`, sending `key`."""

    async def run() -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=120) as http,
            Client(streamable_http_client(f"{live.url}/mcp", http_client=http)) as client,
        ):
            return await work(client)

    return asyncio.run(run())


def test_the_server_offers_its_tools_resources_and_prompts(live):
    async def work(client: Client) -> tuple[Any, ...]:
        return (
            await client.list_tools(),
            await client.list_resource_templates(),
            await client.list_prompts(),
        )

    tools, templates, prompts = session(live, live.key("read"), work)
    assert {t.name for t in tools.tools} == TOOLS
    search = next(t for t in tools.tools if t.name == "search")
    assert set(search.input_schema["properties"]) >= {"query", "k", "mode", "collections"}
    assert {t.uri_template for t in templates.resource_templates} == {
        "neurocache://collections/{collection_id}",
        "neurocache://documents/{document_id}",
    }
    assert {p.name for p in prompts.prompts} == {"answer_from_memory", "save_conversation"}


def test_remember_then_search_finds_it_and_recent_lists_it(live):
    async def work(client: Client) -> tuple[Any, ...]:
        remembered = await client.call_tool(
            "remember", {"content": "The spare key is under the blue flowerpot.", "thread": "t9"}
        )
        found = await client.call_tool("search", {"query": "where is the spare key", "k": 3})
        recent = await client.call_tool("recent", {"thread": "t9"})
        return remembered, found, recent

    remembered, found, recent = session(live, live.key("read", "write"), work)
    assert not remembered.is_error, remembered.content
    memory = remembered.structured_content
    assert memory["content"].startswith("The spare key") and memory["metadata"]["thread"] == "t9"
    results = found.structured_content["result"]
    assert results[0]["memory_id"] == memory["id"] and results[0]["score"] > 0
    assert [m["id"] for m in recent.structured_content["result"]] == [memory["id"]]


def test_ask_answers_with_numbered_sources_from_memory(live):
    writer = HubClient(live.url, live.key("read", "write"))
    accepted = writer.add_text(
        "The night ferry to the island leaves pier four at eleven.", title="ferry timetable"
    )
    writer.wait_indexed(accepted["document"]["id"])

    async def work(client: Client) -> Any:
        return await client.call_tool(
            "ask", {"question": "When does the night ferry leave?", "max_tokens": 8}
        )

    answer = session(live, live.key("read", "chat"), work)
    assert not answer.is_error, answer.content
    body = answer.structured_content
    assert isinstance(body["answer"], str)  # random weights: words, not sense
    [source] = [s for s in body["sources"] if s.get("title") == "ferry timetable"]
    assert source["number"] >= 1 and "night ferry" in source["quote"]


def test_read_and_the_resources_give_a_document_whole(live):
    writer = HubClient(live.url, live.key("read", "write"))
    writer.create_collection("harbour")
    accepted = writer.add_text(
        "Moorings are free in winter.", title="moorings", collection="harbour"
    )
    document = writer.wait_indexed(accepted["document"]["id"])

    async def work(client: Client) -> tuple[Any, ...]:
        return (
            await client.call_tool("read", {"id": document["id"]}),
            await client.read_resource(f"neurocache://documents/{document['id']}"),
            await client.read_resource("neurocache://collections/harbour"),
            await client.call_tool("list_collections", {}),
        )

    read, text, collection, collections = session(live, live.key("read"), work)
    assert read.structured_content["document"]["title"] == "moorings"
    assert text.contents[0].text == "Moorings are free in winter."
    listed = json.loads(collection.contents[0].text)
    assert [d["id"] for d in listed["documents"]] == [document["id"]]
    assert "harbour" in {c["name"] for c in collections.structured_content["result"]}


def test_a_read_only_key_is_refused_remember_and_the_session_goes_on(live):
    async def work(client: Client) -> tuple[Any, ...]:
        refused = await client.call_tool("remember", {"content": "not allowed"})
        bad = await client.call_tool("search", {"query": ""})
        still = await client.call_tool("search", {"query": "flowerpot"})
        return refused, bad, still

    refused, bad, still = session(live, live.key("read"), work)
    assert refused.is_error and "lacks the `write` scope" in refused.content[0].text
    assert bad.is_error  # the hub's (and the schema's) validation, as a tool error
    assert not still.is_error


def test_without_an_api_key_mcp_is_refused_with_401(live):
    response = requests.post(f"{live.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    # the hub page's own cookie is not an MCP credential either
    cookies = {"neurocache_session": live.hub.owner_token.value}
    response = requests.post(
        f"{live.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS, cookies=cookies, timeout=10
    )
    assert response.status_code == 401


def test_a_stateless_server_opens_no_event_stream(live):
    headers = {"Accept": "text/event-stream", **bearer(live.key("read"))}
    response = requests.get(f"{live.url}/mcp", headers=headers, timeout=5)
    assert response.status_code == 405  # at once: no stream held open on a hub thread


def test_a_foreign_origin_or_host_is_refused_with_403(live):
    headers = {**MCP_HEADERS, **bearer(live.key("read")), "Origin": "https://evil.example"}
    response = requests.post(f"{live.url}/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_origin"
    headers = {**MCP_HEADERS, **bearer(live.key("read")), "Host": "evil.example"}
    response = requests.post(f"{live.url}/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code in (400, 403)


def test_mcp_requests_are_metered_like_any_other(live):
    key = live.key("read")
    headers = {**MCP_HEADERS, **bearer(key)}
    response = requests.post(f"{live.url}/mcp", json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "neurocache"
    assert int(response.headers["RateLimit-Limit"]) == live.hub.settings.rate_limit_per_minute
    live.hub.usage.flush()
    report = HubClient(live.url, live.hub.owner_token.value).request(
        "GET", "/api/v1/usage", params={"group_by": "endpoint", "bucket": "day"}
    )
    endpoints = {s["group"]["endpoint"] for s in report["series"]}
    assert "POST /mcp" in endpoints
