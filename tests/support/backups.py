"""A hub's data for backup tests: a collection with a document, a captured page (a blob),
a note and a key; and waiting until all of it is embedded and indexed."""

from __future__ import annotations

from neurocache.hub import Hub
from neurocache.llm.reembed import count_stale
from neurocache.store.audit import Actor
from tests.support.waiting import wait_for

PAGE = "<html><head><title>Herons</title></head><body><p>The grey heron waits.</p></body></html>"


def fill(hub: Hub, actor: Actor) -> None:
    """Collection `geo` with "Danube", a capture, the kettle note, and a `script` key."""
    hub.knowledge.create_collection("geo", "rivers", actor)
    hub.knowledge.add_text(
        title="Danube",
        body="The Danube flows through Vienna.",
        fmt="text",
        actor=actor,
        collection="geo",
    )
    hub.knowledge.add_capture({"url": "https://example.org/herons", "html": PAGE}, actor)
    note = hub.graph.create(actor, kind="note", content="The kettle whistles at dawn.", metadata={})
    hub.knowledge.remember([note.id], [note.content])
    hub.keys.create("script", ["read"], actor)


def settled(hub: Hub) -> Hub:
    """Every job done, every memory embedded and in the index."""
    assert hub.jobs.wait_idle(60)
    assert wait_for(lambda: count_stale(hub.db, "builtin") == 0, 60)
    return hub
