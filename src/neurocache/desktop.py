"""`neurocache desktop`: the hub in a background thread and a window on its browser client.

One hub per data dir: a second launch finds the first by its lock, asks it to bring its
window forward, and ends. Closing the window stops the hub and every model server. Where no
window can be made (no display, or no web view: see docs/decisions/0010-desktop-window.md)
the system browser opens the same page instead, and the hub runs until Ctrl-C or a signal.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
from filelock import FileLock, Timeout

from neurocache.app import create_app, hub_of
from neurocache.settings import RUNTIME_FILE, Settings, ensure_private_dir
from neurocache.startup import quick_start
from neurocache.threads import Threads
from neurocache.web.server import HubServer

log = logging.getLogger("neurocache.desktop")
LOCK_FILE = "hub.lock"  # held by the hub serving a data dir (`serve` or `desktop`)
FORWARD_TRIES_S = 15.0  # a first instance may still be starting
WINDOW_SIZE = (1280, 860)


def window_backend(
    platform: str = sys.platform, environ: Mapping[str, str] | None = None
) -> str | None:
    """The pywebview backend that can show a window here, or None (then: the browser)."""
    environ = os.environ if environ is None else environ
    if importlib.util.find_spec("webview") is None:
        return None
    if platform == "win32":
        return "edgechromium"
    if platform == "darwin":
        return "cocoa"
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return None  # Qt and GTK abort the process without a display: never try
    if _importable("PyQt6.QtWebEngineWidgets"):
        return "qt"
    if _importable("gi"):
        return "gtk"
    return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def hub_lock(data_dir: Path) -> FileLock:
    """One hub per data dir: `serve` and `desktop` both take this lock (an OS lock, so a
    crashed hub leaves none behind)."""
    return FileLock(str(ensure_private_dir(data_dir) / LOCK_FILE))


def ask_first_instance_forward(settings: Settings) -> str | None:
    """Ask the hub serving this data dir to show itself: `window` (it brought its window
    forward), the login URL of a hub without a window (`serve`), or None (no answer)."""
    deadline = time.monotonic() + FORWARD_TRIES_S
    while True:
        try:
            info = json.loads((settings.data_dir / RUNTIME_FILE).read_text())
            token = (settings.data_dir / "owner_token").read_text().strip()
            answer = requests.post(
                info["url"] + "/api/v1/desktop/focus",
                timeout=5,
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code == 200:
                return "window"
            if answer.status_code == 409:  # `neurocache serve`: no window to bring forward
                return f"{info['url']}/?token={token}"
        except (OSError, ValueError, KeyError, requests.RequestException):
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def start_hub(settings: Settings) -> tuple[Any, HubServer]:
    """The hub on its port, or on a free one when another program holds that port (a
    desktop user cares about the window, not the number)."""
    with quick_start():
        app = create_app(settings)
    try:
        server = HubServer(app, settings.host, settings.port, hub_of(app).threads)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            hub_of(app).close()
            raise
        log.warning("port %s is taken: the hub listens on a free port", settings.port)
        server = HubServer(app, settings.host, 0, hub_of(app).threads)
    server.announce(settings.data_dir)
    return app, server.start()


def run(
    settings: Settings,
    *,
    backend: str | None = None,
    open_browser: Callable[[str], Any] = webbrowser.open,
    say: Callable[[str], None] = print,
) -> int:
    """Run the desktop hub until its window closes (or a signal, without a window)."""
    lock = hub_lock(settings.data_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return _show_first_instance(settings, open_browser, say)
    try:
        return _run_locked(
            settings, backend if backend is not None else window_backend(), open_browser, say
        )
    finally:
        lock.release()


def _show_first_instance(
    settings: Settings, open_browser: Callable[[str], Any], say: Callable[[str], None]
) -> int:
    shown = ask_first_instance_forward(settings)
    if shown == "window":
        say("Neurocache is already open: its window is brought forward.")
    elif shown:
        say(
            f"A hub already serves this data dir (without a window): opening it in your "
            f"browser: {shown}"
        )
        open_browser(shown)
    else:
        say("A hub holds this data dir but does not answer; see its window or its log.")
    return 0 if shown else 1


def _run_locked(
    settings: Settings,
    backend: str | None,
    open_browser: Callable[[str], Any],
    say: Callable[[str], None],
) -> int:
    app, server = start_hub(settings)
    hub = hub_of(app)
    url = f"{server.url}/?token={hub.owner_token.value}"
    try:
        if not (backend and _window(hub, url, backend)):
            say(
                "No desktop window can be shown here (no display or no web view); "
                f"opening your browser instead: {url}"
            )
            hub.come_forward = lambda: open_browser(url)
            open_browser(url)
            _wait_for_signal(then=server.stop)
    finally:
        server.stop()  # closes the hub: model servers stop with it
    return 0


def _window(hub: Any, url: str, backend: str) -> bool:
    """Show the window until it is closed; False when none could be made."""
    import webview

    if backend == "qt":  # as root (containers, CI) Chromium's sandbox cannot start
        os.environ.setdefault(
            "QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox" if os.geteuid() == 0 else ""
        )
    window = webview.create_window(
        "Neurocache", url, width=WINDOW_SIZE[0], height=WINDOW_SIZE[1], min_size=(420, 480)
    )
    hub.come_forward = lambda: _raise(window)
    try:
        # returns when the window is closed (`backend` is one of the names it knows)
        webview.start(gui=backend, private_mode=True)  # type: ignore[arg-type]
    except Exception:  # e.g. no WebView2 runtime, GTK without WebKit: the browser instead
        log.exception("the %s window could not be shown", backend)
        hub.come_forward = None
        return False
    return True


def _raise(window: Any) -> None:
    window.restore()
    window.show()
    window.on_top = True  # a short "always on top" is how each platform lets it come up
    Threads().later(0.5, lambda: setattr(window, "on_top", False))


def _wait_for_signal(then: Callable[[], None]) -> None:
    """Until Ctrl-C or SIGTERM; `then` runs before the usual handlers return, so a second
    Ctrl-C during the shutdown cannot cut it short."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(0.5):
            pass
        then()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
