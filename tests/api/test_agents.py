"""Agents: create (with what a client needs to start), list, get, update, delete with
their memories; audited; errors."""

from __future__ import annotations

import pytest

from tests.support.hub import assert_error, bearer, make_key


def test_an_agent_lives_and_dies_with_its_memories(client, owner, hub):
    client.post("/api/v1/collections", json={"name": "ships"}, headers=owner)
    created = client.post(
        "/api/v1/agents",
        headers=owner,
        json={
            "name": "Navigator",
            "persona": "You plot courses.",
            "collections": ["ships"],
            "temperature": 0.2,
        },
    )
    assert created.status_code == 201
    agent = created.json
    assert agent["rooms"] == [f"agent:{agent['id']}"]
    assert agent["memory_tiers"] == ["working", "long_term", "personal_log", "archive"]
    assert len(agent["collections"]) == 1 and agent["collections"][0] != "ships"  # an id
    listed = client.get("/api/v1/agents", headers=owner).json
    assert [a["id"] for a in listed["agents"]] == [agent["id"]]
    path = f"/api/v1/agents/{agent['id']}"
    changed = client.patch(path, json={"persona": "You plot safe courses."}, headers=owner).json
    assert changed["persona"] == "You plot safe courses." and changed["name"] == "Navigator"
    note = client.post(
        "/api/v1/memories",
        headers=owner,
        json={
            "kind": "note",
            "content": "The reef lies north",
            "owner": agent["owner"],
            "tier": "long_term",
        },
    ).json
    assert client.delete(path, headers=owner).status_code == 204
    assert_error(client.get(path, headers=owner), 404)
    assert_error(client.get(f"/api/v1/memories/{note['id']}", headers=owner), 404)
    assert (
        client.post(
            "/api/v1/search", json={"query": "reef", "kinds": ["note"]}, headers=owner
        ).json["results"]
        == []
    )
    actions = {e["action"] for e in client.get("/api/v1/audit", headers=owner).json["entries"]}
    assert {"agent.create", "agent.update", "agent.delete"} <= actions


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/agents", {}, 422),
        ("post", "/api/v1/agents", {"name": "x", "temperature": 3}, 422),
        ("post", "/api/v1/agents", {"name": "x", "collections": ["nope"]}, 404),
        ("post", "/api/v1/agents", {"name": "x", "model": "nope"}, 404),
        ("get", "/api/v1/agents/nope", None, 404),
        ("patch", "/api/v1/agents/nope", {"name": "y"}, 404),
        ("delete", "/api/v1/agents/nope", None, 404),
    ],
)
def test_agent_errors(client, owner, method, path, body, status):
    kwargs = {"json": body} if body is not None else {}
    assert_error(getattr(client, method)(path, headers=owner, **kwargs), status)


def test_a_null_name_is_refused_and_reading_keys_cannot_create(client, owner, hub):
    agent = client.post("/api/v1/agents", json={"name": "A"}, headers=owner).json
    assert_error(
        client.patch(f"/api/v1/agents/{agent['id']}", json={"name": None}, headers=owner), 422
    )
    reader = bearer(make_key(hub, "read"))
    assert_error(client.post("/api/v1/agents", json={"name": "B"}, headers=reader), 403)
    assert client.get("/api/v1/agents", headers=reader).status_code == 200
