// Building the page: every string from the hub (captured pages, model output, people's
// words) goes in as text, never as HTML. Markdown is the one exception, and it goes
// through DOMPurify first (render.js).

export const $ = (selector, root = document) => root.querySelector(selector);

// el("button.primary", {onclick, title}, "Send") → <button class="primary" ...>Send</button>
export function el(spec, props = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// A table that becomes one card per row in a narrow window (style.css): each cell carries
// its column's name, shown beside it there.
export function fillTable(table, headers, rows) {
  clear(table, el("tr", {}, headers.map((h) => el("th", {}, h))), rows);
  for (const row of rows) {
    [...row.children].forEach((cell, i) => { if (headers[i]) cell.dataset.label = headers[i]; });
  }
  table.classList.add("stacks");
  return table;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter(Boolean));
  return node;
}

// "← back to the list", shown only in a narrow window (where the list and the item share it)
export function backLink(href) {
  return el("a.back", { href, "aria-label": "Back to the list" }, "←");
}

export function timeOf(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  return today
    ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// toast("Saved", "info"); toast("No chat model is running.", "error", [{ label, onclick }]):
// with actions it stays until one is taken or it is closed.
export function toast(message, kind = "error", actions = []) {
  const box = $("#toasts");
  const item = el(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, message);
  if (actions.length) {
    item.append(el("div.toast-actions", {},
      actions.map(({ label, onclick, primary }) => el(`button${primary ? ".primary" : ""}`,
        { type: "button", onclick: () => { item.remove(); onclick(); } }, label)),
      el("button", { type: "button", "aria-label": "Close", onclick: () => item.remove() }, "×")));
  }
  box.append(item);
  if (!actions.length) setTimeout(() => item.remove(), 6000);
}
