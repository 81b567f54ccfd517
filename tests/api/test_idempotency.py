"""Nothing stored twice: an Idempotency-Key makes a retried request answer as the first
time, and a file uploaded again is unchanged (nothing made) or replaces its old version."""

from __future__ import annotations

import io
import threading

from tests.support.hub import assert_error, bearer, make_key


def documents(client, owner) -> list[dict]:
    return client.get("/api/v1/documents", headers=owner).json["documents"]


def post(client, headers, key, **body):
    return client.post("/api/v1/documents", json=body, headers={**headers, "Idempotency-Key": key})


def test_a_retry_with_the_same_key_answers_as_the_first_time(client, owner):
    first = post(client, owner, "retry-1", title="Rivers", text="The Danube flows east.")
    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers
    again = post(client, owner, "retry-1", title="Rivers", text="The Danube flows east.")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["document"]["id"] == first.json["document"]["id"]
    assert again.json["job"]["id"] == first.json["job"]["id"]
    assert len(documents(client, owner)) == 1


def test_a_key_sent_again_with_other_content_is_refused(client, owner):
    post(client, owner, "retry-2", title="Rivers", text="The Danube flows east.")
    response = post(client, owner, "retry-2", title="Rivers", text="Something else.")
    assert_error(response, 422, "idempotency_key_reused")
    assert len(documents(client, owner)) == 1


def test_keys_are_each_callers_own(client, owner, hub):
    other = bearer(make_key(hub, "write", "read", name="other"))
    first = post(client, owner, "same-key", title="A", text="The Danube flows east.")
    second = post(client, other, "same-key", title="A", text="The Danube flows east.")
    assert first.json["document"]["id"] != second.json["document"]["id"]


def test_a_bad_key_is_refused(client, owner):
    assert_error(post(client, owner, "x" * 256, title="A", text="a"), 422)
    assert_error(post(client, owner, "tab\there", title="A", text="a"), 422)


def test_concurrent_retries_store_one_document(app, owner):
    answers: list[str] = []

    def send() -> None:
        response = post(app.test_client(), owner, "burst", title="Burst", text="One burst.")
        answers.append(response.json["document"]["id"])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len(set(answers)) == 1
    assert len(documents(app.test_client(), owner)) == 1


def test_a_capture_retried_with_its_key_is_the_first_capture(client, owner):
    body = {"url": "https://example.org/a", "title": "A", "text": "A page about herons."}
    headers = {**owner, "Idempotency-Key": "capture-1"}
    first = client.post("/api/v1/captures", json=body, headers=headers)
    again = client.post("/api/v1/captures", json=body, headers=headers)
    assert again.json["document"]["id"] == first.json["document"]["id"]
    assert again.json["duplicate"] is False and again.headers["Idempotent-Replayed"] == "true"


def upload(client, owner, name, content, **form):
    return client.post(
        "/api/v1/documents",
        headers=owner,
        content_type="multipart/form-data",
        data={"file": [(io.BytesIO(content), name)], **form},
    )


def test_the_same_file_uploaded_again_is_unchanged_and_a_new_version_replaces_the_old(
    client, owner, hub
):
    client.post("/api/v1/collections", json={"name": "notes"}, headers=owner)
    first = upload(client, owner, "rivers.md", b"The Danube flows east.", collection="notes")
    assert first.json["outcome"] == "created"
    hub.jobs.wait_idle(60)
    same = upload(client, owner, "rivers.md", b"The Danube flows east.", collection="notes")
    assert same.json["outcome"] == "unchanged"
    assert same.json["document"]["id"] == first.json["document"]["id"]
    elsewhere = upload(client, owner, "rivers.md", b"The Danube flows east.")
    assert elsewhere.json["outcome"] == "created"  # another collection: another document
    changed = upload(client, owner, "rivers.md", b"The Rhine flows north.", collection="notes")
    assert changed.json["outcome"] == "replaced"
    assert changed.json["replaces"] == first.json["document"]["id"]
    hub.jobs.wait_idle(60)
    in_notes = client.get("/api/v1/documents?collection=notes", headers=owner).json
    assert [d["id"] for d in in_notes["documents"]] == [changed.json["document"]["id"]]
    assert_error(
        client.get(f"/api/v1/documents/{first.json['document']['id']}", headers=owner), 404
    )
