// Knowledge: collections, drag-and-drop upload of many files with progress per file,
// documents with their status (live while they are indexed), and search with highlights.
import { askFor, confirmAction } from "../lib/dialog.js";
import { FILTERS, grouped, resultItem, showDocument } from "./finding.js";
import { del, get, patch, post } from "../lib/api.js";
import { clear, el, fillTable, timeOf, toast } from "../lib/dom.js";
import { join, leave, on } from "../lib/socket.js";

// The kinds the hub reads (knowledge/loaders.py READABLE; tests/unit/test_client_accepts.py checks).
const ACCEPT = [
  ".c", ".cc", ".cpp", ".cs", ".csv", ".docx", ".go", ".h", ".hpp", ".htm", ".html", ".ini",
  ".java", ".js", ".json", ".kt", ".log", ".lua", ".markdown", ".md", ".mjs", ".pdf", ".php",
  ".py", ".rb", ".rs", ".rst", ".scala", ".sh", ".sol", ".swift", ".text", ".toml", ".ts", ".tsv",
  ".tsx", ".txt", ".xhtml", ".yaml", ".yml"
].join(",");
const STATUS = { queued: "Waiting", indexing: "Reading…", indexed: "Ready", failed: "Failed" };
const KINDS = [["pdf", "PDF"], ["word", "Word"], ["officedocument", "Word"], ["html", "Web page"],
  ["markdown", "Markdown"], ["json", "JSON"], ["csv", "Table"], ["text/", "Text"]];
const kindOf = (d) => (d.source === "capture" ? "Captured page"
  : KINDS.find(([part]) => (d.mime || "").includes(part))?.[1] || "Text");
const SORTS = {
  newest: (a, b) => b.created_at.localeCompare(a.created_at),
  oldest: (a, b) => a.created_at.localeCompare(b.created_at),
  title: (a, b) => a.title.localeCompare(b.title),
  type: (a, b) => kindOf(a).localeCompare(kindOf(b)) || a.title.localeCompare(b.title),
};

export function mount(root, [what, documentId, start, end] = []) {
  const state = { collection: "", offs: [], documents: [], next: null, filter: "all" };
  const viewer = el("aside.source.viewer", { hidden: true, "aria-label": "Document" });
  const filters = el("div.filters", { role: "group", "aria-label": "Show" }, FILTERS.map(([name, label]) =>
    el("button", { type: "button", dataset: { filter: name }, "aria-pressed": String(name === "all"),
      onclick: () => {
        state.filter = name;
        filters.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.filter === name)));
        if (query.value.trim()) search();
      } }, label)));
  const collections = el("select", { "aria-label": "Collection", onchange: (e) => {
    state.collection = e.target.value; collectionActions.hidden = !state.collection; loadDocuments(); } });
  // What the hub reads (knowledge/loaders.py); anything else is refused with the reason.
  const picker = el("input", { type: "file", multiple: true, hidden: true, accept: ACCEPT,
    onchange: (e) => upload([...e.target.files]) });
  const drop = el("label.drop", { tabindex: 0, role: "button", onkeydown: (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); }
  } }, picker,
    el("strong", {}, "Drop files here"), el("span.muted", {}, " or click to choose (PDF, Word, HTML, Markdown, text, code…)"));
  const uploads = el("ul.uploads", { "aria-label": "Uploads" });
  const clearUploads = el("button", { type: "button", hidden: true, onclick: () => {
    uploads.querySelectorAll("li.finished").forEach((li) => li.remove());
    clearUploads.hidden = !uploads.querySelector("li");
  } }, "Clear finished uploads");
  const documents = el("table.documents", {});
  const query = el("input", { type: "search", placeholder: "Search everything you saved", "aria-label": "Search" });
  const mode = el("select", { "aria-label": "Mode" }, [["hybrid", "Best match"],
    ["vector", "By meaning"], ["fulltext", "Exact words"]].map(([m, label]) => el("option", { value: m }, label)));
  const results = el("ol.results", { "aria-label": "Results" });
  const folders = el("ul.folders", { "aria-label": "Watched folders" });
  const collectionActions = el("span.inline", { hidden: true },
    el("button", { type: "button", onclick: () => renameCollection() }, "Rename"),
    el("button", { type: "button", onclick: () => deleteCollection() }, "Delete collection"));
  const folderPath = el("input", { placeholder: "/home/me/Notes", "aria-label": "Folder to watch" });
  const sortBy = el("select", { "aria-label": "Sort documents", onchange: () => renderDocuments() },
    [["newest", "Newest first"], ["oldest", "Oldest first"], ["title", "By name"], ["type", "By type"]]
      .map(([value, label]) => el("option", { value }, label)));
  const more = el("button", { type: "button", hidden: true, onclick: () => loadDocuments(state.next) },
    "Show more documents");
  root.append(el("section.pane.wide", {},
    el("header.bar", {}, el("h2", {}, "Knowledge"), collections,
      el("button", { type: "button", onclick: newCollection }, "+ Collection"), collectionActions),
    el("form.search", { onsubmit: (e) => { e.preventDefault(); search(); } }, query, mode,
      el("button.primary", { type: "submit" }, "Search")),
    filters, results, drop, uploads, clearUploads,
    // Folders before the documents: a long list must not hide them.
    el("h3", {}, "Watched folders"),
    el("p.muted", {}, "Files in these folders go in by themselves, and changes follow."),
    el("form.inline", { onsubmit: watch }, folderPath, el("button", { type: "submit" }, "Watch")),
    folders,
    el("div.bar.plain", {}, el("h3", {}, "Documents"), el("span.grow"), sortBy),
    documents, more));
  for (const name of ["dragover", "dragenter"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload([...e.dataTransfer.files]);
  });

  async function loadCollections() {
    const list = (await get("/api/v1/collections")).collections;
    clear(collections, el("option", { value: "" }, "All collections"),
      list.map((c) => el("option", { value: c.name, selected: c.name === state.collection }, c.name)));
    collectionActions.hidden = !state.collection;
  }

  // The chosen collection: renamed, or deleted (its documents stay, in no collection).
  async function renameCollection() {
    const answer = await askFor({ title: "Rename the collection", action: "Rename",
      fields: [{ name: "name", label: "Name", value: state.collection, required: true, maxlength: 200 }] });
    const name = answer?.name;
    if (!name || name === state.collection) return;
    try {
      await patch(`/api/v1/collections/${encodeURIComponent(state.collection)}`, { name });
      state.collection = name;
      loadCollections();
    } catch (error) { toast(error.message); }
  }

  async function deleteCollection() {
    const path = `/api/v1/collections/${encodeURIComponent(state.collection)}`;
    try {
      // Who draws on it is said before, not after: they draw on nothing from it once it goes.
      const { warning, documents } = await get(path);
      const detail = [`Its ${documents} document(s) stay, in no collection.`,
        warning ? `${warning}.` : ""].filter(Boolean).join(" ");
      if (!await confirmAction(`Delete the collection “${state.collection}”?`,
        { title: "Delete this collection?", action: "Delete collection", danger: true, detail })) return;
      await del(path);
      state.collection = "";
      loadCollections();
      loadDocuments();
    } catch (error) { toast(error.message); }
  }

  async function newCollection() {
    const answer = await askFor({ title: "New collection", action: "Create",
      intro: "A collection is a set of documents that conversations, agents and searches can draw on.",
      fields: [{ name: "name", label: "Name", required: true, maxlength: 200, placeholder: "Work notes" },
        { name: "description", label: "Description (optional)", maxlength: 10000 }] });
    if (!answer) return;
    const { name, description } = answer;
    try {
      await post("/api/v1/collections", { name, description });
      state.collection = name;
      loadCollections();
      loadDocuments();
    } catch (error) { toast(error.message); }
  }

  async function loadFolders() {
    const { folders: rows } = await get("/api/v1/folders");
    clear(folders, rows.map((f) => el("li", {}, el("code", {}, f.path),
      el("span.muted", {}, f.scanned_at ? ` · checked ${timeOf(f.scanned_at)}` : " · waiting"),
      " ", el("button", { type: "button", onclick: async () => {
        await del(`/api/v1/folders/${f.id}`).catch((e) => toast(e.message));
        loadFolders();
      } }, "Stop watching"))));
  }

  async function watch(event) {
    event.preventDefault();
    try {
      await post("/api/v1/folders", { path: folderPath.value,
        ...(state.collection ? { collection: state.collection } : {}) });
      folderPath.value = "";
      loadFolders();
      loadDocuments();
    } catch (error) { toast(error.message); }
  }

  // A page of documents (newest first from the hub), more on demand, sorted here.
  async function loadDocuments(after = null) {
    const query = state.collection ? `&collection=${encodeURIComponent(state.collection)}` : "";
    const cursor = after ? `&cursor=${encodeURIComponent(after)}` : "";
    const [page, names] = await Promise.all([get(`/api/v1/documents?limit=100${query}${cursor}`),
      get("/api/v1/collections").then((r) => new Map(r.collections.map((c) => [c.id, c.name])))]);
    state.documents = after ? [...state.documents, ...page.documents] : page.documents;
    state.next = page.next_cursor;
    more.hidden = !state.next;
    renderDocuments(names);
  }

  function renderDocuments(names = new Map()) {
    const rows = [...state.documents].sort(SORTS[sortBy.value]);
    fillTable(documents, ["Document", "Type", "Collection", "Status", "Added", ""],
      rows.map((d) => el("tr", { id: `d-${d.id}` },
        el("td", {}, el("strong", {}, d.title), d.path && d.path !== d.title ? el("div.muted", {}, d.path) : null,
          d.url ? el("div.muted", {}, d.url) : null, d.error ? el("div.error", {}, d.error) : null),
        el("td", {}, kindOf(d)), el("td", {}, names.get(d.collection_id) || "—"),
        el("td", {}, el(`span.status.${d.status}`, {}, STATUS[d.status] || d.status)),
        el("td", {}, timeOf(d.created_at)),
        el("td", {}, el("button", { type: "button", "aria-label": `Delete ${d.title}`, onclick: async () => {
          if (!await confirmAction(`Delete “${d.title}”? It leaves every search and answer.`,
            { title: "Delete this document?", action: "Delete", danger: true })) return;
          await del(`/api/v1/documents/${d.id}`).catch((e) => toast(e.message));
          loadDocuments();
        } }, "Delete")))));
  }

  function upload(files) {
    for (const file of files) {
      const bar = el("progress", { max: 1, value: 0 });
      const line = el("li", {}, el("span", {}, file.name), bar, el("span.muted.state", {}, "uploading"));
      uploads.append(line);
      clearUploads.hidden = false;
      const form = new FormData();
      form.append("file", file);
      if (state.collection) form.append("collection", state.collection);
      const request = new XMLHttpRequest();  // fetch has no upload progress
      request.open("POST", "/api/v1/documents");
      request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total / 2; };
      request.onload = () => {
        let body = {};
        try { body = JSON.parse(request.responseText || "{}"); } catch { /* not JSON: below */ }
        if (request.status >= 400) {  // the reason on its own line, and no half-full bar
          bar.remove();
          line.append(el("p.error.reason", {}, body.error?.message || "It could not be taken in."));
          line.querySelector(".state").textContent = "not taken in";
          line.classList.add("error", "finished");
          return;
        }
        if (body.outcome === "unchanged") {  // taken in before, the same: nothing to wait for
          bar.value = 1;
          line.querySelector(".state").textContent = "already in, unchanged";
          line.classList.add("finished");
          return;
        }
        line.dataset.job = body.job?.id || "";
        line.querySelector(".state").textContent = body.outcome === "replaced"
          ? "indexing the new version" : "indexing";
        bar.value = 0.5;
        if (body.job?.id) {  // a small file may be indexed before this line knew its job
          get(`/api/v1/jobs/${body.job.id}`).then((job) => showJob(line, job)).catch(() => {});
        }
        loadDocuments();
      };
      request.onerror = () => { line.querySelector(".state").textContent = "the hub cannot be reached"; };
      request.send(form);
    }
  }

  async function search() {
    if (!query.value.trim()) return;
    try {
      const [, , kinds, keeps] = FILTERS.find(([name]) => name === state.filter);
      const body = { query: query.value, mode: mode.value, k: kinds?.includes("chunk") ? 40 : 20 };
      if (kinds) body.kinds = kinds;
      if (state.collection) body.collections = [state.collection];
      const { results: hits } = await post("/api/v1/search", body);
      const groups = grouped(hits.filter(keeps));
      clear(results, groups.length
        ? groups.map((g) => resultItem(g, (id, r) => showDocument(viewer, id, r)))
        : el("li.muted", {}, "Nothing found: try other words, or Everything."));
    } catch (error) { toast(error.message); }
  }

  join("jobs");
  // Progress is the share of the text done; time left comes from the pace so far.
  function showJob(line, job) {
    line.querySelector("progress").value = 0.5 + (job.progress || 0) / 2;
    const left = job.status === "running" && job.eta_s != null ? ` · ${duration(job.eta_s)} left` : "";
    line.querySelector(".state").textContent =
      ({ done: "ready", failed: "failed", cancelled: "cancelled", queued: "waiting" }[job.status]
        || "reading") + left;
    if (["done", "failed", "cancelled"].includes(job.status)) line.classList.add("finished");
    if (job.status === "failed" && job.error && !line.querySelector(".reason")) {
      line.querySelector("progress")?.remove();
      line.append(el("p.error.reason", {}, job.error));
    }
    const live = ["queued", "running"].includes(job.status);
    let cancel = line.querySelector("button.cancel");
    if (live && !cancel) {
      cancel = el("button.cancel", { type: "button", "aria-label": "Cancel indexing", onclick: () =>
        del(`/api/v1/jobs/${encodeURIComponent(job.id)}`).catch((e) => toast(e.message)) }, "Cancel");
      line.append(cancel);
    } else if (!live && cancel) {
      cancel.remove();
    }
  }

  function duration(seconds) {
    if (seconds < 90) return `${Math.ceil(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  state.offs.push(on("job.progress", (job) => {
    const line = uploads.querySelector(`[data-job="${CSS.escape(job.id || "")}"]`);
    if (line) showJob(line, job);
    if (["done", "failed", "cancelled"].includes(job.status)) loadDocuments();
  }));
  root.append(viewer);
  if (what === "document" && documentId) {  // #/knowledge/document/<id>[/<start>/<end>]: a citation
    showDocument(viewer, documentId, { start: start ? Number(start) : null, end: end ? Number(end) : null });
  }
  loadCollections().then(loadDocuments).then(loadFolders).catch((e) => toast(e.message));
  return () => { state.offs.forEach((off) => off()); leave("jobs"); };
}
