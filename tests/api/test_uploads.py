"""Uploading files: every format the hub reads, and the ones it refuses, in batches."""

from __future__ import annotations

import io

import pytest

from tests.support.documents import make_docx, make_pdf
from tests.support.hub import assert_error

PAGES = [
    "Glaciers carve valleys slowly over thousands of years.",
    "Deserts receive less than 250 millimetres of rain a year.",
]


def upload(client, owner, *files, **form):
    data = {"file": [(io.BytesIO(content), name) for name, content in files], **form}
    return client.post(
        "/api/v1/documents", data=data, headers=owner, content_type="multipart/form-data"
    )


def search(client, owner, query, **options):
    return client.post("/api/v1/search", json={"query": query, **options}, headers=owner).json[
        "results"
    ]


def test_a_pdf_keeps_its_page_numbers_and_is_titled_by_its_file_name(client, owner, hub):
    # its own title is a tool's: the file name is what the person knows it by
    response = upload(client, owner, ("earth.pdf", make_pdf(PAGES, title="Microsoft Word - x")))
    assert response.status_code == 202, response.json
    document = response.json["document"]
    assert (document["title"], document["mime"], document["path"]) == (
        "earth.pdf",
        "application/pdf",
        "earth.pdf",
    )
    hub.jobs.wait_idle(60)
    [hit] = search(client, owner, "rainfall in deserts", mode="hybrid", k=1)
    assert hit["document"]["page"] in (1, 2)
    [exact] = search(client, owner, "Deserts millimetres", mode="fulltext", k=1)
    assert exact["document"]["page"] == 2 and exact["document"]["title"] == "earth.pdf"


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("notes.txt", b"Plain notes about tea ceremonies in Kyoto.", "Kyoto"),
        ("readme.md", b"# Setup\n\nInstall the **hub** and run it.\n", "Install"),
        (
            "page.html",
            b"<html><title>T</title><body><article><p>Espresso needs fine "
            b"grounds and nine bars of pressure to brew well.</p></article></body>"
            b"</html>",
            "Espresso",
        ),
        ("data.json", b'{"city": "Lisbon", "trams": 28}', "Lisbon"),
        ("table.csv", b"city,river\nBudapest,Danube\nVienna,Danube\n", "Budapest"),
        (
            "code.py",
            b"def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n",
            "fibonacci",
        ),
        (
            "essay.docx",
            make_docx(["Bees communicate by dancing.", "Hives hold thousands."]),
            "dancing",
        ),
        ("latin1.txt", "Café au lait à Montréal".encode("latin-1"), "Montréal"),
    ],
)
def test_each_format_is_read_and_found(client, owner, hub, name, content, needle):
    assert upload(client, owner, (name, content)).status_code == 202
    hub.jobs.wait_idle(60)
    hits = search(client, owner, needle, mode="fulltext")
    assert hits and needle in hits[0]["text"], (name, hits)


def test_a_batch_takes_in_what_it_can_and_says_what_it_cannot(client, owner, hub):
    response = upload(
        client,
        owner,
        ("good.txt", b"Saffron is the most expensive spice."),
        ("movie.mp4", b"\x00\x00\x00\x18ftypmp42"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf"),
        ("binary.txt", b"\x00\x01\x02binary"),
        ("also-good.md", b"Vanilla comes from orchids."),
    )
    assert response.status_code == 202
    items = {item["file"]: item for item in response.json["items"]}
    assert "document" in items["good.txt"] and "document" in items["also-good.md"]
    assert items["movie.mp4"]["error"]["status"] == 415
    assert items["broken.pdf"]["error"]["status"] == 422
    assert items["binary.txt"]["error"]["status"] == 422
    hub.jobs.wait_idle(60)
    assert search(client, owner, "saffron", mode="fulltext")
    assert search(client, owner, "orchids", mode="fulltext")


def test_when_nothing_goes_in_the_request_fails_with_each_reason(client, owner):
    response = upload(client, owner, ("movie.mp4", b"\x00"), ("song.mp3", b"\x00"))
    error = assert_error(response, 415, "unsupported_media_type")
    assert [f["file"] for f in error["details"]["files"]] == ["movie.mp4", "song.mp3"]
    assert_error(upload(client, owner, ("broken.pdf", b"%PDF nope")), 422)
    assert_error(
        client.post(
            "/api/v1/documents",
            data={"collection": "x"},
            headers=owner,
            content_type="multipart/form-data",
        ),
        422,
    )
    assert_error(upload(client, owner, ("a.txt", b"x"), collection="nope"), 404)


def test_uploads_go_into_a_collection(client, owner, hub):
    client.post("/api/v1/collections", json={"name": "recipes"}, headers=owner)
    upload(
        client,
        owner,
        ("bread.txt", b"Sourdough needs a starter and patience."),
        collection="recipes",
    )
    upload(client, owner, ("other.txt", b"Sourdough is also a city nickname."))
    hub.jobs.wait_idle(60)
    hits = search(client, owner, "sourdough", collections=["recipes"])
    assert [h["document"]["path"] for h in hits] == ["bread.txt"]


def test_the_openapi_document_describes_the_upload(client):
    doc = client.get("/api/v1/openapi.json").json
    content = doc["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
