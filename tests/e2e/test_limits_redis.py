"""Rate limits kept in Redis (`rate_limit_redis_url`): one limit for several hub processes
on one store, and the hub's own buckets while Redis is away. A real redis-server on a
loopback port, started by the test."""

from __future__ import annotations

import shutil

import pytest

from neurocache.app import create_app, hub_of
from neurocache.cluster.services import Redis, free_port
from neurocache.metering.ratelimit_redis import RedisRateLimiter
from neurocache.settings import Settings
from tests.support.hub import assert_error, bearer, make_key

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None,
    reason="redis-server is not installed (make test installs it with apt when it can)",
)


@pytest.fixture
def redis_url(tmp_path):
    """A throw-away redis-server on a free loopback port (the one `cluster up` runs)."""
    server = Redis("redis", free_port(), folder=tmp_path / "redis").start()
    yield server
    server.stop()


def test_two_hubs_on_one_store_share_one_limit(tmp_path, redis_url):
    settings = Settings(
        data_dir=tmp_path / "data", rate_limit_per_minute=4, rate_limit_redis_url=redis_url.url
    )
    first, second = create_app(settings, testing=True), create_app(settings, testing=True)
    assert isinstance(hub_of(first).limiter, RedisRateLimiter)
    headers = bearer(make_key(hub_of(first), "read"))
    clients = [first.test_client(), second.test_client()]
    statuses = [
        clients[i % 2].get("/api/v1/collections", headers=headers).status_code for i in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = clients[0].get("/api/v1/collections", headers=headers)
    error = assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 15  # 4 a minute: one every 15 s
    assert error["details"]["scope"] == "key"
    for app in (first, second):
        hub_of(app).close()


def test_with_redis_away_each_hub_limits_on_its_own(tmp_path, redis_url):
    app = create_app(
        Settings(
            data_dir=tmp_path / "data", rate_limit_per_minute=3, rate_limit_redis_url=redis_url.url
        ),
        testing=True,
    )
    client = app.test_client()
    headers = bearer(make_key(hub_of(app), "read"))
    assert client.get("/api/v1/collections", headers=headers).status_code == 200
    redis_url.stop()
    statuses = [client.get("/api/v1/collections", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # its own bucket: a full minute of its own
    hub_of(app).close()
