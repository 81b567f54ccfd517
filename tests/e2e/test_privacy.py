"""No telemetry: the hub opens no connection but to loopback, where every server this test
starts lives — the model download the user asked for, the model server, a remote backend
the user registered. Proven with `strace` over the real `neurocache serve` process and every
process it starts (model servers included): each connect() and each addressed send
(sendto, sendmsg, sendmmsg) is seen at the system-call boundary, so a library we did not
read cannot connect somewhere unnoticed while the test runs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.catalog import catalog_file
from tests.support.file_server import FileServer
from tests.support.proc import URL_LINE
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

STRACE = shutil.which("strace")


def strace_works() -> bool:
    """Installed, and allowed to trace (some containers forbid ptrace)."""
    return (
        STRACE is not None
        and subprocess.run(
            [STRACE, "-f", "-qq", "-e", "trace=connect", "true"], capture_output=True
        ).returncode
        == 0
    )


pytestmark = pytest.mark.skipif(
    not strace_works(),
    reason="strace is missing or may not trace here (make test installs it with apt when it can)",
)
IPV4 = re.compile(r'sin_addr=inet_addr\("([^"]+)"\)')
IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')
LOOPBACK = ("127.", "::1", "::ffff:127.")


def serve_traced(data_dir: Path, trace: Path, catalog: Path) -> tuple[subprocess.Popen, str, str]:
    env = {
        **os.environ,
        "NEUROCACHE_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        "NEUROCACHE_CATALOG_PATH": str(catalog),
        "NEUROCACHE_MODEL_HEALTH_INTERVAL_S": "0.2",
        # what runs on its own runs during the test too: maintenance, a scheduled backup
        "NEUROCACHE_MAINTENANCE_INTERVAL_S": "0.5",
        "NEUROCACHE_BACKUP_INTERVAL_H": "0.0004",
    }
    process = subprocess.Popen(
        [
            STRACE,
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg,sendmmsg",
            "-o",
            str(trace),
            sys.executable,
            "-m",
            "neurocache",
            "serve",
            "--port",
            "0",
        ],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = URL_LINE.search(process.stdout.readline())
        if match:
            return process, match.group(1), match.group(3)
    process.kill()
    raise AssertionError("the traced hub printed no URL")


def addresses(trace: Path) -> set[str]:
    text = trace.read_text()
    return set(IPV4.findall(text)) | set(IPV6.findall(text))


def test_the_hub_connects_to_nothing_but_loopback(tmp_path):
    files = FileServer()
    model = write_tiny_llama(tmp_path / "tiny.gguf")
    data = model.read_bytes()
    catalog = catalog_file(
        tmp_path / "catalog.json",
        {
            "id": "tiny",
            "name": "Tiny",
            "url": files.serve("/tiny.gguf", data),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    trace = tmp_path / "connections.trace"
    process, url, token = serve_traced(tmp_path / "data", trace, catalog)
    owner = {"Authorization": f"Bearer {token}"}

    def api(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, url + path, headers=owner, timeout=60, **kwargs)

    try:
        # the user's own actions: ingest, search, download, start, chat, a remote backend
        assert (
            api(
                "POST",
                "/api/v1/documents",
                json={"title": "Rivers", "text": "The Danube flows to the Black Sea."},
            ).status_code
            == 202
        )
        assert wait_for(
            lambda: api("POST", "/api/v1/search", json={"query": "Danube"}).json()["results"],
            timeout=60,
        )
        assert api("POST", "/api/v1/models/tiny/download").status_code == 202
        assert wait_for(
            lambda: api("GET", "/api/v1/models/tiny").json()["state"] == "installed", timeout=60
        )
        assert api("POST", "/api/v1/models/tiny/start").status_code == 202
        assert wait_for(
            lambda: api("GET", "/api/v1/models/tiny").json()["state"] == "running", timeout=120
        )
        answer = api(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "tiny",
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "Where does the Danube flow?"}],
            },
        )
        assert answer.status_code == 200, answer.text
        server = api("GET", "/api/v1/models/tiny").json()["server"]
        remote = api(
            "POST",
            "/api/v1/models",
            json={"base_url": f"http://127.0.0.1:{server['port']}/v1", "model": "tiny"},
        )
        assert remote.status_code == 201, remote.text
        # health checks, maintenance, a scheduled backup: whatever runs on its own
        assert wait_for(lambda: list((tmp_path / "data" / "backups").glob("*.tar.gz")), timeout=30)
    finally:
        hub_pid = int(
            Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0]
        )  # strace's child: the hub itself
        os.kill(hub_pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # never leave a hub (and its models) behind
            os.kill(hub_pid, signal.SIGKILL)
            process.kill()
            raise
        finally:
            files.close()
    seen = addresses(trace)
    assert seen, "the trace saw no connection at all: strace did not work"
    assert all(address.startswith(LOOPBACK) for address in seen), seen
