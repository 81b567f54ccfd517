// Models: the catalog with sizes and licences; download with live progress, speed and
// time left, and cancel; start and stop, CPU or GPU, logs; register a local file or a
// remote OpenAI-compatible server.
import { get, post } from "../lib/api.js";
import { clear, el, toast } from "../lib/dom.js";
import { actions, bytes, progressOf, reread, where } from "../lib/models.js";
import { join, leave, on } from "../lib/socket.js";

export function mount(root) {
  const state = { models: new Map(), offs: [], logsOf: null };
  const table = el("table.models", {});
  const logs = el("pre.logs", { hidden: true, "aria-label": "Model server log" });
  const path = el("input", { placeholder: "/path/to/model.gguf or .llamafile", "aria-label": "Local file" });
  const baseUrl = el("input", { placeholder: "https://server/v1", "aria-label": "Server URL" });
  const remoteModel = el("input", { placeholder: "model name", "aria-label": "Model name" });
  const apiKey = el("input", { type: "password", placeholder: "API key (optional)", "aria-label": "API key" });
  root.append(el("section.pane.wide", {},
    el("header.bar", {}, el("h2", {}, "Models")),
    el("p.muted", {}, "Models run on this machine; nothing leaves it unless you add a remote server."),
    table, logs,
    el("h3", {}, "Add a model you already have"),
    el("form.inline", { onsubmit: (e) => { e.preventDefault(); register({ path: path.value }); } },
      path, el("button", { type: "submit" }, "Add file")),
    el("form.inline", { onsubmit: (e) => {
      e.preventDefault();
      register({ base_url: baseUrl.value, model: remoteModel.value, ...(apiKey.value ? { api_key: apiKey.value } : {}) });
    } }, baseUrl, remoteModel, apiKey, el("button", { type: "submit" }, "Add server"))));

  async function register(body) {
    try { await post("/api/v1/models", body); load(); } catch (error) { toast(error.message); }
  }

  async function load() {
    const { models } = await get("/api/v1/models");
    state.models = new Map(models.map((m) => [m.id, m]));
    render();
  }

  function render() {
    const rows = [...state.models.values()].sort((a, b) => a.role.localeCompare(b.role)
      || (b.recommended ? 1 : 0) - (a.recommended ? 1 : 0));
    clear(table, el("tr", {}, ["Model", "Role", "Size", "Licence", "State", ""].map((h) => el("th", {}, h))),
      rows.map((m) => el("tr", { id: `model-${m.id}` },
        el("td", {}, el("strong", {}, m.name), m.recommended ? el("span.pill.small", {}, "recommended") : null,
          el("div.muted", {}, m.description || m.path || m.base_url || "")),
        el("td", {}, m.role), el("td", {}, bytes(m.size)),
        el("td", {}, m.license_url && /^https?:/.test(m.license_url)
          ? el("a", { href: m.license_url, target: "_blank", rel: "noopener noreferrer" }, m.license || "licence")
          : m.license || ""),
        el("td", {}, el(`span.status.${m.state}`, {}, m.state), " ", where(m), progressOf(m),
          m.error ? el("div.error", {}, m.error) : null),
        el("td.row-actions", {}, actions(m, load),
          m.source !== "remote" && ["running", "starting", "restarting", "failed"].includes(m.state)
            ? el("button", { type: "button", onclick: () => showLogs(m.id) }, "Logs") : null))));
  }

  async function showLogs(id) {
    state.logsOf = id;
    const { lines } = await get(`/api/v1/models/${encodeURIComponent(id)}/logs?lines=200`);
    logs.textContent = lines.join("\n") || "(no output yet)";
    logs.hidden = false;
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
  return () => { state.offs.forEach((off) => off()); leave("models"); };
}
