"""Captures from the browser extension: pages, selections, notes; versions; no duplicates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from neurocache.store.tables import Edge
from tests.support.hub import assert_error, bearer, make_key

PAGE = (
    "<html><head><title>Tea</title></head><body><nav><a href='/'>Home</a></nav>"
    "<article><p>Green tea is "
    "steamed or pan-fired soon after picking, which keeps its leaves from oxidising."
    "</p></article></body></html>"
)


@pytest.fixture
def extension(hub):
    """The extension's key: write + chat, as its pairing gives it."""
    return {**bearer(make_key(hub, "write", "chat", "read")), "Origin": "chrome-extension://abc"}


def capture(client, headers, **body):
    response = client.post("/api/v1/captures", json=body, headers=headers)
    assert response.status_code == 202, response.json
    return response.json


def test_a_page_is_captured_with_its_original_and_found(client, extension, hub):
    accepted = capture(
        client,
        extension,
        url="https://tea.example/green",
        title="Tea",
        html=PAGE,
        tags=["tea"],
        captured_at="2026-11-20T10:00:00Z",
    )
    assert accepted["duplicate"] is False and accepted["document"]["source"] == "capture"
    hub.jobs.wait_idle(60)
    hits = client.post(
        "/api/v1/search", json={"query": "oxidising leaves", "mode": "fulltext"}, headers=extension
    ).json["results"]
    assert hits[0]["document"]["url"] == "https://tea.example/green"
    assert "Home" not in hits[0]["text"]
    blobs = list((hub.settings.data_dir / "blobs").iterdir())
    assert len(blobs) == 1 and blobs[0].read_text() == PAGE


def test_the_same_content_twice_creates_nothing_new(client, extension, hub):
    first = capture(client, extension, url="https://tea.example/green", html=PAGE)
    again = capture(client, extension, url="https://tea.example/green", html=PAGE)
    assert again["duplicate"] is True
    assert again["document"]["id"] == first["document"]["id"]
    assert again["job"]["id"] == first["job"]["id"]


def test_new_content_is_a_new_version(client, extension, hub):
    first = capture(client, extension, url="https://tea.example/green", html=PAGE)
    changed = PAGE.replace("Green tea", "Sencha, a green tea,")
    second = capture(client, extension, url="https://tea.example/green", html=changed)
    assert second["duplicate"] is False and second["document"]["id"] != first["document"]["id"]
    with hub.db.session() as session:
        edge = session.scalar(select(Edge).where(Edge.relation == "version_of"))
    assert (edge.source_id, edge.target_id) == (second["document"]["id"], first["document"]["id"])


def test_selections_and_notes(client, extension, hub):
    selection = capture(
        client,
        extension,
        url="https://a.example/x",
        title="X",
        html=PAGE,
        selection="picked and steamed within hours",
        note="remember for the tea essay",
    )
    note = capture(client, extension, url="https://a.example/y", note="call the tea shop")
    hub.jobs.wait_idle(60)
    hits = client.post(
        "/api/v1/search", json={"query": "essay", "mode": "fulltext"}, headers=extension
    ).json["results"]
    assert hits[0]["text"].startswith("remember for the tea essay")
    assert "steamed within hours" in hits[0]["text"] and "oxidising" not in hits[0]["text"]
    assert note["document"]["title"] == "https://a.example/y"
    assert selection["document"]["status"] == "queued"


def test_bad_captures_are_refused(client, extension, hub):
    assert_error(client.post("/api/v1/captures", json={"url": "https://x"}, headers=extension), 422)
    assert_error(
        client.post("/api/v1/captures", json={"title": "no url", "text": "x"}, headers=extension),
        422,
    )
    assert_error(
        client.post(
            "/api/v1/captures",
            json={"url": "https://x", "text": "x", "captured_at": "yesterday"},
            headers=extension,
        ),
        422,
    )
    reader = {**bearer(make_key(hub, "read")), "Origin": "chrome-extension://abc"}
    assert_error(
        client.post("/api/v1/captures", json={"url": "https://x", "text": "x"}, headers=reader), 403
    )
