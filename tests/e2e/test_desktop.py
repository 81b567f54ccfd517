"""`neurocache desktop` as a real process: a window on a virtual screen (Xvfb, pywebview's Qt
backend), brought forward by a second launch, closed like a person closes it (the window
manager's WM_DELETE_WINDOW) — which stops the hub and its model servers; and where no window
can be shown, the system browser instead."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from neurocache.desktop import window_backend
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_the_backend_is_chosen_by_platform_and_display():
    assert window_backend("win32", {}) == "edgechromium"
    assert window_backend("darwin", {}) == "cocoa"
    assert window_backend("linux", {}) is None  # no display: the browser
    with_display = window_backend("linux", {"DISPLAY": ":0"})
    assert with_display in ("qt", "gtk", None)


def launch(data_dir: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurocache",
            "desktop",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            *extra,
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def hub_url(data_dir: Path) -> str:
    assert wait_for(lambda: (data_dir / "hub.json").exists(), timeout=60)
    import json

    return json.loads((data_dir / "hub.json").read_text())["url"]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_without_a_display_the_browser_opens_and_a_second_launch_asks_the_first(tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"  # stands in for the system browser: notes the URL
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "BROWSER": str(browser)}
    data_dir = tmp_path / "data"
    first = launch(data_dir, env)
    try:
        url = hub_url(data_dir)
        assert wait_for(lambda: opened.exists() and opened.read_text().strip(), timeout=30)
        login = opened.read_text().splitlines()[0]
        assert login.startswith(url + "/?token=nco_")
        assert requests.get(login, timeout=10).status_code == 200
        second = launch(data_dir, env)
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 0, output
        assert "already open" in output
        assert wait_for(lambda: len(opened.read_text().splitlines()) == 2, timeout=10)
    finally:
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=60)
    assert first.returncode == 0, output
    assert "opening your browser instead" in output
    assert not (data_dir / "hub.json").exists()


def test_beside_a_serving_hub_the_desktop_opens_it_instead_of_a_second_hub(tmp_path):
    from tests.support.proc import start_serve

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    serving, match = start_serve(tmp_path / "data", "--port", "0")
    try:
        desktop = launch(tmp_path / "data", {"DISPLAY": "", "BROWSER": str(browser)})
        output, _ = desktop.communicate(timeout=60)
        assert desktop.returncode == 0, output
        assert "without a window" in output
        assert opened.read_text().strip() == f"{match.group(1)}/?token={match.group(3)}"
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "neurocache",
                "serve",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode != 0 and "another hub already serves" in again.stderr
        # the refused one still says how to get in: the running hub's sign-in link
        assert f"Open the hub that runs: {match.group(1)}/?token={match.group(3)}" in again.stderr
    finally:
        serving.send_signal(signal.SIGINT)
        serving.communicate(timeout=60)


def close_window(display: str, title: str) -> None:
    """What a window manager does when the close button is pressed."""
    from Xlib import X, protocol
    from Xlib import display as xdisplay

    screen = xdisplay.Display(display)
    windows = [screen.screen().root]
    while windows:
        window = windows.pop()
        if window.get_wm_name() == title:
            break
        windows += window.query_tree().children
    else:
        raise AssertionError(f"no window named {title!r}")
    protocols = screen.intern_atom("WM_PROTOCOLS")
    delete = screen.intern_atom("WM_DELETE_WINDOW")
    window.send_event(
        protocol.event.ClientMessage(
            window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
        )
    )
    screen.flush()


def screenshot(display: str, path: Path) -> None:
    """The whole virtual screen, grabbed by Qt (in its own process)."""
    grab = (
        "from PyQt6.QtGui import QGuiApplication; app = QGuiApplication([]); "
        f"app.primaryScreen().grabWindow(0).save({str(path)!r})"
    )
    subprocess.run(
        [sys.executable, "-c", grab],
        env={**os.environ, "DISPLAY": display},
        check=True,
        timeout=60,
        capture_output=True,
    )


@pytest.fixture
def virtual_screen():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (make test installs it with apt when it can)")
    if window_backend("linux", {"DISPLAY": ":0"}) != "qt":
        pytest.skip("pywebview's Qt backend (PyQt6-WebEngine) is not installed")
    number = 90 + os.getpid() % 100
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1366x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), timeout=10)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_a_window_opens_comes_forward_and_closing_it_stops_everything(tmp_path, virtual_screen):
    env = {
        "DISPLAY": virtual_screen,
        "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox",
        "WAYLAND_DISPLAY": "",
    }
    data_dir = tmp_path / "data"
    desktop = launch(data_dir, env, "--model-health-interval-s", "0.5")
    try:
        url = hub_url(data_dir)
        owner = {"Authorization": f"Bearer {(data_dir / 'owner_token').read_text().strip()}"}
        model = requests.post(
            f"{url}/api/v1/models",
            headers=owner,
            timeout=30,
            json={"path": str(write_tiny_llama(tmp_path / "tiny.gguf"))},
        ).json()
        requests.post(f"{url}/api/v1/models/{model['id']}/start", headers=owner, timeout=30)
        assert wait_for(
            lambda: (
                requests.get(
                    f"{url}/api/v1/models/{model['id']}", timeout=10, headers=owner
                ).json()["state"]
                == "running"
            ),
            timeout=90,
        )
        time.sleep(4)  # the page draws itself
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(virtual_screen, ARTIFACTS / "desktop-window.png")
        second = launch(data_dir, env)
        output, _ = second.communicate(timeout=60)
        assert second.returncode == 0 and "brought forward" in output, output
        model_servers = children_of(desktop.pid)
        assert model_servers, "the model server runs as a child of the desktop hub"
        close_window(virtual_screen, "Neurocache")
        output, _ = desktop.communicate(timeout=60)
    finally:
        if desktop.poll() is None:
            desktop.kill()
    assert desktop.returncode == 0, output
    assert not (data_dir / "hub.json").exists()
    assert wait_for(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in model_servers), timeout=20
    ), "a model server outlived the window"
