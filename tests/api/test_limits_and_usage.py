"""Rate limits (per key, per hub, across a restart, under concurrent clients), usage time
series that match the requests made, and the Prometheus endpoint. Real hubs, real SQLite."""

from __future__ import annotations

import threading
from datetime import timedelta, timezone

import pytest
import requests
from flask import Flask

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.types import utcnow
from tests.support.hub import assert_error, bearer, make_key, start_live_hub


def hold_time_still(app: Flask):
    """The limiter's clock, frozen: buckets refill only when the test moves it."""
    now = [utcnow()]
    hub_of(app).limiter.clock = lambda: now[0]
    return now


@pytest.fixture
def limited(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        rate_limit_per_minute=5,
        rate_limit_generate_per_minute=2,
        rate_limit_global_per_minute=100,
    )
    app = create_app(settings, testing=True)
    yield app
    hub_of(app).close()


def test_a_key_over_its_limit_gets_429_with_retry_after_and_recovers(limited):
    client, clock = limited.test_client(), hold_time_still(limited)
    headers = bearer(make_key(hub_of(limited), "read"))
    answers = [client.get("/api/v1/collections", headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[0].headers["RateLimit-Limit"] == "5"
    assert answers[4].headers["RateLimit-Remaining"] == "0"
    error = assert_error(answers[5], 429, "rate_limited")
    assert answers[5].headers["Retry-After"] == "12"  # 5 a minute: one every 12 s
    assert error["details"] == {"limit_per_minute": 5, "scope": "key", "retry_after_s": 12.0}
    clock[0] += timedelta(seconds=12)
    assert client.get("/api/v1/collections", headers=headers).status_code == 200
    assert client.get("/api/v1/collections", headers=headers).status_code == 429


def test_generating_endpoints_have_their_own_tighter_limit(limited):
    client, _clock = limited.test_client(), hold_time_still(limited)
    headers = bearer(make_key(hub_of(limited), "chat", "read"))
    embed = [
        client.post("/v1/embeddings", json={"input": "hello"}, headers=headers) for _ in range(3)
    ]
    assert [a.status_code for a in embed] == [200, 200, 429]
    assert embed[2].json["error"]["code"] == "rate_limited"  # OpenAI's shape under /v1
    assert embed[2].headers["Retry-After"] == "30"
    assert client.get("/api/v1/collections", headers=headers).status_code == 200


def test_each_key_has_its_own_bucket_and_the_hub_one_for_all(tmp_path):
    app = create_app(
        Settings(
            data_dir=tmp_path / "data", rate_limit_per_minute=3, rate_limit_global_per_minute=5
        ),
        testing=True,
    )
    client, _clock = app.test_client(), hold_time_still(app)
    one, two = (bearer(make_key(hub_of(app), "read", name=n)) for n in ("one", "two"))
    assert [client.get("/api/v1/collections", headers=one).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    statuses = [client.get("/api/v1/collections", headers=two).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the hub's 5 are spent: 3 by one, 2 by two
    error = assert_error(client.get("/api/v1/collections", headers=two), 429)
    assert error["details"]["scope"] == "hub"
    hub_of(app).close()


def test_the_owner_session_is_not_limited_unless_asked(tmp_path, limited):
    client, _clock = limited.test_client(), hold_time_still(limited)
    client.get(f"/?token={hub_of(limited).owner_token.value}")
    assert {client.get("/api/v1/collections").status_code for _ in range(12)} == {200}
    app = create_app(
        Settings(data_dir=tmp_path / "strict", rate_limit_per_minute=2, rate_limit_owner=True),
        testing=True,
    )
    strict, _ = app.test_client(), hold_time_still(app)
    strict.get(f"/?token={hub_of(app).owner_token.value}")
    assert [strict.get("/api/v1/collections").status_code for _ in range(3)] == [200, 200, 429]
    hub_of(app).close()


def test_unauthenticated_requests_count_against_the_hub_only(tmp_path):
    app = create_app(
        Settings(data_dir=tmp_path / "data", rate_limit_global_per_minute=4), testing=True
    )
    client, _clock = app.test_client(), hold_time_still(app)
    for _ in range(3):
        assert_error(client.get("/api/v1/collections"), 401)
    assert_error(client.get("/api/v1/collections", headers=bearer("nc_nope")), 401)
    error = assert_error(client.get("/api/v1/collections"), 429)
    assert error["details"]["scope"] == "hub"
    hub_of(app).close()


def test_ids_in_refused_urls_are_not_usage_dimensions(client, hub, admin_headers):
    junk = "x" * 300
    assert_error(client.get(f"/api/v1/agents/{junk}"), 401)
    assert_error(client.get(f"/api/v1/agents/{junk}", headers=admin_headers), 404)
    agent = client.post("/api/v1/agents", json={"name": "Scout"}, headers=admin_headers).json
    client.get(f"/api/v1/agents/{agent['id']}", headers=admin_headers)
    got = usage(client, admin_headers, bucket="minute", group_by="agent")
    agents = {s["group"]["agent"]: s["totals"]["requests"] for s in got["series"]}
    assert agents[agent["id"]] == 1 and set(agents) == {agent["id"], ""}
    assert got["series"][1]["group"]["agent_name"] == "Scout"


def test_usage_ranges_in_any_time_zone_are_read_in_utc(client, admin_headers):
    for _ in range(3):
        client.get("/api/v1/collections", headers=admin_headers)
    start = (utcnow() - timedelta(hours=3)).astimezone(timezone(timedelta(hours=5, minutes=30)))
    got = usage(client, admin_headers, bucket="hour", start=start.isoformat())
    points = got["series"][0]["points"]
    assert sum(p["requests"] for p in points) == got["totals"]["requests"] == 3
    assert all(p["t"].endswith(":00:00.000Z") for p in points)


def test_limits_survive_a_restart(tmp_path):
    # one a minute: the minute a slow restart takes does not refill it
    settings = Settings(data_dir=tmp_path / "data", rate_limit_per_minute=1)
    app = create_app(settings, testing=True)
    secret = make_key(hub_of(app), "read")
    client = app.test_client()
    assert client.get("/api/v1/collections", headers=bearer(secret)).status_code == 200
    hub_of(app).close()
    again = create_app(settings, testing=True)
    assert_error(again.test_client().get("/api/v1/collections", headers=bearer(secret)), 429)
    hub_of(again).close()


def test_concurrent_clients_get_exactly_the_allowance(tmp_path):
    live = start_live_hub(Settings(data_dir=tmp_path / "live", rate_limit_per_minute=40))
    hold_time_still(live.app)
    headers = bearer(live.key("read"))
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        with requests.Session() as session:
            for _ in range(10):
                status = session.get(
                    live.url + "/api/v1/collections", headers=headers, timeout=30
                ).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live.server.stop()
    assert statuses.count(200) == 40 and statuses.count(429) == 40


# ---- usage


def usage(client, headers, **query):
    response = client.get("/api/v1/usage", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_usage_counts_each_request_per_key_and_endpoint(client, hub, admin_headers):
    reader, writer = (
        make_key(hub, *s, name=n) for n, s in (("reader", ["read"]), ("writer", ["write", "read"]))
    )
    for _ in range(3):
        client.get("/api/v1/collections", headers=bearer(reader))
    client.get("/api/v1/documents/nope", headers=bearer(reader))  # a 404
    client.post("/api/v1/collections", json={"name": "notes"}, headers=bearer(writer))
    client.post("/api/v1/collections", json={"name": ""}, headers=bearer(writer))  # a 422
    got = usage(client, admin_headers, bucket="minute", group_by="caller,endpoint")
    by = {(s["group"]["caller"], s["group"]["endpoint"]): s for s in got["series"]}
    reader_id = hub.keys.list()[0][1].id  # newest first: writer, reader
    listing = by[(f"key:{reader_id}", "GET /api/v1/collections")]
    assert listing["group"]["caller_name"] == "reader"
    assert listing["totals"]["requests"] == 3 and listing["totals"]["errors"] == 0
    assert by[(f"key:{reader_id}", "GET /api/v1/documents/<document_id>")]["totals"]["errors"] == 1
    posting = [s for (caller, endpoint), s in by.items() if endpoint == "POST /api/v1/collections"]
    assert posting[0]["totals"] == {**posting[0]["totals"], "requests": 2, "errors": 1}
    assert len(posting[0]["points"]) == 60  # the last hour, every minute present
    assert sum(p["requests"] for p in posting[0]["points"]) == 2
    assert posting[0]["totals"]["latency_ms_avg"] > 0


def test_usage_rolls_up_into_hours_and_days(client, hub, admin_headers):
    for _ in range(4):
        client.get("/api/v1/collections", headers=admin_headers)
    hourly = usage(client, admin_headers, bucket="hour")
    daily = usage(client, admin_headers, bucket="day")
    minutely = usage(client, admin_headers, bucket="minute")
    # each later query also counts the one before it: 4, then +1, then +2
    assert hourly["totals"]["requests"] == 4
    assert daily["totals"]["requests"] == 5 and minutely["totals"]["requests"] == 6
    assert len(hourly["series"][0]["points"]) == 24 and len(daily["series"][0]["points"]) == 30


def test_usage_counts_ingestion_against_the_key_that_sent_it(client, hub, admin_headers):
    writer = make_key(hub, "write", "read", name="writer")
    response = client.post(
        "/api/v1/documents",
        headers=bearer(writer),
        json={"title": "Notes", "text": "Rivers run to the sea. " * 200},
    )
    assert response.status_code == 202
    assert hub.jobs.wait_idle(60)
    chunks = client.get(
        f"/api/v1/documents/{response.json['document']['id']}", headers=admin_headers
    ).json["chunk_count"]
    got = usage(client, admin_headers, bucket="hour", group_by="caller")
    writer_series = next(s for s in got["series"] if s["group"].get("caller_name") == "writer")
    assert writer_series["totals"]["documents"] == 1
    assert writer_series["totals"]["chunks"] == chunks > 1


def test_usage_keeps_bounded_size_by_pruning_old_buckets(hub):
    old = utcnow() - timedelta(days=3)
    hub.usage.add(at=old, requests=5, caller="key:x")
    hub.usage.add(requests=1, caller="key:x")
    hub.usage.flush()
    assert hub.usage.prune() == 1  # the 3-day-old minute (48 h kept); its hour and day stay
    hours = hub.usage.rows("hour", old - timedelta(hours=1), utcnow() + timedelta(hours=1))
    assert sum(r.requests for r in hours) == 6


@pytest.mark.parametrize(
    "query, field",
    [
        ({"bucket": "week"}, "bucket"),
        ({"group_by": "caller,colour"}, "group_by"),
        ({"start": "yesterday"}, "start"),
        ({"bucket": "minute", "start": "2026-01-01T00:00:00Z"}, None),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, None),
    ],
)
def test_bad_usage_queries_get_the_error_shape(client, admin_headers, query, field):
    error = assert_error(
        client.get("/api/v1/usage", query_string=query, headers=admin_headers), 422
    )
    if field:
        assert error["details"]["errors"][0]["loc"] == [field]


def test_usage_and_metrics_need_admin(client, hub):
    reader = bearer(make_key(hub, "read", "write", "chat"))
    assert_error(client.get("/api/v1/usage", headers=reader), 403)
    assert_error(client.get("/metrics", headers=reader), 403)
    assert_error(client.get("/metrics"), 401)


def test_metrics_speak_prometheus_text(client, hub, admin_headers, owner_client):
    client.get("/api/v1/collections", headers=admin_headers)
    client.get("/api/v1/documents/nope", headers=admin_headers)
    response = owner_client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE neurocache_requests_total counter" in text
    key_id = hub.keys.list()[0][0].id
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("neurocache_errors_total{")
        and f'caller="key:{key_id}"' in line
        and "documents/<document_id>" in line
    )
    assert line.endswith(" 1.0")
    assert "neurocache_store_bytes " in text and "neurocache_uptime_seconds " in text
    from prometheus_client.parser import text_string_to_metric_families

    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"neurocache_requests", "neurocache_tokens_in", "neurocache_memories"} <= names
