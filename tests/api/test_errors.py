"""Every error, from every path and method, has the one body of the API."""

from __future__ import annotations

import pytest
import requests

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from tests.support.hub import assert_error, bearer, make_key


def test_unknown_route(client):
    error = assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert "/api/v1/no-such-thing" in error["message"]
    assert_error(client.get("/definitely/not/here"), 404, "not_found")
    assert_error(client.delete("/api/v1/keys/x/y"), 404, "not_found")


def test_wrong_method_on_every_route_says_what_is_allowed(app, client):
    patchable = {r.rule for r in app.url_map.iter_rules() if "PATCH" in r.methods}
    for rule in app.url_map.iter_rules():
        if rule.rule in patchable or rule.rule.startswith("/socket.io"):
            continue
        path = rule.rule.replace("<key_id>", "x").replace("<path:filename>", "x.js")
        response = client.patch(path)
        if path.startswith("/v1/"):  # the OpenAI-compatible API answers in OpenAI's shape
            error = response.json["error"]
            assert response.status_code == 405 and error["code"] == "method_not_allowed"
            assert set(error) == {"message", "type", "param", "code"}
        else:
            error = assert_error(response, 405, "method_not_allowed")
        assert "PATCH" in error["message"]
        assert response.headers["Allow"]


def test_malformed_json(client, admin_headers):
    for body in ("{bad", "[1,", "{'single': 1}", "\x00"):
        response = client.post(
            "/api/v1/keys", data=body, headers=admin_headers, content_type="application/json"
        )
        assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": 123}, ["name"]),
        ({"name": "x", "scopes": "read"}, ["scopes"]),
        ({"name": "x", "scopes": ["read", "superuser"]}, ["scopes", 1]),
        ({"name": "x", "surprise": True}, ["surprise"]),
        ({}, ["name"]),
        ([], []),
        ("just a string", []),
    ],
)
def test_wrong_fields_say_which(client, admin_headers, body, where):
    response = client.post("/api/v1/keys", json=body, headers=admin_headers)
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"][0]["loc"] == where


def test_wrong_query_types(client, admin_headers):
    error = assert_error(
        client.get("/api/v1/keys?limit=lots", headers=admin_headers), 422, "validation_error"
    )
    assert error["details"]["errors"][0]["loc"] == ["limit"]
    assert_error(client.get("/api/v1/keys?limit=0", headers=admin_headers), 422)
    assert_error(client.get("/api/v1/keys?cursor=zzz", headers=admin_headers), 422)


def test_unsupported_media_type(client, admin_headers):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        kwargs = {"content_type": content_type} if content_type else {}
        response = client.post("/api/v1/keys", data="name=x", headers=admin_headers, **kwargs)
        assert_error(response, 415, "unsupported_media_type")


def test_too_large_body(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, max_request_bytes=200), testing=True)
    headers = bearer(make_key(hub_of(app), "admin"))
    response = app.test_client().post("/api/v1/keys", json={"name": "x" * 500}, headers=headers)
    error = assert_error(response, 413, "payload_too_large")
    assert "200 bytes" in error["message"]
    hub_of(app).close()


def test_auth_errors(client, hub):
    assert_error(client.get("/api/v1/status"), 401, "unauthorized")
    assert_error(client.get("/api/v1/status", headers=bearer("nc_wrong")), 401, "unauthorized")
    assert_error(client.get("/api/v1/status", headers={"Authorization": "Basic abc"}), 401)
    read_only = bearer(make_key(hub, "read"))
    error = assert_error(client.get("/api/v1/keys", headers=read_only), 403, "forbidden")
    assert error["details"] == {"required_scope": "admin"}


def test_not_found_resource(client, admin_headers):
    assert_error(client.get("/api/v1/keys/nope", headers=admin_headers), 404, "not_found")
    assert_error(client.delete("/api/v1/keys/nope", headers=admin_headers), 404, "not_found")


def test_trust_refusals(client):
    assert_error(
        client.get("/api/v1/health", headers={"Host": "evil.example"}), 403, "forbidden_host"
    )
    assert_error(
        client.get("/api/v1/health", headers={"Origin": "https://evil.example"}),
        403,
        "forbidden_origin",
    )


def test_internal_error_leaks_no_traceback(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))  # not TESTING: errors are handled, not raised

    @app.get("/api/v1/boom")
    def boom():
        raise ZeroDivisionError("secret internals")

    response = app.test_client().get("/api/v1/boom", headers={"X-Request-ID": "req-42"})
    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.text and "ZeroDivisionError" not in response.text
    assert error["details"] == {"request_id": "req-42"}
    log = (tmp_path / "logs" / "hub.log").read_text()
    assert "[req-42] unhandled error" in log and "ZeroDivisionError: secret internals" in log
    hub_of(app).close()


def test_socketio_protocol_errors_have_the_same_shape(client):
    assert_error(client.get("/socket.io/"), 400, "bad_request")
    assert_error(client.get("/socket.io/?EIO=4&transport=polling&sid=unknown"), 400)


def test_errors_over_real_http(live_hub):
    assert_error(live_hub.get("/nope"), 404, "not_found")
    assert_error(
        live_hub.post(
            "/api/v1/keys",
            data="{",
            headers={**bearer(live_hub.key("admin")), "Content-Type": "application/json"},
        ),
        400,
        "invalid_json",
    )
    response = requests.get(
        live_hub.url + "/api/v1/health", headers={"Host": "evil.example"}, timeout=5
    )
    assert_error(response, 403, "forbidden_host")


@pytest.mark.parametrize("values", [["x", "a"], ["2024-01-01", "a"], [True, "a"], [1, 2]])
def test_forged_key_cursors_are_422_not_500(client, admin_headers, values):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    assert_error(client.get(f"/api/v1/keys?cursor={cursor}", headers=admin_headers), 422)


@pytest.mark.parametrize("values", [[True], ["1"], [1.5]])
def test_forged_audit_cursors_are_422_not_500(client, admin_headers, values):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    assert_error(client.get(f"/api/v1/audit?cursor={cursor}", headers=admin_headers), 422)
