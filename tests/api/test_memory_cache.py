"""Memory Cache compatibility (`memory_cache_compat`): the 21 endpoints its browser client
calls, each checked against the shapes read from its source (field names and types), in
its error convention where its hub used one, behind the hub's own credentials; the flow
create project → add a folder → ingest → query → ask; and another static client at `/`.
Downloads reach only a loopback file server."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from neurocache.app import create_app, hub_of
from neurocache.errors import Unavailable
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.web.openapi import openapi_path
from tests.support.catalog import catalog_file
from tests.support.file_server import FileServer
from tests.support.hub import assert_error, bearer, make_key
from tests.support.waiting import wait_for

# (method, path, query or JSON body) of each endpoint the client calls.
ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/list_projects", {}),
    ("POST", "/api/v1/create_project", {"project_name": "P"}),
    ("POST", "/api/v1/update_project", {"project_id": 1, "project_name": "Q"}),
    ("DELETE", "/api/v1/delete_project", {"project_id": 1}),
    ("POST", "/api/v1/create_project_directory", {"project_id": 1, "path": "/tmp"}),
    ("GET", "/api/v1/list_project_directories", {"project_id": 1}),
    ("DELETE", "/api/v1/delete_project_directory", {"directory_id": 1}),
    ("GET", "/api/v1/list_project_files/1", {}),
    ("POST", "/api/v1/sync_project_files", {"project_id": 1}),
    ("POST", "/api/v1/check_ingestion_status", {"project_id": 1}),
    ("POST", "/api/v1/ingest_project_files", {"project_id": 1}),
    ("POST", "/api/v1/vector_db_query", {"json": {"project_id": 1, "prompt": "x"}}),
    ("POST", "/api/v1/rag_ask", {"json": {"project_id": 1, "prompt": "x"}}),
    ("POST", "/api/v1/check_waiting_for_chat_status", {"project_id": 1}),
    ("GET", "/api/v1/list_llamafiles", {}),
    ("POST", "/api/v1/download_llamafile_by_name", {"llamafile_filename": "x"}),
    ("POST", "/api/v1/check_llamafile_status", {"llamafile_filename": "x"}),
    ("POST", "/api/v1/start_llamafile", {"llamafile_filename": "x"}),
    ("POST", "/api/v1/stop_llamafile", {"llamafile_filename": "x"}),
    ("DELETE", "/api/v1/delete_llamafile", {"llamafile_filename": "x"}),
    ("GET", "/api/v1/running_llamafile_info", {}),
]
# The scope each needs, as its native equivalent does.
SCOPES = {
    "list_projects": "read",
    "create_project": "write",
    "update_project": "write",
    "delete_project": "write",
    "create_project_directory": "admin",
    "list_project_directories": "read",
    "delete_project_directory": "admin",
    "list_project_files": "read",
    "sync_project_files": "write",
    "check_ingestion_status": "read",
    "ingest_project_files": "write",
    "vector_db_query": "read",
    "rag_ask": "chat",
    "check_waiting_for_chat_status": "read",
    "list_llamafiles": "read",
    "download_llamafile_by_name": "admin",
    "check_llamafile_status": "read",
    "start_llamafile": "admin",
    "stop_llamafile": "admin",
    "delete_llamafile": "admin",
    "running_llamafile_info": "read",
}
LLAMAFILE_STATES = {"running", "downloading", "idle", "absent", "error"}
MODEL_BYTES = b"GGUF" + bytes(300_000)  # a download's bytes (never started as a model)


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, file_server: FileServer) -> Settings:
    """The conftest's (SQLite, or PostgreSQL with TEST_STORE), with the compat API on and
    a catalog whose chat model downloads from the loopback file server."""
    url = file_server.serve("/tiny-dl.gguf", MODEL_BYTES, rate_bytes_per_s=300_000)
    catalog = catalog_file(
        tmp_path / "catalog.json",
        {
            "id": "tiny-dl",
            "name": "Tiny download",
            "url": url,
            "size": len(MODEL_BYTES),
            "sha256": hashlib.sha256(MODEL_BYTES).hexdigest(),
            "license_url": "https://example.invalid/license",
        },
        {"id": "nowhere", "name": "Nowhere", "url": "http://127.0.0.1:9/n.gguf", "size": 10},
        {"id": "embed", "name": "E", "role": "embedding", "url": "http://127.0.0.1:9/e.gguf"},
    )
    return Settings(
        **{
            **settings.model_dump(exclude_unset=True),
            "memory_cache_compat": True,
            "catalog_path": catalog,
            "download_retries": 0,
            "watch_interval_s": 3600,  # scans happen when the tests ask for them
            "chat_max_reply_tokens": 16,
            "model_health_interval_s": 0.2,
        }
    )


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str], /, **params: Any):
    body = params.pop("json", None)
    return client.open(path, method=method, query_string=params, json=body, headers=headers)


class Api:
    """The compat endpoints by name, as the owner calls them."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def __call__(self, method: str, name: str, /, **params: Any):
        return call(self.client, method, f"/api/v1/{name}", self.headers, **params)


@pytest.fixture
def mc(client: FlaskClient, owner: dict[str, str]) -> Api:
    return Api(client, owner)


def ok(response) -> Any:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def their_error(response, message: str | None = None) -> str:
    """Memory Cache's convention: HTTP 200, `{"status": "error", "message"}`."""
    body = ok(response)
    assert body["status"] == "error" and isinstance(body["message"], str), body
    if message is not None:
        assert message in body["message"], body
    return body["message"]


def is_project(value: Any) -> None:
    assert set(value) == {"id", "name", "is_removed"}
    assert type(value["id"]) is int and isinstance(value["name"], str)
    assert type(value["is_removed"]) is bool


def is_directory(value: Any) -> None:
    assert set(value) == {"id", "path", "project_id", "is_removed"}
    assert type(value["id"]) is int and type(value["project_id"]) is int
    assert isinstance(value["path"], str) and type(value["is_removed"]) is bool


def is_llamafile_info(value: Any) -> None:
    assert set(value) == {"model", "size", "license", "license_url", "filename", "url"}
    assert all(isinstance(v, str) for v in value.values()), value


def is_llamafile_status(value: Any) -> None:
    assert {"status", "message", "progress"} <= set(value)
    assert set(value) <= {"status", "message", "progress", "content_length", "written"}
    assert value["status"] in LLAMAFILE_STATES and isinstance(value["message"], str)
    assert type(value["progress"]) is int and 0 <= value["progress"] <= 100


def create(mc: Api, name: str) -> dict[str, Any]:
    body = ok(mc("POST", "create_project", project_name=name))
    assert set(body) == {"projects"} and len(body["projects"]) == 1
    is_project(body["projects"][0])
    return body["projects"][0]


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "deep").mkdir(parents=True)
    (root / "rivers.md").write_text("# Rivers\n\nThe Danube flows through Budapest.\n")
    (root / "deep" / "alps.txt").write_text("The Matterhorn stands above Zermatt.\n")
    return root


# ---- off by default, and the hub's own rules for who may call
def test_off_by_default_every_endpoint_is_404(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "off"), testing=True)
    try:
        client, owner = app.test_client(), bearer(hub_of(app).owner_token.value)
        for method, path, params in ENDPOINTS:
            assert_error(call(client, method, path, owner, **params), 404, "not_found")
        assert "/api/v1/list_projects" not in client.get("/api/v1/openapi.json").json["paths"]
    finally:
        hub_of(app).close()


def test_every_endpoint_refuses_callers_in_the_hubs_shape(client, hub):
    readers = bearer(make_key(hub, "read"))
    for method, path, params in ENDPOINTS:
        assert_error(call(client, method, path, {}, **params), 401, "unauthorized")
        name = path.split("/")[3]
        if SCOPES[name] != "read":
            error = assert_error(call(client, method, path, readers, **params), 403, "forbidden")
            assert error["details"] == {"required_scope": SCOPES[name]}
        foreign = {**readers, "Origin": "http://localhost:1234"}
        assert_error(call(client, method, path, foreign, **params), 403, "forbidden_origin")


def test_the_browser_session_is_enough_on_the_hubs_own_origin(owner_client):
    assert ok(owner_client.get("/api/v1/list_projects")) == {"projects": []}
    foreign = owner_client.get("/api/v1/list_projects", headers={"Origin": "http://evil.test"})
    assert_error(foreign, 403, "forbidden_origin")


def test_a_malformed_parameter_is_the_hubs_422(mc):
    for params in ({}, {"project_id": "three"}, {"project_id": -1}):
        response = mc("GET", "list_project_directories", **params)
        assert_error(response, 422, "validation_error")
    assert_error(mc("GET", "list_project_files/x"), 422)
    bad_body = {"json": {"project_id": "1", "prompt": "x"}}
    assert_error(mc("POST", "vector_db_query", **bad_body), 422)


# ---- projects
def test_projects_are_collections_with_integer_ids_never_reused(mc, hub):
    first = create(mc, "Super Squid")
    assert first["name"] == "Super Squid" and first["is_removed"] is False
    second = create(mc, "Super Squid")  # a name taken: numbered, not refused
    assert second["name"] == "Super Squid (2)" and second["id"] > first["id"]
    assert create(mc, "")["name"] == "New Project"
    listed = ok(mc("GET", "list_projects"))
    assert set(listed) == {"projects"}
    for project in listed["projects"]:
        is_project(project)
    assert {p["name"] for p in listed["projects"]} == {
        c.name for c in hub.knowledge.list_collections()
    }

    renamed = ok(mc("POST", "update_project", project_id=first["id"], project_name="Octopus"))
    is_project(renamed)
    assert renamed == {"id": first["id"], "name": "Octopus", "is_removed": False}

    latest = create(mc, "Last")
    gone = mc("DELETE", "delete_project", project_id=latest["id"])
    assert ok(gone) == {"status": "ok"}
    assert "Last" not in {c.name for c in hub.knowledge.list_collections()}
    again = create(mc, "Last")  # the newest id was deleted: still not reused
    assert again["id"] > latest["id"]
    their_error(mc("DELETE", "delete_project", project_id=latest["id"]), "Project not found")


def test_a_collection_made_elsewhere_is_a_project_with_a_stable_id(mc, hub):
    hub.knowledge.create_collection("notes", "", Actor("test"))
    ids = [ok(mc("GET", "list_projects"))["projects"][0]["id"] for _ in range(2)]
    assert ids[0] == ids[1] and type(ids[0]) is int


def test_an_unknown_project_is_an_error_in_their_convention(client, owner):
    for method, path, params in ENDPOINTS:
        if "project_id" in params or "project_id" in params.get("json", {}):
            params = {**params}
            if "json" in params:
                params["json"] = {**params["json"], "project_id": 999}
            else:
                params["project_id"] = 999
        elif not path.endswith("/1"):
            continue
        response = call(client, method, path.replace("/1", "/999"), owner, **params)
        if path.endswith("rag_ask"):
            assert ok(response) == {
                "status": "error",
                "message": "Project not found",
                "response": None,
            }
        elif path.endswith("delete_project_directory"):
            their_error(response, "Directory not found")
        else:
            their_error(response, "Project not found")


# ---- directories and files
def test_directories_are_watched_folders_and_files_their_documents(mc, hub, notes):
    project = create(mc, "Notes")
    pid = project["id"]
    added = ok(mc("POST", "create_project_directory", project_id=pid, path=str(notes)))
    is_directory(added)
    assert added["path"] == str(notes.resolve()) and added["project_id"] == pid
    assert [f.path for f in hub.folders.list()] == [str(notes.resolve())]

    listed = ok(mc("GET", "list_project_directories", project_id=pid))
    assert listed == [added]
    assert ok(mc("POST", "sync_project_files", project_id=pid)) == {"status": "ok"}
    files = ok(mc("GET", f"list_project_files/{pid}"))
    assert all(isinstance(f, str) and f.startswith("Notes/uploads/__") for f in files)
    # what the client shows: everything after the first `__`, joined with `/`
    shown = sorted("/".join(f.split("__")[1:]) for f in files)
    root = str(notes.resolve()).strip("/")
    assert shown == [f"{root}/deep/alps.txt", f"{root}/rivers.md"]

    their_error(
        mc("POST", "create_project_directory", project_id=pid, path=""),
        "Path cannot be empty",
    )
    their_error(
        mc("POST", "create_project_directory", project_id=pid, path=str(notes)),
        "watched already",
    )
    their_error(
        mc("POST", "create_project_directory", project_id=pid, path=str(notes / "nowhere")),
        "not a folder",
    )

    removed = mc("DELETE", "delete_project_directory", directory_id=added["id"])
    assert ok(removed) == {**added, "is_removed": True}
    assert ok(mc("GET", f"list_project_files/{pid}")) == []
    assert ok(mc("GET", "list_project_directories", project_id=pid)) == []
    back = ok(mc("POST", "create_project_directory", project_id=pid, path=str(notes)))
    assert back["id"] > added["id"]  # a directory's id is never reused either


def test_a_directory_gone_from_the_disk_is_named_by_sync(mc, tmp_path):
    pid = create(mc, "Gone")["id"]
    folder = tmp_path / "soon-gone"
    folder.mkdir()
    mc("POST", "create_project_directory", project_id=pid, path=str(folder))
    folder.rmdir()
    their_error(
        mc("POST", "sync_project_files", project_id=pid),
        f"Source directory {folder.resolve()} does not exist",
    )


def test_only_the_owner_adds_directories_refused_in_the_hubs_shape(mc, client, hub, notes):
    pid = create(mc, "Keyed")["id"]
    admin = bearer(make_key(hub, "admin"))
    response = call(
        client, "POST", "/api/v1/create_project_directory", admin, project_id=pid, path=str(notes)
    )
    assert_error(response, 403, "forbidden")


def test_deleting_a_project_unwatches_its_folders_and_deletes_its_documents(mc, hub, notes):
    pid = create(mc, "Short lived")["id"]
    mc("POST", "create_project_directory", project_id=pid, path=str(notes))
    mc("POST", "ingest_project_files", project_id=pid)
    assert ok(mc("DELETE", "delete_project", project_id=pid)) == {"status": "ok"}
    assert hub.folders.list() == []
    assert hub.knowledge.list_documents()[0] == []


def test_deleting_a_project_that_watches_folders_needs_admin(mc, client, hub, notes):
    pid = create(mc, "Watched")["id"]
    mc("POST", "create_project_directory", project_id=pid, path=str(notes))
    writer = bearer(make_key(hub, "read", "write"))
    refused = call(client, "DELETE", "/api/v1/delete_project", writer, project_id=pid)
    assert assert_error(refused, 403, "forbidden")["details"] == {"required_scope": "admin"}
    assert len(hub.folders.list()) == 1  # nothing was undone
    admin = bearer(make_key(hub, "read", "write", "admin"))
    done = call(client, "DELETE", "/api/v1/delete_project", admin, project_id=pid)
    assert ok(done) == {"status": "ok"} and hub.folders.list() == []


# ---- the flow: create project → add folder → ingest → query → ask
def test_create_add_ingest_query_and_ask(mc, hub, notes, tiny_chat_model, monkeypatch):
    pid = create(mc, "Flow")["id"]
    mc("POST", "create_project_directory", project_id=pid, path=str(notes))
    ingested = ok(mc("POST", "ingest_project_files", project_id=pid))
    assert set(ingested) == {"num_files", "num_fragments"} and ingested["num_files"] == 2
    assert all(type(v) is int for v in ingested.values())

    def status() -> dict[str, Any]:
        body = ok(mc("POST", "check_ingestion_status", project_id=pid))
        assert set(body) == {"status", "isIngesting", "message"} and body["status"] == "ok"
        assert type(body["isIngesting"]) is bool and isinstance(body["message"], str)
        return body

    assert wait_for(lambda: not status()["isIngesting"], timeout=120)
    assert status()["message"] == "All 2 files are ingested"

    query = {"json": {"project_id": pid, "prompt": "Which river flows through Budapest?"}}
    hits = ok(mc("POST", "vector_db_query", **query))
    assert hits and len(hits) <= 10
    for hit in hits:
        assert set(hit) == {"file_path", "file_content", "distance"}
        assert isinstance(hit["file_path"], str) and isinstance(hit["file_content"], str)
        assert isinstance(hit["distance"], float) and 0 <= hit["distance"] <= 4
    assert "Danube" in hits[0]["file_content"] and hits[0]["file_path"].endswith("__rivers.md")
    assert [h["distance"] for h in hits] == sorted(h["distance"] for h in hits)
    empty = {"json": {"project_id": pid, "prompt": ""}}
    assert ok(mc("POST", "vector_db_query", **empty)) == []

    no_model = ok(mc("POST", "rag_ask", **query))
    assert no_model["status"] == "error" and no_model["response"] is None
    assert "no chat model is running" in no_model["message"]
    assert ok(mc("GET", "running_llamafile_info")) is None

    model_id = hub.models.register_local(str(tiny_chat_model), Actor("test")).id
    started = mc("POST", "start_llamafile", llamafile_filename=model_id)
    assert ok(started) == {"status": "success", "message": "Llamafile started"}
    running = lambda: ok(mc("GET", "running_llamafile_info"))  # noqa: E731
    assert wait_for(lambda: running() is not None, timeout=60)
    is_llamafile_info(running())
    assert running()["filename"] == model_id

    prompts: list[str] = []
    real_complete = hub.completions.complete

    def complete(prepared):  # what went to the model: the project's passages
        prompts.append(prepared.body["messages"][0]["content"])
        return real_complete(prepared)

    monkeypatch.setattr(hub.completions, "complete", complete)
    asked = ok(mc("POST", "rag_ask", **query))
    assert set(asked) == {"status", "message", "response"}
    assert asked["status"] == "ok" and asked["message"] is None
    assert isinstance(asked["response"], str)  # random weights: random text
    assert "Danube" in prompts[0]

    stopped = mc("POST", "stop_llamafile", llamafile_filename=model_id)
    assert ok(stopped) == {"status": "success", "message": "Llamafile stopped"}


def test_waiting_for_chat_while_an_answer_is_written(mc, app, owner, hub, monkeypatch):
    pid = create(mc, "Patient")["id"]
    release, entered = threading.Event(), threading.Event()

    def slow_answer(_request, _model):
        entered.set()
        release.wait(10)
        raise Unavailable("the model went away")

    monkeypatch.setattr(hub.completions, "prepare", slow_answer)

    def waiting() -> bool:
        body = ok(mc("POST", "check_waiting_for_chat_status", project_id=pid))
        assert set(body) == {"status", "isWaiting", "message"} and body["status"] == "ok"
        assert isinstance(body["message"], str)
        return body["isWaiting"]

    assert waiting() is False
    answers: list[Any] = []
    asking = threading.Thread(
        target=lambda: answers.append(
            Api(app.test_client(), owner)(
                "POST", "rag_ask", json={"project_id": pid, "prompt": "hello?"}
            ).json
        )
    )
    asking.start()
    assert entered.wait(10) and waiting() is True
    release.set()
    asking.join(10)
    assert answers == [{"status": "error", "message": "the model went away", "response": None}]
    assert waiting() is False


# ---- llamafiles: the hub's chat models
def test_llamafiles_are_the_chat_models(mc, client, owner):
    listed = ok(mc("GET", "list_llamafiles"))
    for info in listed:
        is_llamafile_info(info)
    assert [i["filename"] for i in listed] == ["tiny-dl", "nowhere"]  # no embedder
    tiny = listed[0]
    assert tiny["model"] == "Tiny download" and tiny["size"] == "0.3 MB"
    assert (tiny["license"], tiny["license_url"]) == ("MIT", "https://example.invalid/license")

    status = ok(mc("POST", "check_llamafile_status", llamafile_filename="tiny-dl"))
    is_llamafile_status(status)
    assert (status["status"], status["progress"]) == ("absent", 0)
    for method, path, _params in ENDPOINTS:
        if "llamafile_filename" in _params:
            their_error(
                call(client, method, path, owner, llamafile_filename="embed"), "Llamafile not found"
            )
    their_error(mc("POST", "start_llamafile", llamafile_filename="tiny-dl"), "not installed")


def test_a_download_from_the_loopback_server_goes_from_absent_to_idle(mc, file_server):
    def status() -> dict[str, Any]:
        body = ok(mc("POST", "check_llamafile_status", llamafile_filename="tiny-dl"))
        is_llamafile_status(body)
        seen.append(body)
        return body

    seen: list[dict[str, Any]] = []
    started = mc("POST", "download_llamafile_by_name", llamafile_filename="tiny-dl")
    assert ok(started) == {"status": "success", "message": "Llamafile download started"}
    assert wait_for(lambda: status()["status"] == "idle", timeout=30)
    assert seen[-1]["progress"] == 100
    downloading = [s for s in seen if s["status"] == "downloading"]
    assert downloading, seen
    assert all(s["content_length"] == len(MODEL_BYTES) for s in downloading)
    assert all(type(s["written"]) is int for s in downloading)
    assert file_server.files["/tiny-dl.gguf"].requests  # only ever the loopback server

    their_error(
        mc("POST", "download_llamafile_by_name", llamafile_filename="tiny-dl"),
        "already installed",
    )
    deleted = mc("DELETE", "delete_llamafile", llamafile_filename="tiny-dl")
    assert ok(deleted) == {"status": "success", "message": "Llamafile deleted"}
    assert status()["status"] == "absent"


def test_a_failed_download_is_their_error_state(mc):
    mc("POST", "download_llamafile_by_name", llamafile_filename="nowhere")

    def status() -> dict[str, Any]:
        return ok(mc("POST", "check_llamafile_status", llamafile_filename="nowhere"))

    assert wait_for(lambda: status()["status"] == "error", timeout=30)
    is_llamafile_status(status())


# ---- the OpenAPI document, with the compat API on
def test_the_document_stays_valid_and_lists_every_compat_route(app, client):
    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("memory_cache.")]
    assert len(routes) == len(ENDPOINTS) == 21
    for rule in routes:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = doc["paths"][openapi_path(rule.rule)][method.lower()]
            assert operation["summary"].startswith("Memory Cache:")
            assert operation["x-scope"] == SCOPES[rule.endpoint.split(".")[1]]


# ---- another static client at `/`
@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    root.mkdir()
    (root / "index.html").write_text('<!doctype html><script src="/index.1a2b.js"></script>')
    (root / "index.1a2b.js").write_text("console.log('memory cache')")
    return root


@pytest.fixture
def other_app(tmp_path: Path, dist: Path):
    app = create_app(
        Settings(data_dir=tmp_path / "other", static_client_dir=dist, memory_cache_compat=True),
        testing=True,
    )
    yield app
    hub_of(app).close()


def test_another_client_at_the_root_signed_in_like_ours(other_app, dist):
    client, token = other_app.test_client(), hub_of(other_app).owner_token.value
    sign_in = client.get("/")
    assert sign_in.status_code == 200 and b'action="/signin"' in sign_in.data
    assert "script-src 'self'" in sign_in.headers["Content-Security-Policy"]
    assert client.get("/projects/3").data == sign_in.data  # its pages too, until signed in
    assert_error(client.get("/api/v1/list_projects"), 401)

    stale = client.get("/?token=nco_wrong")
    assert (stale.status_code, stale.location) == (303, "/?signin=stale")
    assert b"not this hub's login token" in client.get(stale.location).data
    signed = client.get(f"/?token={token}")
    assert (signed.status_code, signed.location) == (303, "/")
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    page = client.get("/")
    assert page.data == (dist / "index.html").read_bytes()
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for route in ("/dashboard", "/models", "/projects/3"):  # its router's paths
        assert client.get(route).data == page.data
    assert client.get("/index.1a2b.js").data == (dist / "index.1a2b.js").read_bytes()
    assert ok(client.get("/api/v1/list_projects")) == {"projects": []}
    assert b"/app/main.js" in client.get("/app/").data  # the hub's own client moved here


def test_the_other_client_never_shadows_the_hubs_paths(other_app):
    client = other_app.test_client()
    owner = bearer(hub_of(other_app).owner_token.value)
    assert_error(client.get("/missing.js"), 404)
    assert_error(client.get("/api/v1/nothing", headers=owner), 404)
    assert_error(client.post("/api/v1/nothing", headers=owner), 404)  # not a 405
    assert_error(client.get("/index.1a2b.js", headers={"Host": "evil.test"}), 403)


def test_the_sign_in_form_sets_the_same_cookie(other_app):
    client, token = other_app.test_client(), hub_of(other_app).owner_token.value
    refused = client.post("/signin", data={"token": "nco_wrong"})
    assert (refused.status_code, refused.location) == (303, "/?signin=stale")
    signed = client.post("/signin", data={"token": token})
    assert (signed.status_code, signed.location) == (303, "/")
    assert ok(client.get("/api/v1/list_projects")) == {"projects": []}


def test_a_static_client_dir_without_an_index_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no index\.html"):
        Settings(data_dir=tmp_path / "d", static_client_dir=tmp_path / "empty")
