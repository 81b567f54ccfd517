"""The browser client end to end: Debian's chromium driven by playwright against a real hub
with a real llama.cpp model (a parrot GGUF that answers `see [1] see [1] …`, so every reply
cites its first source). Screenshots of each page go to test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from neurocache.settings import Settings
from tests.support.chat_model import start_model
from tests.support.hub import bearer, make_key, start_live_hub
from tests.support.tiny_gguf import write_parrot_llama

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
)
PAGE_ERRORS: dict[int, list] = {}
XSS = (
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    "[click me](javascript:window.__xss=3)"
)


@pytest.fixture(scope="module")
def hub_with_model(tmp_path_factory):
    live = start_live_hub(
        Settings(
            data_dir=tmp_path_factory.mktemp("client"),
            chat_max_reply_tokens=16,
            chat_temperature=0.0,
            model_health_interval_s=0.5,
        )
    )
    start_model(
        live.hub,
        write_parrot_llama(tmp_path_factory.mktemp("m") / "cite.gguf", words=("see", "[1]")),
    )
    owner = bearer(live.hub.owner_token.value)
    live.post(
        "/api/v1/documents",
        headers=owner,
        json={
            "title": "Tides",
            "url": "https://example.org/tides",
            "text": "The tide turns at six in the harbour of Saint-Malo, twice a day.",
        },
    )
    assert live.hub.jobs.wait_idle(60)
    yield live
    live.server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def signed_in(browser, live, **options):
    """A new browser context on the hub's page, signed in through the login link."""
    context = browser.new_context(**options)
    page = context.new_page()
    errors = PAGE_ERRORS.setdefault(id(context), [])
    page.on("pageerror", lambda error: errors.append(error))  # checked by `close`
    page.goto(f"{live.url}/?token={live.hub.owner_token.value}")
    page.wait_for_selector("#app:not([hidden])")
    return context, page


def close(context) -> None:
    """The context, after checking that its pages threw nothing."""
    errors = [str(e) for e in PAGE_ERRORS.pop(id(context), [])]
    context.close()
    assert errors == [], errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_ask_and_get_a_streamed_answer_with_a_working_citation(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/chat")
    page.fill("textarea", "When does the tide turn?")
    page.keyboard.press("Enter")
    reply = page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
    assert "see" in reply.inner_text()
    page.click("article.message.assistant button.cite")
    panel = page.wait_for_selector("aside.source:not([hidden])")
    assert "The tide turns at six" in panel.inner_text()
    link = panel.query_selector("a[target=_blank]")
    assert link.get_attribute("href") == "https://example.org/tides"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert page.locator(".list a.active").inner_text().startswith("When does the tide turn")
    shot(page, "chat")
    page.click("aside.source a:has-text('Open the document')")  # the citation's document
    passage = page.wait_for_selector("aside.viewer mark.passage")
    assert "The tide turns at six" in passage.inner_text()
    page.go_back()
    page.click("#theme")
    shot(page, "chat-dark")
    close(context)


def test_two_browsers_see_each_others_messages_live(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    channel = requests.post(
        f"{hub_with_model.url}/api/v1/channels", json={"name": "crew"}, headers=owner, timeout=10
    ).json()
    first_context, first = signed_in(browser, hub_with_model)
    second_context, second = signed_in(browser, hub_with_model)
    for page in (first, second):
        page.goto(f"{hub_with_model.url}/#/channels/{channel['id']}")
        page.wait_for_selector(".pane h2:has-text('# crew')")
    first.fill(".composer textarea", "Anyone seen the harbour master?")
    first.keyboard.press("Enter")
    second.wait_for_selector("article.message:has-text('Anyone seen the harbour master?')")
    second.click(".pane .composer textarea")
    second.keyboard.type("She is on the pier, ask @ow")
    first.wait_for_selector(".typing:has-text('owner is typing')")  # the other tab types
    second.wait_for_selector(".suggestions li:has-text('@owner')")
    second.keyboard.press("Tab")  # completes the mention
    assert second.input_value(".pane .composer textarea").endswith("@owner ")
    second.keyboard.press("Enter")
    said = first.wait_for_selector("article.message:has-text('She is on the pier')")
    said.query_selector("button:has-text('Reply in thread')").click()
    first.fill("aside.source textarea", "Thanks!")
    first.click("aside.source button[type=submit]")
    first.wait_for_selector("aside.source article.message:has-text('Thanks!')")
    second.wait_for_selector("article.message:has-text('Thanks!') .in-thread")
    # the thread's first message counts its replies, in both tabs, live
    for page in (first, second):
        page.wait_for_selector("article.message:has-text('She is on the pier') :text('1 reply')")
    shot(first, "channels")
    close(first_context)
    close(second_context)


def test_script_in_a_message_stays_inert(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    channel = requests.post(
        f"{hub_with_model.url}/api/v1/channels", json={"name": "xss"}, headers=owner, timeout=10
    ).json()
    for content in (XSS, '<div class="banner" id="offline">FAKE: paste your token</div>'):
        requests.post(
            f"{hub_with_model.url}/api/v1/channels/{channel['id']}/messages",
            json={"content": content},
            headers=owner,
            timeout=10,
        )
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/channels/{channel['id']}")
    page.wait_for_selector("article.message:has-text('click me')")
    page.click("article.message a:has-text('click me')") if page.query_selector(
        "article.message a[href^='javascript']"
    ) else None
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.query_selector("article.message img[onerror]") is None
    assert page.query_selector("article.message script") is None
    # nor can a message dress up as the hub's own page (its classes and ids are dropped)
    page.wait_for_selector("article.message:has-text('FAKE')")
    assert page.evaluate("document.querySelectorAll('#offline').length") == 1
    assert page.query_selector("article.message .banner") is None
    close(context)


def test_upload_then_search_with_highlights(browser, hub_with_model, tmp_path):
    notes = tmp_path / "lighthouse.md"
    notes.write_text("# Lighthouse\n\nThe lighthouse keeper feeds the gulls at dawn.\n")
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    page.set_input_files(".drop input[type=file]", str(notes))
    page.wait_for_selector(".documents tr:has-text('lighthouse') .status.indexed", timeout=30_000)
    page.fill(".search input", "gulls at dawn")
    page.click(".search button")
    hit = page.wait_for_selector(".results li mark")
    assert hit.inner_text().lower() in ("gulls", "dawn")
    shot(page, "knowledge")
    close(context)


def test_a_long_upload_shows_time_left_and_can_be_cancelled(browser, hub_with_model, tmp_path):
    long = tmp_path / "almanac.txt"  # about 600 chunks: minutes of embedding on 2 cores
    long.write_text(
        "\n\n".join(
            f"Entry {i}: harbour light {i * 7919 % 10007} was lit at "
            f"{i % 24} o'clock by keeper {i * 31 % 97}."
            for i in range(8000)
        )
    )
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    page.set_input_files(".drop input[type=file]", str(long))
    line = page.wait_for_selector(
        ".uploads li:has-text('almanac.txt'):has-text('left')", timeout=60_000
    )
    shot(page, "knowledge-upload-progress")
    line.query_selector("button.cancel").click()
    page.wait_for_selector(
        ".uploads li:has-text('almanac.txt'):has-text('cancelled')", timeout=30_000
    )
    assert page.query_selector(".uploads li:has-text('almanac.txt') button.cancel") is None
    assert hub_with_model.hub.jobs.wait_idle(60)
    close(context)


def test_a_watched_folder_brings_its_files_in(browser, hub_with_model, tmp_path):
    folder = tmp_path / "Harbour notes"
    folder.mkdir()
    (folder / "ferries.md").write_text("# Ferries\n\nThe ferry to Dinard leaves at noon.\n")
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    page.fill("input[aria-label='Folder to watch']", str(folder))
    page.click("button:has-text('Watch')")
    page.wait_for_selector(f"ul.folders li:has-text('{folder}')")
    page.wait_for_selector(".documents tr:has-text('Ferries') .status.indexed", timeout=30_000)
    page.fill(".search input", "ferry to Dinard")
    page.click(".search button")
    page.wait_for_selector(".results li:has-text('Dinard')")
    page.click(f"ul.folders li:has-text('{folder}') button:has-text('Stop watching')")
    page.wait_for_selector(f"ul.folders li:has-text('{folder}')", state="detached")
    close(context)


def test_a_collection_is_renamed_and_deleted_from_the_knowledge_page(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    requests.post(
        f"{hub_with_model.url}/api/v1/collections",
        json={"name": "Quays"},
        headers=owner,
        timeout=10,
    )
    requests.post(
        f"{hub_with_model.url}/api/v1/agents",
        headers=owner,
        timeout=10,
        json={"name": "Harbourmaster", "collections": ["Quays"]},
    )
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    page.wait_for_selector(
        "select[aria-label='Collection'] option[value='Quays']", state="attached"
    )
    page.select_option("select[aria-label='Collection']", "Quays")
    page.on("dialog", lambda dialog: pytest.fail(f"a native dialog: {dialog.message}"))
    page.click("button:has-text('Rename')")
    page.fill("dialog input[name=name]", "Harbour walls")
    page.click("dialog button:has-text('Rename')")
    page.wait_for_selector(
        "select[aria-label='Collection'] option[value='Harbour walls']", state="attached"
    )
    page.click("button:has-text('Delete collection')")
    # warned before the delete: the agent draws on nothing from it afterwards
    warning = page.wait_for_selector("dialog[open]").inner_text()
    assert "Harbourmaster draw on “Harbour walls”" in warning, warning
    page.click("dialog button.danger")
    page.wait_for_selector(
        "select[aria-label='Collection'] option[value='Harbour walls']", state="detached"
    )
    names = [c.name for c in hub_with_model.hub.knowledge.list_collections()]
    assert "Quays" not in names and "Harbour walls" not in names
    close(context)


def test_models_page_registers_a_local_file_and_a_remote_server(browser, hub_with_model, tmp_path):
    gguf = write_parrot_llama(tmp_path / "harbour-pilot.gguf", words=("ahoy", "there"))
    running = next(m for m in hub_with_model.hub.models.list() if m.state == "running")
    models_dir = hub_with_model.hub.settings.effective_models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    write_parrot_llama(models_dir / "found-pilot.gguf", words=("found", "it"))
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/models")
    # a file the hub found on this computer, added with a click (a browser cannot give a path)
    page.click(".found-files button:has-text('Add found-pilot')")
    page.wait_for_selector("li.model:has-text('found-pilot') .status.installed")
    page.wait_for_selector(".found-files button:has-text('Add found-pilot')", state="detached")
    page.fill("input[aria-label='Local file']", str(gguf))
    page.click("button:has-text('Add file')")
    page.wait_for_selector("li.model:has-text('harbour-pilot') .status.installed")
    # a "remote" server: the running model's own OpenAI-compatible server, on loopback
    page.fill("input[aria-label='Server URL']", f"http://127.0.0.1:{running.server.port}/v1")
    page.fill("input[aria-label='Model name']", "pilot-remote")
    page.click("button:has-text('Add server')")
    page.wait_for_selector("li.model:has-text('pilot-remote') .status.running")
    page.fill("input[aria-label='Local file']", str(tmp_path / "missing.gguf"))
    page.click("button:has-text('Add file')")
    page.wait_for_selector(".toast:has-text('missing.gguf')")
    shot(page, "models-registered")
    close(context)


def test_first_run_downloads_starts_and_answers(browser, tmp_path):
    """Nothing yet: the chat page's guide offers the recommended model, downloads it (from
    a local file server standing in for the internet) with progress and starts it; then
    takes a folder of notes; then the first question is answered with a source."""
    import hashlib
    import json

    from tests.support.file_server import FileServer

    model = write_parrot_llama(tmp_path / "parrot.gguf", words=("see", "[1]"))
    data = model.read_bytes()
    files = FileServer()
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {
                        "id": "parrot",
                        "name": "Parrot 1B",
                        "role": "chat",
                        "format": "gguf",
                        "url": files.serve("/parrot.gguf", data, rate_bytes_per_s=len(data) // 6),
                        "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "license": "MIT",
                        "recommended": True,
                        "description": "Says the same thing, with a source.",
                    }
                ],
            }
        )
    )
    live = start_live_hub(
        Settings(
            data_dir=tmp_path / "data",
            catalog_path=catalog,
            chat_max_reply_tokens=16,
            chat_temperature=0.0,
        )
    )
    try:
        import time

        began = time.monotonic()  # a fresh data dir, signed in: the clock of the first run
        context, page = signed_in(browser, live)
        card = page.wait_for_selector(".first-run:not([hidden])")
        assert "Parrot 1B" in card.inner_text()
        page.click(".first-run button:has-text('Download')")
        page.wait_for_selector(".first-run progress")  # live progress while it comes
        shot(page, "first-run-downloading")
        page.click(".first-run button:has-text('Start')", timeout=30_000)
        page.wait_for_selector(
            ".first-run .guide-step.done:has-text('A chat model')", timeout=60_000
        )
        notes = tmp_path / "notes"
        notes.mkdir()
        (notes / "boat.md").write_text("# The boat\n\nThe dinghy's oars hang in the shed.\n")
        page.fill(".first-run input[aria-label='A folder of your notes']", str(notes))
        page.click(".first-run button:has-text('Add folder')")
        page.wait_for_selector(".first-run .guide-step.done:has-text('Your notes')", timeout=60_000)
        shot(page, "first-run-ask")
        page.fill(".composer textarea", "Where are the oars?")
        page.keyboard.press("Enter")
        reply = page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
        answered_s = round(time.monotonic() - began, 1)
        reply.query_selector("button.cite").click()  # the answer's source: the note
        assert "oars hang in the shed" in page.wait_for_selector("aside.source").inner_text()
        assert page.locator(".first-run").is_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "first-run.json").write_text(
            json.dumps({"to_first_answer_s": answered_s, "model_bytes": len(data)})
        )
        page.goto(f"{live.url}/#/models")
        page.wait_for_selector("#model-parrot .status.running")
        shot(page, "models")
        close(context)
    finally:
        live.server.stop()
        files.close()


def test_agents_are_made_and_their_memories_moved_between_tiers(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/agents/new")
    page.fill("input[aria-label=Name]", "Harbour Pilot")
    page.fill("textarea[aria-label=Persona]", "You know every rock in the bay.")
    page.click("form.editor button:has-text('Create')")
    page.wait_for_selector(".pane h2:has-text('Harbour Pilot')")
    page.fill("textarea[aria-label='New memory']", "The red buoy marks the reef")
    page.click("form.composer button:has-text('Add')")
    item = page.wait_for_selector(".memories li:has-text('The red buoy marks the reef')")
    item.query_selector("select").select_option("long_term")
    page.click(".tabs button:has-text('Long-term')")
    page.wait_for_selector(".memories li:has-text('The red buoy marks the reef')")
    assert "What it keeps" in page.inner_text(".tier-help")  # each tier is explained
    page.fill("input[aria-label='Search memories']", "buoy reef")
    page.click("form.search button")
    found = page.wait_for_selector(".memories li:has-text('Long-term')")
    assert found.query_selector("select[aria-label='Move to tier']")  # its actions stay
    shot(page, "agents")
    page.click("button:has-text('Chat with Harbour Pilot')")
    page.wait_for_selector(".pill:has-text('agent: Harbour Pilot')")
    close(context)


def test_dashboard_keys_are_shown_once_and_revoked(browser, hub_with_model):
    context, page = signed_in(
        browser, hub_with_model, permissions=["clipboard-read", "clipboard-write"]
    )
    page.goto(f"{hub_with_model.url}/#/dashboard")
    page.wait_for_selector(".stat")
    page.fill("input[aria-label='Key name']", "my script")
    page.click("button:has-text('Create key')")
    secret = page.wait_for_selector(".secret code").inner_text()
    assert secret.startswith("nc_")
    page.click(".secret button:has-text('Copy')")
    page.wait_for_selector(".secret button:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    response = requests.get(
        f"{hub_with_model.url}/api/v1/status", headers=bearer(secret), timeout=10
    )
    assert response.status_code == 200
    page.click("tr:has-text('my script') button:has-text('Revoke')")
    page.click("dialog button.danger")
    page.wait_for_selector("tr:has-text('my script') :text('revoked')")
    assert (
        requests.get(
            f"{hub_with_model.url}/api/v1/status", headers=bearer(secret), timeout=10
        ).status_code
        == 401
    )
    page.reload()
    revoked = page.wait_for_selector("table.models tr:has-text('key revoked')")
    assert "my script" in revoked.inner_text() and "You" in revoked.inner_text()
    assert "revoked_at" in revoked.inner_text()  # what changed, before → after
    page.select_option("select[aria-label='Show changes to']", "collection.")
    page.wait_for_selector("table.models tr:has-text('key revoked')", state="detached")
    assert secret not in page.content()  # shown once, never again
    shot(page, "dashboard")
    close(context)


def test_dashboard_charts_usage_over_time_and_per_key(browser, hub_with_model):
    url = hub_with_model.url
    secret = make_key(hub_with_model.hub, "read", name="usage probe")
    for _ in range(3):
        requests.get(f"{url}/api/v1/collections", headers=bearer(secret), timeout=10)
    requests.get(f"{url}/api/v1/documents/nope", headers=bearer(secret), timeout=10)
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{url}/#/dashboard")
    for title in ("Requests", "Tokens", "Ingestion", "Latency (ms)"):
        page.wait_for_selector(f"[data-chart='{title}'] canvas")
    page.select_option("select[aria-label='Break down by']", "caller")
    page.wait_for_selector("[data-chart='Requests by key'] canvas")
    row = page.wait_for_selector(".usage-totals tr:has-text('usage probe')")
    cells = [c.inner_text() for c in row.query_selector_all("td")]
    assert cells[1:3] == ["4", "1"]  # 4 requests, 1 of them an error
    page.select_option("select[aria-label='Time range']", "day")
    page.wait_for_selector(".usage-totals tr:has-text('usage probe')")
    shot(page, "dashboard-usage")
    close(context)


def test_dashboard_pairs_a_browser_extension_by_code(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/dashboard")
    page.click("button:has-text('Pair a browser extension')")
    code = page.wait_for_selector(".pair-code").inner_text()
    claimed = requests.post(
        f"{hub_with_model.url}/api/v1/pairings/claim",
        timeout=10,
        json={"code": code, "name": "paired in a test"},
    )
    assert claimed.status_code == 201 and claimed.json()["scopes"] == ["read", "write", "chat"]
    close(context)


def test_a_narrow_window_and_the_keyboard(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model, viewport={"width": 420, "height": 800})
    page.goto(f"{hub_with_model.url}/#/chat")
    assert page.is_visible("nav.rail a[data-section=channels]")
    page.wait_for_selector("section.sidebar .list a")  # the list, full width
    shot(page, "chat-narrow-list")
    page.click("section.sidebar .list a")
    page.wait_for_selector("section.sidebar", state="hidden")  # then the conversation alone
    page.wait_for_selector("header .back")
    page.focus("header .back")
    for _ in range(60):  # through the header's controls and each message's buttons
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "TEXTAREA":
            break
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Message"
    shot(page, "chat-narrow")
    page.click("header .back")
    page.wait_for_selector("section.sidebar .list a")
    close(context)


def test_html_in_a_model_reply_and_a_captured_page_stays_inert(browser, tmp_path):
    """A model that answers with markup, and a captured page full of script: shown, never
    run (a hub of its own: one chat model runs at a time)."""
    live = start_live_hub(
        Settings(data_dir=tmp_path / "data", chat_max_reply_tokens=16, chat_temperature=0.0)
    )
    try:
        start_model(
            live.hub,
            write_parrot_llama(
                tmp_path / "rude.gguf", words=("<script>window.__xss=4</script>", "[1]")
            ),
        )
        owner = bearer(live.hub.owner_token.value)
        live.post(
            "/api/v1/captures",
            headers=owner,
            json={
                "url": "https://evil.example/page",
                "title": "<script>window.__xss=5</script>",
                "html": "<html><body><h1>Evil page</h1><p>Seashells <script>window.__xss=6"
                "</script><img src=x onerror='window.__xss=7'> on the shore.</p>"
                "</body></html>",
            },
        )
        assert live.hub.jobs.wait_idle(60)
        context, page = signed_in(browser, live)
        page.goto(f"{live.url}/#/chat")
        page.fill(".composer textarea", "Tell me about seashells")
        page.keyboard.press("Enter")
        reply = page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
        conversations = requests.get(
            f"{live.url}/api/v1/conversations", headers=owner, timeout=10
        ).json()["conversations"]
        said = requests.get(
            f"{live.url}/api/v1/conversations/{conversations[0]['id']}", headers=owner, timeout=10
        ).json()["messages"][-1]["content"]
        assert "<script>window.__xss=4</script>" in said  # the model did write markup
        assert "<script" not in reply.inner_html()
        page.goto(f"{live.url}/#/knowledge")
        page.fill(".search input", "seashells shore")
        page.click(".search button")
        page.wait_for_selector(".results li")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None
        assert page.query_selector("#view img[onerror], #view script") is None
        shot(page, "xss-inert")
        close(context)
    finally:
        live.server.stop()


def test_the_page_says_when_the_hub_is_gone_and_catches_up_when_it_is_back(browser, tmp_path):
    from neurocache.app import create_app
    from neurocache.web.server import HubServer
    from tests.support.hub import LiveHub

    settings = Settings(data_dir=tmp_path / "data")
    first = start_live_hub(settings)
    port, owner = first.server.port, bearer(first.hub.owner_token.value)
    channel = first.post("/api/v1/channels", json={"name": "news"}, headers=owner).json()
    context, page = signed_in(browser, first)
    page.goto(f"{first.url}/#/channels/{channel['id']}")
    page.wait_for_selector(".pane h2:has-text('# news')")
    first.server.stop()
    page.wait_for_selector("#offline:not([hidden])", timeout=10_000)
    shot(page, "offline")
    app = create_app(settings)
    second = LiveHub(app, HubServer(app, "127.0.0.1", port).start())
    try:
        second.post(
            f"/api/v1/channels/{channel['id']}/messages",
            headers=owner,
            json={"content": "Said while you were away"},
        )
        page.wait_for_selector(
            "article.message:has-text('Said while you were away')", timeout=20_000
        )
        page.wait_for_selector("#offline", state="hidden")
        close(context)
    finally:
        second.server.stop()


@pytest.mark.parametrize("width", [1280, 400])
def test_channels_are_made_and_managed_in_page_dialogs(browser, hub_with_model, width):
    """Creating a channel, adding an agent (picked, with its mode), renaming, describing and
    removing a member: in-page dialogs that check their fields, cancel on Escape and give
    focus back; never the browser's prompt() or confirm()."""
    owner = bearer(hub_with_model.hub.owner_token.value)
    lookout = requests.post(
        f"{hub_with_model.url}/api/v1/agents",
        headers=owner,
        json={"name": f"Lookout {width}"},
        timeout=10,
    ).json()
    context, page = signed_in(browser, hub_with_model, viewport={"width": width, "height": 800})
    page.on("dialog", lambda dialog: pytest.fail(f"a native dialog: {dialog.message}"))
    page.goto(f"{hub_with_model.url}/#/channels/list")
    new = page.wait_for_selector("button[title='New channel']")
    new.click()
    page.wait_for_selector("dialog[open] input[name=name]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    assert page.evaluate("document.activeElement.title") == "New channel"  # focus came back
    new.click()
    page.fill("dialog input[name=name]", "Bad Name")
    page.keyboard.press("Enter")
    assert "Lower-case" in page.wait_for_selector("dialog p.error[role=alert]").inner_text()
    page.fill("dialog input[name=name]", f"quay-{width}")
    page.fill("dialog input[name=description]", "Boats in and out")
    shot(page, f"dialog-new-channel-{width}")
    page.click("dialog button:has-text('Create channel')")
    page.wait_for_selector(f".pane h2:has-text('# quay-{width}')")
    page.click("button:has-text('+ Member')")
    page.select_option("dialog select[name=who]", f"agent:{lookout['id']}")
    page.check("dialog input[value=auto]")
    page.click("dialog button:has-text('Add')")
    page.wait_for_selector(f"ul.members li:has-text('Lookout {width}')")
    channel_id = page.evaluate("location.hash.split('/')[2]")
    members = hub_with_model.hub.channels.members(channel_id)
    assert {(m.member, m.mode) for m in members if m.kind == "agent"} == {
        (f"agent:{lookout['id']}", "auto")
    }
    page.click("button:has-text('Settings')")
    page.fill("dialog input[name=name]", f"harbour-{width}")
    page.fill("dialog input[name=description]", "Who comes and goes")
    page.select_option("dialog select[name=remove]", f"agent:{lookout['id']}")
    shot(page, f"dialog-channel-settings-{width}")
    page.click("dialog button:has-text('Save')")
    page.wait_for_selector(f".pane h2:has-text('# harbour-{width}')")
    page.wait_for_selector(f"ul.members li:has-text('Lookout {width}')", state="detached")
    channel = hub_with_model.hub.channels.get(channel_id)
    assert (channel.name, channel.description) == (f"harbour-{width}", "Who comes and goes")
    assert all(m.kind != "agent" for m in channel.members)
    close(context)


@pytest.mark.parametrize("width", [1280, 400])
def test_models_are_cards_in_plain_words_that_fit_the_window(browser, hub_with_model, width):
    context, page = signed_in(browser, hub_with_model, viewport={"width": width, "height": 800})
    page.goto(f"{hub_with_model.url}/#/models")
    page.wait_for_selector("li.model .status.running")
    states = set(
        page.eval_on_selector_all("li.model .status", "els => els.map(e => e.textContent)")
    )
    assert states <= {"Not downloaded", "Downloading", "Ready", "Running", "Starting…", "Failed"}
    assert "absent" not in page.inner_text(".model-groups")
    downloads = page.query_selector_all("li.model button:has-text('Download')")
    primary = [b for b in downloads if "primary" in (b.get_attribute("class") or "")]
    recommended = page.query_selector_all("li.model:has(.recommended) button:has-text('Download')")
    assert len(primary) == len(recommended) < len(downloads)  # only the recommended stands out
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    shot(page, f"models-{width}")
    close(context)


def test_plain_words_for_a_stale_link_and_for_no_chat_model(browser, tmp_path):
    """A login link that is not this hub's lands on the sign-in page with a sentence (no
    JSON page); a question with no chat model says so with what to do as buttons, and
    leaves no empty conversation behind. The page has its icon."""
    live = start_live_hub(Settings(data_dir=tmp_path / "data"))
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{live.url}/?token=nco_an_old_link")
        message = page.wait_for_selector("#login-error").inner_text()
        assert "not valid for this hub" in message and page.url == f"{live.url}/"
        assert requests.get(f"{live.url}/app/favicon.svg", timeout=5).status_code == 200
        assert page.query_selector("link[rel=icon]") is not None
        page.fill("#token", live.hub.owner_token.value)
        page.click("#login-form button")
        page.wait_for_selector("#app:not([hidden])")
        page.fill(".composer textarea", "Where do salmon swim?")
        page.keyboard.press("Enter")
        notice = page.wait_for_selector(".toast.error:has(button)").inner_text()
        assert "No chat model is installed yet." in notice and "POST" not in notice
        assert "/api/" not in notice
        shot(page, "no-chat-model")
        assert live.hub.conversations.list()[0] == []  # the failed first question left none
        page.click(".toast button:has-text('Choose a model')")
        page.wait_for_selector("li.model")
        context.close()
    finally:
        live.server.stop()


PAGES = ["chat", "channels", "knowledge", "models", "agents", "dashboard"]


def test_every_page_fits_a_400_px_window_without_console_errors(browser, hub_with_model):
    """The widest thing on each page at 400 px (goal: the window itself), written to
    test-artifacts/layout-400.json for the record; and no console error on any page."""
    import json

    owner = bearer(hub_with_model.hub.owner_token.value)
    long = "A very long title about the tides of Saint-Malo and everything " * 4
    opened = {
        "chat/…": hub_with_model.post(
            "/api/v1/conversations", headers=owner, json={"title": long[:400]}
        ).json()["id"],
        "channels/…": hub_with_model.post(
            "/api/v1/channels", headers=owner, json={"name": "x" * 70, "description": long}
        ).json()["id"],
    }
    context, page = signed_in(browser, hub_with_model, viewport={"width": 400, "height": 800})
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    widths = {}
    for name in [*PAGES, *opened]:
        section = name.split("/")[0]
        page.goto(f"{hub_with_model.url}/#/{name.replace('…', opened.get(name, ''))}")
        page.wait_for_selector(f"nav a[data-section={section}]")
        page.wait_for_timeout(600)  # its lists load
        widths[name] = page.evaluate(
            "Math.max(document.scrollingElement.scrollWidth, ...[...document"
            ".querySelectorAll('#app *')].map(e => e.getBoundingClientRect().right))"
        )
        if widths[name] > 400.5:  # what sticks out, to say so
            widths[f"{name} (what)"] = page.evaluate(
                "[...document.querySelectorAll('#app *')]"
                ".filter(e => e.getBoundingClientRect().right > 400.5).slice(-3)"
                ".map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))"
            )
        shot(page, f"narrow-{section}{'-open' if '/' in name else ''}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "layout-400.json").write_text(json.dumps(widths, indent=2))
    assert [n for n, w in widths.items() if isinstance(w, float | int) and w > 400.5] == [], widths
    assert console == []
    close(context)


def test_a_new_chat_is_titled_by_its_first_question_with_one_cursor(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/chat")
    page.click("button[title='New conversation']")
    page.wait_for_selector("input.title")
    assert page.input_value("input.title") == "New conversation"
    picker = page.inner_text("select[aria-label=Model] option[value='']")
    assert picker == "The running model (parrot-llama)", picker
    page.fill(".composer textarea", "When does the tide turn in Saint-Malo?")
    page.keyboard.press("Enter")
    page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
    page.wait_for_selector(".list a.active:has-text('When does the tide turn in Saint-Malo?')")
    cursors = page.evaluate(
        """() => {
          const article = document.createElement('article');
          article.className = 'message assistant streaming';
          const text = document.createElement('div');
          text.className = 'markdown streaming';
          article.append(text);
          document.querySelector('.messages').append(article);
          const said = [getComputedStyle(article, '::after').content,
            getComputedStyle(text, '::after').content, getComputedStyle(text, '::before').content];
          article.remove();
          return said;
        }"""
    )
    assert cursors[0] == "none" and cursors[1] == '"▍"'  # one cursor, on the text
    assert "Searching your memory" in cursors[2]  # before the first token
    close(context)


def test_an_agents_reply_in_a_channel_shows_its_sources(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    pilot = hub_with_model.post("/api/v1/agents", headers=owner, json={"name": "Tide pilot"}).json()
    channel = hub_with_model.post(
        "/api/v1/channels", headers=owner, json={"name": "tides-talk"}
    ).json()
    hub_with_model.post(
        f"/api/v1/channels/{channel['id']}/members",
        headers=owner,
        json={"agent_id": pilot["id"], "mode": "auto"},
    )
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/channels/{channel['id']}")
    empty = page.wait_for_selector(".messages .empty:has-text('Nothing said here yet')")
    assert "@mention an agent" in empty.inner_text()
    page.fill(".composer textarea", "When does the tide turn?")
    page.keyboard.press("Enter")
    reply = page.wait_for_selector("article.message.agent.complete", timeout=30_000)
    reply.query_selector("details.sources summary").click()
    reply.query_selector("details.sources button").click()
    assert "Saint-Malo" in page.wait_for_selector("aside.source blockquote").inner_text()
    shot(page, "channel-agent-sources")
    close(context)


def test_asking_the_agents_streams_their_answers_into_the_channel(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    pilot = hub_with_model.post(
        "/api/v1/agents", headers=owner, json={"name": "Harbour pilot"}
    ).json()
    channel = hub_with_model.post("/api/v1/channels", headers=owner, json={"name": "moot"}).json()
    hub_with_model.post(
        f"/api/v1/channels/{channel['id']}/members",
        headers=owner,
        json={"agent_id": pilot["id"], "mode": "mention"},
    )
    context, page = signed_in(browser, hub_with_model)
    page.on("dialog", lambda dialog: pytest.fail(f"a native dialog: {dialog.message}"))
    page.goto(f"{hub_with_model.url}/#/channels/{channel['id']}")
    page.click("button:has-text('Ask the agents')")
    page.fill("dialog textarea[name=question]", "When does the tide turn?")
    assert page.is_checked("dialog input[value=channel]")  # kept in the channel by default
    page.click("dialog button:has-text('Ask')")
    # the question, then the pilot's answer in the question's thread, streamed as it comes
    page.wait_for_selector(".messages article.message.person:has-text('When does the tide turn?')")
    page.wait_for_selector(".messages article.message.agent.complete", timeout=30_000)
    panel = page.wait_for_selector("aside:has(h4:has-text('Each agent'))", timeout=30_000)
    assert "Harbour pilot" in panel.inner_text()
    shot(page, "channel-ask-the-agents")
    panel.query_selector("button[aria-label=Close]").click()
    page.wait_for_selector("aside:has(h4:has-text('Each agent'))", state="hidden")
    close(context)


def test_documents_say_their_kind_and_collection_sort_and_page(browser, hub_with_model):
    owner = bearer(hub_with_model.hub.owner_token.value)
    hub_with_model.post("/api/v1/collections", headers=owner, json={"name": "Harbour"})
    for n in range(3):
        hub_with_model.post(
            "/api/v1/documents",
            headers=owner,
            json={"title": f"Quay {n}", "text": f"Quay number {n}.", "collection": "Harbour"},
        )
    assert hub_with_model.hub.jobs.wait_idle(60)
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    row = page.wait_for_selector(".documents tr:has-text('Quay 2')")
    assert "Harbour" in row.inner_text() and "Text" in row.inner_text()
    assert "Ready" in row.inner_text()  # not `indexed`
    folders_above = page.evaluate(
        "document.querySelector('ul.folders').getBoundingClientRect().top"
        " < document.querySelector('table.documents').getBoundingClientRect().top"
    )
    assert folders_above  # a long list of documents does not hide the watched folders
    page.select_option("select[aria-label='Sort documents']", "title")
    titles = page.eval_on_selector_all(
        ".documents tr td:first-child strong", "e => e.map(x => x.textContent)"
    )
    assert titles == sorted(titles, key=str.casefold)
    close(context)


def test_search_groups_by_document_with_snippets_and_opens_the_viewer(browser, hub_with_model):
    """Several passages of one document are one result with snippets around the words, no
    raw score; the kinds filter; the title opens the document with the passage marked; a
    chat citation opens the same viewer."""
    owner = bearer(hub_with_model.hub.owner_token.value)
    filler = " ".join(f"Sentence {i} about the open sea and the weather." for i in range(120))
    hub_with_model.post(
        "/api/v1/documents",
        headers=owner,
        json={
            "title": "Lighthouse log",
            "text": f"{filler} The lighthouse keeper lit the lamp at dusk. {filler} "
            "The lighthouse stood through the storm.",
        },
    )
    assert hub_with_model.hub.jobs.wait_idle(60)
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/knowledge")
    page.click(".filters button:has-text('Documents')")  # before the words: no search yet
    page.fill(".search input", "lighthouse")
    page.select_option("select[aria-label=Mode]", "fulltext")
    page.click(".search button")
    result = page.wait_for_selector(".results li.result:has-text('Lighthouse log')")
    assert page.locator(".results li.result:has-text('Lighthouse log')").count() == 1
    snippets = result.query_selector_all("p.snippet")
    assert snippets and all(len(s.inner_text()) < 600 for s in snippets)
    assert result.query_selector("mark").inner_text().lower() == "lighthouse"
    assert "0." not in result.query_selector(".result-head").inner_text()  # no raw score
    result.query_selector("button.result-title").click()
    passage = page.wait_for_selector("aside.viewer mark.passage")
    assert "lighthouse" in passage.inner_text().lower()
    shot(page, "document-viewer")
    page.click("aside.viewer button[aria-label=Close]")
    page.click(".filters button:has-text('Chats')")
    page.wait_for_selector(".results li.muted:has-text('Nothing found')")
    close(context)


def test_a_regenerated_answer_sits_beside_the_first_with_a_switcher(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/chat")
    page.click("button[title='New conversation']")
    page.fill(".composer textarea", "How high is the tide?")
    page.keyboard.press("Enter")
    page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
    page.click("article.message.assistant button:has-text('Regenerate')")
    page.wait_for_selector(".switcher:has-text('2/2')", timeout=30_000)
    page.wait_for_selector("article.message.assistant.complete", timeout=30_000)
    assert page.locator("article.message.assistant").count() == 1  # not stacked
    page.click(".switcher button[aria-label='Previous answer']")
    page.wait_for_selector(".switcher:has-text('1/2')")
    assert page.locator("article.message.assistant").count() == 1
    shot(page, "chat-siblings")
    close(context)


@pytest.mark.parametrize("width", [1280, 400])
def test_a_refused_upload_says_why_on_its_own_line_and_finished_ones_clear(
    browser, hub_with_model, tmp_path, width
):
    refused = tmp_path / "photo.bmp"
    refused.write_bytes(b"BM not a document")
    fine = tmp_path / f"tides-{width}.txt"
    fine.write_text("High water at noon.")
    context, page = signed_in(browser, hub_with_model, viewport={"width": width, "height": 800})
    page.goto(f"{hub_with_model.url}/#/knowledge")
    accept = page.get_attribute(".drop input[type=file]", "accept")
    assert ".pdf" in accept and ".md" in accept and ".bmp" not in accept
    page.set_input_files(".drop input[type=file]", [str(refused), str(fine)])
    bad = page.wait_for_selector(".uploads li.error:has-text('photo.bmp')")
    reason = bad.query_selector(".reason")
    assert "cannot be read" in reason.inner_text() and bad.query_selector("progress") is None
    assert reason.bounding_box()["width"] > min(width, 1280) * 0.4  # not squeezed in a column
    page.wait_for_selector(f".uploads li.finished:has-text('tides-{width}.txt')", timeout=30_000)
    shot(page, f"uploads-{width}")
    page.click("button:has-text('Clear finished uploads')")
    page.wait_for_selector(".uploads li", state="detached")
    close(context)


def test_keyboard_shortcuts_go_to_sections_and_are_listed(browser, hub_with_model):
    context, page = signed_in(browser, hub_with_model)
    page.goto(f"{hub_with_model.url}/#/chat")
    page.wait_for_selector(".composer textarea")
    page.click("header.bar")  # away from the text box
    page.keyboard.press("g")
    page.keyboard.press("k")
    page.wait_for_selector(".pane h2:has-text('Knowledge')")
    page.click("header.bar")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.type") == "search"
    page.click("header.bar")
    page.keyboard.press("?")
    sheet = page.wait_for_selector("dialog[open] dl.shortcuts").inner_text()
    assert "Go to Knowledge" in sheet and "These shortcuts" in sheet
    shot(page, "shortcuts")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog", state="detached")
    close(context)


AXE = Path(__file__).resolve().parents[1] / "support" / "vendor" / "axe.min.js"


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (400, "light"), (1280, "dark")])
def test_no_serious_or_critical_accessibility_violations_on_any_page(
    browser, hub_with_model, width, scheme
):
    """axe-core (vendored, tests/support/vendor) on every page, light and dark; what it
    finds goes to test-artifacts/axe-<width>-<scheme>.json."""
    import json

    context, page = signed_in(
        browser,
        hub_with_model,
        viewport={"width": width, "height": 800},
        color_scheme=scheme,
        bypass_csp=True,  # the checker is injected as a script of its own
    )
    found = {}
    for name in PAGES:
        page.goto(f"{hub_with_model.url}/#/{name}")
        page.wait_for_selector(f"nav a[data-section={name}]")
        page.wait_for_timeout(600)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
        found[name] = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
            }
            for v in result["violations"]
        ]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{width}-{scheme}.json").write_text(json.dumps(found, indent=2))
    serious = {
        name: [v["id"] for v in vs if v["impact"] in ("serious", "critical")]
        for name, vs in found.items()
    }
    assert {n: v for n, v in serious.items() if v} == {}, found
    close(context)
