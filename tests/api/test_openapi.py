"""The OpenAPI document is generated from the models that validate requests."""

from __future__ import annotations

from openapi_spec_validator import validate

from neurocache.web.keys import NewKey


def test_document_is_valid_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_every_api_route_is_documented(app, client):
    doc = client.get("/api/v1/openapi.json").json
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = doc["paths"][path][method.lower()]
            assert operation["summary"], f"{method} {path} has no summary"


def test_request_schema_is_the_validating_model(client):
    doc = client.get("/api/v1/openapi.json").json
    body = doc["paths"]["/api/v1/keys"]["post"]["requestBody"]["content"]["application/json"]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = doc["components"]["schemas"][name]
    expected = NewKey.model_json_schema()
    assert schema["required"] == expected["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(expected["properties"])


def test_scopes_errors_and_auth_are_described(client):
    doc = client.get("/api/v1/openapi.json").json
    keys = doc["paths"]["/api/v1/keys"]["get"]
    assert keys["x-scope"] == "admin"
    assert {"401", "403", "422"} <= set(keys["responses"])
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    assert [p["name"] for p in keys["parameters"]] == ["limit", "cursor"]
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


def test_human_page_lists_every_path_and_escapes_what_it_shows(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    doc = client.get("/api/v1/openapi.json").json
    for path in doc["paths"]:
        assert path in html
    assert "<script" not in html  # a static page: nothing runs
