"""The browser extension, end to end: built by its build script, loaded unpacked into
Debian's Chromium (driven by playwright), paired with a real hub by a code, capturing pages
served on loopback — a page, a selection, a note — found by search; with the hub stopped a
capture waits in the outbox (badge 1), and once the hub is back it is delivered exactly
once. Also its own unit tests (Node's test runner), and the packages each store gets."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from neurocache.app import create_app
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.web.server import HubServer
from tests.support.chat_model import start_model
from tests.support.hub import LiveHub, bearer
from tests.support.tiny_gguf import write_parrot_llama

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
PAGES = {
    "tides.html": "<html><head><title>Tides of Saint-Malo</title></head><body><nav>Home</nav>"
    "<article><h1>Tides of Saint-Malo</h1><p>The tide in Saint-Malo rises twelve "
    "metres, among the highest in Europe.</p><p id='ferry'>The ferry to Jersey "
    "waits for the flood tide.</p></article></body></html>",
    "lighthouse.html": "<html><head><title>Lighthouse keeping</title></head><body><article>"
    "<p>The keeper of Cap Fréhel polishes the lens every quatrefoil "
    "morning.</p></article></body></html>",
}


def test_the_extensions_own_logic(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    result = subprocess.run(
        [node, "--test", "tests/"],
        cwd=ROOT / "browser-extension",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_the_build_makes_a_package_per_browser_with_one_version(tmp_path):
    subprocess.run(
        [sys.executable, "build_scripts/build_extension.py", "--out", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    version = json.loads((ROOT / "browser-extension/package.json").read_text())["version"]
    for browser in ("chromium", "firefox"):
        with zipfile.ZipFile(tmp_path / f"neurocache-{browser}-{version}.zip") as bundle:
            manifest = json.loads(bundle.read("manifest.json"))
            assert {
                "background.js",
                "popup.html",
                "options.html",
                "vendor/Readability.js",
                "icons/icon-128.png",
            } <= set(bundle.namelist())
        assert manifest["version"] == version and manifest["manifest_version"] == 3
        assert manifest["host_permissions"] == [
            "http://127.0.0.1/*",
            "http://localhost/*",
            "http://[::1]/*",
        ]
        assert set(manifest["permissions"]) == {
            "activeTab",
            "storage",
            "unlimitedStorage",
            "contextMenus",
            "scripting",
            "alarms",
        }
    assert manifest["background"] == {"scripts": ["background.js"], "type": "module"}
    assert manifest["browser_specific_settings"]["gecko"]["id"]
    assert manifest["browser_specific_settings"]["gecko"]["data_collection_permissions"] == {
        "required": ["none"]
    }
    first = (tmp_path / f"neurocache-firefox-{version}.zip").read_bytes()
    subprocess.run(
        [
            sys.executable,
            "build_scripts/build_extension.py",
            "--out",
            str(tmp_path),
            "--browser",
            "firefox",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert (tmp_path / f"neurocache-firefox-{version}.zip").read_bytes() == first


# ---- end to end, in Chromium

playwright = pytest.importorskip("playwright.sync_api")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)


class Pages:
    """Web pages to capture, on a loopback port of their own."""

    def __init__(self, folder: Path) -> None:
        for name, html in PAGES.items():
            (folder / name).write_text(html)
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Hub:
    """A real hub that can be stopped and started again on the same port and data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            chat_max_reply_tokens=16,
            chat_temperature=0.0,
            model_health_interval_s=0.5,
        )
        self.live: LiveHub | None = None
        self.port = 0

    def start(self) -> LiveHub:
        app = create_app(self.settings)
        self.live = LiveHub(app, HubServer(app, "127.0.0.1", self.port).start())
        self.port = self.live.server.port
        return self.live

    def stop(self) -> None:
        if self.live is not None:
            self.live.server.stop()
            self.live = None

    @property
    def owner(self) -> dict:
        return bearer(self.live.hub.owner_token.value)

    def documents_at(self, url: str) -> list[dict]:
        listed = requests.get(
            f"{self.live.url}/api/v1/documents?limit=500", headers=self.owner, timeout=10
        ).json()["documents"]
        return [d for d in listed if d["url"] == url]

    def search(self, query: str) -> list[dict]:
        return requests.post(
            f"{self.live.url}/api/v1/search",
            headers=self.owner,
            timeout=30,
            json={"query": query, "mode": "fulltext"},
        ).json()["results"]


@pytest.fixture
def pages(tmp_path) -> Pages:
    return Pages(tmp_path)


@pytest.fixture
def hub(tmp_path):
    """This module's hub (not conftest's): served on a port it keeps across a restart."""
    served = Hub(tmp_path / "data")
    served.start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    out = tmp_path_factory.mktemp("extension")
    subprocess.run(
        [
            sys.executable,
            "build_scripts/build_extension.py",
            "--out",
            str(out),
            "--browser",
            "chromium",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out / "chromium"


@pytest.fixture
def browser(extension, tmp_path):
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                f"--disable-extensions-except={extension}",
                f"--load-extension={extension}",
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        worker = (
            context.service_workers[0]
            if context.service_workers
            else context.wait_for_event("serviceworker", timeout=15_000)
        )
        context.worker = worker
        context.extension_url = worker.url.rsplit("/", 1)[0]
        yield context
        context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def tab_id(browser, url: str) -> int:
    return browser.worker.evaluate(
        "url => chrome.tabs.query({}).then(tabs => tabs.find(t => t.url === url).id)", url
    )


def badge(browser) -> str:
    return browser.worker.evaluate("chrome.action.getBadgeText({})")


def open_popup(browser, article_url: str):
    popup = browser.new_page()
    popup.goto(f"{browser.extension_url}/popup.html?tab={tab_id(browser, article_url)}")
    return popup


def captures_posted(hub: Hub) -> int:
    """POST /api/v1/captures requests the hub answered, by its own usage counts."""
    got = requests.get(
        f"{hub.live.url}/api/v1/usage",
        headers=hub.owner,
        timeout=10,
        params={"bucket": "minute", "group_by": "endpoint"},
    ).json()
    return sum(
        s["totals"]["requests"]
        for s in got["series"]
        if s["group"]["endpoint"] == "POST /api/v1/captures"
    )


def pair(browser, hub: Hub) -> None:
    code = hub.live.hub.pairings.create(Actor("owner"))["code"]
    options = browser.new_page()
    options.goto(f"{browser.extension_url}/options.html")
    options.fill("#url", hub.live.url)
    options.fill("#code", code.lower())
    options.click("#pair")
    options.wait_for_selector("#status.ok:has-text('connected')")
    shot(options, "extension-options")
    options.close()


@needs_chromium
def test_capture_page_selection_and_note_then_find_them(browser, pages, hub):
    pair(browser, hub)
    keys = hub.live.hub.keys.list()[0]
    assert keys[0].scopes == ["read", "write", "chat"]
    article = browser.new_page()
    article.goto(f"{pages.url}/tides.html")
    popup = open_popup(browser, article.url)
    popup.wait_for_selector("#status.ok")
    popup.click("#save-page")
    popup.wait_for_selector("#result.ok[data-saves='1']:has-text('Saved')")
    [document] = hub.documents_at(article.url)
    assert document["title"] == "Tides of Saint-Malo"
    assert hub.live.hub.jobs.wait_idle(60)
    assert hub.search("twelve metres")

    article.evaluate("""() => { const range = document.createRange();
        range.selectNodeContents(document.getElementById('ferry'));
        getSelection().removeAllRanges(); getSelection().addRange(range); }""")
    popup.click("#save-selection")
    popup.wait_for_selector("#result.ok[data-saves='2']:has-text('Saved')")
    popup.fill("#note", "Ask the harbour master about spring tides")
    popup.fill("#tags", "sea, travel")
    popup.click("#save-note")
    popup.wait_for_selector("#result.ok[data-saves='3']:has-text('Saved')")
    shot(popup, "extension-popup")
    assert hub.live.hub.jobs.wait_idle(60)
    found = {d["id"]: d for d in hub.documents_at(article.url)}
    assert len(found) == 3
    selection = hub.search("ferry Jersey flood")[0]
    assert selection["text"].strip() == "The ferry to Jersey waits for the flood tide."
    note = hub.search("harbour master spring")[0]
    stored = hub.live.hub.graph.get(note["document"]["id"])
    assert stored.metadata["tags"] == ["sea", "travel"]
    assert stored.metadata["capture"] == "note"
    assert badge(browser) == ""


@needs_chromium
def test_the_context_menu_and_shortcut_path_captures_without_the_popup(browser, pages, hub):
    """The context menu and the keyboard shortcut call the worker's `capture(kind, tab)`;
    a menu click cannot be scripted, so the test calls what the click calls."""
    pair(browser, hub)
    article = browser.new_page()
    article.goto(f"{pages.url}/lighthouse.html")
    outcome = browser.worker.evaluate(
        "tab => self.neurocache.capture('page', tab)", tab_id(browser, article.url)
    )
    assert outcome["status"] == "delivered" and outcome["accepted"]["duplicate"] is False
    [document] = hub.documents_at(article.url)
    assert document["title"] == "Lighthouse keeping"
    menus = browser.worker.evaluate(
        "new Promise(r => chrome.contextMenus.update("
        "'neurocache-selection', {}, () => r("
        "!chrome.runtime.lastError)))"
    )
    assert menus, "the context menu entries exist"
    commands = browser.worker.evaluate("chrome.commands.getAll().then(c => c.map(x => x.name))")
    assert {"save-page", "save-selection"} <= set(commands)


@needs_chromium
def test_with_the_hub_away_a_capture_waits_then_arrives_exactly_once(browser, pages, hub):
    pair(browser, hub)
    hub.stop()
    article = browser.new_page()
    article.goto(f"{pages.url}/lighthouse.html")
    popup = open_popup(browser, article.url)
    popup.click("#save-page")
    popup.wait_for_selector("#result.error:has-text('Kept to send later')")
    popup.wait_for_selector("#outbox li:has-text('Lighthouse keeping')")
    assert badge(browser) == "1"
    shot(popup, "extension-outbox")

    hub.start()  # same port, same data dir
    # the capture due at once, and three flushes racing for it (the alarm's, the
    # popup's, a worker start's): the hub is asked once — counted by its usage log
    browser.worker.evaluate("""async () => {
        const { queue } = await chrome.storage.local.get("queue");
        await chrome.storage.local.set({ queue: queue.map(i => ({ ...i, nextAt: 0 })) });
        await Promise.all([self.neurocache.flush(), self.neurocache.flush(),
                           self.neurocache.flush()]); }""")
    assert badge(browser) == ""
    assert captures_posted(hub) == 1
    popup.reload()
    popup.wait_for_selector("#outbox-section", state="hidden")
    assert len(hub.documents_at(article.url)) == 1
    # the same page captured again is kept once by the hub (the outbox's safety net)
    popup.click("#save-page")
    popup.wait_for_selector("#result.ok[data-saves='1']:has-text('Already saved')")
    assert len(hub.documents_at(article.url)) == 1
    assert hub.live.hub.jobs.wait_idle(60)
    assert hub.search("quatrefoil")


@needs_chromium
def test_a_refused_key_holds_the_capture_for_the_user(browser, pages, hub):
    pair(browser, hub)
    key_id = hub.live.hub.keys.list()[0][0].id
    hub.live.hub.keys.revoke(key_id, Actor("owner"))
    article = browser.new_page()
    article.goto(f"{pages.url}/tides.html")
    popup = open_popup(browser, article.url)
    popup.click("#save-page")
    popup.wait_for_selector("#outbox li:has-text('Needs you')")
    popup.on("dialog", lambda dialog: dialog.accept())
    popup.click("#outbox button:has-text('Discard')")
    popup.wait_for_selector("#outbox-section", state="hidden")
    assert hub.documents_at(article.url) == []


@needs_chromium
def test_the_popup_asks_about_memory_with_a_streamed_answer_and_sources(
    browser, pages, hub, tmp_path
):
    live = hub.live
    start_model(live.hub, write_parrot_llama(tmp_path / "parrot.gguf", words=("tide", "[1]")))
    live.hub.knowledge.add_text(
        title="Tide tables",
        body="Spring tides come after the full moon.",
        fmt="text",
        actor=Actor("test"),
        url="https://example.org/tide-tables",
    )
    assert live.hub.jobs.wait_idle(60)
    pair(browser, hub)
    article = browser.new_page()
    article.goto(f"{pages.url}/tides.html")
    popup = open_popup(browser, article.url)
    popup.fill("#question", "When do spring tides come?")
    popup.check("input[name=scope][value=memory]")
    popup.click("#ask-form button[type=submit]")
    popup.wait_for_selector("#answer[data-asked='1'][aria-busy='false']")
    assert popup.query_selector("#sources li a[href='https://example.org/tide-tables']")
    assert "tide" in popup.inner_text("#answer")
    popup.check("input[name=scope][value=page]")
    popup.fill("#question", "What is this page about?")
    popup.click("#ask-form button[type=submit]")
    popup.wait_for_selector("#answer[data-asked='2'][aria-busy='false']")
    assert "tide" in popup.inner_text("#answer")
    assert popup.query_selector_all("#sources li") == []  # about the page: no memory
    shot(popup, "extension-ask")
