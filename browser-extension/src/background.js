// The service worker: captures from the popup, the context menu and the keyboard; the
// outbox that keeps every capture until the hub has it (retried with backoff, also after a
// browser restart); the badge that counts what waits.
import { describe, noteCapture, pageCapture, selectionCapture } from "./lib/capture.js";
import { extractPage } from "./lib/extract.js";
import { HubError, sendCapture } from "./lib/hub.js";
import * as outbox from "./lib/queue.js";
import { loadQueue, loadSettings, saveQueue } from "./lib/settings.js";

const ALARM = "neurocache-flush";
const MENUS = [["neurocache-page", "Save this page to Neurocache", ["page"]],
  ["neurocache-selection", "Save the selection to Neurocache", ["selection"]]];
const COMMANDS = { "save-page": "page", "save-selection": "selection" };

// ---- the outbox: every change goes through here, one at a time (no lost updates)
let chain = Promise.resolve();
function withQueue(change) {
  const run = chain.then(async () => {
    const [queue, result] = await change(await loadQueue());
    await saveQueue(queue);
    await showCount(queue);
    return result;
  });
  chain = run.catch(() => {});
  return run;
}

async function showCount(queue) {
  await chrome.action.setBadgeBackgroundColor({ color: queue.some((i) => i.held) ? "#c92a2a" : "#3b5bdb" });
  await chrome.action.setBadgeText({ text: outbox.badgeText(queue) });
}

// Send what is due, one capture at a time; each is removed only once the hub said yes.
// Flushes run one after another, each sending what is due when it starts, so a capture
// made during a flush is sent by its own.
let flushes = Promise.resolve();
export function flush() {
  const run = flushes.then(flushDue);
  flushes = run.catch(() => {});
  return run;
}

async function flushDue() {
  const results = {};
  try {
    const settings = await loadSettings();
    const ids = await withQueue(async (queue) => [queue, outbox.due(queue).map((i) => i.id)]);
    for (const id of ids) results[id] = await sendOne(settings, id);
  } finally {
    await scheduleWake(); // whatever failed above, what waits is woken again
  }
  return results;
}

async function sendOne(settings, id) {
  const item = await withQueue(async (queue) => {
    const found = queue.find((i) => i.id === id && !i.sending);
    return [found ? outbox.markSending(queue, id) : queue, found];
  });
  if (!item) return { status: "gone" };
  let accepted;
  try {
    accepted = await deliver(settings, item.capture);
  } catch (error) {
    const retry = !(error instanceof HubError) || error.retry;
    await withQueue(async (queue) => [outbox.markFailed(queue, id, error.message, { retry }), null]);
    return { status: retry ? "queued" : "held", error: error.message };
  }
  await withQueue(async (queue) => [outbox.remove(queue, id), null]);
  await remember({ id, title: describe(item.capture), document: accepted.document?.id,
    duplicate: accepted.duplicate, at: Date.now() }).catch(() => {});
  return { status: "delivered", accepted };
}

// A collection renamed or deleted since the capture was made: it goes in without one, the
// name kept as a tag, rather than waiting for ever.
async function deliver(settings, capture) {
  try {
    return await sendCapture(settings, capture);
  } catch (error) {
    if (!(error instanceof HubError) || error.status !== 404 || !capture.collection) throw error;
    const { collection, ...rest } = capture;
    return sendCapture(settings, { ...rest, tags: [...(capture.tags || []), collection] });
  }
}

async function remember(delivered) {
  const { recent = [] } = await chrome.storage.local.get("recent");
  await chrome.storage.local.set({ recent: [delivered, ...recent].slice(0, 10) });
}

async function scheduleWake() {
  const wake = outbox.nextWake(await loadQueue());
  await chrome.alarms.clear(ALARM);
  // Chrome wakes alarms at most every 30 s; a sooner retry waits for that or the next
  // capture. Periodic as well, so a worker stopped mid-send is woken again.
  if (wake !== null) {
    await chrome.alarms.create(ALARM, { when: Math.max(wake, Date.now() + 30_000), periodInMinutes: 1 });
  }
}

// ---- captures
async function readPage(tabId) {
  await chrome.scripting.executeScript({ target: { tabId }, files: ["vendor/Readability.js"] });
  const [{ result }] = await chrome.scripting.executeScript({ target: { tabId }, func: extractPage });
  return result;
}

// `selectionText` (from the context menu) stands in where the page cannot be read (the
// browser's own pages, a PDF viewer) or the selection is in a frame.
export async function capture(kind, tabId, options = {}, selectionText = "") {
  const tab = await chrome.tabs.get(tabId);
  let payload;
  if (kind === "note") payload = noteCapture(tab, options);
  else {
    const page = await readPage(tabId).catch(() => ({ url: tab.url, title: tab.title }));
    if (kind === "selection" && !page.selection) page.selection = selectionText;
    payload = kind === "selection" ? selectionCapture(page, options) : pageCapture(page, options);
  }
  const id = outbox.newId();
  await keep(payload, id);
  const results = await flush(); // kept first, sent second: a crash in between loses nothing
  return results[id] || (await outcomeOf(id));
}

// Into the outbox; a page too large for the browser's storage is kept without its HTML
// (its text still goes) rather than refused.
async function keep(payload, id) {
  try {
    await withQueue(async (queue) => [outbox.enqueue(queue, payload, Date.now(), id), null]);
  } catch (error) {
    if (!payload.html) throw error;
    const { html, ...lighter } = payload;
    await withQueue(async (queue) => [outbox.enqueue(queue, lighter, Date.now(), id), null]);
  }
}

// Sent by another flush (an alarm's) meanwhile, or waiting: what became of it.
async function outcomeOf(id) {
  const waiting = (await loadQueue()).find((i) => i.id === id);
  if (!waiting) return { status: "delivered", accepted: { duplicate: false } };
  return { status: waiting.held ? "held" : "queued", error: waiting.lastError || undefined };
}

async function reportFailure(error) {
  console.warn("capture failed:", error.message);
  await chrome.action.setBadgeBackgroundColor({ color: "#c92a2a" });
  await chrome.action.setBadgeText({ text: "!" });
  await chrome.storage.local.set({ lastFailure: { message: error.message, at: Date.now() } });
}

// ---- messages from the popup and the options page
const HANDLERS = {
  capture: (m) => capture(m.kind, m.tabId, m.options),
  flush: () => flush(),
  queue: () => withQueue(async (queue) => [queue, { queue, // (and the badge is redrawn)
    recent: (await chrome.storage.local.get("recent")).recent || [] }]),
  retry: async (m) => { await withQueue(async (q) => [outbox.retryNow(q, m.id ?? null), null]); return flush(); },
  discard: (m) => withQueue(async (q) => [outbox.remove(q, m.id), null]),
};

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  const handler = HANDLERS[message?.type];
  if (!handler) return false;
  handler(message).then((result) => reply({ ok: true, result }),
    (error) => reply({ ok: false, error: error.message }));
  return true; // the reply comes later
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.removeAll(() => {
    for (const [id, title, contexts] of MENUS) chrome.contextMenus.create({ id, title, contexts });
  });
});

chrome.contextMenus.onClicked.addListener((info, tab) => {
  const kind = info.menuItemId === "neurocache-selection" ? "selection" : "page";
  if (tab?.id !== undefined) capture(kind, tab.id, {}, info.selectionText || "").catch(reportFailure);
});

chrome.commands.onCommand.addListener(async (command, tab) => {
  const target = tab ?? (await chrome.tabs.query({ active: true, currentWindow: true }))[0];
  if (COMMANDS[command] && target) capture(COMMANDS[command], target.id).catch(reportFailure);
});

chrome.alarms.onAlarm.addListener((alarm) => { if (alarm.name === ALARM) flush(); });
chrome.runtime.onStartup.addListener(() => flush()); // the browser started: what waited goes

// A new worker (browser start, or woken after being stopped): sends interrupted midway
// are due again (the hub keeps the same content once), and what waits is counted.
withQueue(async (queue) => [outbox.recover(queue), null]).then(() => flush());

self.neurocache = { capture, flush }; // for the end-to-end tests, which drive the worker
