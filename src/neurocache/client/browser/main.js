// The hub's web UI: sign in, then one view per section, chosen by the address's #hash
// (#/chat/<id>, #/channels/<id>, #/knowledge). No build step: plain ES modules.
import { api, ApiError } from "./lib/api.js";
import { inform } from "./lib/dialog.js";
import { $, clear, el, toast } from "./lib/dom.js";
import { session } from "./lib/session.js";
import { connect } from "./lib/socket.js";

const VIEWS = {
  chat: () => import("./views/chat.js"),
  channels: () => import("./views/channels.js"),
  knowledge: () => import("./views/knowledge.js"),
  models: () => import("./views/models.js"),
  agents: () => import("./views/agents.js"),
  dashboard: () => import("./views/dashboard.js"),
};
let unmount = null;
let routing = 0; // the newest route wins: an older one still loading its view gives way

async function route() {
  const [, section = "chat", ...raw] = location.hash.replace(/^#/, "").split("/");
  // ids only: anything else in the address would end up in an API path
  const rest = raw.filter((part) => /^[A-Za-z0-9_-]{1,100}$/.test(part));
  const load = VIEWS[section] || VIEWS.chat;
  for (const link of document.querySelectorAll(".rail a[data-section]")) {
    link.classList.toggle("active", link.dataset.section === section);
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const mine = ++routing;
  let view;
  try {
    view = await load();
  } catch {
    $("#offline").hidden = false;  // the page's own code could not be loaded
    return;
  }
  if (mine !== routing) return;
  if (unmount) unmount();
  const main = clear($("#view"));
  // In a narrow window a list view shows either its list or the open item (style.css).
  main.dataset.open = rest.length ? "item" : "list";
  unmount = view.mount(main, rest);
}

async function start() {
  try {
    session.principal = (await api("/api/v1/session")).principal;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    $("#offline").hidden = false;
    return setTimeout(start, 2000);
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  connect();
  window.addEventListener("hashchange", route);
  route();
}

function showLogin() {
  $("#login").hidden = false;
  // A login link that is not this hub's (an old one: a new data folder makes a new token)
  if (new URLSearchParams(location.search).get("signin") === "stale") {
    $("#login-error").textContent = "That sign-in link is not valid for this hub (it may be "
      + "an old one). Open the link the hub printed when it started, or paste its token here.";
    history.replaceState(null, "", "/");
  }
  $("#token").focus();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/api/v1/session", { method: "POST", body: { token: $("#token").value } });
    start();
  } catch (error) {
    $("#login-error").textContent = error.message;
  }
});

// A request that failed where nothing waited for it (a view left, the hub went away
// meanwhile) is said once as a toast, not thrown into the page; the banner says the rest.
window.addEventListener("unhandledrejection", (event) => {
  if (!(event.reason instanceof ApiError)) return;
  event.preventDefault();
  if (event.reason.code !== "unreachable") toast(event.reason.message);
});

// Keyboard shortcuts, away from text fields: g then a letter goes to a section, / to the
// page's text field, ? shows them all.
const SECTIONS = { c: "chat", h: "channels", k: "knowledge", m: "models", a: "agents", d: "dashboard" };
const SHORTCUTS = [["?", "These shortcuts"], ["/", "Type in this page's box (ask, message, search)"],
  ...Object.entries(SECTIONS).map(([key, name]) => [`g then ${key}`, `Go to ${name[0].toUpperCase()}${name.slice(1)}`]),
  ["Enter", "Send (Shift+Enter: a new line)"], ["Escape", "Close a dialog or a suggestion list"]];
let leader = false;
document.addEventListener("keydown", (event) => {
  const typing = event.target.closest?.("input, textarea, select, [contenteditable], dialog");
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $("#app").hidden) return;
  if (leader && SECTIONS[event.key]) {
    location.hash = `#/${SECTIONS[event.key]}`;
    leader = false;
  } else if (event.key === "g") {
    leader = true;
    setTimeout(() => { leader = false; }, 1500);
  } else if (event.key === "/") {
    const box = document.querySelector("#view .composer textarea, #view input[type=search]");
    if (box) { event.preventDefault(); box.focus(); }
  } else if (event.key === "?") {
    inform("Keyboard shortcuts", el("dl.shortcuts", {},
      SHORTCUTS.flatMap(([keys, what]) => [el("dt", {}, el("kbd", {}, keys)), el("dd", {}, what)])));
  }
});

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("theme", theme);
}
$("#theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme === "dark"
    || (!document.documentElement.dataset.theme
        && matchMedia("(prefers-color-scheme: dark)").matches);
  applyTheme(dark ? "light" : "dark");
});
if (localStorage.getItem("theme")) applyTheme(localStorage.getItem("theme"));

start();
