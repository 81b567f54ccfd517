// Dashboard: the hub's store and indexes, running models, usage over time (charts), API
// keys (created — shown once — listed, revoked), and the audit log.
import { confirmAction } from "../lib/dialog.js";
import { del, get, post } from "../lib/api.js";
import { clear, el, fillTable, timeOf, toast } from "../lib/dom.js";
import { bytes } from "../lib/models.js";
import { usagePanel } from "./usage_charts.js";

const AUDIT_FAMILIES = [["", "Everything"], ["key.", "Keys"], ["user.", "People"],
  ["collection.", "Collections"], ["document.", "Documents"], ["folder.", "Watched folders"],
  ["conversation.", "Conversations"], ["channel.", "Channels"], ["agent.", "Agents"],
  ["model.", "Models"], ["memory.", "Memories"]];
const VERBS = { create: "made", update: "changed", delete: "deleted", revoke: "revoked", move: "moved",
  watch: "watched", unwatch: "no longer watched", add: "added to", remove: "removed from",
  branch: "switched branch", disable: "disabled", edit: "edited", start: "started", stop: "stopped" };

function whatWasDone(entry) {
  const [thing, verb, detail] = entry.action.split(".");
  const state = entry.after || entry.before || {};
  const name = state.name || state.title || state.display_name || state.member || state.path || "";
  const what = `${thing}${detail ? ` ${verb}` : ""} ${VERBS[detail || verb] || detail || verb}`;
  return [what, name ? el("div", {}, el("strong", {}, name)) : el("div.muted", {}, entry.target.id)];
}

// The fields that differ between before and after, as `field: old → new`.
function changes(entry) {
  const before = entry.before || {};
  const after = entry.after || {};
  const show = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => !["updated_at", "created_at"].includes(k) && show(before[k]) !== show(after[k]));
  if (!entry.before || !entry.after) return el("span.muted", {}, entry.before ? "removed" : "new");
  if (!changed.length) return el("span.muted", {}, "no visible change");
  return el("details", {}, el("summary", {}, changed.slice(0, 3).join(", ") + (changed.length > 3 ? "…" : "")),
    el("ul", {}, changed.map((k) => el("li", {}, el("code", {}, k), `: ${show(before[k])} → ${show(after[k])}`))));
}

export function mount(root) {
  const stats = el("div.stats");
  const usage = usagePanel();
  const keys = el("table.models");
  const created = el("div");
  const pairing = el("div");
  const audit = el("table.models");
  const auditFilter = el("select", { "aria-label": "Show changes to", onchange: () => loadAudit() },
    AUDIT_FAMILIES.map(([value, label]) => el("option", { value }, label)));
  const auditMore = el("button", { type: "button", hidden: true, onclick: () => loadAudit(auditState.next) },
    "Show older changes");
  const keyName = el("input", { placeholder: "What the key is for", required: true, "aria-label": "Key name" });
  const scopes = ["read", "write", "chat", "admin"].map((s) =>
    el("label.check", {}, el("input", { type: "checkbox", value: s, checked: s === "read" }), s));
  root.append(el("section.pane.wide", {}, el("header.bar", {}, el("h2", {}, "Dashboard")),
    stats, usage, el("h3", {}, "API keys"),
    el("div.inline", {}, el("button", { type: "button", onclick: pair }, "Pair a browser extension"), pairing),
    el("form.inline", { onsubmit: createKey }, keyName, scopes, el("button.primary", { type: "submit" }, "Create key")),
    created, keys, el("div.bar.plain", {}, el("h3", {}, "Audit log"), el("span.grow"), auditFilter), audit, auditMore));

  const stat = (label, value) => el("div.card.stat", {}, el("div.muted", {}, label), el("strong", {}, value));

  async function loadStatus() {
    const [status, { models }] = await Promise.all([get("/api/v1/status"), get("/api/v1/models")]);
    const running = models.filter((m) => m.state === "running").map((m) => m.name).join(", ") || "none";
    clear(stats, stat("Memories", String(status.store.memories)),
      stat("Store", `${status.store.backend}${status.store.size_bytes ? `, ${bytes(status.store.size_bytes)}` : ""}`),
      stat("Vectors", String(status.indexes?.vectors?.vectors ?? "—")),
      stat("Running models", running), stat("Version", status.version));
  }

  // A short code the extension trades for its own key (read, write, chat): nothing to copy.
  async function pair() {
    try {
      const { code, expires_in_s: ttl } = await post("/api/v1/pairings", {});
      clear(pairing, el("div.card.secret", {}, "In the extension’s settings, type ",
        el("strong.pair-code", {}, code), ` — valid for ${Math.round(ttl / 60)} minutes, once.`));
    } catch (error) { toast(error.message); }
  }

  async function createKey(event) {
    event.preventDefault();
    const chosen = scopes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    try {
      const key = await post("/api/v1/keys", { name: keyName.value, scopes: chosen });
      const copy = el("button", { type: "button", onclick: async () => {
        try {
          await navigator.clipboard.writeText(key.secret);
          copy.textContent = "Copied";
        } catch { toast("The browser would not copy: select the key and copy it by hand."); }
      } }, "Copy");
      clear(created, el("div.card.secret", {}, el("strong", {}, "Copy this key now — it is not shown again: "),
        el("code", {}, key.secret), " ", copy));
      keyName.value = "";
      loadKeys();
    } catch (error) { toast(error.message); }
  }

  async function loadKeys() {
    const { keys: rows } = await get("/api/v1/keys?limit=200");
    fillTable(keys, ["Name", "Key", "Scopes", "Owner", "Last used", "Uses", ""],
      rows.map((k) => el("tr", {}, el("td", {}, k.name), el("td", {}, el("code", {}, `${k.prefix}…`)),
        el("td", {}, k.scopes.join(", ")), el("td", {}, k.owner), el("td", {}, timeOf(k.last_used_at) || "never"),
        el("td", {}, String(k.use_count)),
        el("td", {}, k.revoked_at ? el("span.muted", {}, "revoked")
          : el("button", { type: "button", onclick: async () => {
            if (!await confirmAction(`Revoke “${k.name}”? Whatever uses it stops working at once.`,
              { title: "Revoke this key?", action: "Revoke", danger: true })) return;
            await del(`/api/v1/keys/${k.id}`).catch((e) => toast(e.message));
            loadKeys();
          } }, "Revoke")))));
  }

  // The audit log in words: who (a key by its name, the owner as You), what was done to
  // which thing (by its name), what changed (before → after); by kind of thing, a page at a time.
  const auditState = { entries: [], next: null, keyNames: new Map() };
  async function loadAudit(after = null) {
    const family = auditFilter.value ? `&action=${encodeURIComponent(auditFilter.value)}` : "";
    const cursor = after ? `&cursor=${encodeURIComponent(after)}` : "";
    const [page, keysPage] = await Promise.all([get(`/api/v1/audit?limit=50${family}${cursor}`),
      get("/api/v1/keys?limit=500").catch(() => ({ keys: [] }))]);
    auditState.keyNames = new Map(keysPage.keys.map((k) => [`key:${k.id}`, `key “${k.name}”`]));
    auditState.entries = after ? [...auditState.entries, ...page.entries] : page.entries;
    auditState.next = page.next_cursor;
    auditMore.hidden = !auditState.next;
    fillTable(audit, ["When", "Who", "What", "Changes"], auditState.entries.map((e) => el("tr", {},
      el("td", {}, timeOf(e.at)), el("td", {}, whoDid(e.actor)), el("td", {}, whatWasDone(e)),
      el("td", {}, changes(e)))));
  }
  const whoDid = (actor) => (actor === "owner" ? "You" : auditState.keyNames.get(actor)
    || { cli: "the command line", config: "the settings", "folder-watch": "a watched folder",
      neurocache: "the hub" }[actor] || actor);

  Promise.all([loadStatus(), usage.load(), loadKeys(), loadAudit()]).catch((e) => toast(e.message));
  return () => {};
}
