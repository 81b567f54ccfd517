"""Agents' memory tiers: create, edit, delete, list by tier, search, move; `memory.updated`
in the agent's room for each change; consolidation by rule (here without a model: the
summary is extractive); searchable with everything else, by owner and tier."""

from __future__ import annotations

from datetime import timedelta

import pytest

from neurocache.store.types import utcnow
from tests.support.hub import assert_error, bearer, make_key


@pytest.fixture
def events(hub, monkeypatch):
    seen = []
    monkeypatch.setattr(
        hub, "publish", lambda event, payload, room=None: seen.append((event, payload, room))
    )
    return seen


def new_agent(client, owner, name="Keeper") -> dict:
    return client.post("/api/v1/agents", json={"name": name}, headers=owner).json


def remember(client, owner, agent, tier, content) -> dict:
    response = client.post(
        f"/api/v1/agents/{agent['id']}/memories",
        json={"tier": tier, "content": content},
        headers=owner,
    )
    assert response.status_code == 201, response.json
    return response.json


def test_memories_in_tiers_live_and_move(client, owner, events):
    agent = new_agent(client, owner)
    base = f"/api/v1/agents/{agent['id']}/memories"
    note = remember(client, owner, agent, "personal_log", "I think the tide turns at six")
    fact = remember(client, owner, agent, "long_term", "The harbour master is called Ines")
    assert note["owner"] == f"agent:{agent['id']}" and note["kind"] == "agent_memory"
    listed = client.get(f"{base}?tier=long_term", headers=owner).json["memories"]
    assert [m["id"] for m in listed] == [fact["id"]]
    both = client.get(f"{base}?tier=long_term,personal_log", headers=owner).json["memories"]
    assert {m["id"] for m in both} == {note["id"], fact["id"]}
    moved = client.post(f"{base}/{note['id']}/move", json={"tier": "archive"}, headers=owner).json
    assert moved["tier"] == "archive"
    edited = client.patch(
        f"{base}/{fact['id']}", json={"content": "Ines runs the harbour"}, headers=owner
    ).json
    assert edited["content_hash"] != fact["content_hash"]
    search = f"/api/v1/agents/{agent['id']}/search"
    found = client.post(search, json={"query": "who runs the harbour"}, headers=owner).json[
        "results"
    ]
    assert found[0]["memory_id"] == fact["id"] and found[0]["tier"] == "long_term"
    archived = client.post(
        search, json={"query": "tide", "tiers": ["archive"]}, headers=owner
    ).json["results"]
    assert [r["memory_id"] for r in archived] == [note["id"]]
    assert client.delete(f"{base}/{note['id']}", headers=owner).status_code == 204
    assert_error(client.get(f"{base}/{note['id']}", headers=owner), 404)
    updates = [
        (p["action"], p["memory"]["id"], room) for e, p, room in events if e == "memory.updated"
    ]
    room = f"agent:{agent['id']}"
    assert updates == [
        ("created", note["id"], room),
        ("created", fact["id"], room),
        ("moved", note["id"], room),
        ("updated", fact["id"], room),
        ("deleted", note["id"], room),
    ]


def test_agent_memories_are_searchable_with_everything_else(client, owner):
    keeper, other = new_agent(client, owner), new_agent(client, owner, "Other")
    mine = remember(client, owner, keeper, "long_term", "Lanterns are lit at dusk")
    remember(client, owner, other, "long_term", "Lanterns are sold at the market")
    client.post(
        "/api/v1/memories", json={"kind": "note", "content": "Lanterns need oil"}, headers=owner
    )
    everything = client.post("/api/v1/search", json={"query": "lanterns"}, headers=owner).json[
        "results"
    ]
    assert len(everything) == 3
    only_keeper = client.post(
        "/api/v1/search",
        json={"query": "lanterns", "owners": [f"agent:{keeper['id']}"], "tiers": ["long_term"]},
        headers=owner,
    ).json["results"]
    assert [r["memory_id"] for r in only_keeper] == [mine["id"]]


def test_the_generic_memory_api_tells_the_agents_room_too(client, owner, events):
    agent = new_agent(client, owner)
    memory = client.post(
        "/api/v1/memories",
        headers=owner,
        json={"kind": "note", "content": "x", "owner": f"agent:{agent['id']}", "tier": "working"},
    ).json
    client.patch(f"/api/v1/memories/{memory['id']}", json={"tier": "long_term"}, headers=owner)
    client.delete(f"/api/v1/memories/{memory['id']}", headers=owner)
    assert [(p["action"], room) for e, p, room in events if e == "memory.updated"] == [
        ("created", f"agent:{agent['id']}"),
        ("updated", f"agent:{agent['id']}"),
        ("deleted", f"agent:{agent['id']}"),
    ]


def test_consolidation_summarizes_old_working_memories_and_archives_them(client, owner, hub):
    agent = new_agent(client, owner)
    notes = [
        remember(client, owner, agent, "working", f"Visitor {i} asked about the tide")
        for i in range(5)
    ]
    recent_report = hub.maintenance.run_once()  # nothing is a day old yet
    assert recent_report.summaries == 0 and recent_report.archived == 0
    hub.tiers.rules = type(hub.tiers.rules)(working_max_age_s=3600, batch=3)
    report = hub.maintenance.run_once(now=utcnow() + timedelta(hours=2))
    assert report.summaries == 2 and report.archived == 5  # batches of 3 and 2
    base = f"/api/v1/agents/{agent['id']}/memories"
    assert client.get(f"{base}?tier=working", headers=owner).json["memories"] == []
    archive = client.get(f"{base}?tier=archive", headers=owner).json["memories"]
    assert {m["id"] for m in archive} == {n["id"] for n in notes}
    summaries = client.get(f"{base}?tier=long_term", headers=owner).json["memories"]
    assert len(summaries) == 2
    summary = next(s for s in summaries if "Visitor 0" in s["content"])
    assert summary["metadata"]["by_model"] is False  # no model runs here: extractive
    graph = client.get(f"/api/v1/memories/{summary['id']}/graph", headers=owner).json
    assert {e["relation"] for e in graph["edges"]} == {"summarizes"}
    assert len(graph["edges"]) == 3
    audit = client.get("/api/v1/audit", headers=owner).json["entries"]
    assert any(e["actor"] == "system:consolidation" for e in audit)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/agents/nope/memories", None, 404),
        ("post", "/api/v1/agents/nope/memories", {"tier": "working", "content": "x"}, 404),
        ("post", "/api/v1/agents/{a}/memories", {"tier": "forever", "content": "x"}, 422),
        ("post", "/api/v1/agents/{a}/memories", {"tier": "working"}, 422),
        ("get", "/api/v1/agents/{a}/memories?tier=forever", None, 422),
        ("get", "/api/v1/agents/{a}/memories/{other}", None, 404),  # another agent's memory
        ("patch", "/api/v1/agents/{a}/memories/{mine}", {"tier": None}, 422),
        ("post", "/api/v1/agents/{a}/memories/{mine}/move", {"tier": "nowhere"}, 422),
        ("post", "/api/v1/agents/{a}/memories/{mine}/move", {}, 422),
        ("delete", "/api/v1/agents/{a}/memories/nope", None, 404),
        ("post", "/api/v1/agents/{a}/search", {"query": ""}, 422),
        ("post", "/api/v1/agents/{a}/consolidate", {"older_than_s": -1}, 422),
    ],
)
def test_agent_memory_errors(client, owner, method, path, body, status):
    agent, other = new_agent(client, owner), new_agent(client, owner, "Other")
    mine = remember(client, owner, agent, "working", "mine")
    theirs = remember(client, owner, other, "working", "theirs")
    kwargs = {"json": body} if body is not None else {}
    url = path.format(a=agent["id"], mine=mine["id"], other=theirs["id"])
    assert_error(getattr(client, method)(url, headers=owner, **kwargs), status)


def test_reading_keys_read_and_writing_keys_write(client, owner, hub):
    agent = new_agent(client, owner)
    reader = bearer(make_key(hub, "read"))
    base = f"/api/v1/agents/{agent['id']}/memories"
    assert client.get(base, headers=reader).status_code == 200
    assert_error(client.post(base, json={"tier": "working", "content": "x"}, headers=reader), 403)
