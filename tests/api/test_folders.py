"""Watched folders: taken in minding .gitignore and a size limit; new, changed and
deleted files followed while running and after a restart."""

from __future__ import annotations

import os
import time

import pytest

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.hub import assert_error, bearer, make_key
from tests.support.waiting import wait_for


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "notes"
    (root / "deep" / "deeper").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "rivers.md").write_text("The Danube flows through Budapest.")
    (root / "deep" / "deeper" / "alps.txt").write_text("The Matterhorn stands above Zermatt.")
    (root / ".gitignore").write_text("build/\n*.secret.txt\n")
    (root / "build" / "out.txt").write_text("generated junk mentioning Budapest")
    (root / "keys.secret.txt").write_text("ignored secret about Budapest")
    (root / "huge.txt").write_text("Budapest " * 2000)  # over the size limit below
    (root / "movie.mp4").write_bytes(b"\x00\x01")
    return root


def start(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", watch_interval_s=0.2, watch_max_file_bytes=5000)
    return hub_of(create_app(settings, testing=True))


def paths_found(hub, query):
    return sorted(
        os.path.basename(r.document.path) for r in hub.search.search(query, mode="fulltext")
    )


def settle(hub):
    time.sleep(0.5)  # one more watch pass
    assert hub.jobs.wait_idle(60)


def test_a_folder_goes_in_minding_gitignore_and_size(tmp_path, folder):
    hub = start(tmp_path)
    hub.folders.register(str(folder), _actor())
    assert wait_for(lambda: len(hub.knowledge.list_documents()[0]) == 2)
    settle(hub)
    assert paths_found(hub, "Budapest") == ["rivers.md"]
    assert paths_found(hub, "Zermatt") == ["alps.txt"]
    hub.close()


def test_changes_are_followed_while_running(tmp_path, folder):
    hub = start(tmp_path)
    hub.folders.register(str(folder), _actor())
    assert wait_for(lambda: paths_found(hub, "Danube") == ["rivers.md"])
    (folder / "rivers.md").write_text("The Rhine flows through Basel.")
    (folder / "deep" / "deeper" / "alps.txt").unlink()
    (folder / "new.md").write_text("Lisbon has yellow trams.")
    assert wait_for(lambda: paths_found(hub, "Rhine") == ["rivers.md"], 30)
    assert wait_for(lambda: paths_found(hub, "Lisbon") == ["new.md"], 30)
    assert wait_for(lambda: paths_found(hub, "Zermatt") == [], 30)
    settle(hub)
    assert paths_found(hub, "Danube") == []  # the old version left every index
    assert len(hub.knowledge.list_documents()[0]) == 2
    hub.close()


def test_changes_made_while_the_hub_was_off_are_picked_up(tmp_path, folder):
    hub = start(tmp_path)
    hub.folders.register(str(folder), _actor())
    assert wait_for(lambda: len(hub.knowledge.list_documents()[0]) == 2)
    settle(hub)
    hub.close()
    (folder / "rivers.md").write_text("The Thames flows through London.")
    (folder / "later.txt").write_text("Oslo sits at the end of a fjord.")
    hub = start(tmp_path)
    assert wait_for(lambda: paths_found(hub, "Thames") == ["rivers.md"], 30)
    assert wait_for(lambda: paths_found(hub, "fjord") == ["later.txt"], 30)
    hub.close()


def test_touching_a_file_without_changing_it_does_not_reindex(tmp_path, folder):
    hub = start(tmp_path)
    hub.folders.register(str(folder), _actor())
    assert wait_for(lambda: len(hub.knowledge.list_documents()[0]) == 2)
    settle(hub)
    before = {d.id for d in hub.knowledge.list_documents()[0]}
    os.utime(folder / "rivers.md")
    settle(hub)
    assert {d.id for d in hub.knowledge.list_documents()[0]} == before
    hub.close()


def test_the_api_lets_only_the_owner_watch_folders(client, hub, folder):
    owner = {"Authorization": f"Bearer {hub.owner_token.value}"}
    created = client.post("/api/v1/folders", json={"path": str(folder)}, headers=owner)
    assert created.status_code == 201 and created.json["path"] == str(folder)
    assert_error(client.post("/api/v1/folders", json={"path": str(folder)}, headers=owner), 409)
    assert_error(
        client.post("/api/v1/folders", json={"path": str(folder / "rivers.md")}, headers=owner), 422
    )
    admin_key = bearer(make_key(hub, "admin"))
    assert_error(
        client.post("/api/v1/folders", json={"path": str(folder.parent)}, headers=admin_key), 403
    )
    assert [f["path"] for f in client.get("/api/v1/folders", headers=owner).json["folders"]] == [
        str(folder)
    ]
    removed = client.delete(f"/api/v1/folders/{created.json['id']}", headers=owner)
    assert removed.status_code == 200
    assert client.get("/api/v1/folders", headers=owner).json["folders"] == []


def _actor():
    from neurocache.store.audit import Actor

    return Actor("test")


@pytest.mark.parametrize(
    "place", ["/", "/proc", "/sys/kernel", "/dev", "data", "backups", "models"]
)
def test_the_disk_system_trees_and_the_hubs_own_folders_are_refused(client, hub, place):
    owner = bearer(hub.owner_token.value)
    path = {
        "data": hub.settings.data_dir,
        "backups": hub.settings.effective_backup_dir,
        "models": hub.settings.effective_models_dir,
    }.get(place, place)
    os.makedirs(path, exist_ok=True)
    error = assert_error(
        client.post("/api/v1/folders", json={"path": str(path)}, headers=owner), 422
    )
    assert str(path).rstrip("/") in error["message"] or "root of the disk" in error["message"]
    assert client.get("/api/v1/folders", headers=owner).json["folders"] == []


def test_a_watched_folder_that_holds_the_hubs_data_passes_over_it(tmp_path):
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "rivers.md").write_text("The Danube flows through Budapest.")
    hub = hub_of(
        create_app(Settings(data_dir=home / "hub-data", watch_interval_s=0.2), testing=True)
    )
    try:
        (home / "hub-data" / "logs").mkdir(parents=True, exist_ok=True)
        (home / "hub-data" / "logs" / "notes.txt").write_text("Budapest in the hub's own log")
        hub.folders.register(str(home), Actor("test"))
        assert wait_for(lambda: paths_found(hub, "Budapest") == ["rivers.md"], 30)
    finally:
        hub.close()


def test_an_entry_that_cannot_be_read_is_skipped_with_a_warning(tmp_path, folder, caplog):
    """A path too long for the OS to look up (works as root too, unlike a chmod)."""
    deep = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(18):  # 18 times 250 characters: past PATH_MAX (4096)
            os.mkdir("d" * 250, dir_fd=deep)
            inner = os.open("d" * 250, os.O_RDONLY, dir_fd=deep)
            os.close(deep)
            deep = inner
        note = os.open("far.txt", os.O_WRONLY | os.O_CREAT, dir_fd=deep)
        os.write(note, b"Budapest, far down")
        os.close(note)
    finally:
        os.close(deep)
    hub = start(tmp_path)
    try:
        hub.folders.register(str(folder), Actor("test"))
        assert wait_for(lambda: paths_found(hub, "Budapest") == ["rivers.md"], 30)
        assert "watched folder: skipped" in caplog.text
    finally:
        hub.close()
