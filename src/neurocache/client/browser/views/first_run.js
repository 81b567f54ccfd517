// The first run: no chat model runs yet, so say what a chat model is for and offer the
// recommended one (download with progress, then start), or start one already there.
import { get } from "../lib/api.js";
import { clear, el } from "../lib/dom.js";
import { actions, bytes, progressOf, reread, stateLabel } from "../lib/models.js";
import { join, leave, on } from "../lib/socket.js";

export function firstRunCard() {
  const card = el("section.first-run", { hidden: true, "aria-label": "Set up a chat model" });
  const models = new Map();

  function render() {
    const chat = [...models.values()].filter((m) => m.role === "chat");
    if (chat.some((m) => m.state === "running")) { card.hidden = true; return; }
    const ready = chat.find((m) => ["installed", "starting", "downloading"].includes(m.state));
    const offered = ready || chat.find((m) => m.recommended) || chat[0];
    if (!offered) { card.hidden = true; return; }
    clear(card,
      el("h3", {}, { downloading: "Downloading your chat model…", installed: "Start your chat model",
        starting: "Starting your chat model…" }[offered.state] || "Get a chat model to start"),
      el("p", {}, "Neurocache answers with a language model that runs on this computer: your "
        + "questions and notes never leave it. ",
      ready ? "" : `We recommend ${offered.name} (${bytes(offered.size)}, ${offered.license || "see its licence"}).`),
      offered.description ? el("p.muted", {}, offered.description) : null,
      el("div.row", {}, el(`span.status.${offered.state}`, {}, stateLabel(offered.state)), actions(offered),
        el("a", { href: "#/models" }, "All models")),
      progressOf(offered),
      offered.error ? el("p.error", {}, offered.error) : null);
    card.hidden = false;
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
  get("/api/v1/models").then(({ models: list }) => {
    list.forEach((m) => models.set(m.id, m));
    render();
  }).catch(() => {});
  card.close = () => { offs.forEach((off) => off()); leave("models"); };
  return card;
}
