// Models: the catalog with sizes and licences; download with live progress, speed and
// time left, and cancel; start and stop, CPU or GPU, logs; register a local file or a
// remote OpenAI-compatible server.
import { get, post } from "../lib/api.js";
import { clear, el, toast } from "../lib/dom.js";
import { actions, bytes, progressOf, reread, stateLabel, where } from "../lib/models.js";
import { join, leave, on } from "../lib/socket.js";

const ROLES = [
  ["chat", "Chat models", "They write the answers. One runs at a time; larger ones answer better and more slowly."],
  ["embedding", "Embedding models", "They turn text into vectors so search finds meaning, not only words. "
    + "The built-in one works offline; switching to another re-embeds everything you have kept (the hub says how long it will take)."],
  ["rerank", "Rerankers", "They reorder the best search results by reading them with the question: better sources, a little slower."],
];
const LOADING_NOISE = /^(llama_model_loader|load_tensors|llm_load|print_info|llama_kv_cache|llama_context|.*\bkv\s+\d+:|\s*- (type|kv))/;

export function mount(root) {
  const state = { models: new Map(), offs: [] };
  const groups = el("div.model-groups");
  const found = el("ul.model-cards.found-files", { "aria-label": "Model files on this computer" });
  const path = el("input", { placeholder: "/path/to/model.gguf or .llamafile", "aria-label": "Local file" });
  const baseUrl = el("input", { placeholder: "https://server/v1", "aria-label": "Server URL" });
  const remoteModel = el("input", { placeholder: "model name", "aria-label": "Model name" });
  const apiKey = el("input", { type: "password", placeholder: "API key (optional)", "aria-label": "API key" });
  root.append(el("section.pane.wide", {},
    el("header.bar", {}, el("h2", {}, "Models")),
    el("p.muted", {}, "Models run on this machine; nothing leaves it unless you add a remote server."),
    groups,
    el("h3", {}, "Add a model you already have"),
    el("p.muted", {}, "Model files (GGUF or llamafile) the hub found on this computer, in your Downloads and models folders:"),
    found,
    el("form.inline", { onsubmit: (e) => { e.preventDefault(); register({ path: path.value }); } },
      path, el("button", { type: "submit" }, "Add file")),
    el("form.inline", { onsubmit: (e) => {
      e.preventDefault();
      register({ base_url: baseUrl.value, model: remoteModel.value, ...(apiKey.value ? { api_key: apiKey.value } : {}) });
    } }, baseUrl, remoteModel, apiKey, el("button", { type: "submit" }, "Add server"))));

  async function register(body) {
    try {
      await post("/api/v1/models", body);
      path.value = "";
      load();
      loadFiles();
    } catch (error) { toast(error.message); }
  }

  // A browser cannot tell the hub where a file is: the hub lists the ones it can see.
  async function loadFiles() {
    const { files } = await get("/api/v1/models/files");
    clear(found, files.length ? files.map((f) => el("li.card.model.found-file", {},
      el("div.model-head", {}, el("strong", {}, f.name), el("span.pill.small", {}, f.format === "gguf" ? "GGUF" : "llamafile")),
      el("div.facts.muted", {}, `${bytes(f.size)} · ${f.folder}`),
      el("div.row-actions", {}, el("button", { type: "button", onclick: () => register({ path: f.path }) }, `Add ${f.name}`))))
      : [el("li.muted", {}, "None found. Give a file's full path below.")]);
  }

  async function load() {
    const { models } = await get("/api/v1/models");
    state.models = new Map(models.map((m) => [m.id, m]));
    render();
  }

  // Cards, grouped by what a model is for: they fit a narrow window, as a wide table would not.
  function render() {
    const all = [...state.models.values()];
    const known = new Set(ROLES.map(([role]) => role));
    const roles = [...ROLES, ...[...new Set(all.map((m) => m.role))].filter((r) => !known.has(r))
      .map((r) => [r, `Other models (${r})`, ""])];
    clear(groups, roles.map(([role, title, about]) => {
      const models = all.filter((m) => m.role === role)
        .sort((a, b) => (b.recommended ? 1 : 0) - (a.recommended ? 1 : 0) || a.name.localeCompare(b.name));
      return models.length ? el("section.model-group", {}, el("h3", {}, title), about ? el("p.muted", {}, about) : null,
        el("ul.model-cards", {}, models.map(card))) : null;
    }));
  }

  function card(m) {
    const licence = m.license_url && /^https?:/.test(m.license_url)
      ? el("a", { href: m.license_url, target: "_blank", rel: "noopener noreferrer" }, m.license || "licence")
      : m.license || null;
    const facts = [bytes(m.size), licence, m.source === "remote" ? `server ${m.base_url}` : m.path]
      .filter(Boolean);
    const logs = m.source !== "remote" && ["running", "starting", "restarting", "failed"].includes(m.state)
      ? el("details.logs", { ontoggle: (e) => e.target.open && showLogs(m.id, e.target) },
        el("summary", {}, "Server log"), el("pre", {}, "…")) : null;
    return el("li.card.model", { id: `model-${m.id}` },
      el("div.model-head", {}, el("strong", {}, m.name),
        m.recommended ? el("span.pill.small.recommended", {}, "Recommended") : null,
        el(`span.status.${m.state}`, {}, stateLabel(m.state)), where(m)),
      m.description ? el("p.muted", {}, m.description) : null,
      el("div.facts.muted", {}, facts.flatMap((f, i) => (i ? [" · ", f] : [f]))),
      progressOf(m), m.error ? el("div.error", {}, m.error) : null,
      el("div.row-actions", {}, actions(m, load)), logs);
  }

  // The server's own lines, without the tensor-by-tensor loading report.
  async function showLogs(id, details) {
    const { lines } = await get(`/api/v1/models/${encodeURIComponent(id)}/logs?lines=400`);
    const said = lines.filter((line) => !LOADING_NOISE.test(line)).slice(-120);
    details.querySelector("pre").textContent = said.join("\n") || "(nothing yet)";
  }

  join("models");
  state.offs.push(
    // the event leaves out progress and the server's details: ask for the whole model
    on("model.status", (model) => reread(model.id)
      .then((whole) => { if (whole) { state.models.set(whole.id, whole); render(); } })
      .catch(() => load())),
    on("model.download.progress", (progress) => {
      const model = state.models.get(progress.id);
      if (model && ["downloading", "absent", "failed"].includes(model.state)) {
        model.state = "downloading";
        model.progress = progress;
        render();
      }
    }));
  load().catch((e) => toast(e.message));
  loadFiles().catch(() => { found.hidden = true; });
  return () => { state.offs.forEach((off) => off()); leave("models"); };
}
