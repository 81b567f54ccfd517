"""Bind to loopback, refuse foreign hosts and origins, log the browser in with a cookie."""

from __future__ import annotations

import pytest
import requests

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.web.auth import SESSION_COOKIE
from tests.support.hub import assert_error


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST", "localhost:80"])
def test_loopback_names_are_served(client, host):
    assert client.get("/api/v1/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "localhost:9999", "10.0.0.5", "[::2]"]
)
def test_other_hosts_are_refused_on_every_path(client, host):
    for path in ("/api/v1/health", "/", "/socket.io/?EIO=4&transport=polling", "/nope"):
        assert_error(client.get(path, headers={"Host": host}), 403, "forbidden_host")


def test_configured_host_names_are_served(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, allowed_hosts=["hub.lan"]), testing=True)
    assert app.test_client().get("/api/v1/health", headers={"Host": "hub.lan"}).status_code == 200
    hub_of(app).close()


def test_live_hub_binds_loopback_and_checks_the_port(live_hub):
    assert live_hub.server.url.startswith("http://127.0.0.1:")
    port = live_hub.server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert live_hub.get("/api/v1/health", headers={"Host": host}).status_code == 200
    assert_error(live_hub.get("/api/v1/health", headers={"Host": f"localhost:{port + 1}"}), 403)


def test_same_origin_and_extensions_are_allowed(client):
    ok = client.get("/api/v1/health", headers={"Origin": "http://localhost"})
    assert ok.status_code == 200 and "Access-Control-Allow-Origin" not in ok.headers
    ext = client.get("/api/v1/health", headers={"Origin": "chrome-extension://abcdef"})
    assert ext.status_code == 200
    assert ext.headers["Access-Control-Allow-Origin"] == "chrome-extension://abcdef"
    assert "Access-Control-Allow-Credentials" not in ext.headers  # keys, never cookies
    assert client.get("/api/v1/health", headers={"Origin": "moz-extension://x"}).status_code == 200


def test_preflight_for_an_allowed_origin_is_answered(client):
    response = client.options(
        "/api/v1/keys",
        headers={
            "Origin": "chrome-extension://abcdef",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:1", "null"])
def test_other_origins_are_refused(client, origin):
    assert_error(client.get("/api/v1/health", headers={"Origin": origin}), 403, "forbidden_origin")
    assert_error(
        client.options(
            "/api/v1/keys", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        ),
        403,
        "forbidden_origin",
    )


def test_origin_settings(tmp_path):
    app = create_app(
        Settings(
            data_dir=tmp_path,
            allowed_origins=["https://app.example"],
            allow_extension_origins=False,
        ),
        testing=True,
    )
    client = app.test_client()
    assert (
        client.get("/api/v1/health", headers={"Origin": "https://app.example"}).status_code == 200
    )
    assert_error(client.get("/api/v1/health", headers={"Origin": "chrome-extension://abc"}), 403)
    hub_of(app).close()


def test_login_link_sets_a_strict_httponly_cookie_and_drops_the_token(app, hub):
    client = app.test_client()
    response = client.get(f"/?token={hub.owner_token.value}")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    status = client.get("/api/v1/status")
    assert status.status_code == 200 and status.json["data_dir"] == str(hub.settings.data_dir)
    assert client.get("/api/v1/session").json["principal"]["kind"] == "owner"


def test_a_wrong_login_link_is_refused_on_the_sign_in_page(app):
    client = app.test_client()
    response = client.get("/?token=nco_wrong")
    assert response.status_code == 303 and response.headers["Location"] == "/?signin=stale"
    assert "Set-Cookie" not in response.headers  # no session: the sign-in page says why
    assert_error(client.get("/api/v1/status"), 401)


def test_login_and_logout_through_the_api(app, hub):
    client = app.test_client()
    assert_error(client.post("/api/v1/session", json={"token": "bad"}), 401)
    response = client.post("/api/v1/session", json={"token": hub.owner_token.value})
    assert response.status_code == 200 and "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/api/v1/keys").status_code == 200  # the owner may do everything
    client.delete("/api/v1/session")
    assert_error(client.get("/api/v1/status"), 401)


def test_owner_token_persists_per_install_and_is_private(tmp_path):
    first = create_app(Settings(data_dir=tmp_path), testing=True)
    token = hub_of(first).owner_token.value
    hub_of(first).close()
    second = create_app(Settings(data_dir=tmp_path), testing=True)
    assert hub_of(second).owner_token.value == token
    assert (tmp_path / "owner_token").stat().st_mode & 0o077 == 0
    hub_of(second).close()


def test_index_page_is_served_with_a_strict_content_security_policy(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_cookie_is_sent_back_by_a_real_browser_session(live_hub):
    session = requests.Session()
    token = live_hub.hub.owner_token.value
    first = session.get(f"{live_hub.url}/?token={token}", allow_redirects=False, timeout=5)
    assert first.status_code == 303
    assert session.get(f"{live_hub.url}/api/v1/status", timeout=5).status_code == 200


def test_the_session_cookie_is_ignored_on_cross_origin_requests(owner_client):
    assert owner_client.get("/api/v1/keys").status_code == 200
    response = owner_client.get("/api/v1/keys", headers={"Origin": "chrome-extension://other"})
    assert_error(response, 401, "unauthorized")


def test_bracketed_host_with_trailing_junk_is_refused(client):
    assert_error(client.get("/api/v1/health", headers={"Host": "[::1]evil"}), 403)


def test_a_new_data_dir_is_private_to_its_user(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "fresh"), testing=True)
    assert (tmp_path / "fresh").stat().st_mode & 0o777 == 0o700
    hub_of(app).close()


def test_a_wildcard_ipv6_bind_prints_a_reachable_url(tmp_path):
    from neurocache.web.server import HubServer

    app = create_app(Settings(data_dir=tmp_path), testing=True)
    server = HubServer(app, "::", 0).start()
    try:
        assert server.url.startswith("http://[::1]:")
        assert requests.get(server.url + "/api/v1/health", timeout=5).status_code == 200
    finally:
        server.stop()
