// What a search found, for people: hits grouped by document (each with up to three
// snippets around the words that matched), what kind of memory each is in words, no raw
// scores; and the document viewer that search hits and chat citations open (the text, the
// passage highlighted and scrolled to; a captured page with its address).
import { get } from "../lib/api.js";
import { clear, el, toast } from "../lib/dom.js";

// The filters: what each asks the hub for (`kinds`), and which results it keeps.
export const FILTERS = [
  ["all", "Everything", null, () => true],
  ["documents", "Documents", ["chunk"], (r) => !r.document?.url],
  ["pages", "Web pages", ["chunk"], (r) => Boolean(r.document?.url)],
  ["chats", "Chats", ["message", "channel_message"], () => true],
  ["agents", "Agents", ["agent_memory"], () => true],
  ["notes", "Notes", ["note"], () => true],
];
const KIND_NAMES = { document: "Document", chunk: "Document", message: "Chat", channel_message: "Channel",
  agent_memory: "Agent memory", note: "Note", conversation: "Conversation", channel: "Channel" };
const SNIPPET = 110;  // characters kept on each side of the first match
const PASSAGES = 3;   // shown per document

export function kindName(result) {
  if (result.document?.url) return "Web page";
  return KIND_NAMES[result.kind] || "Memory";
}

// Hits of one document together, in the order of their best one.
export function grouped(results) {
  const groups = new Map();
  for (const r of results) {
    const key = r.document?.id || r.memory_id;
    if (!groups.has(key)) groups.set(key, { key, first: r, passages: [] });
    if (groups.get(key).passages.length < PASSAGES) groups.get(key).passages.push(r);
  }
  return [...groups.values()];
}

// The text around the first matched words (whole, when short), the matches marked.
export function snippet(result) {
  const parts = result.highlights?.length ? result.highlights : [{ text: result.text, match: false }];
  const first = Math.max(0, parts.findIndex((p) => p.match));
  const lead = parts.slice(0, first).map((p) => p.text).join("");
  const nodes = lead.length > SNIPPET ? [`…${lead.slice(lead.length - SNIPPET)}`] : [lead];
  let room = SNIPPET * 3;
  for (const part of parts.slice(first)) {
    if (room <= 0) { nodes.push("…"); break; }
    const text = part.text.length > room ? `${part.text.slice(0, room)}…` : part.text;
    nodes.push(part.match ? el("mark", {}, text) : text);
    room -= part.text.length;
  }
  return nodes.filter((n) => n !== "");
}

export function resultItem(group, open) {
  const { first } = group;
  const title = first.document?.title || kindName(first);
  const opens = first.document?.id ? () => open(first.document.id, first) : null;
  return el("li.result", {},
    el("div.result-head", {}, opens
      ? el("button.link.result-title", { type: "button", onclick: opens }, title)
      : el("strong.result-title", {}, title),
    el("span.pill.small", {}, kindName(first)),
    first.document?.page ? el("span.muted", {}, `page ${first.document.page}`) : null),
    group.passages.map((r) => el("p.snippet", { onclick: opens ? () => open(first.document.id, r) : null },
      snippet(r))));
}

// The document viewer, in `panel`: the document's text with the passage [start, end) marked.
export async function showDocument(panel, documentId, { start = null, end = null } = {}) {
  panel.hidden = false;
  clear(panel, el("div.bar", {}, el("h3", {}, "Loading…")));
  let document, memory;
  try {
    [document, memory] = await Promise.all([get(`/api/v1/documents/${documentId}`),
      get(`/api/v1/memories/${documentId}`)]);
  } catch (error) { panel.hidden = true; toast(error.message); return; }
  const text = memory.content || "";
  const marked = start != null && end != null && end > start
    ? [text.slice(0, start), el("mark.passage", {}, text.slice(start, end)), text.slice(end)] : [text];
  const original = /^https?:\/\//.test(document.url || "")
    ? el("a", { href: document.url, target: "_blank", rel: "noopener noreferrer nofollow" }, document.url) : null;
  clear(panel, el("div.bar", {}, el("h3", {}, document.title),
    el("button", { type: "button", "aria-label": "Close", onclick: () => { panel.hidden = true; } }, "×")),
  el("p.muted", {}, [document.path, memory.metadata?.pages ? `${memory.metadata.pages} pages` : null]
    .filter(Boolean).join(" · ")), original,
  el("div.document-text", { tabindex: 0, "aria-label": "Document text" }, marked));
  panel.querySelector("mark.passage")?.scrollIntoView({ block: "center" });
}
