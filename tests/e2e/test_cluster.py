"""Team mode across processes, through `neurocache cluster up --hubs 2`: PostgreSQL with
pgvector, Redis, two gunicorn hub processes and HAProxy, all real, on loopback.

A write on one hub is found on the other; a channel message posted through one reaches a
Socket.IO client of the other; one key's rate limit is shared; a hub killed mid-ingestion
loses and doubles nothing acknowledged (the other takes its jobs over once their lease
runs out); SIGTERM leaves no process behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.postgres import fresh_database
from tests.support.proc import alive, descendants
from tests.support.sockets import Member
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

LEASE_S = 6  # a killed hub's jobs go to the other after this

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("redis-server") is None
        or shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None,
        reason="team mode needs redis-server and haproxy (`make test` installs them)",
    ),
]


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("pgserver", reason="PostgreSQL with pgvector comes from pgserver")
    # not under pytest's own folder: as root, PostgreSQL runs as `postgres`, who cannot
    # enter it
    folder = Path(tempfile.mkdtemp(prefix="neurocache-cluster-"))
    folder.chmod(0o755)
    log = (folder / "cluster.err").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurocache",
            "cluster",
            "up",
            "--hubs",
            "2",
            "--data-dir",
            str(folder / "data"),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "NEUROCACHE_JOB_LEASE_S": str(LEASE_S)},
    )
    line = process.stdout.readline()
    assert line, f"cluster up printed nothing: {(folder / 'cluster.err').read_text()}"
    view = json.loads(line)
    everything = set(view["pids"].values())
    for pid in list(everything):
        everything |= set(descendants(pid))
    view["all_pids"] = everything
    view["headers"] = {"Authorization": f"Bearer {view['key']}"}
    view["models_dir"] = folder / "data" / "hub" / "models"  # where a key may register
    try:
        yield view
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert wait_for(lambda: not any(alive(p) for p in everything), timeout=20), (
            f"left behind: {[p for p in everything if alive(p)]}"
        )
        shutil.rmtree(folder, ignore_errors=True)


def api(cluster, base: str, method: str, path: str, **kwargs) -> requests.Response:
    headers = {**cluster["headers"], **kwargs.pop("headers", {})}
    return requests.request(method, base + path, headers=headers, timeout=30, **kwargs)


def test_the_json_line_names_every_process_and_the_balancer_spreads_requests(cluster):
    assert set(cluster["pids"]) == {"postgres", "redis", "hub 1", "hub 2", "haproxy"}
    assert len(cluster["hubs"]) == 2 and cluster["url"].startswith("http://127.0.0.1:")
    answered = {
        api(cluster, cluster["url"], "GET", "/api/v1/status").json()["process"]["pid"]
        for _ in range(6)
    }
    assert len(answered) == 2, "round robin without a session cookie reaches both hubs"
    direct = [api(cluster, hub, "GET", "/api/v1/status").json() for hub in cluster["hubs"]]
    assert {s["process"]["pid"] for s in direct} == answered
    assert all(s["store"]["backend"] == "postgresql" for s in direct)
    assert all(s["indexes"]["vectors"]["kind"] == "hnsw" for s in direct)


def test_a_write_on_one_hub_is_found_on_the_other_within_two_seconds(cluster):
    a, b = cluster["hubs"]
    posted = api(
        cluster,
        a,
        "POST",
        "/api/v1/documents",
        json={"title": "Otters", "text": "Sea otters hold hands while they sleep in kelp."},
    )
    assert posted.status_code == 202, posted.text
    job = posted.json()["job"]["id"]
    # indexed on A (its embedding takes the time it takes), then visible on B at once
    assert wait_for(
        lambda: api(cluster, a, "GET", f"/api/v1/jobs/{job}").json()["status"] == "done",
        timeout=30,
    )
    started = time.monotonic()

    def found() -> bool:
        results = api(
            cluster, b, "POST", "/api/v1/search", json={"query": "otters kelp sleep"}
        ).json()["results"]
        return any("otters" in r["text"] for r in results)

    assert wait_for(found, timeout=10)
    assert time.monotonic() - started < 2.0


def _channel_with_member(cluster, base: str) -> tuple[dict, str]:
    channel = api(cluster, base, "POST", "/api/v1/channels", json={"name": f"c{time.time_ns()}"})
    assert channel.status_code == 201, channel.text
    return channel.json(), cluster["key"]


def test_a_message_posted_through_one_hub_reaches_a_socket_of_the_other(cluster):
    a, b = cluster["hubs"]
    channel, key = _channel_with_member(cluster, a)
    listener = Member(b, key)
    try:
        assert listener.join(f"channel:{channel['id']}").get("ok", True)
        started = time.monotonic()
        sent = api(
            cluster,
            a,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            json={"content": "across processes"},
        )
        assert sent.status_code in (200, 201), sent.text
        created = listener.next("message.created", timeout=5)
        assert created["content"] == "across processes"
        assert time.monotonic() - started < 2.0  # one sample: p99 is bench/cluster.py's
    finally:
        listener.close()


def test_one_keys_rate_limit_is_shared_by_the_hubs(cluster):
    a, b = cluster["hubs"]
    channel, _ = _channel_with_member(cluster, a)
    key = api(
        cluster, a, "POST", "/api/v1/keys", json={"name": "limited", "scopes": ["write", "read"]}
    ).json()["secret"]
    statuses = []
    for n in range(40):  # generating endpoints allow 30 a minute per key
        statuses.append(
            requests.post(
                f"{(a, b)[n % 2]}/api/v1/channels/{channel['id']}/messages",
                json={"content": f"note {n}"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ).status_code
        )
    limited = [n for n, status in enumerate(statuses) if status == 429]
    # one bucket of 30 (refilling 0.5/s while the posts go on), not 30 per hub (60)
    assert limited and limited[0] <= 36, statuses


def test_a_model_server_runs_once_and_every_hub_answers_through_it(cluster):
    """Started through hub A, the model's server runs in A's process only; hub B finds it
    in the store and answers through it; a stop asked of B reaches A's server."""
    a, b = cluster["hubs"]
    cluster["models_dir"].mkdir(parents=True, exist_ok=True)
    gguf = write_tiny_llama(cluster["models_dir"] / "tiny.gguf", n_ctx=2048)
    model = api(cluster, a, "POST", "/api/v1/models", json={"path": str(gguf)})
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    assert api(cluster, a, "POST", f"/api/v1/models/{model_id}/start").status_code == 202

    def state_on(base: str) -> str:
        return api(cluster, base, "GET", f"/api/v1/models/{model_id}").json()["state"]

    assert wait_for(lambda: state_on(a) == "running", timeout=120)
    assert wait_for(lambda: state_on(b) == "running", timeout=10)
    assert api(cluster, b, "POST", f"/api/v1/models/{model_id}/start").status_code == 202
    answer = api(
        cluster,
        b,
        "POST",
        "/v1/chat/completions",
        json={
            "model": model_id,
            "max_tokens": 4,
            "messages": [{"role": "user", "content": "hello"}],
        },
    )
    assert answer.status_code == 200, answer.text
    servers = [
        pid
        for hub in ("hub 1", "hub 2")
        for pid in descendants(cluster["pids"][hub])
        if "model-server" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]
    assert len(servers) == 1, servers  # B started none of its own
    assert api(cluster, b, "POST", f"/api/v1/models/{model_id}/stop").status_code in (200, 202)
    assert wait_for(lambda: state_on(a) != "running", timeout=20)
    assert wait_for(lambda: not any(alive(pid) for pid in servers), timeout=20)


def test_an_agents_reply_in_a_channel_is_written_once_and_reaches_both_hubs(cluster):
    """Posted through hub B, the mention is answered once (the turn runs in the process
    that took the message, on the model server hub A runs), and a socket of A sees it."""
    a, b = cluster["hubs"]
    gguf = write_tiny_llama(cluster["models_dir"] / "agent.gguf", n_ctx=2048)
    model_id = api(cluster, a, "POST", "/api/v1/models", json={"path": str(gguf)}).json()["id"]
    assert api(cluster, a, "POST", f"/api/v1/models/{model_id}/start").status_code == 202
    assert wait_for(
        lambda: api(cluster, b, "GET", f"/api/v1/models/{model_id}").json()["state"] == "running",
        timeout=120,
    )
    made = api(cluster, a, "POST", "/api/v1/agents", json={"name": "Pilot", "model": model_id})
    assert made.status_code == 201, made.text
    pilot = made.json()
    channel = api(cluster, a, "POST", "/api/v1/channels", json={"name": "harbour"}).json()
    joined = api(
        cluster,
        a,
        "POST",
        f"/api/v1/channels/{channel['id']}/members",
        json={"agent_id": pilot["id"], "mode": "mention"},
    )
    assert joined.status_code == 201, joined.text
    watcher = Member(a, cluster["key"])
    try:
        watcher.join(channel["room"])
        posted = api(
            cluster,
            b,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            json={"content": "@pilot where is the reef?", "wait": True},
        )
        assert posted.status_code in (200, 201), posted.text
        [reply] = posted.json()["replies"]
        assert watcher.next("message.completed", timeout=30)["id"] == reply["id"]
        time.sleep(2)  # any second reply would have come by now
        for hub in (a, b):
            messages = api(
                cluster, hub, "GET", f"/api/v1/channels/{channel['id']}/messages"
            ).json()["messages"]
            by_pilot = [m for m in messages if m["author"] == f"agent:{pilot['id']}"]
            assert [m["id"] for m in by_pilot] == [reply["id"]]
    finally:
        watcher.close()
        api(cluster, a, "POST", f"/api/v1/models/{model_id}/stop")


def test_the_teams_store_is_backed_up_while_the_hubs_run_and_restores_elsewhere(cluster, tmp_path):
    """`neurocache backup` with what the JSON line names, then a restore into a new
    database on the same server: the store's documents come back with the data dir."""
    posted = api(
        cluster,
        cluster["url"],
        "POST",
        "/api/v1/documents",
        json={"title": "Lighthouse", "text": "The lighthouse keeper logs every passing ship."},
    )
    assert posted.status_code == 202, posted.text
    store = ["--database-url", cluster["database_url"], "--data-dir", cluster["data_dir"]]
    archive = tmp_path / "team.tar.gz"
    made = neurocache("backup", str(archive), *store)
    assert made.returncode == 0, made.stderr
    target_url = fresh_database(cluster["database_url"])
    into = ["--database-url", target_url, "--data-dir", str(tmp_path / "restored")]
    restored = neurocache("restore", str(archive), *into)
    assert restored.returncode == 0, restored.stderr
    engine = create_engine(target_url, poolclass=NullPool)
    with engine.connect() as connection:
        titles = connection.execute(text("SELECT title FROM documents")).scalars().all()
    engine.dispose()
    assert "Lighthouse" in titles


def neurocache(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "neurocache", *args], capture_output=True, text=True, timeout=120
    )


def test_a_hub_killed_mid_ingestion_loses_and_doubles_nothing(cluster):
    a, b = cluster["hubs"]
    # a model whose server hub 1 runs: the survivor takes the server over
    gguf = write_tiny_llama(cluster["models_dir"] / "spare.gguf", n_ctx=2048)
    spare = api(cluster, a, "POST", "/api/v1/models", json={"path": str(gguf)}).json()["id"]
    assert api(cluster, a, "POST", f"/api/v1/models/{spare}/start").status_code == 202

    def spare_on_b() -> dict:
        return api(cluster, b, "GET", f"/api/v1/models/{spare}").json()

    assert wait_for(lambda: spare_on_b().get("state") == "running", timeout=120)
    assert "pid" not in spare_on_b()["server"] or spare_on_b()["server"]["pid"] is None
    per_document = _memories_of_one_document(cluster, b)
    before = api(cluster, b, "GET", "/api/v1/status").json()["store"]["memories"]
    documents = []
    for n in range(100):
        posted = api(
            cluster,
            (a, b)[n % 2],
            "POST",
            "/api/v1/documents",
            json={"title": f"note {n}", "text": f"Note number {n} is about topic {n * 7}."},
        )
        assert posted.status_code == 202, posted.text
        documents.append(posted.json()["document"]["id"])
        if n == 60:  # hub 1 dies with jobs queued and running
            os.killpg(cluster["pids"]["hub 1"], signal.SIGKILL)
            a = b  # what follows goes to the survivor

    # The survivor runs its own and, once their lease ran out, the dead hub's jobs.
    # (Polled gently, stopping at the first unfinished one: the key's limit is 600/min.)
    def all_done() -> bool:
        time.sleep(1.0)
        return all(
            api(cluster, b, "GET", f"/api/v1/documents/{d}").json().get("status") == "indexed"
            for d in documents
        )

    assert wait_for(all_done, timeout=180)
    views = [api(cluster, b, "GET", f"/api/v1/documents/{d}").json() for d in documents]
    assert [v["chunk_count"] for v in views] == [1] * 100
    after = api(cluster, b, "GET", "/api/v1/status").json()["store"]["memories"]
    assert after - before == 100 * per_document, "each document stored once, whole"

    # the dead hub's model server: started again by the survivor once its lease ran out
    def taken_over() -> bool:
        time.sleep(0.5)  # one request a poll, gently: the key's limit is 600/min
        view = spare_on_b()  # (a refusal, e.g. that limit, has no `state`: asked again)
        return view.get("state") == "running" and bool((view.get("server") or {}).get("pid"))

    assert wait_for(taken_over, timeout=90), _why_not_running(cluster, b, spare)


def _why_not_running(cluster, base: str, model_id: str) -> str:
    view = api(cluster, base, "GET", f"/api/v1/models/{model_id}").json()
    logs = api(cluster, base, "GET", f"/api/v1/models/{model_id}/logs").text
    shown = {k: view.get(k) for k in ("state", "error", "server")}
    return f"{shown}\nlogs: {logs[-2000:]}"


def _memories_of_one_document(cluster, base: str) -> int:
    """How many memories one short document makes (its text and its one chunk)."""
    before = api(cluster, base, "GET", "/api/v1/status").json()["store"]["memories"]
    posted = api(
        cluster, base, "POST", "/api/v1/documents", json={"title": "one", "text": "One note."}
    ).json()
    document = posted["document"]["id"]
    assert wait_for(
        lambda: (
            api(cluster, base, "GET", f"/api/v1/documents/{document}").json()["status"] == "indexed"
        ),
        timeout=30,
    )
    return api(cluster, base, "GET", "/api/v1/status").json()["store"]["memories"] - before


def test_the_compose_files_balancer_configuration_is_valid():
    """docker/haproxy.team.cfg, checked by HAProxy itself (Docker cannot run here)."""
    haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    config = Path(__file__).resolve().parents[2] / "docker" / "haproxy.team.cfg"
    checked = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
