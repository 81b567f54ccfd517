// What the models page and the first-run card share: sizes, download progress, actions.
import { confirmAction } from "./dialog.js";
import { del, get, post } from "./api.js";
import { el, toast } from "./dom.js";

// `model.status` leaves out progress and the server's details, so the whole model is read
// again; answers that come back out of order must not undo a newer one.
const asked = new Map();
export async function reread(id) {
  const mine = (asked.get(id) || 0) + 1;
  asked.set(id, mine);
  const whole = await get(`/api/v1/models/${encodeURIComponent(id)}`);
  return asked.get(id) === mine ? whole : null;
}

// Decimal units, as the CLI and download sites say them (1 GB = 1,000,000,000 bytes).
export function bytes(n) {
  if (!n) return "";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log10(n) / 3));
  return `${(n / 1000 ** i).toFixed(i > 1 ? 1 : 0)} ${units[i]}`;
}

// A model's state as a person says it.
const STATES = { absent: "Not downloaded", downloading: "Downloading", installed: "Ready",
  starting: "Starting…", restarting: "Restarting…", running: "Running", stopped: "Ready",
  failed: "Failed" };
export const stateLabel = (state) => STATES[state] || state;

export function progressOf(model) {
  const p = model.progress;
  if (!p) return null;
  const fraction = p.total ? p.bytes / p.total : 0;
  const eta = p.eta_s != null ? ` · ${Math.ceil(p.eta_s)} s left` : "";
  // A failed try is said at once: why, which try comes next and when.
  const retry = p.retry ? el("div.error", { role: "status" },
    `${p.error}. Trying again in ${Math.ceil(p.next_attempt_s || 0)} s (try ${p.retry + 1} of ${p.retries + 1}).`) : null;
  return el("div.download", {},
    el("progress", { max: 1, value: fraction, "aria-label": `Downloading ${model.name}` }),
    el("span.muted", {}, `${bytes(p.bytes)} of ${bytes(p.total)} · ${bytes(p.rate)}/s${eta}`),
    retry);
}

export function where(model) {
  const server = model.server;
  if (!server || model.state !== "running") return null;
  const device = server.device === "cpu" ? "CPU" : `GPU (${server.device})`;
  return el("span.pill", { title: server.note || "" }, device);
}

// "No chat model is running", said as a person would, with what to do as buttons: start
// the one installed (or the first), or go to the models.
export async function noChatModel() {
  const { models } = await get("/api/v1/models").catch(() => ({ models: [] }));
  const ready = models.find((m) => m.role === "chat" && m.state === "installed" && m.recommended)
    || models.find((m) => m.role === "chat" && m.state === "installed");
  const start = ready ? [{ label: `Start ${ready.name}`, primary: true, onclick: () =>
    post(`/api/v1/models/${encodeURIComponent(ready.id)}/start`)
      .then(() => toast(`${ready.name} is starting: ask again in a moment.`, "info"),
        (error) => toast(error.message)) }] : [];
  toast(ready ? "No chat model is running." : "No chat model is installed yet.", "error",
    [...start, { label: ready ? "Models" : "Choose a model", onclick: () => { location.hash = "#/models"; } }]);
}

// Whether an error is the hub's "no chat model can answer" (503 pointing at the models).
export const isNoChatModel = (error) => error?.status === 503 && Boolean(error.details?.models);

// `done` runs after each action (a removed local file sends no event: reload then).
export function actions(model, done = () => {}) {
  const act = (promise) => promise.then(done, (error) => toast(error.message));
  const id = encodeURIComponent(model.id);
  const button = (label, onclick, primary = false) =>
    el(`button${primary ? ".primary" : ""}`, { type: "button", onclick, "aria-label": `${label} ${model.name}` }, label);
  switch (model.state) {
    case "absent":
    case "failed":
      // Only the recommended download stands out: the one a newcomer should take.
      return model.url ? button(model.size ? `Download (${bytes(model.size)})` : "Download",
        () => act(post(`/api/v1/models/${id}/download`)), Boolean(model.recommended))
        : button("Remove", () => act(del(`/api/v1/models/${id}`)));
    case "downloading":
      return button("Cancel", () => act(del(`/api/v1/models/${id}/download`)));
    case "installed":
      return [button("Start", () => act(post(`/api/v1/models/${id}/start`)), true),
        button("Remove", async () => await confirmAction(`Remove ${model.name}? Its file is deleted.`,
          { title: "Remove this model?", action: "Remove", danger: true }) && act(del(`/api/v1/models/${id}`)))];
    case "starting":
    case "restarting":
    case "running":
      return button("Stop", () => act(post(`/api/v1/models/${id}/stop`)));
    default:
      return null;
  }
}
