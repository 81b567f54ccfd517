"""The hot caches of a team's processes, in Redis: the recent turns of conversations and
the newest messages of channels, shared by every hub process, with the activity-based
expiry (a write keeps an entry `active_ttl_s`, a read at least `idle_ttl_s`), and the store
answering while Redis is away. A real redis-server on a loopback port, started here; two
cache objects on it stand for two hub processes."""

from __future__ import annotations

import shutil

import pytest
import redis

from neurocache.channels.cache_redis import RedisChannelCache
from neurocache.channels.presence import RedisPresence
from neurocache.channels.records import ChannelMessageRecord
from neurocache.cluster.services import Redis, free_port
from neurocache.conversations.history_redis import RedisHotHistory
from neurocache.replies.prompt import Turn
from neurocache.threads import Threads

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (make test installs it with apt when it can)",
)
DAY, HOUR = 24 * 3600, 3600


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Redis("redis", free_port(), folder=tmp_path_factory.mktemp("redis")).start()
    yield started
    started.stop()


@pytest.fixture
def client(server):
    connection = redis.Redis.from_url(server.url)
    connection.flushdb()
    yield connection
    connection.close()


def histories(server, n=2):
    return [RedisHotHistory(server.url, active_ttl_s=DAY, idle_ttl_s=HOUR) for _ in range(n)]


def message(seq: int, content: str = "", channel: str = "c") -> ChannelMessageRecord:
    return ChannelMessageRecord(
        id=f"m{seq}",
        seq=seq,
        channel_id=channel,
        author="owner",
        author_name="owner",
        author_kind="person",
        content=content or f"message {seq}",
        reply_to=None,
        mentions=[],
        status="complete",
        sources=[],
        created_at="2026-01-01T00:00:00.000Z",
        edited_at=None,
    )


def refuse(*_args):
    raise AssertionError("the store was asked: the cache should have answered")


# ---- conversations
def test_one_process_answers_and_the_next_reads_its_history(server, client):
    a, b = histories(server)
    chain = [("q1", Turn("user", "Where do salmon go?")), ("r1", Turn("assistant", "Upstream."))]
    a.set("conv", chain)
    assert b.get("conv", refuse) == chain and b.hits == 1
    b.extend("conv", "r1", "q2", Turn("user", "And eels?"))
    assert [i for i, _ in a.get("conv", refuse)] == ["q1", "r1", "q2"]


def test_a_message_on_another_branch_drops_the_cached_chain(server, client):
    a, b = histories(server)
    a.set("conv", [("q1", Turn("user", "one")), ("r1", Turn("assistant", "two"))])
    b.extend("conv", "q1", "r2", Turn("assistant", "a regenerated reply"))  # not after r1
    assert a.get("conv", lambda: [("q1", Turn("user", "one"))]) == [("q1", Turn("user", "one"))]
    assert a.misses == 1


def test_activity_keeps_a_day_and_a_read_an_hour(server, client):
    (history,) = histories(server, 1)
    history.set("active", [("q", Turn("user", "hi"))])
    assert DAY - 5 < client.ttl("neurocache:history:active") <= DAY
    history.get("active", refuse)  # a read never shortens an active entry
    assert client.ttl("neurocache:history:active") > DAY - 5
    history.get("idle", lambda: [("q", Turn("user", "old"))])  # loaded by a read: idle
    assert HOUR - 5 < client.ttl("neurocache:history:idle") <= HOUR
    client.expire("neurocache:history:idle", 60)
    history.get("idle", refuse)  # read again: an hour from now
    assert client.ttl("neurocache:history:idle") > HOUR - 5


def test_without_redis_the_store_answers():
    away = RedisHotHistory(f"redis://127.0.0.1:{free_port()}/0", active_ttl_s=DAY, idle_ttl_s=HOUR)
    chain = [("q", Turn("user", "still here"))]
    away.set("conv", chain)
    assert away.get("conv", lambda: chain) == chain and away.misses == 1


# ---- channels
def caches(server, n=2, size=5):
    return [
        RedisChannelCache(server.url, size, active_ttl_s=DAY, idle_ttl_s=HOUR) for _ in range(n)
    ]


def test_a_tail_loaded_by_one_process_serves_the_others(server, client):
    a, b = caches(server)
    stored = [message(s) for s in (1, 2, 3)]
    assert a.latest("c", 2, lambda n: stored) == stored[-2:] and a.misses == 1
    assert b.latest("c", 3, refuse) == stored and b.hits == 1
    b.added(message(5))
    b.added(message(4))  # two posts that reached the cache in the other order
    assert [m.seq for m in a.latest("c", 5, refuse)] == [1, 2, 3, 4, 5]
    assert [m.seq for m in a.after("c", 3)] == [4, 5]
    a.added(message(6))  # the newest `size` stay
    assert [m.seq for m in b.latest("c", 5, refuse)] == [2, 3, 4, 5, 6]
    assert b.after("c", 0) is None  # the tail no longer reaches back that far


def test_an_edit_replaces_and_a_delete_drops_the_tail(server, client):
    a, b = caches(server)
    a.latest("c", 2, lambda n: [message(1), message(2)])
    a.added(message(2))  # announced after a load that held it already: kept once
    b.changed(message(2, "edited"))
    assert [m.content for m in a.latest("c", 2, refuse)] == ["message 1", "edited"]
    b.removed("c", "m1")
    assert a.latest("c", 2, lambda n: [message(2, "edited")]) == [message(2, "edited")]
    assert a.misses == 2


def test_a_tail_loaded_while_another_process_wrote_is_not_kept(server, client):
    a, b = caches(server)

    def load_while_b_posts(n):
        b.added(message(3))  # lands while a reads the store: a's tail may miss it
        return [message(1), message(2)]

    a.latest("c", 2, load_while_b_posts)
    assert not client.exists("neurocache:channel:c")
    assert [m.seq for m in a.latest("c", 3, lambda n: [message(s) for s in (1, 2, 3)])] == [
        1,
        2,
        3,
    ]
    assert [m.seq for m in b.latest("c", 3, refuse)] == [1, 2, 3]


def test_a_channel_tail_expires_by_activity(server, client):
    (cache,) = caches(server, 1)
    cache.latest("c", 1, lambda n: [message(1)])
    assert HOUR - 5 < client.ttl("neurocache:channel:c") <= HOUR  # loaded by a read
    cache.added(message(2))
    assert client.ttl("neurocache:channel:c") > DAY - 5  # a write: a day


def test_without_redis_channels_read_the_store():
    (away,) = [RedisChannelCache(f"redis://127.0.0.1:{free_port()}/0", 5)]
    away.added(message(1))
    assert away.latest("c", 1, lambda n: [message(1)]) == [message(1)]
    assert away.after("c", 0) is None


# ---- presence across processes


def test_presence_is_shared_and_a_dead_process_stops_counting(server, client):
    a, b = (RedisPresence(server.url, n, Threads(), prefix="test:presence:") for n in "ab")
    for presence in (a, b):
        presence.start()
    try:
        assert a.arrive("c1", "ana") is True
        assert b.arrive("c1", "ana") is False  # her second tab, on the other process
        assert a.arrive("c1", "ben") is True
        assert b.arrive("c1", "ben") is False
        assert a.online("c1") == b.online("c1") == {"ana", "ben"}
        assert a.leave("c1", "ana") is False  # still there through hub-b
        assert b.leave("c1", "ana") is True
        assert a.leave("c1", "ben") is False  # ben: still there through hub-b
        assert a.online("c1") == {"ben"}
        # hub-b dies without its sockets leaving: its heartbeat runs out (as if expired)
        client.delete("test:presence:alive:b")
        assert a.online("c1") == set()
        assert a.arrive("c1", "ben") is True  # ben, back through a live process
        b.start()  # a process that had only missed beats counts again
        assert a.online("c1") == {"ben"} and a.leave("c1", "ben") is False
    finally:
        a.stop()
        b.stop()
