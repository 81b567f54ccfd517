// The first run, as three steps from nothing to an answered question with a source:
// a chat model (the recommended one downloaded with progress and started, or one already
// there), some notes (a folder watched, or files uploaded), then a question. Each step
// says when it is done; the guide goes once a question is asked or it is dismissed, and
// never shows to someone who has conversations already.
import { get, post } from "../lib/api.js";
import { clear, el, toast } from "../lib/dom.js";
import { actions, bytes, progressOf, reread, stateLabel } from "../lib/models.js";
import { join, leave, on } from "../lib/socket.js";

const DONE_KEY = "neurocache.guide.done";
const INDEXED_POLL_MS = 1000;

export function firstRunCard() {
  const card = el("section.first-run", { hidden: true, "aria-label": "Getting started" });
  const models = new Map();
  const state = { documents: null, conversations: null, watching: null, polling: null };
  const done = () => localStorage.getItem(DONE_KEY) === "1";

  function finish() {
    localStorage.setItem(DONE_KEY, "1");
    card.hidden = true;
  }

  function render() {
    if (done() || state.conversations > 0 || state.documents === null) { card.hidden = true; return; }
    const chat = [...models.values()].filter((m) => m.role === "chat");
    const running = chat.some((m) => m.state === "running");
    if (!chat.length && !state.documents) { card.hidden = true; return; }
    clear(card,
      el("div.guide-head", {}, el("h3", {}, "Getting started"),
        el("button.link", { type: "button", onclick: finish }, "Dismiss")),
      el("ol.guide", {},
        step(1, "A chat model", running, modelStep(chat)),
        step(2, "Your notes", state.documents > 0, running ? notesStep() : null),
        step(3, "Ask", false, running && state.documents > 0
          ? el("p", {}, "Ask a question about your notes below: the answer says where it comes from, [1], [2] … open the passage.")
          : null)));
    card.hidden = false;
  }

  function step(number, title, finished, body) {
    return el(`li.guide-step${finished ? ".done" : body ? ".current" : ""}`, {},
      el("strong", {}, `${number}. ${title}`), finished ? el("span.status.running", {}, " Done") : null,
      finished ? null : body);
  }

  function modelStep(chat) {
    if (chat.some((m) => m.state === "running")) return null;
    const ready = chat.find((m) => ["installed", "starting", "downloading"].includes(m.state));
    const offered = ready || chat.find((m) => m.recommended) || chat[0];
    if (!offered) return el("p", {}, "Add a chat model on the ", el("a", { href: "#/models" }, "Models"), " page.");
    return el("div", {},
      el("p", {}, "Neurocache answers with a language model that runs on this computer: your "
        + "questions and notes never leave it. ",
      ready ? "" : `We recommend ${offered.name} (${bytes(offered.size)}, ${offered.license || "see its licence"}).`),
      offered.description ? el("p.muted", {}, offered.description) : null,
      el("div.row", {}, el("strong", {}, offered.name), el(`span.status.${offered.state}`, {}, stateLabel(offered.state)),
        actions(offered), el("a", { href: "#/models" }, "All models")),
      progressOf(offered),
      offered.error ? el("p.error", {}, offered.error) : null);
  }

  function notesStep() {
    const path = el("input", { placeholder: "/home/you/Documents/notes", "aria-label": "A folder of your notes" });
    const busy = state.watching !== null;
    return el("div", {},
      el("p", {}, "Point the hub at a folder of notes or documents (Markdown, text, PDF, Word, HTML): "
        + "it reads them now and follows their changes. Or ", el("a", { href: "#/knowledge" }, "upload files"), "."),
      el("form.inline", { onsubmit: (e) => { e.preventDefault(); watch(path.value.trim()); } },
        path, el("button", { type: "submit", disabled: busy }, busy ? "Reading…" : "Add folder")),
      busy ? el("p.muted", { role: "status" }, `Reading ${state.watching}…`) : null);
  }

  async function watch(path) {
    if (!path) return;
    try {
      await post("/api/v1/folders", { path });
      state.watching = path;
      render();
      waitIndexed();
    } catch (error) { toast(error.message); }
  }

  async function countDocuments() {
    const { documents } = await get("/api/v1/documents?status=indexed&limit=1");
    state.documents = documents.length;
  }

  function waitIndexed() {
    clearInterval(state.polling);
    state.polling = setInterval(async () => {
      await countDocuments().catch(() => {});
      if (state.documents > 0) { clearInterval(state.polling); state.watching = null; render(); }
    }, INDEXED_POLL_MS);
  }

  const offs = [
    on("model.status", (m) => reread(m.id)
      .then((whole) => { if (whole) { models.set(whole.id, whole); render(); } }).catch(() => {})),
    on("model.download.progress", (p) => {
      const m = models.get(p.id);
      if (m && ["downloading", "absent", "failed"].includes(m.state)) {
        m.state = "downloading";
        m.progress = p;
        render();
      }
    }),
  ];
  join("models");
  Promise.all([
    get("/api/v1/models").then(({ models: list }) => list.forEach((m) => models.set(m.id, m))),
    get("/api/v1/conversations?limit=1").then(({ conversations }) => { state.conversations = conversations.length; }),
    countDocuments(),
  ]).then(render).catch(() => {});
  card.asked = finish;  // the chat's first question: the guide has done its work
  card.close = () => { offs.forEach((off) => off()); clearInterval(state.polling); leave("models"); };
  return card;
}
