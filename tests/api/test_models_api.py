"""The model manager through the API, against a real hub, real model-server processes and
a loopback file server. A GPU cannot exist here: GPU behaviour is tested through an
injected `GpuInfo` (tests/unit/test_gpu_and_catalog.py); the hub itself runs on the CPU."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import socketio

from neurocache.llm.client import OpenAIClient
from neurocache.settings import Settings
from tests.support.catalog import catalog_file
from tests.support.file_server import FileServer
from tests.support.hub import assert_error, bearer, start_live_hub
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import alive, wait_for

SUPPORT = Path(__file__).parents[1] / "support"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def hub_factory(tmp_path):
    started = []

    def start(**settings):
        settings.setdefault("data_dir", tmp_path / "data")
        settings.setdefault("model_health_interval_s", 0.2)
        live = start_live_hub(Settings(**settings))
        # The owner (what the CLI and the browser are); API keys are narrower, see below.
        live.admin = bearer(live.hub.owner_token.value)
        started.append(live)
        return live

    yield start
    for live in started:
        live.server.stop()


def api(live, method, path, **kwargs):
    return requests.request(method, live.url + path, headers=live.admin, timeout=30, **kwargs)


def state_of(live, model_id):
    return api(live, "GET", f"/api/v1/models/{model_id}").json()["state"]


def test_lists_the_shipped_catalog(hub_factory):
    live = hub_factory()
    models = api(live, "GET", "/api/v1/models").json()["models"]
    assert len(models) >= 6
    roles = {m["role"] for m in models}
    assert roles == {"chat", "embedding", "rerank"}
    assert all(m["state"] == "absent" and m["license"] and m["size"] > 0 for m in models)
    assert any(m.get("recommended") for m in models)


def test_a_local_gguf_registers_starts_answers_crashes_recovers_and_stops(hub_factory, tiny_model):
    live = hub_factory()
    created = api(live, "POST", "/api/v1/models", json={"path": str(tiny_model)})
    assert created.status_code == 201
    model = created.json()
    assert (model["format"], model["role"], model["state"]) == ("gguf", "chat", "installed")
    model_id = model["id"]

    assert api(live, "POST", f"/api/v1/models/{model_id}/start").status_code == 202
    assert wait_for(lambda: state_of(live, model_id) == "running")
    running = api(live, "GET", f"/api/v1/models/{model_id}").json()
    assert running["server"]["device"] == "cpu" and "no GPU" in running["server"]["note"]
    assert running["server"]["placement"] == {"layers": 3, "layers_on_gpu": 0}
    client = live.hub.models.client_for(model_id)
    assert client.chat([{"role": "user", "content": "hi"}], max_tokens=3)["choices"]

    pid = running["server"]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(
        lambda: (
            api(live, "GET", f"/api/v1/models/{model_id}").json().get("server", {}).get("restarts")
            == 1
        )
    )
    assert wait_for(lambda: state_of(live, model_id) == "running")
    logs = api(live, "GET", f"/api/v1/models/{model_id}/logs?lines=50").json()["lines"]
    assert logs and len(logs) <= 50

    stopped = api(live, "POST", f"/api/v1/models/{model_id}/stop").json()
    assert stopped["state"] == "installed"
    assert not any(alive(p) for p in (pid,))
    deleted = api(live, "DELETE", f"/api/v1/models/{model_id}")
    assert deleted.status_code == 200
    assert tiny_model.exists()  # a registered file is the user's: forgotten, not deleted
    assert_error(api(live, "GET", f"/api/v1/models/{model_id}"), 404)


def test_starting_a_second_chat_model_stops_the_first(hub_factory, tiny_model, tmp_path):
    live = hub_factory()
    copy = shutil.copy(tiny_model, tmp_path / "copy.gguf")
    first = api(live, "POST", "/api/v1/models", json={"path": str(tiny_model)}).json()["id"]
    second = api(live, "POST", "/api/v1/models", json={"path": str(copy)}).json()["id"]
    api(live, "POST", f"/api/v1/models/{first}/start")
    assert wait_for(lambda: state_of(live, first) == "running")
    api(live, "POST", f"/api/v1/models/{second}/start")
    assert wait_for(lambda: state_of(live, second) == "running")
    # the first answered until the second could: then it stops
    assert wait_for(lambda: state_of(live, first) == "installed")
    assert live.hub.models.running("chat").id == second


def test_registration_errors(hub_factory, tmp_path):
    live = hub_factory()
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    for body, status in [
        ({"path": str(tmp_path / "missing.gguf")}, 422),
        ({"path": str(not_a_model)}, 422),
        ({}, 422),
        ({"path": "x", "base_url": "http://127.0.0.1:1"}, 422),
        ({"base_url": "http://127.0.0.1:1"}, 422),
        ({"base_url": "ftp://x", "model": "m"}, 422),
    ]:
        assert_error(api(live, "POST", "/api/v1/models", json=body), status)
    assert_error(api(live, "POST", "/api/v1/models/nope/start"), 404)
    assert_error(api(live, "GET", "/api/v1/models/nope"), 404)
    reader = bearer(live.key("read"))
    assert_error(
        requests.post(live.url + "/api/v1/models", json={"path": "x"}, headers=reader, timeout=5),
        403,
    )


def test_download_with_progress_events_then_verified(
    hub_factory, tiny_model, tmp_path, file_server
):
    data = tiny_model.read_bytes()
    url = file_server.serve("/tiny.gguf", data, rate_bytes_per_s=2_000_000)
    catalog = catalog_file(
        tmp_path / "catalog.json",
        {
            "id": "tiny",
            "name": "Tiny",
            "url": url,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    live = hub_factory(catalog_path=catalog)
    events: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("model.download.progress", lambda d: events.put(("progress", d)))
    client.on("model.status", lambda d: events.put(("status", d)))
    client.connect(live.url, auth={"token": live.key("read")}, transports=["websocket"])
    assert client.call("join", {"room": "models"}, timeout=5) == {"ok": True}

    assert api(live, "POST", "/api/v1/models/tiny/download").status_code == 202
    assert wait_for(lambda: state_of(live, "tiny") == "installed")
    model = api(live, "GET", "/api/v1/models/tiny").json()
    assert model["verified"] is True and model["sha256"] == hashlib.sha256(data).hexdigest()
    assert Path(model["path"]).read_bytes() == data
    received = []
    while not events.empty():
        received.append(events.get())
    progress = [d for kind, d in received if kind == "progress"]
    assert progress and progress[-1]["bytes"] == len(data) == progress[-1]["total"]
    assert all(set(p) == {"id", "bytes", "total", "rate", "eta_s"} for p in progress)
    assert [d["state"] for kind, d in received if kind == "status"][-1] == "installed"
    client.disconnect()

    api(live, "POST", "/api/v1/models/tiny/start")
    assert wait_for(lambda: state_of(live, "tiny") == "running")


def test_failed_downloads_are_never_installed(hub_factory, tiny_model, tmp_path, file_server):
    data = tiny_model.read_bytes()
    catalog = catalog_file(
        tmp_path / "catalog.json",
        {
            "id": "wrong-sum",
            "name": "W",
            "url": file_server.serve("/w.gguf", data),
            "sha256": "0" * 64,
        },
        {"id": "missing", "name": "M", "url": file_server.serve("/m.gguf", data, status=404)},
    )
    live = hub_factory(catalog_path=catalog)
    for model_id, message in (("wrong-sum", "checksum mismatch"), ("missing", "404")):
        api(live, "POST", f"/api/v1/models/{model_id}/download")
        assert wait_for(lambda model_id=model_id: state_of(live, model_id) == "failed")
        model = api(live, "GET", f"/api/v1/models/{model_id}").json()
        assert message in model["error"] and model.get("path") is None
        assert_error(api(live, "POST", f"/api/v1/models/{model_id}/start"), 409)
    assert list((live.hub.settings.effective_models_dir).glob("*.gguf")) == []


def test_a_download_is_cancelled(hub_factory, tiny_model, tmp_path, file_server):
    data = tiny_model.read_bytes()
    url = file_server.serve("/slow.gguf", data, rate_bytes_per_s=100_000)
    live = hub_factory(
        catalog_path=catalog_file(
            tmp_path / "c.json", {"id": "slow", "name": "S", "url": url, "size": len(data)}
        )
    )
    api(live, "POST", "/api/v1/models/slow/download")
    assert wait_for(lambda: api(live, "GET", "/api/v1/models/slow").json().get("progress"))
    assert api(live, "DELETE", "/api/v1/models/slow/download").status_code == 200
    assert state_of(live, "slow") == "absent"  # at once
    models_dir = live.hub.settings.effective_models_dir
    assert wait_for(lambda: list(models_dir.iterdir()) == [])  # the worker drops the .part
    assert_error(api(live, "DELETE", "/api/v1/models/slow/download"), 409)


def test_a_download_survives_a_hub_restart(hub_factory, tiny_model, tmp_path, file_server):
    data = tiny_model.read_bytes()
    url = file_server.serve("/slow.gguf", data, rate_bytes_per_s=150_000)
    catalog = catalog_file(
        tmp_path / "c.json", {"id": "slow", "name": "S", "url": url, "size": len(data)}
    )
    first = hub_factory(catalog_path=catalog)
    api(first, "POST", "/api/v1/models/slow/download")
    assert wait_for(
        lambda: (
            (api(first, "GET", "/api/v1/models/slow").json().get("progress") or {}).get("bytes", 0)
            > 100_000
        )
    )
    first.server.stop()  # the hub goes away mid-download
    file_server.files["/slow.gguf"].rate_bytes_per_s = None
    second = hub_factory(catalog_path=catalog)
    assert wait_for(lambda: state_of(second, "slow") == "installed")
    ranges = [r["range"] for r in file_server.files["/slow.gguf"].requests]
    assert ranges[0] is None and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    model = api(second, "GET", "/api/v1/models/slow").json()
    assert Path(model["path"]).read_bytes() == data
    assert model["verified"] is False and "first download" in model["note"]  # TOFU


def test_a_remote_backend_is_used_by_url(hub_factory, tiny_model):
    port_server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurocache",
            "model-server",
            "--model",
            str(tiny_model),
            "--port",
            str(_free_port()),
            "--n-ctx",
            "256",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = int(port_server.args[port_server.args.index("--port") + 1])
    try:
        base_url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _answers(base_url))
        live = hub_factory()
        created = api(
            live,
            "POST",
            "/api/v1/models",
            json={"base_url": base_url, "model": "tiny", "api_key": "sk-remote-secret"},
        )
        assert created.status_code == 201
        model = created.json()
        assert (model["source"], model["state"], model["has_api_key"]) == (
            "remote",
            "running",
            True,
        )
        assert "sk-remote-secret" not in created.text
        reply = live.hub.models.client_for(model["id"]).chat(
            [{"role": "user", "content": "hello"}], max_tokens=3
        )
        assert reply["choices"][0]["message"]["content"]
        dead = api(
            live, "POST", "/api/v1/models", json={"base_url": "http://127.0.0.1:9", "model": "x"}
        ).json()
        assert dead["state"] == "failed" and "not reachable" in dead["error"]
    finally:
        port_server.terminate()
        port_server.wait(10)


def test_a_llamafile_runs_under_the_guard_with_gpu_flags(
    hub_factory, tiny_model, tmp_path, monkeypatch
):
    llamafile = fake_llamafile(tmp_path)
    monkeypatch.setenv("FAKE_LLAMAFILE_MODEL", str(tiny_model))
    live = hub_factory()
    model = api(live, "POST", "/api/v1/models", json={"path": str(llamafile)}).json()
    assert model["format"] == "llamafile"
    api(live, "POST", f"/api/v1/models/{model['id']}/start")
    assert wait_for(lambda: state_of(live, model["id"]) == "running")
    assert llamafile.stat().st_mode & stat.S_IXUSR  # made executable
    logs = api(live, "GET", f"/api/v1/models/{model['id']}/logs?lines=2000").json()["lines"]
    assert "fake llamafile: -ngl 0 --gpu disable" in logs  # no GPU here: told so
    live.hub.models.client_for(model["id"]).models()


def fake_llamafile(tmp_path: Path, with_model: bool = True) -> Path:
    """A shell script that starts like an APE (`MZqFpD='`) with a zip appended, as a real
    llamafile is: the script part runs tests/support/fake_llamafile.py. No shebang, so the
    kernel refuses to exec it and the guard's `sh` fallback is exercised too."""
    llamafile = tmp_path / ("fake.llamafile" if with_model else "empty.llamafile")
    script = f"MZqFpD='\n'\nexec {sys.executable} {SUPPORT / 'fake_llamafile.py'} \"$@\"\nexit 1\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("model.gguf" if with_model else "readme.txt", b"weights")
    llamafile.write_bytes(script.encode() + archive.getvalue())
    return llamafile


def test_no_model_server_outlives_a_killed_hub(tmp_path, tiny_model):
    """SIGKILL the hub: its model servers (plain, and a llamafile under its guard, running
    together as the chat and the embedding model) end by themselves."""
    env = {
        **os.environ,
        "NEUROCACHE_DATA_DIR": str(tmp_path / "d"),
        "PYTHONUNBUFFERED": "1",
        "FAKE_LLAMAFILE_MODEL": str(tiny_model),
    }
    hub = subprocess.Popen(
        [sys.executable, "-m", "neurocache", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = token = None
        for line in hub.stdout:
            if "Open the hub:" in line:
                url, token = line.split("Open the hub: ")[1].strip().split("/?token=")
                break
        headers = bearer(token)
        bodies = [
            {"path": str(tiny_model)},
            {"path": str(fake_llamafile(tmp_path)), "role": "embedding"},
        ]
        ids = []
        for body in bodies:
            model = requests.post(
                url + "/api/v1/models", json=body, headers=headers, timeout=10
            ).json()
            requests.post(f"{url}/api/v1/models/{model['id']}/start", headers=headers, timeout=10)
            ids.append(model["id"])

        def server_pids():
            states = [
                requests.get(f"{url}/api/v1/models/{i}", headers=headers, timeout=10).json()
                for i in ids
            ]
            if all(s["state"] == "running" for s in states):
                return [s["server"]["pid"] for s in states]
            return None

        assert wait_for(server_pids)  # both at once: one chat and one embedding model
        pids = server_pids()
        descendants = [
            int(p)
            for p in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(pids[1])], capture_output=True, text=True
            ).stdout.split()
        ]
        assert descendants, "the guard should have the llamafile as its child"
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        for pid in pids + descendants:
            assert wait_for(lambda pid=pid: not alive(pid), 10), f"{pid} outlived its hub"
    finally:
        if hub.poll() is None:
            hub.kill()


def _free_port() -> int:
    from neurocache.llm.supervisor import free_port

    return free_port()


def _answers(base_url: str) -> bool:
    try:
        OpenAIClient(base_url).models(timeout_s=1)
        return True
    except Exception:
        return False


def test_downloads_beyond_the_limit_wait_their_turn(hub_factory, tiny_model, tmp_path, file_server):
    data = tiny_model.read_bytes()
    entries = [
        {
            "id": f"m{i}",
            "name": f"M{i}",
            "size": len(data),
            "url": file_server.serve(f"/m{i}.gguf", data, rate_bytes_per_s=400_000),
        }
        for i in range(2)
    ]
    live = hub_factory(
        catalog_path=catalog_file(tmp_path / "c.json", *entries), max_concurrent_downloads=1
    )
    for entry in entries:
        api(live, "POST", f"/api/v1/models/{entry['id']}/download")
    assert wait_for(lambda: api(live, "GET", "/api/v1/models/m0").json().get("progress"))
    queued = api(live, "GET", "/api/v1/models/m1").json()
    assert queued["state"] == "downloading" and "progress" not in queued
    assert file_server.files["/m1.gguf"].requests == []  # not even asked yet
    assert wait_for(lambda: state_of(live, "m1") == "installed")
    assert state_of(live, "m0") == "installed"


def test_api_keys_register_only_files_in_the_models_dir(hub_factory, tiny_model, tmp_path):
    """A llamafile is a program the hub runs: only the owner may point at any path."""
    live = hub_factory()
    key = bearer(live.key("admin"))
    outside = requests.post(
        live.url + "/api/v1/models", json={"path": str(tiny_model)}, headers=key, timeout=10
    )
    assert_error(outside, 403, "forbidden")
    models_dir = live.hub.settings.effective_models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    inside = shutil.copy(tiny_model, models_dir / "mine.gguf")
    assert (
        requests.post(
            live.url + "/api/v1/models", json={"path": str(inside)}, headers=key, timeout=10
        ).status_code
        == 201
    )


def test_a_file_that_only_starts_like_a_llamafile_is_refused(hub_factory, tmp_path):
    live = hub_factory()
    script = tmp_path / "notes.txt"
    script.write_text("MZqFpD=x; echo not a model\n")
    error = assert_error(api(live, "POST", "/api/v1/models", json={"path": str(script)}), 422)
    assert "holds no model" in error["message"]
    empty = fake_llamafile(tmp_path, with_model=False)
    assert_error(api(live, "POST", "/api/v1/models", json={"path": str(empty)}), 422)


def model_server_children(model_path: Path) -> int:
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return sum(
        1
        for line in out.splitlines()
        if "model-server" in line and str(model_path) in line and "ps -eo" not in line
    )


def test_concurrent_starts_leave_one_server_per_role(hub_factory, tiny_model, tmp_path):
    import threading

    live = hub_factory()
    copy = Path(shutil.copy(tiny_model, tmp_path / "other.gguf"))
    first = api(live, "POST", "/api/v1/models", json={"path": str(tiny_model)}).json()["id"]
    second = api(live, "POST", "/api/v1/models", json={"path": str(copy)}).json()["id"]
    threads = [
        threading.Thread(target=live.hub.models.start, args=(model_id,))
        for model_id in (first, first, first, second, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(lambda: sum(state_of(live, m) == "running" for m in (first, second)) == 1)
    counted = wait_for(
        lambda: model_server_children(tiny_model) + model_server_children(copy) == 1, 15
    )
    assert counted, subprocess.run(
        ["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True
    ).stdout


def test_a_queued_download_cancels_at_once_and_can_be_downloaded_again(
    hub_factory, tiny_model, tmp_path, file_server
):
    data = tiny_model.read_bytes()
    entries = [
        {
            "id": name,
            "name": name,
            "size": len(data),
            "url": file_server.serve(f"/{name}.gguf", data, rate_bytes_per_s=rate),
        }
        for name, rate in (("slow", 150_000), ("queued", None))
    ]
    live = hub_factory(
        catalog_path=catalog_file(tmp_path / "c.json", *entries), max_concurrent_downloads=1
    )
    api(live, "POST", "/api/v1/models/slow/download")
    api(live, "POST", "/api/v1/models/queued/download")
    assert api(live, "DELETE", "/api/v1/models/queued/download").json()["state"] == "absent"
    again = api(live, "POST", "/api/v1/models/queued/download").json()
    assert again["state"] == "downloading"
    assert wait_for(lambda: state_of(live, "queued") == "installed", 30)
    assert Path(api(live, "GET", "/api/v1/models/queued").json()["path"]).read_bytes() == data


def test_deleting_a_model_while_it_downloads_leaves_nothing(
    hub_factory, tiny_model, tmp_path, file_server
):
    data = tiny_model.read_bytes()
    url = file_server.serve("/m.gguf", data, rate_bytes_per_s=300_000)
    live = hub_factory(
        catalog_path=catalog_file(
            tmp_path / "c.json", {"id": "m", "name": "M", "url": url, "size": len(data)}
        )
    )
    api(live, "POST", "/api/v1/models/m/download")
    assert wait_for(lambda: api(live, "GET", "/api/v1/models/m").json().get("progress"))
    assert api(live, "DELETE", "/api/v1/models/m").json()["state"] == "absent"
    models_dir = live.hub.settings.effective_models_dir
    assert wait_for(lambda: list(models_dir.iterdir()) == [])
    assert state_of(live, "m") == "absent"
    audit = live.hub.audit.list(target_id="m")[0]
    assert [e.action for e in audit] == ["model.delete", "model.download"]


# ---- model files already on this machine ("Add a model you already have")


def test_model_files_on_this_machine_are_offered_to_add(
    owner_client, hub, admin_headers, tiny_model, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    downloads = home / "Downloads" / "llms"
    downloads.mkdir(parents=True)
    shutil.copy(tiny_model, downloads / "mine.gguf")
    (downloads / "notes.gguf").write_bytes(b"not a model" * 10_000)  # named so, but is not
    models_dir = hub.settings.effective_models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny_model, models_dir / "kept.gguf")

    offered = owner_client.get("/api/v1/models/files").json["files"]
    assert [(f["name"], f["format"]) for f in offered] == [("kept", "gguf"), ("mine", "gguf")]
    assert offered[1]["size"] == tiny_model.stat().st_size
    # an API key (not the machine's owner) sees the models dir only
    by_key = owner_client.get("/api/v1/models/files", headers=admin_headers).json["files"]
    assert [f["name"] for f in by_key] == ["kept"]
    # once added, a file is no longer offered
    made = owner_client.post("/api/v1/models", json={"path": offered[1]["path"]})
    assert made.status_code == 201, made.json
    again = owner_client.get("/api/v1/models/files").json["files"]
    assert [f["name"] for f in again] == ["kept"]
