"""API keys through the API and the CLI, and what the audit log says of them."""

from __future__ import annotations

from neurocache.cli.main import main
from tests.support.hub import assert_error, bearer


def test_create_shows_the_secret_once(client, admin_headers):
    response = client.post(
        "/api/v1/keys", json={"name": "plugin", "scopes": ["write", "read"]}, headers=admin_headers
    )
    assert response.status_code == 201
    created = response.json
    assert created["secret"].startswith("nc_") and created["scopes"] == ["read", "write"]
    listed = client.get("/api/v1/keys", headers=admin_headers).json["keys"]
    fetched = client.get(f"/api/v1/keys/{created['id']}", headers=admin_headers).json["key"]
    assert created["secret"] not in str(listed) + str(fetched)
    assert fetched["prefix"] == created["secret"][:10]


def test_new_key_works_within_its_scopes_and_records_its_use(client, admin_headers):
    created = client.post("/api/v1/keys", json={"name": "reader"}, headers=admin_headers).json
    assert created["scopes"] == ["read"]
    headers = bearer(created["secret"])
    assert client.get("/api/v1/status", headers=headers).status_code == 200
    assert_error(client.post("/api/v1/keys", json={"name": "x"}, headers=headers), 403)
    key = client.get(f"/api/v1/keys/{created['id']}", headers=admin_headers).json["key"]
    assert key["last_used_at"] is not None and key["use_count"] >= 1


def test_revoked_key_stops_working_at_once(client, admin_headers):
    created = client.post("/api/v1/keys", json={"name": "temp"}, headers=admin_headers).json
    revoked = client.delete(f"/api/v1/keys/{created['id']}", headers=admin_headers)
    assert revoked.status_code == 200 and revoked.json["key"]["revoked_at"]
    assert_error(client.get("/api/v1/status", headers=bearer(created["secret"])), 401)


def test_list_pages_with_a_cursor(client, admin_headers):
    for i in range(4):
        client.post("/api/v1/keys", json={"name": f"k{i}"}, headers=admin_headers)
    names, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/keys",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=admin_headers,
        ).json
        names += [k["name"] for k in page["keys"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == ["k3", "k2", "k1", "k0", "admin"]


def test_every_key_action_is_audited_with_before_and_after(client, admin_headers, hub):
    created = client.post("/api/v1/keys", json={"name": "a"}, headers=admin_headers).json
    client.delete(
        f"/api/v1/keys/{created['id']}", headers={**admin_headers, "X-Request-ID": "revoke-1"}
    )
    entries = client.get(
        "/api/v1/audit", query_string={"target_id": created["id"]}, headers=admin_headers
    ).json["entries"]
    assert [e["action"] for e in entries] == ["key.revoke", "key.create"]
    revoke, create = entries
    admin_id = hub.keys.list(limit=10)[0][-1].id
    assert revoke["actor"] == create["actor"] == f"key:{admin_id}"
    assert revoke["request_id"] == "revoke-1"
    assert create["before"] is None and create["after"]["name"] == "a"
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"]
    assert "secret" not in str(entries)


def test_audit_needs_admin(client, hub):
    from tests.support.hub import make_key

    assert_error(client.get("/api/v1/audit", headers=bearer(make_key(hub, "read"))), 403)


def test_cli_create_prints_the_key_alone_on_the_last_line(runner, tmp_path, client, app):
    data_dir = str(app.extensions["neurocache"].settings.data_dir)
    result = runner.invoke(
        main,
        [
            "keys",
            "create",
            "--name",
            "script",
            "--scope",
            "chat",
            "--scope",
            "read",
            "--data-dir",
            data_dir,
        ],
    )
    assert result.exit_code == 0, result.output
    secret = result.output.rstrip("\n").splitlines()[-1]
    assert secret.startswith("nc_") and " " not in secret
    assert client.get("/api/v1/status", headers=bearer(secret)).status_code == 200

    listed = runner.invoke(main, ["keys", "list", "--data-dir", data_dir])
    assert "script" in listed.output and "[read,chat]" in listed.output
    key_id = listed.output.split()[0]
    revoked = runner.invoke(main, ["keys", "revoke", key_id, "--data-dir", data_dir])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert_error(client.get("/api/v1/status", headers=bearer(secret)), 401)
    audit = app.extensions["neurocache"].audit.list(target_id=key_id)[0]
    assert [(e.action, e.actor) for e in audit] == [
        ("key.revoke", "cli"),
        ("key.create", "cli"),
    ]


def test_cli_errors_are_clear(runner, tmp_path):
    bad_scope = runner.invoke(
        main, ["keys", "create", "--name", "x", "--scope", "root", "--data-dir", str(tmp_path)]
    )
    assert bad_scope.exit_code == 2 and "root" in bad_scope.output
    unknown = runner.invoke(main, ["keys", "revoke", "nope", "--data-dir", str(tmp_path)])
    assert unknown.exit_code == 1 and "no API key with id nope" in unknown.output


def test_cli_people_have_their_own_keys(runner, client, app):
    data_dir = str(app.extensions["neurocache"].settings.data_dir)
    added = runner.invoke(
        main, ["users", "add", "ada", "--display-name", "Ada L", "--data-dir", data_dir]
    )
    assert added.exit_code == 0 and "@ada" in added.output, added.output
    created = runner.invoke(
        main,
        [
            "keys",
            "create",
            "--name",
            "laptop",
            "--scope",
            "read",
            "--user",
            "ada",
            "--data-dir",
            data_dir,
        ],
    )
    secret = created.output.rstrip("\n").splitlines()[-1]
    me = client.get("/api/v1/session", headers=bearer(secret)).json["principal"]
    assert me["user"] == "ada" and me["person"].startswith("user:")
    assert "Ada L" in runner.invoke(main, ["users", "list", "--data-dir", data_dir]).output
    removed = runner.invoke(main, ["users", "remove", "ada", "--data-dir", data_dir])
    assert removed.exit_code == 0 and "revoked 1 key" in removed.output
    assert_error(client.get("/api/v1/session", headers=bearer(secret)), 401)
    for bad in (
        ["users", "add", "Not Valid"],
        ["users", "remove", "nobody"],
        ["keys", "create", "--name", "x", "--user", "nobody"],
    ):
        result = runner.invoke(main, [*bad, "--data-dir", data_dir])
        assert result.exit_code == 1 and "Error" in result.output, result.output
