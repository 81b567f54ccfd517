"""`neurocache serve` as a real process: the URL it prints, a taken port, signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
import socketio

from tests.support.proc import start_serve


@pytest.fixture
def served(tmp_path):
    process, match = start_serve(tmp_path, "--port", "0")
    yield process, match
    if process.poll() is None:
        process.kill()
        process.wait()


def test_prints_a_login_url_that_signs_the_browser_in(served, tmp_path):
    _process, match = served
    url, _port, token = match.groups()
    assert (tmp_path / "owner_token").read_text() == token
    session = requests.Session()
    assert session.get(f"{url}/?token={token}", timeout=5).status_code == 200  # after redirect
    assert session.get(f"{url}/api/v1/status", timeout=5).json()["data_dir"] == str(tmp_path)


def test_a_taken_port_is_an_error_not_a_surprise(served, tmp_path):
    _process, match = served
    port = match.group(2)
    env = {**os.environ, "NEUROCACHE_DATA_DIR": str(tmp_path / "other")}
    result = subprocess.run(
        [sys.executable, "-m", "neurocache", "serve", "--port", port],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_binds_loopback_only(served):
    _process, match = served
    port = int(match.group(2))
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    outside = [a for a in addresses if not a.startswith(("127.", "::1"))]
    for address in outside:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=1):
            pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_a_signal_and_tells_connected_clients(served, signum):
    process, match = served
    url, _port, token = match.groups()
    client = socketio.Client(reconnection=False)
    client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
    started = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=15) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"stopping took {elapsed:.1f}s"
    assert "Neurocache stopped." in process.stdout.read()
    assert "Traceback" not in process.stderr.read()
    deadline = time.monotonic() + 5
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.connected
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/v1/health", timeout=2)
