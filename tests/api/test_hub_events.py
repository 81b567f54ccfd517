"""The hub's events: what its services publish, and that Socket.IO gets only the events
that name a room (the dispatcher itself: tests/unit/test_events.py)."""

from __future__ import annotations

from neurocache.events import EVERY, Event
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor

ACTOR = Actor("test")


def test_clients_get_the_events_with_a_room_and_the_hub_keeps_its_own(tmp_path):
    to_clients: list[tuple] = []
    hub = Hub(Settings(data_dir=tmp_path), publish=lambda *event: to_clients.append(event))
    own: list[Event] = []
    hub.events.subscribe(EVERY, own.append)
    try:
        key, _secret = hub.keys.create("k", ["read"], ACTOR)
        hub.keys.revoke(key.id, ACTOR)
        hub.publish("job.progress", {"id": "j"}, "jobs")
    finally:
        hub.close()
    assert ("key.revoked", {"key_id": key.id}) in [(e.name, e.payload) for e in own]
    assert to_clients == [("job.progress", {"id": "j"}, "jobs")]  # not key.revoked


def test_removing_a_member_is_published(tmp_path):
    hub = Hub(Settings(data_dir=tmp_path))
    seen: list[Event] = []
    hub.events.subscribe("channel.member.removed", seen.append)
    try:
        user = hub.users.create("ada", ACTOR)
        channel = hub.channels.create(ACTOR, "owner", name="general")
        hub.channels.add_member(channel.id, f"user:{user.id}", ACTOR)
        hub.channels.remove_member(channel.id, f"user:{user.id}", ACTOR)
    finally:
        hub.close()
    assert [e.payload for e in seen] == [{"channel_id": channel.id, "member": f"user:{user.id}"}]


def test_deleting_an_agent_says_which_memories_went_and_the_index_lets_them_go(tmp_path):
    hub = Hub(Settings(data_dir=tmp_path))
    gone: list[Event] = []
    hub.events.subscribe("memories.deleted", gone.append)
    try:
        agent = hub.agents.create(ACTOR, name="Keeper", persona="You keep the lighthouse.")
        memory = hub.tiers.create(
            agent.id, ACTOR, tier="long_term", content="The lamp is lit at dusk."
        )
        indexed = hub.search.index().size
        assert indexed == 1
        hub.agents.delete(agent.id, ACTOR)
        assert hub.search.index().size == 0
    finally:
        hub.close()
    assert len(gone) == 1 and len(gone[0].payload["rowids"]) == 1
    assert memory.id


def test_the_hub_stops_its_work_last_started_first_and_the_store_last(tmp_path):
    hub = Hub(Settings(data_dir=tmp_path))
    names = hub.runtime.names
    hub.close()
    assert names[0] == "store" and names[-1] == "backups"
    assert names.index("ingestion jobs") > names.index("search")  # jobs stop before search
