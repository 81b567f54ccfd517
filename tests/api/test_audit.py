"""The audit log is complete: each create/update/delete of keys, collections, documents,
memories, edges, agents, channels, models and settings appears once, with its actor, target
and the state before and after; it filters, pages and forgets what is past retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.types import utcnow
from tests.support.hub import assert_error, bearer, make_key
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for


def entries(client, headers, **query) -> list[dict]:
    response = client.get("/api/v1/audit", query_string={"limit": 500, **query}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["entries"]


def only(client, headers, action: str, target_id: str) -> dict:
    found = entries(client, headers, action=action, target_id=target_id)
    assert len(found) == 1, (action, target_id, found)
    return found[0]


def test_each_change_is_audited_with_before_and_after(client, hub, tmp_path):
    secret = make_key(hub, "admin", name="auditor")
    key_id = hub.keys.list()[0][0].id
    headers, actor = bearer(secret), f"key:{key_id}"

    def call(method: str, path: str, status: int, **kwargs) -> dict:
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, response.json
        return response.json

    # keys
    key = call("POST", "/api/v1/keys", 201, json={"name": "plugin"})
    call("DELETE", f"/api/v1/keys/{key['id']}", 200)
    created = only(client, headers, "key.create", key["id"])
    assert created["actor"] == actor and created["before"] is None
    assert created["after"]["name"] == "plugin" and "secret" not in str(created)
    revoked = only(client, headers, "key.revoke", key["id"])
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoked_at"]

    # collections
    notes = call("POST", "/api/v1/collections", 201, json={"name": "notes"})
    call(
        "PATCH",
        f"/api/v1/collections/{notes['id']}",
        200,
        json={"name": "journal", "description": "days"},
    )
    renamed = only(client, headers, "collection.update", notes["id"])
    assert (renamed["before"]["name"], renamed["after"]["name"]) == ("notes", "journal")
    assert renamed["after"]["description"] == "days"

    # documents
    posted = call(
        "POST",
        "/api/v1/documents",
        202,
        json={"title": "Day one", "text": "Rain.", "collection": "journal"},
    )
    document_id = posted["document"]["id"]
    assert hub.jobs.wait_idle(60)
    call("PATCH", f"/api/v1/documents/{document_id}", 200, json={"collection": None})
    moved = only(client, headers, "document.move", document_id)
    assert moved["before"]["collection_id"] == notes["id"]
    assert moved["after"]["collection_id"] is None
    call("DELETE", f"/api/v1/collections/{notes['id']}", 200)
    gone = only(client, headers, "collection.delete", notes["id"])
    assert gone["before"]["name"] == "journal" and gone["after"] is None
    assert only(client, headers, "document.create", document_id)["after"]["title"] == "Day one"
    call("DELETE", f"/api/v1/documents/{document_id}", 200)
    assert only(client, headers, "document.delete", document_id)["before"]["title"] == "Day one"

    # memories and edges
    one = call("POST", "/api/v1/memories", 201, json={"kind": "note", "content": "one"})
    two = call("POST", "/api/v1/memories", 201, json={"kind": "note", "content": "two"})
    call("PATCH", f"/api/v1/memories/{one['id']}", 200, json={"content": "uno"})
    changed = only(client, headers, "memory.update", one["id"])
    assert (changed["before"]["content"], changed["after"]["content"]) == ("one", "uno")
    edge = call(
        "POST",
        "/api/v1/edges",
        201,
        json={"source": one["id"], "target": two["id"], "relation": "mentions"},
    )
    call("DELETE", f"/api/v1/edges/{edge['id']}", 204)
    assert only(client, headers, "edge.create", edge["id"])["after"]["relation"] == "mentions"
    assert only(client, headers, "edge.delete", edge["id"])["after"] is None
    call("DELETE", f"/api/v1/memories/{two['id']}", 204)
    assert only(client, headers, "memory.delete", two["id"])["before"]["content"] == "two"

    # agents
    agent = call("POST", "/api/v1/agents", 201, json={"name": "Scout"})
    call("PATCH", f"/api/v1/agents/{agent['id']}", 200, json={"persona": "Curious."})
    updated = only(client, headers, "agent.update", agent["id"])
    assert updated["after"]["persona"] == "Curious." and updated["before"]["persona"] != "Curious."

    # channels
    channel = call("POST", "/api/v1/channels", 201, json={"name": "general"})
    call("PATCH", f"/api/v1/channels/{channel['id']}", 200, json={"description": "all"})
    call("POST", f"/api/v1/channels/{channel['id']}/members", 201, json={"agent_id": agent["id"]})
    assert only(client, headers, "channel.create", channel["id"])["after"]["name"] == "general"
    assert only(client, headers, "channel.update", channel["id"])["after"]["description"] == "all"
    added = only(client, headers, "channel.member.add", channel["id"])
    assert agent["id"] in str(added["after"])
    call("DELETE", f"/api/v1/agents/{agent['id']}", 204)
    assert only(client, headers, "agent.delete", agent["id"])["before"]["name"] == "Scout"

    # models: register, start, stop, delete
    hub.models.models_dir.mkdir(parents=True, exist_ok=True)
    path = write_tiny_llama(hub.models.models_dir / "tiny.gguf")  # where keys may register
    model = call("POST", "/api/v1/models", 201, json={"path": str(path)})
    call("POST", f"/api/v1/models/{model['id']}/start", 202)
    assert wait_for(lambda: hub.models.get(model["id"]).state == "running", timeout=60)
    call("POST", f"/api/v1/models/{model['id']}/stop", 200)
    call("DELETE", f"/api/v1/models/{model['id']}", 200)
    assert only(client, headers, "model.register", model["id"])["after"]["path"] == str(path)
    started = only(client, headers, "model.start", model["id"])
    assert started["before"]["state"] == "installed"
    assert only(client, headers, "model.stop", model["id"])["actor"] == actor
    assert only(client, headers, "model.delete", model["id"])["after"] is None

    every = entries(client, headers, actor=actor)
    assert all(e["request_id"] for e in every)  # each tied to the request that made it


def test_a_changed_setting_is_audited_at_the_next_start(tmp_path):
    def serve(**values) -> tuple:
        app = create_app(Settings(data_dir=tmp_path / "data", **values), testing=True)
        hub = hub_of(app)
        found = hub.audit.list(action="settings.update")[0]
        hub.close()
        return found

    first = serve(chat_temperature=0.5)
    assert len(first) == 1 and first[0].actor == "config" and first[0].before is None
    assert first[0].after["chat_temperature"] == 0.5
    assert len(serve(chat_temperature=0.5)) == 1  # nothing changed: nothing said
    changed = serve(chat_temperature=0.2, database_url=None)[0]
    assert changed.before == {"chat_temperature": 0.5}
    assert changed.after == {"chat_temperature": 0.2}


def test_the_audit_log_filters_by_family_actor_and_time(client, hub, admin_headers):
    for name in ("a", "b", "c"):
        client.post("/api/v1/collections", json={"name": name}, headers=admin_headers)
    client.post("/api/v1/keys", json={"name": "k"}, headers=admin_headers)
    families = {e["action"] for e in entries(client, admin_headers, action="collection.")}
    assert families == {"collection.create"}
    assert len(entries(client, admin_headers, action="collection.create")) == 3
    assert entries(client, admin_headers, actor="cli") == []
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert entries(client, admin_headers, since=later) == []
    assert len(entries(client, admin_headers, until=later, action="key.")) >= 1
    page = client.get(
        "/api/v1/audit", query_string={"limit": 2, "action": "collection."}, headers=admin_headers
    ).json
    rest = client.get(
        "/api/v1/audit",
        query_string={"limit": 2, "action": "collection.", "cursor": page["next_cursor"]},
        headers=admin_headers,
    ).json
    assert len(page["entries"]) == 2 and len(rest["entries"]) == 1
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("query", [{"since": "soon"}, {"limit": 0}, {"until": "2026-13-01"}])
def test_bad_audit_queries_get_the_error_shape(client, admin_headers, query):
    assert_error(client.get("/api/v1/audit", query_string=query, headers=admin_headers), 422)


def test_retention_deletes_old_entries_in_batches(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", audit_retention_days=30), testing=True)
    hub = hub_of(app)
    client = app.test_client()
    headers = bearer(make_key(hub, "admin"))
    for name in ("old", "older", "new"):
        client.post("/api/v1/collections", json={"name": name}, headers=headers)
    from sqlalchemy import update

    from neurocache.store.tables import AuditEntry

    with hub.db.session() as session:  # two of them happened 40 days ago
        session.execute(
            update(AuditEntry)
            .where(
                AuditEntry.target_id.in_(
                    [c.id for c in hub.knowledge.list_collections() if c.name != "new"]
                )
            )
            .values(at=utcnow() - timedelta(days=40))
        )
    report = hub.maintenance.run_once()
    assert report.pruned["audit_entries_deleted"] == 2
    left = [e["after"]["name"] for e in entries(client, headers, action="collection.create")]
    assert left == ["new"]
    assert hub.audit.delete_before(utcnow(), batch=1) >= 2  # batch by batch, to the end
    hub.close()
