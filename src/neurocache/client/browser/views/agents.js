// Agents: the roster; create and edit an agent's persona, model and knowledge; browse each
// memory tier, edit, move between tiers, search.
import { askFor, confirmAction } from "../lib/dialog.js";
import { del, get, patch, post } from "../lib/api.js";
import { backLink, clear, el, timeOf, toast } from "../lib/dom.js";

const TIERS = [["working", "Working"], ["long_term", "Long-term"], ["personal_log", "Personal log"],
  ["archive", "Archive"]];
const TIER_HELP = {
  working: "What it noted from its recent turns, in channels and conversations. Older notes are "
    + "summarized into long-term memory on a schedule.",
  long_term: "What it keeps: summaries of its working notes, and what you add here. It draws on "
    + "these when it answers.",
  personal_log: "Its own diary: what it chose to write down about itself.",
  archive: "Working notes already summarized: kept, but no longer drawn on.",
};

export function mount(root, [agentId]) {
  const listOnly = agentId === "list";
  if (listOnly) { agentId = null; root.dataset.open = "list"; }
  const state = { id: agentId || null, tier: "working", alive: true };
  const roster = el("ul.list", { "aria-label": "Agents" });
  const pane = el("section.pane.scroll");
  root.append(el("section.sidebar", {}, el("div.bar", {}, el("h2", {}, "Agents"),
    el("button", { type: "button", onclick: () => { location.hash = "#/agents/new"; } }, "+ New")), roster), pane);

  async function loadRoster() {
    const { agents } = await get("/api/v1/agents?limit=200");
    if (!state.alive) return;
    clear(roster, agents.map((a) => el("li", {}, el("a", { href: `#/agents/${a.id}`,
      className: a.id === state.id ? "active" : "" }, el("span.title", {}, a.name)))));
    if (!state.id && agents.length && !listOnly && !matchMedia("(max-width: 760px)").matches) {
      location.hash = `#/agents/${agents[0].id}`;
    }
    if (!state.id && !agents.length) clear(pane, el("div.empty", {}, el("p", {}, "No agents yet."),
      el("a.button", { href: "#/agents/new" }, "Create an agent")));
  }

  async function editor(agent) {
    const [{ collections }, { models }] = await Promise.all([get("/api/v1/collections"), get("/api/v1/models")]);
    const name = el("input", { value: agent?.name || "", required: true, "aria-label": "Name" });
    const persona = el("textarea", { rows: 5, value: agent?.persona || "", "aria-label": "Persona",
      placeholder: "Who is this agent? How does it speak, what does it care about?" });
    const model = el("select", { "aria-label": "Model" }, el("option", { value: "" }, "The running chat model"),
      models.filter((m) => m.role === "chat" && m.state !== "absent").map((m) =>
        el("option", { value: m.id, selected: agent?.model === m.id }, m.name)));
    const temperature = el("input", { type: "number", min: 0, max: 2, step: 0.1, "aria-label": "Temperature",
      value: agent?.temperature ?? "", placeholder: "0.7 (default)" });
    const knowledge = el("fieldset.checks", { "aria-label": "Collections it draws from" },
      el("legend", {}, "Knowledge (none ticked: all your memory)"),
      collections.length ? collections.map((c) => el("label.option", {}, el("input", { type: "checkbox",
        value: c.id, checked: agent?.collections?.includes(c.id) }), c.name))
        : el("span.muted", {}, "No collections yet: it draws on all your memory."));
    const save = async (event) => {
      event.preventDefault();
      const body = { name: name.value, persona: persona.value, model: model.value || null,
        temperature: temperature.value === "" ? null : Number(temperature.value),
        collections: [...knowledge.querySelectorAll("input:checked")].map((o) => o.value) };
      try {
        const saved = agent ? await patch(`/api/v1/agents/${agent.id}`, body)
          : await post("/api/v1/agents", body);
        toast(`${saved.name} saved`, "info");
        location.hash = `#/agents/${saved.id}`;
        loadRoster();
      } catch (error) { toast(error.message); }
    };
    return el("form.card.editor", { onsubmit: save },
      el("label", {}, "Name", name), el("label", {}, "Persona", persona),
      el("div.row", {}, el("label", {}, "Model", model), el("label", {}, "Temperature", temperature)),
      knowledge,
      el("div.row", {}, el("button.primary", { type: "submit" }, agent ? "Save" : "Create"),
        agent && el("button", { type: "button", onclick: async () => {
          if (!await confirmAction(`Delete ${agent.name} and everything it remembers?`,
            { title: "Delete this agent?", action: "Delete agent", danger: true,
              detail: "What it said in channels stays there." })) return;
          await del(`/api/v1/agents/${agent.id}`).catch((e) => toast(e.message));
          location.hash = "#/agents";
        } }, "Delete")));
  }

  async function open() {
    if (state.id === "new") { clear(pane, el("header.bar", {}, el("h2", {}, "New agent")), await editor(null)); return; }
    if (!state.id) return;
    const agent = await get(`/api/v1/agents/${state.id}`);
    const tabs = el("div.tabs", { role: "tablist" }, TIERS.map(([tier, label]) => el("button", {
      type: "button", role: "tab", "aria-selected": String(tier === state.tier), dataset: { tier },
      onclick: () => { state.tier = tier; showTier(); } }, label)));
    const query = el("input", { type: "search", placeholder: `Search ${agent.name}'s memories`, "aria-label": "Search memories" });
    const memories = el("ul.memories", { "aria-label": "Memories" });
    const note = el("textarea", { rows: 2, placeholder: "Add a memory to this tier", "aria-label": "New memory" });
    const talk = el("button.primary", { type: "button", onclick: () => post("/api/v1/conversations",
      { agent_id: agent.id, title: `With ${agent.name}` })
      .then((c) => { location.hash = `#/chat/${c.id}`; }, (e) => toast(e.message)) }, `Chat with ${agent.name}`);
    const help = el("p.muted.tier-help", {}, TIER_HELP[state.tier]);
    clear(pane, el("header.bar", {}, backLink("#/agents/list"), el("h2", {}, agent.name),
      el("span.muted", {}, agent.persona.slice(0, 80)), el("span.grow"), talk),
      await editor(agent),
      el("h3", {}, "Memories"),
      el("p.muted", {}, "An agent remembers in four tiers; move a memory between them with its menu."),
      tabs, help,
      el("form.search", { onsubmit: async (e) => {
        e.preventDefault();
        if (!query.value.trim()) return;
        try {
          const { results } = await post(`/api/v1/agents/${agent.id}/search`, { query: query.value });
          // found memories keep their tier and their actions
          clear(memories, results.length ? results.map((r) => memoryItem(agent,
            { id: r.memory_id, content: r.text, tier: r.tier, metadata: {}, created_at: null }, showTier))
            : el("li.muted", {}, "No memory of this."));
        } catch (error) { toast(error.message); }
      } }, query, el("button", { type: "submit" }, "Search")),
      memories,
      el("form.composer", { onsubmit: async (e) => {
        e.preventDefault();
        if (!note.value.trim()) return;
        await post(`/api/v1/agents/${agent.id}/memories`, { tier: state.tier, content: note.value })
          .catch((err) => toast(err.message));
        note.value = "";
        showTier();
      } }, note, el("button.primary", { type: "submit" }, "Add")));
    // A tab or a change to a memory redraws the tier only: the editor above keeps its edits.
    async function showTier() {
      for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.tier === state.tier));
      help.textContent = TIER_HELP[state.tier];
      const { memories: rows } = await get(`/api/v1/agents/${agent.id}/memories?tier=${state.tier}&limit=200`);
      clear(memories, rows.length ? rows.map((m) => memoryItem(agent, m, showTier))
        : el("li.muted", {}, "Nothing in this tier."));
    }
    await showTier();
  }

  function memoryItem(agent, memory, refresh) {
    const base = `/api/v1/agents/${agent.id}/memories/${memory.id}`;
    const text = el("p", {}, memory.content);
    const move = el("select", { "aria-label": "Move to tier", onchange: async (e) => {
      await post(`${base}/move`, { tier: e.target.value }).catch((err) => toast(err.message));
      refresh();
    } }, TIERS.map(([tier, label]) => el("option", { value: tier, selected: tier === memory.tier }, label)));
    return el("li.card", {}, el("div.meta", {}, el("span.pill.small", {}, TIERS.find(([t]) => t === memory.tier)?.[1] || memory.tier),
      " ", timeOf(memory.created_at),
      memory.metadata?.where ? ` · ${memory.metadata.where}` : ""), text,
    el("div.row", {}, move,
      el("button", { type: "button", onclick: async () => {
        const edited = await askFor({ title: "Edit this memory", action: "Save",
          fields: [{ name: "content", label: "Memory", kind: "textarea", value: memory.content, required: true }] });
        if (!edited || edited.content === memory.content) return;
        await patch(base, { content: edited.content }).catch((err) => toast(err.message));
        refresh();
      } }, "Edit"),
      el("button", { type: "button", onclick: async () => {
        await del(base).catch((err) => toast(err.message));
        refresh();
      } }, "Delete")));
  }

  loadRoster().then(open).catch((e) => toast(e.message));
  return () => { state.alive = false; };
}
