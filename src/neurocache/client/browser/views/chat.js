// Chat: conversations on the left; the open one's messages, streamed as they are written,
// with citations that open their source; stop, regenerate, fork, export; what it draws on.
import { confirmAction } from "../lib/dialog.js";
import { del, get, patch, post } from "../lib/api.js";
import { backLink, clear, el, timeOf, toast } from "../lib/dom.js";
import { isNoChatModel, noChatModel } from "../lib/models.js";
import { markdown } from "../lib/render.js";
import { join, joined, leave, on, onReconnect } from "../lib/socket.js";
import { firstRunCard } from "./first_run.js";

export function mount(root, [conversationId]) {
  const state = { id: conversationId || null, messages: new Map(), offs: [], alive: true };
  const list = el("ul.list", { "aria-label": "Conversations" });
  const thread = el("div.messages", { role: "log", "aria-live": "polite" });
  const sourcePanel = el("aside.source", { hidden: true, "aria-label": "Source" });
  const header = el("header.bar");
  const firstRun = firstRunCard();
  const input = el("textarea", { placeholder: "Ask your memory… (Enter sends, Shift+Enter: new line)",
    rows: 2, "aria-label": "Message" });
  const send = el("button.primary", { type: "submit" }, "Send");
  const composer = el("form.composer", { onsubmit: (e) => { e.preventDefault(); ask(); } },
    input, send);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); ask(); }
  });
  const withAgent = el("select", { "aria-label": "New chat with an agent",
    onchange: (e) => e.target.value && create(e.target.value) }, el("option", { value: "" }, "with an agent…"));
  get("/api/v1/agents?limit=100").then(({ agents }) => withAgent.append(
    ...agents.map((a) => el("option", { value: a.id }, a.name)))).catch(() => {});
  root.append(el("section.sidebar",
    {}, el("div.bar", {}, el("h2", {}, "Chat"),
      el("button", { type: "button", onclick: () => create(), title: "New conversation" }, "+ New"),
      withAgent),
    list),
  el("section.pane", {}, header, firstRun, thread, composer), sourcePanel);

  async function loadList() {
    const { conversations } = await get("/api/v1/conversations?limit=100");
    clear(list, conversations.map((c) => el("li", {},
      el("a", { href: `#/chat/${c.id}`, className: c.id === state.id ? "active" : "" },
        el("span.title", {}, c.title), el("span.when", {}, timeOf(c.updated_at))))));
    if (!state.id) header.replaceChildren(el("h2", {}, "Ask anything of your memory"));
    if (!state.id) root.dataset.open = "list";
  }

  // Opened in place (no reload of the view), and a question typed while it is made waits
  // for it: it goes to this conversation, not to one of its own.
  async function create(agentId) {
    state.creating = post("/api/v1/conversations", agentId ? { agent_id: agentId } : {});
    try {
      const conversation = await state.creating;
      if (!state.alive) return;
      if (state.id) leave(`conversation:${state.id}`);
      state.id = conversation.id;
      state.messages = new Map();
      history.pushState(null, "", `#/chat/${conversation.id}`);
      root.dataset.open = "item";
      await open();
      loadList();
    } catch (error) { toast(error.message); } finally { state.creating = null; }
  }

  async function open() {
    if (!state.id) { thread.replaceChildren(emptyState()); return; }
    join(`conversation:${state.id}`);
    state.arrived = new Set();  // what events bring while the conversation is read
    const conversation = await get(`/api/v1/conversations/${state.id}`);
    if (!state.alive) return;
    // A reply that finished while this was read came as an event: that news is newer.
    const seen = state.messages || new Map();
    conversation.messages = conversation.messages.map((m) => (m.status === "streaming"
      && seen.get(m.id) && seen.get(m.id).status !== "streaming" ? { ...seen.get(m.id), siblings: m.siblings } : m));
    // ... and one posted while it was read (a quick first question) is newer than all it holds.
    const newest = conversation.messages.reduce((t, m) => (m.created_at > t ? m.created_at : t), "");
    const held = new Set(conversation.messages.map((m) => m.id));
    conversation.messages.push(...[...state.arrived].map((id) => seen.get(id)).filter((m) => m
      && m.conversation_id === state.id && !held.has(m.id) && m.created_at > newest)
      .sort((a, b) => a.created_at.localeCompare(b.created_at)));
    state.messages = new Map(conversation.messages.map((m) => [m.id, m]));
    renderHeader(conversation);
    clear(thread, conversation.messages.map(renderMessage));
    if (!conversation.messages.length) thread.append(emptyState());
    thread.scrollTop = thread.scrollHeight;
  }

  function emptyState() {
    return el("div.empty", {}, el("p", {}, "Your answers come from what you saved, with sources."),
      el("p.muted", {}, "Type a question below."));
  }

  async function renderHeader(conversation) {
    const [collections, agents, models] = await Promise.all([
      get("/api/v1/collections").then((r) => r.collections).catch(() => []),
      get("/api/v1/agents?limit=100").then((r) => r.agents).catch(() => []),
      get("/api/v1/models").then((r) => r.models).catch(() => []),
    ]);
    const running = models.find((m) => m.role === "chat" && m.state === "running");
    const model = el("select", { "aria-label": "Model",
      onchange: (e) => patch(`/api/v1/conversations/${state.id}`, { model: e.target.value || null })
        .catch((err) => toast(err.message)) },
    el("option", { value: "" }, running ? `The running model (${running.name})` : "The running model"),
    models.filter((m) => m.role === "chat" && ["installed", "starting", "running", "restarting"].includes(m.state))
      .map((m) => el("option", { value: m.id, selected: conversation.model === m.id }, m.name)));
    const title = el("input.title", { value: conversation.title, "aria-label": "Title",
      onchange: (e) => patch(`/api/v1/conversations/${state.id}`, { title: e.target.value })
        .then(loadList).catch((err) => toast(err.message)) });
    const knowledge = el("select", { "aria-label": "Draws on",
      onchange: (e) => patch(`/api/v1/conversations/${state.id}`, {
        collections: e.target.value ? [e.target.value] : [] }).catch((err) => toast(err.message)) },
      el("option", { value: "" }, "All memory"),
      collections.map((c) => el("option", { value: c.id,
        selected: conversation.collections.includes(c.id) }, c.name)));
    const agent = conversation.agent_id
      ? el("span.pill", {}, `agent: ${agents.find((a) => a.id === conversation.agent_id)?.name || "?"}`)
      : null;
    const exportLink = el("a.button", { href: `/api/v1/conversations/${state.id}/export?format=markdown`,
      download: "" }, "Export");
    const remove = el("button", { type: "button", title: "Delete conversation", onclick: async () => {
      if (!await confirmAction("Delete this conversation and its messages?",
        { title: "Delete conversation?", action: "Delete", danger: true })) return;
      try {
        await del(`/api/v1/conversations/${state.id}`);
        location.hash = "#/chat";
      } catch (error) { toast(error.message); }
    } }, "Delete");
    clear(header, backLink("#/chat"), title, knowledge, model, agent, exportLink, remove);
  }

  function renderMessage(message) {
    const body = message.status === "streaming"
      ? el("div.markdown.streaming", {}, message.content)
      : markdown(message.content, { sources: message.sources, onCite: showSource });
    const actions = el("div.actions", {},
      message.status === "streaming" && el("button", { type: "button",
        onclick: () => post(`/api/v1/conversations/${state.id}/messages/${message.id}/stop`)
          .catch((e) => toast(e.message)) }, "Stop"),
      switcher(message),
      message.role === "assistant" && message.status !== "streaming" && el("button", {
        type: "button", onclick: () => post(`/api/v1/conversations/${state.id}/messages/${message.id}/regenerate`, {})
          .then(() => open())  // the new reply takes the old one's place; ‹ › shows either
          .catch((e) => toast(e.message)) }, "Regenerate"),
      message.status !== "streaming" && el("button", { type: "button", title: "A new conversation from here",
        onclick: () => post(`/api/v1/conversations/${state.id}/fork`, { message_id: message.id })
          .then((fork) => { location.hash = `#/chat/${fork.id}`; })
          .catch((e) => toast(e.message)) }, "Fork"));
    const sources = message.sources?.length ? el("ol.sources", {}, message.sources.map((s) =>
      el("li", {}, el("button.link", { type: "button", onclick: () => showSource(s) },
        `[${s.number}] ${s.title || s.url || s.path || "note"}${s.page ? `, page ${s.page}` : ""}`,
        s.cited ? " ✓" : "")))) : null;
    return el(`article.message.${message.role}.${message.status}`, { id: `m-${message.id}`,
      "aria-busy": message.status === "streaming" ? "true" : null },
      el("div.meta", {}, message.role === "user" ? "You" : "Neurocache", " · ", timeOf(message.created_at),
        message.status === "failed" ? el("span.error", {}, ` — ${message.error || "failed"}`) : null,
        message.status === "stopped" ? el("span.muted", {}, " — stopped") : null),
      body, sources, actions);
  }

  // ‹ 2/3 ›: the replies to the same question (regenerated), one shown at a time.
  function switcher(message) {
    const siblings = message.siblings || [];
    if (siblings.length < 2) return null;
    const at = siblings.indexOf(message.id);
    const go = (to) => post(`/api/v1/conversations/${state.id}/branch`, { message_id: siblings[to] })
      .then(() => open()).catch((e) => toast(e.message));
    return el("span.switcher", { role: "group", "aria-label": "Other answers" },
      el("button", { type: "button", "aria-label": "Previous answer", disabled: at <= 0, onclick: () => go(at - 1) }, "‹"),
      el("span.muted", {}, `${at + 1}/${siblings.length}`),
      el("button", { type: "button", "aria-label": "Next answer", disabled: at >= siblings.length - 1,
        onclick: () => go(at + 1) }, "›"));
  }

  function showSource(source) {
    const panel = sourcePanel;
    const link = /^https?:\/\//.test(source.url || "")
      ? el("a", { href: source.url, target: "_blank", rel: "noopener noreferrer nofollow" }, "Open the original")
      : null;
    clear(panel, el("div.bar", {}, el("h3", {}, `[${source.number}] ${source.title || "Source"}`),
      el("button", { type: "button", "aria-label": "Close", onclick: () => { panel.hidden = true; } }, "×")),
    el("p.muted", {}, [source.path, source.page ? `page ${source.page}` : null].filter(Boolean).join(" · ")),
    el("blockquote.quote", {}, source.quote),
    source.document_id ? el("a.button", { href: `#/knowledge/document/${source.document_id}`
      + (source.start != null && source.end != null ? `/${source.start}/${source.end}` : "") },
    "Open the document") : null, link);
    panel.hidden = false;
  }

  function upsert(event) {
    if (!state.alive || event.conversation_id !== state.id) return;  // another chat, a channel
    // An event's message knows nothing of its siblings: the conversation's reading does.
    const known = state.messages.get(event.id);
    const message = event.siblings?.length || !known ? event : { ...event, siblings: known.siblings };
    state.messages.set(message.id, message);
    state.arrived?.add(message.id);
    const node = renderMessage(message);
    const old = document.getElementById(`m-${message.id}`);
    if (old) old.replaceWith(node);
    else { thread.querySelector(".empty")?.remove(); thread.append(node); }
    thread.scrollTop = thread.scrollHeight;
  }

  async function ask() {
    const content = input.value.trim();
    if (!content) return;
    input.value = "";
    let created = null;
    try {
      if (state.creating) await state.creating.catch(() => {});  // "+ New" still on its way
      if (!state.id) {  // the first question starts a conversation, without a reload
        const conversation = await post("/api/v1/conversations", { title: content.slice(0, 60) });
        created = conversation.id;
        state.id = conversation.id;
        history.replaceState(null, "", `#/chat/${state.id}`);
        root.dataset.open = "item";
        await joined(`conversation:${state.id}`);  // in the room before its reply starts
        thread.replaceChildren();
        renderHeader(conversation);
      }
      const posted = await post(`/api/v1/conversations/${state.id}/messages`, { content });
      upsert(posted.message);  // its event may have come before the room was joined
      firstRun.asked();
      loadList();
    } catch (error) {
      input.value = content;
      if (created) {  // a first question that could not be asked leaves no empty conversation
        await del(`/api/v1/conversations/${created}`).catch(() => {});
        state.id = null;
        history.replaceState(null, "", "#/chat");
        loadList();
      }
      if (isNoChatModel(error)) noChatModel();
      else toast(error.message);
    }
  }

  state.offs.push(
    on("message.created", upsert),
    on("message.completed", upsert),
    on("message.delta", ({ message_id, delta }) => {
      const node = document.querySelector(`#m-${CSS.escape(message_id)} .streaming`);
      if (node) { node.append(delta); thread.scrollTop = thread.scrollHeight; }
    }),
    onReconnect(open));
  loadList().catch((e) => toast(e.message));
  open().catch((e) => toast(e.message));
  input.focus();
  return () => {
    state.alive = false;
    state.offs.forEach((off) => off());
    firstRun.close();
    if (state.id) leave(`conversation:${state.id}`);
  };
}
