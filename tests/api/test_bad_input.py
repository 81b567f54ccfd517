"""Bad input that once reached a 500 (found by fuzzing): each is now a 4xx with the one
error body, decided at the boundary."""

from __future__ import annotations

import pytest
import requests

from neurocache.settings import Settings
from tests.support.hub import assert_error, bearer, make_key, start_live_hub


@pytest.mark.parametrize("key", ["", "[0]", '"', "a..b", "$.x", "a b", "x" * 65])
def test_a_search_filter_key_that_names_no_field_is_422(client, owner, key):
    response = client.post(
        "/api/v1/search", json={"query": "x", "filters": {key: "v"}}, headers=owner
    )
    assert_error(response, 422, "validation_error")


def test_a_nested_metadata_filter_matches_the_field_inside(client, owner, hub):
    client.post(
        "/api/v1/memories",
        headers=owner,
        json={
            "kind": "note",
            "content": "The heron nests by the weir.",
            "metadata": {"source": {"app": "field-notes"}, "mood-tag": "calm"},
        },
    )
    found = client.post(
        "/api/v1/search",
        headers=owner,
        json={
            "query": "heron",
            "mode": "fulltext",
            "filters": {"source.app": "field-notes", "mood-tag": "calm"},
        },
    ).json["results"]
    assert [r["text"] for r in found] == ["The heron nests by the weir."]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_times_out_of_range_once_in_utc_are_422(client, owner, admin_headers, moment):
    assert_error(
        client.post("/api/v1/search", json={"query": "x", "since": moment}, headers=owner),
        422,
        "validation_error",
    )
    assert_error(
        client.post("/api/v1/search", json={"query": "x", "until": moment}, headers=owner), 422
    )
    quoted = requests.utils.quote(moment)
    assert_error(client.get(f"/api/v1/audit?since={quoted}", headers=admin_headers), 422)
    assert_error(client.get(f"/api/v1/usage?start={quoted}", headers=admin_headers), 422)
    assert_error(client.get(f"/api/v1/usage?end={quoted}", headers=admin_headers), 422)


def test_a_number_is_not_a_time(client, admin_headers):
    for query in ("since=0.5", "until=1e9"):
        assert_error(client.get(f"/api/v1/audit?{query}", headers=admin_headers), 422)


def test_numbers_past_their_bounds_are_422(client, owner, hub):
    agent = client.post("/api/v1/agents", json={"name": "Scout"}, headers=owner).json
    assert_error(
        client.post(
            f"/api/v1/agents/{agent['id']}/consolidate",
            json={"older_than_s": 1.5e11},
            headers=owner,
        ),
        422,
    )
    channel = client.post("/api/v1/channels", json={"name": "general"}, headers=owner).json
    for query in ("before=99999999999999999999999", "after=-1"):
        assert_error(
            client.get(f"/api/v1/channels/{channel['id']}/messages?{query}", headers=owner), 422
        )


def test_every_number_the_api_takes_is_bounded(client):
    """Structural: no integer or number in a request body or query lacks a bound."""
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    unbounded: list[str] = []

    def walk(schema: dict, where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where}<{name}>", seen | {name})
            return
        if schema.get("type") in ("integer", "number"):
            low = {"minimum", "exclusiveMinimum"} & set(schema)
            high = {"maximum", "exclusiveMaximum"} & set(schema)
            if not (low and high):
                unbounded.append(where)
        for part in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(part, []):
                walk(sub, where, seen)
        for name, sub in (schema.get("properties") or {}).items():
            walk(sub, f"{where}.{name}", seen)
        for part in ("items", "additionalProperties"):
            if isinstance(schema.get(part), dict):
                walk(schema[part], f"{where}[]", seen)

    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method} {path} ?{parameter['name']}", frozenset())
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                walk(body["schema"], f"{method} {path}", frozenset())
    assert unbounded == []


def test_a_nul_byte_in_a_path_is_422(client, owner):
    assert_error(
        client.post("/api/v1/models", json={"path": "/tmp/a\u0000.gguf"}, headers=owner),
        422,
        "validation_error",
    )
    assert_error(
        client.post("/api/v1/folders", json={"path": "/tmp/notes\u0000"}, headers=owner),
        422,
        "validation_error",
    )


def test_a_path_too_long_to_look_up_is_422(client, owner):
    long = "/tmp/" + "x" * 4000
    assert_error(client.post("/api/v1/models", json={"path": long}, headers=owner), 422)
    assert_error(client.post("/api/v1/folders", json={"path": long}, headers=owner), 422)


def test_a_chunked_body_over_the_limit_is_413_not_cut_short(tmp_path):
    live = start_live_hub(Settings(data_dir=tmp_path, max_request_bytes=1000))
    try:
        headers = {**bearer(make_key(live.hub, "admin")), "Content-Type": "application/json"}

        def body(size: int):  # a generator: requests sends it chunked
            yield b'{"name": "'
            for _ in range(size // 100):
                yield b"x" * 100
            yield b'"}'

        response = requests.post(
            live.url + "/api/v1/keys", data=body(5000), headers=headers, timeout=10
        )
        error = assert_error(response, 413, "payload_too_large")
        assert "1000 bytes" in error["message"]
        small = requests.post(
            live.url + "/api/v1/keys", data=body(200), headers=headers, timeout=10
        )
        assert small.status_code == 201, small.text  # within the limit, chunked still works
        response = requests.post(
            live.url + "/v1/embeddings", data=body(5000), headers=headers, timeout=10
        )
        assert response.status_code == 413  # in OpenAI's shape under /v1
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    finally:
        live.server.stop()


def test_the_document_lists_every_error_an_operation_answers(client):
    doc = client.get("/api/v1/openapi.json").json
    channel_post = doc["paths"]["/api/v1/channels"]["post"]["responses"]
    assert {"400", "401", "403", "404", "405", "409", "413", "422", "429", "500"} <= set(
        channel_post
    )
    completions = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"502", "503"} <= set(completions)
    assert completions["400"]["$ref"].endswith("/OpenAIError400")
    assert channel_post["409"]["$ref"].endswith("/Error409")
    openai_error = doc["components"]["schemas"]["OpenAIError"]["properties"]["error"]
    assert openai_error["required"] == ["message", "type", "param", "code"]


def test_a_query_parameter_given_twice_is_refused_not_cut_to_its_first(client, owner):
    """Found by the fuzzing: `?target_id=a&target_id=b` answered as if only `a` was asked."""
    answer = client.get("/api/v1/audit?target_id=a&target_id=b", headers=owner)
    error = assert_error(answer, 422, "validation_error")
    assert error["details"] == {"fields": ["target_id"]}
    assert client.get("/api/v1/audit?target_id=a", headers=owner).status_code == 200
