"""A model's view is a record whose JSON keeps the API's shape: each kind of model (a
catalog entry, a registered file, a remote server; downloading, running) carries its own
fields, and the fields it does not have are absent, not null."""

from __future__ import annotations

from neurocache.llm.downloader import Progress
from neurocache.llm.manager import progress_view
from neurocache.llm.records import CatalogEntry, ModelRecord, ServerState
from neurocache.llm.registry import model_view
from neurocache.store.tables import Model

ENTRY = CatalogEntry(
    id="c", name="C", role="chat", format="gguf", url="https://x/c.gguf", size=10, license="MIT"
)


def local_row(**values) -> Model:
    fields = {
        "id": "local-1",
        "name": "L",
        "role": "chat",
        "format": "gguf",
        "source": "local",
        "path": "/m/l.gguf",
        "state": "installed",
        "size": 3,
        "verified": False,
        "meta": {},
    }
    return Model(**(fields | values))


def test_a_catalog_entry_has_its_licence_and_no_row_fields():
    view = model_view(ENTRY, None).plain()
    assert view["license_url"] is None and view["state"] == "absent"
    assert not {"path", "updated_at", "base_url", "note", "progress", "server"} & set(view)


def test_a_registered_file_has_its_path_and_no_catalog_fields():
    view = model_view(None, local_row()).plain()
    assert view["path"] == "/m/l.gguf" and view["error"] is None
    assert not {"url", "license", "license_url", "recommended", "base_url"} & set(view)
    assert model_view(None, local_row(state="failed")).plain()["path"] is None


def test_a_remote_server_says_whether_it_has_a_key_never_the_key():
    row = local_row(
        source="remote", format="remote", base_url="http://b", api_key="k", remote_model="m"
    )
    view = model_view(None, row).plain()
    assert (view["state"], view["model"], view["has_api_key"]) == ("running", "m", True)
    assert "k" not in view.values()


def test_retry_fields_come_only_after_a_failed_try():
    quiet = progress_view("c", Progress(done=1, total=10, rate=2.4, eta_s=4.0)).plain()
    assert quiet == {"id": "c", "bytes": 1, "total": 10, "rate": 2, "eta_s": 4.0}
    failed = Progress(done=1, total=None, rate=0, eta_s=None, retry=1, retries=5, error="x")
    assert progress_view("c", failed).plain()["next_attempt_s"] is None


def test_a_running_server_is_the_views_state_and_left_out_of_what_lasts():
    server = ServerState(state="running", error=None, url="http://h", owner="o")
    view = model_view(None, local_row(), server)
    assert view.state == "running" and view.plain()["server"] == {
        "state": "running",
        "error": None,
        "url": "http://h",
        "owner": "o",
    }
    assert "server" not in view.lasting()
    assert ModelRecord.model_validate(view.plain()) == view  # the API's check reads it back
