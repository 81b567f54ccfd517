// Channels: Slack-like rooms of people and agents. Unread counts, members with presence,
// threads, @mention autocomplete, typing indicators, infinite scroll back, and catching up
// by `seq` after a reconnect.
import { del, get, patch, post } from "../lib/api.js";
import { askFor } from "../lib/dialog.js";
import { backLink, clear, el, timeOf, toast } from "../lib/dom.js";
import { markdown } from "../lib/render.js";
import { session } from "../lib/session.js";
import { emit, join, leave, on, onReconnect } from "../lib/socket.js";

const READ_KEY = "neurocache.read";
const CHANNEL_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const lastRead = () => JSON.parse(localStorage.getItem(READ_KEY) || "{}");
function markRead(channelId, seq) {
  const read = lastRead();
  if (!seq || (read[channelId] || 0) >= seq) return;
  localStorage.setItem(READ_KEY, JSON.stringify({ ...read, [channelId]: seq }));
}

const narrow = () => matchMedia("(max-width: 760px)").matches;
// People read their own name as "You" (the hub's owner is stored as `owner`).
const nameOf = (member, name) => (member === session.principal?.person ? "You" : name);

export function mount(root, [channelId]) {
  const listOnly = channelId === "list";
  if (listOnly) { channelId = null; root.dataset.open = "list"; }
  const state = { id: channelId || null, channels: [], members: [], unread: {}, typing: new Map(),
    typingTimers: new Map(), oldest: null, newest: 0, hasMore: false, loadingOlder: false,
    offs: [], alive: true, replies: new Map() };
  const list = el("ul.list", { "aria-label": "Channels" });
  const header = el("header.bar");
  const stream = el("div.messages", { role: "log", "aria-live": "polite" });
  const typingLine = el("div.typing", { "aria-live": "polite" });
  const input = el("textarea", { rows: 2, placeholder: "Message… (@ to mention)", "aria-label": "Message" });
  const suggestions = el("ul.suggestions", { role: "listbox", hidden: true });
  const composer = el("form.composer", { onsubmit: (e) => { e.preventDefault(); send(); } },
    suggestions, input, el("button.primary", { type: "submit" }, "Send"));
  const side = el("aside.source", { hidden: true });
  root.append(
    el("section.sidebar", {}, el("div.bar", {}, el("h2", {}, "Channels"),
      el("button", { type: "button", onclick: createChannel, title: "New channel" }, "+ New")), list),
    el("section.pane", {}, header, stream, typingLine, composer), side);

  // ---- the channel list, with unread counts
  async function loadChannels() {
    const channels = (await get("/api/v1/channels?limit=200")).channels;
    if (!state.alive) return;  // left while it loaded: join nothing
    state.channels = channels;
    const read = lastRead();
    await Promise.all(state.channels.map(async (c) => {
      join(c.room);
      if (c.id === state.id) return;
      const page = await get(`/api/v1/channels/${c.id}/messages?after=${read[c.id] || 0}&limit=100`);
      state.unread[c.id] = page.messages.length + (page.has_more ? 1 : 0);
    }));
    if (!state.alive) return;
    renderList();
    // wide: open the first channel; narrow (or #/channels/list): the list itself
    if (!state.id && state.channels.length && !listOnly && !narrow()) {
      location.hash = `#/channels/${state.channels[0].id}`;
    }
    if (!state.channels.length) stream.replaceChildren(el("div.empty", {},
      el("p", {}, "No channels yet."), el("button.primary", { type: "button", onclick: createChannel },
        "Create the first one")));
  }

  function renderList() {
    clear(list, state.channels.map((c) => el("li", {},
      el("a", { href: `#/channels/${c.id}`, className: c.id === state.id ? "active" : "" },
        el("span.title", {}, `# ${c.name}`),
        state.unread[c.id] ? el("span.badge", { title: "unread" },
          state.unread[c.id] > 99 ? "99+" : String(state.unread[c.id])) : null))));
  }

  async function createChannel() {
    const answer = await askFor({ title: "New channel", action: "Create channel",
      intro: "A room where people and agents talk. You are its first member; add others after.",
      fields: [{ name: "name", label: "Name", required: true, pattern: CHANNEL_NAME, maxlength: 80,
        placeholder: "general", hint: "Lower-case letters, digits, - and _ (like general or trip-2027)." },
      { name: "description", label: "What it is for (optional)", maxlength: 10000 }] });
    if (!answer) return;
    try {
      const channel = await post("/api/v1/channels", { name: answer.name.toLowerCase(),
        description: answer.description });
      location.hash = `#/channels/${channel.id}`;
    } catch (error) { toast(error.message); }
  }

  // ---- the open channel
  async function open() {
    if (!state.id) return;
    const channel = await get(`/api/v1/channels/${state.id}`);
    if (!state.alive) return;
    state.members = channel.members;
    renderHeader(channel);
    const page = await get(`/api/v1/channels/${state.id}/messages?limit=50`);
    if (!state.alive) return;
    state.oldest = page.before;
    state.hasMore = page.has_more;
    state.newest = page.after || 0;
    state.replies = new Map();
    page.messages.forEach(countReply);
    clear(stream, page.messages.map((m) => renderMessage(m)));
    if (!page.messages.length) {
      stream.append(el("div.empty", {}, el("p", {}, "Nothing said here yet."),
        el("p.muted", {}, "Write below; @mention an agent to have it answer from what it knows, "
          + "or add people and agents with + Member.")));
    }
    stream.scrollTop = stream.scrollHeight;
    markRead(state.id, state.newest);
    state.unread[state.id] = 0;
    renderList();
  }

  function renderHeader(channel) {
    const people = el("ul.members", { "aria-label": "Members" }, state.members.map((m) =>
      el("li", { title: m.kind === "agent" ? `agent (${m.mode})` : m.member },
        el(`span.dot${m.online || m.kind === "agent" ? ".on" : ""}`), nameOf(m.member, m.name),
        m.kind === "agent" ? el("span.pill.small", {}, "agent") : null)));
    const add = el("button", { type: "button", onclick: () => addMember(), title: "Add a person or agent" }, "+ Member");
    const manage = el("button", { type: "button", onclick: () => editChannel(channel), title: "Name, description and members" }, "Settings");
    const ask = el("button", { type: "button", onclick: () => askChannel(), title: "Ask every agent" }, "Ask the agents");
    const archive = el("button", { type: "button", onclick: async () => {
      await patch(`/api/v1/channels/${state.id}`, { archived: !channel.archived }).catch((e) => toast(e.message));
      location.hash = "#/channels";
    } }, channel.archived ? "Unarchive" : "Archive");
    clear(header, backLink("#/channels/list"), el("h2", {}, `# ${channel.name}`), el("span.muted", {}, channel.description),
      el("span.grow"), people, add, manage, ask, archive);
  }

  async function addMember() {
    const here = new Set(state.members.map((m) => m.member));
    const agents = (await get("/api/v1/agents?limit=100")).agents.filter((a) => !here.has(`agent:${a.id}`));
    // People are listed for the owner; anyone else names them (the list is the owner's).
    const people = await get("/api/v1/users?limit=200").then((r) => r.users, () => null);
    const choices = [...agents.map((a) => ({ value: `agent:${a.id}`, label: `${a.name} (agent)` })),
      ...(people || []).filter((u) => !u.disabled_at && !here.has(u.person))
        .map((u) => ({ value: u.person, label: `${u.display_name} (@${u.name})` })),
      ...(here.has("owner") ? [] : [{ value: "owner", label: "You (the hub's owner)" }])];
    if (!choices.length && people) { toast("Everyone is in this channel already. Make agents on the Agents page.", "info"); return; }
    const answer = await askFor({ title: "Add a member", action: "Add",
      fields: [people ? { name: "who", label: "Who", kind: "select", options: choices, value: choices[0]?.value }
        : { name: "who", label: "A person's user name, or an agent's name", required: true },
      { name: "mode", label: "An agent answers", kind: "choice", value: "mention", options: [
        { value: "mention", label: "Only when @mentioned" },
        { value: "auto", label: "Every message a person writes" }] }] });
    if (!answer) return;
    const picked = answer.who.startsWith("agent:") ? answer.who.slice(6)
      : agents.find((a) => a.name.toLowerCase() === answer.who.toLowerCase())?.id;
    const body = picked ? { agent_id: picked, mode: answer.mode }
      : { user_id: answer.who.startsWith("user:") ? answer.who.slice(5) : answer.who };
    try {
      await post(`/api/v1/channels/${state.id}/members`, body);
      open();
    } catch (error) { toast(error.message); }
  }

  async function editChannel(channel) {
    const removable = state.members.filter((m) => m.member !== session.principal?.person);
    const answer = await askFor({ title: `# ${channel.name}`, action: "Save",
      fields: [{ name: "name", label: "Name", value: channel.name, required: true, pattern: CHANNEL_NAME,
        maxlength: 80, hint: "Lower-case letters, digits, - and _." },
      { name: "description", label: "Description", value: channel.description, maxlength: 10000 },
      ...(removable.length ? [{ name: "remove", label: "Remove a member", kind: "select", value: "",
        options: [{ value: "", label: "Nobody" }, ...removable.map((m) => ({ value: m.member,
          label: `${m.name}${m.kind === "agent" ? " (agent)" : ""}` }))] }] : [])] });
    if (!answer) return;
    try {
      const changes = {};
      if (answer.name !== channel.name) changes.name = answer.name.toLowerCase();
      if (answer.description !== channel.description) changes.description = answer.description;
      if (Object.keys(changes).length) await patch(`/api/v1/channels/${state.id}`, changes);
      if (answer.remove) {
        await del(`/api/v1/channels/${state.id}/members/${encodeURIComponent(answer.remove)}`);
        toast(`${removable.find((m) => m.member === answer.remove)?.name} was removed`, "info");
      }
      loadChannels();
      open();
    } catch (error) { toast(error.message); }
  }

  async function askChannel() {
    const answer = await askFor({ title: "Ask the agents", action: "Ask",
      intro: "Every agent of this channel answers from its own knowledge; then one answer combines theirs.",
      fields: [{ name: "question", label: "Question", kind: "textarea", required: true, maxlength: 20000 },
        { name: "keep", label: "Where the answers go", kind: "choice", value: "channel", options: [
          { value: "channel", label: "In the channel", hint: "Everyone sees the question and each answer as it is written." },
          { value: "panel", label: "Only here", hint: "Nothing is posted in the channel." }] }] });
    const question = answer?.question;
    if (!question) return;
    const kept = answer.keep === "channel";
    const closing = el("button", { type: "button", "aria-label": "Close", onclick: () => { side.hidden = true; } }, "×");
    clear(side, el("div.bar", {}, el("h3", {}, "The agents answer…"), closing),
      kept ? el("p.muted", { role: "status" }, "Their answers are written in the channel, in the question's thread.") : null);
    side.hidden = false;
    try {
      const answer = await post(`/api/v1/channels/${state.id}/query`, { question, post: kept });
      clear(side, el("div.bar", {}, el("h3", {}, question),
        el("button", { type: "button", "aria-label": "Close", onclick: () => { side.hidden = true; } }, "×")),
      markdown(answer.answer, { sources: answer.sources, onCite: () => {} }),
      el("h4", {}, "Each agent"),
      answer.answers.map((a) => el("details", {}, el("summary", {}, a.name), markdown(a.answer))),
      el("h4", {}, "Sources"),
      el("ol.sources", {}, answer.sources.map((s) => el("li", {}, `${s.title || "note"}: `,
        el("q", {}, s.quote.slice(0, 200))))));
    } catch (error) { side.hidden = true; toast(error.message); }
  }

  function renderMessage(m, idPrefix = "c-") {
    const body = m.status === "streaming"
      ? el("div.markdown.streaming", {}, m.content) : markdown(m.content);
    const parent = m.reply_to ? el("div.in-thread.muted", {}, "↳ in a thread") : null;
    return el(`article.message.line.${m.author_kind}.${m.status}`,
      { id: `${idPrefix}${m.id}`, dataset: { seq: m.seq },
        "aria-busy": m.status === "streaming" ? "true" : null },
      el("div.meta", {}, el("strong", {}, nameOf(m.author, m.author_name)), " · ", timeOf(m.created_at),
        m.edited_at ? " (edited)" : "", m.status === "failed" ? el("span.error", {}, ` — ${m.error}`) : null),
      parent, body, sourcesOf(m),
      el("div.actions", {},
        m.status === "streaming" && m.author_kind === "agent" ? el("button", { type: "button",
          onclick: () => post(`/api/v1/channels/${state.id}/messages/${m.id}/stop`)
            .catch((e) => toast(e.message)) }, "Stop") : null,
        el("button.thread-link", { type: "button", onclick: () => openThread(m) }, threadLabel(m))));
  }

  // Replies in a thread, counted over the messages seen (the stream holds them too).
  function countReply(m) {
    if (!m.reply_to || state.replies.get(m.reply_to)?.has(m.id)) return false;
    if (!state.replies.has(m.reply_to)) state.replies.set(m.reply_to, new Set());
    state.replies.get(m.reply_to).add(m.id);
    return true;
  }

  function threadLabel(m) {
    const n = state.replies?.get(m.id)?.size || 0;
    return n ? `${n} ${n === 1 ? "reply" : "replies"}` : "Reply in thread";
  }

  // What an agent's reply drew on, numbered as it cites them; a click shows the passage.
  function sourcesOf(m) {
    if (!m.sources?.length) return null;
    return el("details.sources", {}, el("summary", {}, `Sources (${m.sources.length})`),
      el("ol", {}, m.sources.map((s) => el("li", {}, el("button.link", { type: "button",
        onclick: () => showSource(s) }, `[${s.number}] ${s.title || s.url || s.path || "note"}`,
        s.cited ? " ✓" : "")))));
  }

  function showSource(s) {
    clear(side, el("div.bar", {}, el("h3", {}, `[${s.number}] ${s.title || "Source"}`),
      el("button", { type: "button", "aria-label": "Close", onclick: () => { side.hidden = true; } }, "×")),
    el("p.muted", {}, [s.url, s.path, s.page ? `page ${s.page}` : null].filter(Boolean).join(" · ")),
    el("blockquote.quote", {}, s.quote));
    side.hidden = false;
  }

  async function openThread(root) {
    let replies;
    try {
      replies = (await get(`/api/v1/channels/${state.id}/messages?thread=${root.id}&limit=200`)).messages;
    } catch (error) { toast(error.message); return; }
    const box = el("textarea", { rows: 2, "aria-label": "Reply" });
    clear(side, el("div.bar", {}, el("h3", {}, "Thread"),
      el("button", { type: "button", "aria-label": "Close", onclick: () => { side.hidden = true; } }, "×")),
    renderMessage(root, "t-"), replies.map((m) => renderMessage(m, "t-")),
    el("form.composer", { onsubmit: async (e) => {
      e.preventDefault();
      if (!box.value.trim()) return;
      await post(`/api/v1/channels/${state.id}/messages`, { content: box.value, reply_to: root.id })
        .catch((err) => toast(err.message));
      openThread(root);
    } }, box, el("button.primary", { type: "submit" }, "Reply")));
    side.hidden = false;
  }

  function countUnread(m) {  // a new message elsewhere, from someone else
    if (!state.alive || m.channel_id === state.id || m.author === session.principal?.person) return;
    if (m.status === "streaming") return;  // an agent's reply counts once, when complete
    state.unread[m.channel_id] = (state.unread[m.channel_id] || 0) + 1;
    renderList();
  }

  function upsert(m) {
    if (!state.alive || m.channel_id !== state.id) return;
    if (countReply(m)) {  // the thread's first message says how many replies it has now
      const root = document.getElementById(`c-${m.reply_to}`)?.querySelector(".thread-link");
      if (root) root.textContent = threadLabel({ id: m.reply_to });
    }
    const node = renderMessage(m);
    const old = document.getElementById(`c-${m.id}`);
    const atBottom = stream.scrollHeight - stream.scrollTop - stream.clientHeight < 80;
    if (old) old.replaceWith(node);
    else { stream.querySelector(".empty")?.remove(); stream.append(node); }
    state.newest = Math.max(state.newest, m.seq);
    markRead(state.id, state.newest);
    if (atBottom) stream.scrollTop = stream.scrollHeight;
  }

  async function loadOlder() {
    if (!state.hasMore || state.loadingOlder || !state.id) return;
    state.loadingOlder = true;
    try {
      const page = await get(`/api/v1/channels/${state.id}/messages?before=${state.oldest}&limit=50`);
      const height = stream.scrollHeight;
      stream.prepend(...page.messages.map((m) => renderMessage(m)));
      stream.scrollTop = stream.scrollHeight - height;
      state.oldest = page.before ?? state.oldest;
      state.hasMore = page.has_more;
    } catch (error) { toast(error.message); } finally { state.loadingOlder = false; }
  }
  stream.addEventListener("scroll", () => { if (stream.scrollTop < 60) loadOlder(); });

  async function catchUp() {  // after a reconnect: new messages, and replies that finished
    if (!state.id || !state.alive) return;
    let after = state.newest;
    for (;;) {
      const page = await get(`/api/v1/channels/${state.id}/messages?after=${after}&limit=500`);
      page.messages.forEach(upsert);
      if (!page.has_more || !page.messages.length) break;
      after = page.after;
    }
    const recent = await get(`/api/v1/channels/${state.id}/messages?limit=100`);
    recent.messages.filter((m) => document.getElementById(`c-${m.id}`)).forEach(upsert);
  }

  // ---- writing: mentions, typing
  let typingSent = 0;
  input.addEventListener("input", () => {
    if (Date.now() - typingSent > 2000 && state.id) {
      emit("typing", { room: `channel:${state.id}`, typing: true });
      typingSent = Date.now();
    }
    suggest();
  });
  input.addEventListener("keydown", (e) => {
    if (!suggestions.hidden && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      const options = [...suggestions.children];
      const at = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
      const next = (at + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      options.forEach((o, i) => o.setAttribute("aria-selected", String(i === next)));
      return;
    }
    if (!suggestions.hidden && (e.key === "Tab" || (e.key === "Enter" && suggestions.firstChild))) {
      e.preventDefault();
      complete(suggestions.querySelector("[aria-selected=true]")?.dataset.handle
        || suggestions.firstChild.dataset.handle);
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    else if (e.key === "Escape") suggestions.hidden = true;
  });

  function suggest() {
    const match = /@([\w.-]*)$/.exec(input.value.slice(0, input.selectionStart));
    if (!match) { suggestions.hidden = true; return; }
    const found = state.members.filter((m) => m.handle.startsWith(match[1].toLowerCase())).slice(0, 6);
    clear(suggestions, found.map((m, i) => el("li", { role: "option", dataset: { handle: m.handle },
      "aria-selected": i === 0 ? "true" : "false", onmousedown: (e) => { e.preventDefault(); complete(m.handle); } },
    `@${m.handle}`, el("span.muted", {}, ` ${m.name}`))));
    suggestions.hidden = !found.length;
  }

  function complete(handle) {
    const before = input.value.slice(0, input.selectionStart).replace(/@[\w.-]*$/, `@${handle} `);
    input.value = before + input.value.slice(input.selectionStart);
    suggestions.hidden = true;
    input.focus();
  }

  async function send() {
    const content = input.value.trim();
    if (!content || !state.id) return;
    input.value = "";
    suggestions.hidden = true;
    emit("typing", { room: `channel:${state.id}`, typing: false });
    typingSent = 0;
    try { await post(`/api/v1/channels/${state.id}/messages`, { content }); }
    catch (error) { input.value = content; toast(error.message); }
  }

  function showTyping() {
    const names = [...state.typing.values()];
    typingLine.textContent = names.length
      ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  state.offs.push(
    on("message.created", (m) => { countUnread(m); upsert(m); }),
    on("message.completed", (m) => { if (m.channel_id !== state.id) countUnread(m); upsert(m); }),
    on("message.updated", upsert),
    on("message.deleted", ({ id }) => document.getElementById(`c-${id}`)?.remove()),
    on("message.delta", ({ message_id, delta }) => {
      const node = document.querySelector(`#c-${CSS.escape(message_id)} .streaming`);
      if (node) node.append(delta);
    }),
    on("typing", ({ channel_id, member, name, typing }) => {
      if (channel_id !== state.id) return;
      clearTimeout(state.typingTimers.get(member));
      if (typing) {  // said again every 2 s while typing; gone 6 s after the last
        state.typing.set(member, name);
        state.typingTimers.set(member, setTimeout(() => { state.typing.delete(member); showTyping(); }, 6000));
      } else state.typing.delete(member);
      showTyping();
    }),
    on("presence", ({ channel_id, member, status }) => {
      if (channel_id !== state.id) return;
      const found = state.members.find((m) => m.member === member);
      if (found) {
        get(`/api/v1/channels/${state.id}`).then((c) => { state.members = c.members; renderHeader(c); });
      }
    }),
    onReconnect(catchUp));
  loadChannels().then(open).catch((e) => toast(e.message));
  input.focus();
  return () => {
    state.alive = false;
    state.offs.forEach((off) => off());
    state.typingTimers.forEach((timer) => clearTimeout(timer));
    state.channels.forEach((c) => leave(c.room));
  };
}
