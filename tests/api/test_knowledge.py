"""Collections, documents, ingestion jobs and search, through the API with the built-in
embedder, real FTS5 and a real FAISS index."""

from __future__ import annotations

from sqlalchemy import select

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.tables import Edge, Job, Memory, Vector
from tests.support.hub import assert_error
from tests.support.waiting import wait_for

RIVERS = (
    "The Rhine flows through Basel and into the North Sea. Salmon return to the "
    "rivers of Europe each autumn, swimming upstream to spawn."
)
ALPS_HTML = (
    "<html><head><title>Mountains</title></head><body><nav><a href='/'>Home</a>"
    "</nav><article><h1>Alps</h1><p>The Matterhorn is a mountain in the Alps, near "
    "Zermatt, first climbed in 1865 by Edward Whymper.</p><p>It is one of the "
    "highest peaks in Europe.</p></article><footer>cookies</footer></body></html>"
)


def add(client, owner, **body):
    response = client.post("/api/v1/documents", json=body, headers=owner)
    assert response.status_code == 202, response.json
    return response.json


def search(client, owner, query, **options):
    response = client.post("/api/v1/search", json={"query": query, **options}, headers=owner)
    assert response.status_code == 200, response.json
    return response.json["results"]


def test_collections(client, owner):
    created = client.post(
        "/api/v1/collections", json={"name": "notes", "description": "mine"}, headers=owner
    )
    assert created.status_code == 201 and created.json["name"] == "notes"
    assert_error(client.post("/api/v1/collections", json={"name": "notes"}, headers=owner), 409)
    assert [
        c["name"] for c in client.get("/api/v1/collections", headers=owner).json["collections"]
    ] == ["notes"]


def test_collections_are_renamed_and_deleted_keeping_or_deleting_their_documents(
    client, owner, hub
):
    for name in ("notes", "drafts", "other"):
        client.post("/api/v1/collections", json={"name": name}, headers=owner)
    kept = add(client, owner, title="Kept", text=RIVERS, collection="notes")["document"]
    gone = add(client, owner, title="Gone", text="Drafts about tides.", collection="drafts")
    agent = client.post(
        "/api/v1/agents", json={"name": "Scout", "collections": ["notes"]}, headers=owner
    ).json
    assert hub.jobs.wait_idle(60)
    renamed = client.patch("/api/v1/collections/notes", json={"name": "journal"}, headers=owner)
    assert renamed.status_code == 200 and renamed.json["name"] == "journal"
    assert_error(
        client.patch("/api/v1/collections/journal", json={"name": "other"}, headers=owner), 409
    )
    assert_error(client.patch("/api/v1/collections/journal", json={"name": ""}, headers=owner), 422)
    before = client.get("/api/v1/collections/journal", headers=owner).json
    assert before["documents"] == 1 and before["used_by"]["agents"] == [
        {"id": agent["id"], "name": "Scout"}
    ]
    assert "Scout draw on “journal”" in before["warning"]  # said before the delete
    deleted = client.delete("/api/v1/collections/journal", headers=owner).json
    assert deleted["documents"] == 1 and deleted["documents_deleted"] is False
    assert deleted["used_by"]["agents"][0]["id"] == agent["id"] and deleted["warning"]
    assert (
        client.get(f"/api/v1/documents/{kept['id']}", headers=owner).json["collection_id"] is None
    )
    assert search(client, owner, "salmon Basel", mode="fulltext")  # still found
    # The agent drew on `journal` only: it now draws on nothing, never on all memory.
    scout = client.get(f"/api/v1/agents/{agent['id']}", headers=owner).json
    assert scout["collections"] == [before["id"]]
    assert hub.search.passages("salmon Basel", scout["collections"], 5) == []
    renamed_agent = client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=owner,
        json={"name": "Scout 2", "collections": scout["collections"]},
    )
    assert renamed_agent.status_code == 200  # its list can be sent back as it is
    client.delete("/api/v1/collections/drafts?documents=delete", headers=owner)
    assert_error(client.get(f"/api/v1/documents/{gone['document']['id']}", headers=owner), 404)
    assert_error(client.delete("/api/v1/collections/drafts", headers=owner), 404)
    assert_error(client.delete("/api/v1/collections/other?documents=maybe", headers=owner), 422)
    assert [
        c["name"] for c in client.get("/api/v1/collections", headers=owner).json["collections"]
    ] == ["other"]


def test_a_document_is_indexed_by_a_job_into_chunks_with_offsets(client, owner, hub):
    accepted = add(client, owner, title="Rivers", text=RIVERS * 20)
    assert accepted["document"]["status"] == "queued"
    assert hub.jobs.wait_idle(60)
    job = client.get(f"/api/v1/jobs/{accepted['job']['id']}", headers=owner).json
    assert (job["status"], job["progress"]) == ("done", 1.0)
    document = client.get(f"/api/v1/documents/{accepted['document']['id']}", headers=owner).json
    assert document["status"] == "indexed" and document["chunk_count"] > 2
    body = RIVERS * 20
    with hub.db.session() as session:
        chunks = list(session.scalars(select(Memory).where(Memory.kind == "chunk")))
        edges = list(session.scalars(select(Edge)))
        vectors = list(session.scalars(select(Vector)))
    assert len(chunks) == document["chunk_count"] == len(edges) == len(vectors)
    for chunk in chunks:
        assert body[chunk.meta["start"] : chunk.meta["end"]] == chunk.content
        assert len(hub.embedder.tokens(chunk.content)) - 2 <= hub.settings.chunk_tokens
    assert {e.relation for e in edges} == {"part_of"}


def test_html_is_reduced_to_its_main_content(client, owner, hub):
    accepted = add(client, owner, html=ALPS_HTML, url="https://example.org/alps")
    assert accepted["document"]["title"] == "Mountains"
    hub.jobs.wait_idle(60)
    [hit] = search(client, owner, "Matterhorn", mode="fulltext")
    assert "Home" not in hit["text"] and "cookies" not in hit["text"]
    assert hit["document"]["url"] == "https://example.org/alps"


def test_three_modes_find_by_words_and_by_meaning(client, owner, hub):
    add(client, owner, title="Rivers", text=RIVERS)
    add(client, owner, html=ALPS_HTML)
    hub.jobs.wait_idle(60)
    by_words = search(client, owner, "Whymper", mode="fulltext")
    assert [r["document"]["title"] for r in by_words] == ["Mountains"]
    assert {"text": "Whymper", "match": True} in by_words[0]["highlights"]
    by_meaning = search(client, owner, "fish swimming against the current", mode="vector")
    assert by_meaning[0]["document"]["title"] == "Rivers"
    both = search(client, owner, "fish swimming in rivers", mode="hybrid", k=1)
    assert len(both) == 1 and both[0]["document"]["title"] == "Rivers"
    for mode in ("fulltext", "vector", "hybrid"):  # only stop-words: nothing to look for
        assert_error(
            client.post(
                "/api/v1/search", json={"query": "what is the", "mode": mode}, headers=owner
            ),
            422,
            "validation_error",
        )


def test_filters_by_collection_kind_and_metadata(client, owner, hub):
    client.post("/api/v1/collections", json={"name": "travel"}, headers=owner)
    add(client, owner, title="Rivers", text=RIVERS, metadata={"lang": "en"})
    add(client, owner, html=ALPS_HTML, collection="travel")
    hub.jobs.wait_idle(60)
    in_travel = search(client, owner, "Europe", collections=["travel"])
    assert {r["document"]["title"] for r in in_travel} == {"Mountains"}
    assert (
        search(client, owner, "Europe", kinds=["document"], mode="fulltext")[0]["kind"]
        == "document"
    )
    english = search(client, owner, "Europe", filters={"lang": "en"})
    assert english and {r["document"]["title"] for r in english} == {"Rivers"}
    assert {r["kind"] for r in english} == {"chunk"}  # a document's metadata is on its chunks
    assert search(client, owner, "Europe", filters={"lang": "fr"}) == []
    assert_error(
        client.post("/api/v1/search", json={"query": "x", "collections": ["nope"]}, headers=owner),
        404,
    )


def test_identical_content_is_embedded_once(client, owner, hub, monkeypatch):
    add(client, owner, title="one", text=RIVERS)
    hub.jobs.wait_idle(60)
    calls = []
    real = hub.embedder.embed
    monkeypatch.setattr(hub.embedder, "embed", lambda texts: calls.append(texts) or real(texts))
    add(client, owner, title="copy", text=RIVERS)
    hub.jobs.wait_idle(60)
    assert calls == []
    assert len(search(client, owner, "salmon", mode="vector")) == 2


def test_deleting_a_document_removes_it_from_every_index(client, owner, hub):
    accepted = add(client, owner, title="Rivers", text=RIVERS)
    add(client, owner, html=ALPS_HTML)
    hub.jobs.wait_idle(60)
    size = hub.search.index().size
    assert (
        client.delete(f"/api/v1/documents/{accepted['document']['id']}", headers=owner).status_code
        == 200
    )
    assert search(client, owner, "Rhine", mode="fulltext") == []
    assert all(
        r["document"]["title"] != "Rivers"
        for r in search(client, owner, "salmon river", mode="vector")
    )
    assert hub.search.index().size == size - 1
    with hub.db.session() as session:
        assert session.scalar(select(Memory).where(Memory.id == accepted["document"]["id"])) is None
    assert_error(client.get(f"/api/v1/documents/{accepted['document']['id']}", headers=owner), 404)


def test_the_vector_index_persists_and_is_rebuilt_when_it_disagrees(tmp_path):
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, testing=True)
    hub = hub_of(app)
    hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=hub_actor())
    hub.jobs.wait_idle(60)
    path = hub.search.index_path
    hub.close()
    assert path.is_file()

    hub = hub_of(create_app(settings, testing=True))
    assert hub.search.index().size == 1  # loaded as saved
    hub.close()
    path.write_bytes(b"damaged")
    hub = hub_of(create_app(settings, testing=True))
    assert hub.search.index().size == 1  # rebuilt from the store
    assert hub.search.search("salmon", mode="vector")[0].text == RIVERS
    hub.close()


def test_a_job_left_running_by_a_crash_runs_again_exactly_once(tmp_path):
    settings = Settings(data_dir=tmp_path)
    hub = hub_of(create_app(settings, testing=True))
    hub.jobs.stop()  # the workers are gone, as in a crash before the job ran
    accepted = hub.knowledge.add_text(
        title="Rivers", body=RIVERS * 10, fmt="text", actor=hub_actor()
    )
    with hub.db.session() as session:
        session.get(Job, accepted.job.id).status = "running"
    hub.close()

    hub = hub_of(create_app(settings, testing=True))
    assert hub.jobs.wait_idle(60)
    document = hub.knowledge.get_document(accepted.document.id)
    with hub.db.session() as session:
        chunks = session.scalars(select(Memory).where(Memory.kind == "chunk")).all()
    assert document.status == "indexed" and len(chunks) == document.chunk_count
    assert hub.search.index().size == len(chunks)
    hub.close()


def test_bad_documents_and_searches_are_refused(client, owner):
    for body in (
        {"text": "x", "html": "<p>x</p>"},
        {},
        {"text": "   "},
        {"html": ""},
        {"text": "x", "collection": "nope"},
    ):
        response = client.post("/api/v1/documents", json=body, headers=owner)
        assert response.status_code in (404, 422), (body, response.json)
        assert_error(response, response.status_code)
    for body in ({"query": ""}, {"query": "x", "mode": "magic"}, {"query": "x", "k": 0}):
        assert_error(client.post("/api/v1/search", json=body, headers=owner), 422)
    assert_error(client.get("/api/v1/jobs/nope", headers=owner), 404)


def test_scopes(client, hub):
    from tests.support.hub import bearer, make_key

    reader = bearer(make_key(hub, "read"))
    assert_error(client.post("/api/v1/documents", json={"text": "x"}, headers=reader), 403)
    assert client.post("/api/v1/search", json={"query": "x"}, headers=reader).status_code == 200


def hub_actor():
    from neurocache.store.audit import Actor

    return Actor("test")


def test_documents_are_listed_newest_first_and_paged(client, owner, hub):
    client.post("/api/v1/collections", json={"name": "a"}, headers=owner)
    ids = [
        add(
            client, owner, title=f"d{i}", text=f"text number {i}", collection="a" if i % 2 else None
        )["document"]["id"]
        for i in range(5)
    ]
    hub.jobs.wait_idle(60)
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/documents",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=owner,
        ).json
        seen += [d["id"] for d in page["documents"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ids[::-1]
    in_a = client.get("/api/v1/documents?collection=a&status=indexed", headers=owner).json
    assert {d["title"] for d in in_a["documents"]} == {"d1", "d3"}


def test_a_document_moves_between_collections_with_its_chunks(client, owner, hub):
    for name in ("first", "second"):
        client.post("/api/v1/collections", json={"name": name}, headers=owner)
    document = add(client, owner, title="Rivers", text=RIVERS, collection="first")["document"]
    hub.jobs.wait_idle(60)
    moved = client.patch(
        f"/api/v1/documents/{document['id']}", json={"collection": "second"}, headers=owner
    )
    assert moved.status_code == 200
    assert search(client, owner, "salmon", collections=["first"]) == []
    assert (
        search(client, owner, "salmon", collections=["second"])[0]["document"]["id"]
        == document["id"]
    )
    out = client.patch(
        f"/api/v1/documents/{document['id']}", json={"collection": None}, headers=owner
    ).json
    assert out["collection_id"] is None
    assert_error(
        client.patch(
            f"/api/v1/documents/{document['id']}", json={"collection": "nope"}, headers=owner
        ),
        404,
    )
    actions = [e.action for e in hub.audit.list(target_id=document["id"])[0]]
    assert actions == ["document.move", "document.move", "document.create"]


def test_a_queued_job_can_be_cancelled(tmp_path):
    hub = hub_of(create_app(Settings(data_dir=tmp_path), testing=True))
    hub.jobs.stop()  # nothing runs: the job stays queued
    accepted = hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=hub_actor())
    assert hub.jobs.cancel(accepted.job.id).status == "cancelled"
    hub.close()
    hub = hub_of(create_app(Settings(data_dir=tmp_path), testing=True))
    assert hub.jobs.wait_idle(30)
    assert hub.jobs.get(accepted.job.id).status == "cancelled"
    assert hub.knowledge.get_document(accepted.document.id).chunk_count == 0
    hub.close()


def test_a_running_job_stops_at_its_next_step_when_cancelled(client, owner, hub, monkeypatch):
    from neurocache.knowledge import service

    monkeypatch.setattr(service, "EMBED_BATCH", 1)
    import threading

    original = hub.knowledge.embed_and_store
    cancelled = []
    submitted: dict = {}
    known = threading.Event()

    def embed_then_cancel(ids, texts):
        original(ids, texts)
        if not cancelled and known.wait(10):  # the worker may be quicker than the test
            cancelled.append(hub.jobs.cancel(submitted["job"]["id"]))

    monkeypatch.setattr(hub.knowledge, "embed_and_store", embed_then_cancel)
    accepted = add(client, owner, title="long", text=RIVERS * 30)
    submitted.update(accepted)
    known.set()
    job = accepted["job"]
    assert hub.jobs.wait_idle(60)
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=owner).json["status"] == "cancelled"

    def document():
        return client.get(f"/api/v1/documents/{accepted['document']['id']}", headers=owner).json

    assert wait_for(lambda: document()["status"] == "failed")  # the worker stops next step
    assert "cancelled" in document()["error"]
    assert search(client, owner, "salmon", mode="fulltext") == []  # its chunks are gone


def test_search_by_time(client, owner, hub):
    from datetime import UTC, datetime, timedelta

    add(client, owner, title="Rivers", text=RIVERS)
    hub.jobs.wait_idle(60)
    now = datetime.now(UTC)
    since = (now - timedelta(minutes=5)).isoformat()
    until = (now - timedelta(minutes=1)).isoformat()
    assert search(client, owner, "salmon", since=since)
    assert search(client, owner, "salmon", until=until) == []
