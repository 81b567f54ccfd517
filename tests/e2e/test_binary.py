"""Smoke test of a built hub binary (build_scripts/build.py): `make smoke` builds the Linux
CPU onedir one and runs this with NEUROCACHE_BINARY pointing at it.

Everything goes through the frozen program: the browser client, migrations, the built-in
embedder, page extraction, and a model server that is the same binary re-invoked in its
model-server mode; then a signal stops it all, leaving no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.proc import alive, descendants
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

BINARY = os.environ.get("NEUROCACHE_BINARY")
URL_LINE = re.compile(r"Open the hub: (http://127\.0\.0\.1:\d+)/\?token=(nco_\S+)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not BINARY,
        reason="no built binary: set NEUROCACHE_BINARY to one "
        "(`make smoke` builds it and runs this test)",
    ),
]


def start_binary(
    data_dir: Path, log_dir: Path, **settings: str
) -> tuple[subprocess.Popen, str, str]:
    binary = Path(BINARY or "").resolve()
    assert binary.is_file() and os.access(binary, os.X_OK), f"not an executable: {binary}"
    out, err = (log_dir / "hub.out").open("w"), (log_dir / "hub.err").open("w")
    process = subprocess.Popen(
        [str(binary), "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=out,
        stderr=err,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **settings},
    )
    found: list[re.Match] = []

    def printed_url() -> bool:
        assert process.poll() is None, f"the binary exited: {(log_dir / 'hub.err').read_text()}"
        found[:] = [m for m in [URL_LINE.search((log_dir / "hub.out").read_text())] if m]
        return bool(found)

    if not wait_for(printed_url, timeout=120):
        process.kill()
        raise AssertionError(f"no URL line: {(log_dir / 'hub.err').read_text()[-2000:]}")
    url, token = found[0].groups()
    return process, url, token


def test_the_binary_serves_ingests_searches_chats_and_stops_cleanly(tmp_path):
    process, url, token = start_binary(tmp_path / "data", tmp_path)
    owner = {"Authorization": f"Bearer {token}"}

    def api(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, url + path, headers=owner, timeout=60, **kwargs)

    try:
        assert wait_for(lambda: requests.get(f"{url}/api/v1/health", timeout=5).ok, timeout=60)
        page = requests.get(f"{url}/?token={token}", timeout=10)  # the bundled browser client
        assert page.status_code == 200 and "<html" in page.text.lower()

        notes = tmp_path / "rivers.txt"
        notes.write_text("The Danube flows through Vienna to the Black Sea.\n")
        with notes.open("rb") as file:
            ingested = api("POST", "/api/v1/documents", files={"file": ("rivers.txt", file)})
        assert ingested.status_code == 202, ingested.text
        page_html = (
            "<html><head><title>Peaks</title></head><body><article><h1>Peaks</h1>"
            "<p>Mount Kosciuszko is the highest mountain of mainland Australia, "
            "2228 metres above the sea.</p></article></body></html>"
        )
        captured = api("POST", "/api/v1/documents", json={"title": "Peaks", "html": page_html})
        assert captured.status_code == 202, captured.text
        for job in (ingested.json()["job"]["id"], captured.json()["job"]["id"]):
            assert wait_for(
                lambda job=job: (
                    api("GET", f"/api/v1/jobs/{job}").json()["status"] in ("done", "failed")
                ),
                timeout=120,
            )
            assert api("GET", f"/api/v1/jobs/{job}").json()["status"] == "done"
        for query, title in (("Danube Vienna", "rivers.txt"), ("Kosciuszko", "Peaks")):
            results = api("POST", "/api/v1/search", json={"query": query}).json()["results"]
            assert results and query.split()[0] in results[0]["text"], results
            assert results[0]["document"]["title"] == title

        model = api(
            "POST", "/api/v1/models", json={"path": str(write_tiny_llama(tmp_path / "tiny.gguf"))}
        )
        assert model.status_code == 201, model.text
        model_id = model.json()["id"]
        assert api("POST", f"/api/v1/models/{model_id}/start").status_code == 202
        assert wait_for(
            lambda: (
                api("GET", f"/api/v1/models/{model_id}").json()["state"] in ("running", "failed")
            ),
            timeout=120,
        )
        server = api("GET", f"/api/v1/models/{model_id}").json()
        assert server["state"] == "running", api("GET", f"/api/v1/models/{model_id}/logs").text
        answer = api(
            "POST",
            "/v1/chat/completions",
            json={
                "model": model_id,
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "Where does the Danube flow?"}],
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"]

        model_server = server["server"]["pid"]
        everything = descendants(process.pid)
        assert model_server in everything, "the model server runs below the hub"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Neurocache stopped." in (tmp_path / "hub.out").read_text()
    assert "Traceback" not in (tmp_path / "hub.err").read_text()
    assert wait_for(lambda: not any(alive(pid) for pid in everything), timeout=20), (
        f"left behind: {[pid for pid in everything if alive(pid)]}"
    )


TOPICS = ["rivers", "mountains", "violins", "comets", "bread", "glaciers", "chess", "owls"]


def test_the_binarys_vector_index_trains_and_searches_on_numpys_openblas(tmp_path):
    """The onedir keeps one OpenBLAS (numpy's): faiss reaches it through
    build_scripts/blas_shim.c. Past `vector_exact_limit` the index is an inverted one,
    trained by k-means, whose assignments are BLAS matrix products (sgemm)."""
    process, url, token = start_binary(
        tmp_path / "data",
        tmp_path,
        NEUROCACHE_VECTOR_EXACT_LIMIT="100",
        NEUROCACHE_CHUNK_TOKENS="32",  # a chunk of two or three notes each
        NEUROCACHE_CHUNK_OVERLAP_TOKENS="0",
    )
    owner = {"Authorization": f"Bearer {token}"}
    try:
        assert wait_for(lambda: requests.get(f"{url}/api/v1/health", timeout=5).ok, timeout=60)
        paragraphs = "".join(
            f"<p>Note {n} is about {TOPICS[n % len(TOPICS)]}: entry {n} of the series on "
            f"{TOPICS[n % len(TOPICS)]}, written as number {n}.</p>"
            for n in range(240)
        )
        html = f"<html><body><article><h1>Notes</h1>{paragraphs}</article></body></html>"
        document = requests.post(
            f"{url}/api/v1/documents", json={"title": "Notes", "html": html}, headers=owner
        )
        assert document.status_code == 202, document.text
        job = document.json()["job"]["id"]

        def job_status() -> str:
            return requests.get(f"{url}/api/v1/jobs/{job}", headers=owner, timeout=10).json()[
                "status"
            ]

        assert wait_for(lambda: job_status() in ("done", "failed"), timeout=180)
        assert job_status() == "done"
        results = requests.post(
            f"{url}/api/v1/search", json={"query": "owls", "mode": "vector"}, headers=owner
        ).json()["results"]
        assert results and "owls" in results[0]["text"], results
        index = requests.get(f"{url}/api/v1/status", headers=owner, timeout=10).json()
        vectors = index["indexes"]["vectors"]
        assert vectors["kind"] == "ivf" and vectors["vectors"] > 100, vectors
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert "Traceback" not in (tmp_path / "hub.err").read_text()
