// The popup: save the page, the selection or a note; see and retry what waits; ask the hub
// about this page or everything saved, the answer streamed with its sources. Every text
// from the hub or a page is put in as text, never as HTML.
import { checkHub, hubFetch } from "./lib/hub.js";
import { describe } from "./lib/capture.js";
import { loadSettings } from "./lib/settings.js";
import { sseEvents } from "./lib/sse.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

async function targetTab() {
  if (params.has("tab")) return chrome.tabs.get(Number(params.get("tab"))); // tests, and "open in tab"
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab;
}

function send(message) {
  return chrome.runtime.sendMessage(message).then((answer) => {
    if (!answer?.ok) throw new Error(answer?.error || "the extension did not answer");
    return answer.result;
  });
}

function say(text, kind = "") {
  $("result").textContent = text;
  $("result").className = kind;
}

async function save(kind) {
  // what the fields say now, at the click (not after the awaits below)
  const options = { note: $("note").value, tags: $("tags").value, collection: $("collection").value };
  say("Saving…", "muted");
  const tab = await targetTab();
  try {
    const outcome = await send({ type: "capture", kind, tabId: tab.id, options });
    if (outcome.status === "delivered") {
      say(outcome.accepted.duplicate ? "Already saved — nothing new." : "Saved.", "ok");
      $("note").value = "";
    } else {
      say(`Kept to send later: ${outcome.error || "the hub is away"}`, "error");
    }
  } catch (error) { say(error.message, "error"); }
  $("result").dataset.saves = String(Number($("result").dataset.saves || 0) + 1);
  showOutbox();
}

function outboxItem(item) {
  const why = item.held ? `Needs you: ${item.lastError}` : item.lastError
    ? `Try ${item.attempts + 1} at ${new Date(item.nextAt).toLocaleTimeString()} — ${item.lastError}` : "Sending…";
  const retry = Object.assign(document.createElement("button"), { className: "small", textContent: "Retry" });
  retry.onclick = () => send({ type: "retry", id: item.id }).then(showOutbox);
  const discard = Object.assign(document.createElement("button"), { className: "small", textContent: "Discard" });
  discard.onclick = () => { if (confirm("Discard this capture? It is not in the hub.")) send({ type: "discard", id: item.id }).then(showOutbox); };
  const li = document.createElement("li");
  const title = document.createElement("div");
  title.textContent = describe(item.capture);
  const detail = Object.assign(document.createElement("div"), { className: "why", textContent: why });
  li.append(title, detail, retry, " ", discard);
  return li;
}

async function showOutbox() {
  const { lastFailure } = await chrome.storage.local.get("lastFailure");
  if (lastFailure) { // a capture from the context menu or a shortcut that could not be made
    say(`The last capture failed: ${lastFailure.message}`, "error");
    await chrome.storage.local.remove("lastFailure");
  }
  const { queue } = await send({ type: "queue" });
  $("outbox-section").hidden = queue.length === 0;
  $("outbox").replaceChildren(...queue.map(outboxItem));
}

async function showStatus() {
  const settings = await loadSettings();
  const status = await checkHub(settings);
  $("status").textContent = status.ok ? "● connected" : `● ${status.message}`;
  $("status").className = status.ok ? "ok" : "error";
  if (!status.ok) return;
  const { collections } = await (await hubFetch(settings, "/api/v1/collections")).json();
  for (const c of collections) $("collection").append(new Option(c.name, c.name));
}

async function pageContext(tab) {
  try {
    const [{ result }] = await chrome.scripting.executeScript({ target: { tabId: tab.id },
      func: () => (document.body ? document.body.innerText : "").slice(0, 12000) });
    return result;
  } catch { return ""; } // a page the extension may not read (the browser's own)
}

async function ask(event) {
  event.preventDefault();
  const settings = await loadSettings();
  const question = $("question").value;
  const aboutPage = document.querySelector("input[name=scope]:checked").value === "page";
  const messages = [{ role: "user", content: question }];
  if (aboutPage) {
    const tab = await targetTab();
    messages.unshift({ role: "system", content: `The user is reading “${tab.title}” (${tab.url}):\n\n${await pageContext(tab)}` });
  }
  $("answer").textContent = "";
  $("answer").dataset.asked = String(Number($("answer").dataset.asked || 0) + 1);
  $("answer").setAttribute("aria-busy", "true");
  $("sources").replaceChildren();
  try {
    const response = await hubFetch(settings, "/v1/chat/completions", { method: "POST", streaming: true, body: JSON.stringify({
      model: "neurocache", stream: true, messages, neurocache: { rag: !aboutPage } }) });
    for await (const chunk of sseEvents(response.body)) {
      if (chunk.error) throw new Error(chunk.error.message);
      $("answer").textContent += chunk.choices?.[0]?.delta?.content || "";
      if (chunk.neurocache?.sources) showSources(chunk.neurocache.sources);
    }
  } catch (error) {
    $("answer").textContent = `Could not ask: ${error.message}`;
  } finally {
    $("answer").setAttribute("aria-busy", "false");
  }
}

function showSources(sources) {
  $("sources").replaceChildren(...sources.map((s) => {
    const li = document.createElement("li");
    const url = s.document?.url || s.url;
    const label = s.document?.title || s.title || s.text?.slice(0, 80) || "source";
    if (url && /^https?:\/\//.test(url)) {
      li.append(Object.assign(document.createElement("a"), { href: url, target: "_blank", rel: "noopener noreferrer", textContent: label }));
    } else li.textContent = label;
    return li;
  }));
}

$("save-page").onclick = () => save("page");
$("save-selection").onclick = () => save("selection");
$("save-note").onclick = () => save("note");
$("retry-all").onclick = () => send({ type: "retry" }).then(showOutbox);
$("ask-form").addEventListener("submit", ask);
showOutbox();
showStatus().catch((error) => { $("status").textContent = `● ${error.message}`; $("status").className = "error"; });
