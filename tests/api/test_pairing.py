"""Pairing a browser extension: the owner gets a short code, the extension trades it once
for its own key (read, write, chat); wrong, used and old codes are refused, and guessing
voids every open code."""

from __future__ import annotations

from neurocache.access.pairing import MAX_FAILURES, TTL_S, Pairings
from neurocache.store.audit import Actor
from tests.support.hub import assert_error, bearer, make_key


def test_a_code_is_traded_once_for_a_key(client, hub, owner_client):
    made = owner_client.post("/api/v1/pairings", json={})
    assert made.status_code == 201
    code = made.json["code"]
    assert len(code) == 9 and code[4] == "-" and made.json["expires_in_s"] == TTL_S
    claimed = client.post(
        "/api/v1/pairings/claim", json={"code": code.lower().replace("-", " "), "name": "Chromium"}
    )
    assert claimed.status_code == 201
    key = claimed.json
    assert key["secret"].startswith("nc_") and key["scopes"] == ["read", "write", "chat"]
    assert key["name"] == "Chromium"
    assert client.get("/api/v1/session", headers=bearer(key["secret"])).status_code == 200
    assert_error(client.post("/api/v1/pairings/claim", json={"code": code}), 404)
    created = hub.audit.list(action="key.create", target_id=key["id"])[0][0]
    assert created.actor == "owner"  # made on the owner's word, who showed the code


def test_only_the_owner_or_an_admin_key_makes_codes(client, hub):
    assert_error(client.post("/api/v1/pairings", json={}), 401)
    writer = bearer(make_key(hub, "write", "chat", "read"))
    assert_error(client.post("/api/v1/pairings", json={}, headers=writer), 403)


def test_claims_are_validated(client):
    assert_error(client.post("/api/v1/pairings/claim", json={}), 422)
    assert_error(client.post("/api/v1/pairings/claim", json={"code": "ABCD-EFGH", "x": 1}), 422)
    assert_error(client.post("/api/v1/pairings/claim", data="code", content_type="text/plain"), 415)


def test_an_old_code_is_refused(hub):
    now = [0.0]
    pairings = Pairings(hub.keys, clock=lambda: now[0])
    code = pairings.create(Actor("owner"))["code"]
    now[0] = TTL_S + 1
    try:
        pairings.claim(code, "late")
    except Exception as error:
        assert error.status == 404
    else:
        raise AssertionError("an expired code was accepted")


def test_guessing_voids_every_open_code(client, owner_client):
    code = owner_client.post("/api/v1/pairings", json={}).json["code"]
    for _ in range(MAX_FAILURES):
        assert_error(client.post("/api/v1/pairings/claim", json={"code": "ZZZZ-ZZZZ"}), 404)
    assert_error(client.post("/api/v1/pairings/claim", json={"code": code}), 404)


def test_old_typos_are_forgiven_by_a_right_code_and_by_time(hub):
    now = [0.0]
    pairings = Pairings(hub.keys, clock=lambda: now[0])

    def typo() -> None:
        try:
            pairings.claim("WRONG-CODE", "x")
        except Exception as error:
            assert error.status == 404

    for _ in range(MAX_FAILURES - 1):
        typo()
    pairings.claim(pairings.create(Actor("owner"))["code"], "right")  # resets the count
    for _ in range(MAX_FAILURES - 1):
        typo()
    now[0] += TTL_S + 1  # old typos age out
    typo()
    fresh = pairings.create(Actor("owner"))["code"]
    assert pairings.claim(fresh, "still works")[1].startswith("nc_")
