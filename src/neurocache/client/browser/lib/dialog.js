// In-page dialogs instead of the browser's prompt() and confirm(): a modal <dialog> (focus
// stays inside it, Escape cancels, Enter submits a one-line field), labelled fields checked
// before they are sent, the action named on its button, and focus back where it was.
import { el } from "./dom.js";

// confirmAction("Delete “Rivers”?", { action: "Delete", danger: true }) → true | false
export function confirmAction(message, { title = "Are you sure?", action = "OK", danger = false,
  detail = null } = {}) {
  return form({ title, action, danger, intro: [el("p", {}, message), detail && el("p.muted", {}, detail)],
    fields: [] }).then((values) => values !== null);
}

// inform("Keyboard shortcuts", [nodes]): something to read, with one button to close it.
export function inform(title, content, { action = "Close" } = {}) {
  return form({ title, action, fields: [], intro: [el("div.info", {}, content)] });
}

// askFor({ title, action, fields: [{ name, label, value, kind, required, pattern, hint,
//   options: [{ value, label }] }] }) → { name: value, ... } | null (cancelled)
// kind: "text" (default), "textarea", "select" or "choice" (radio buttons).
export function askFor({ title, action = "Save", fields, intro = null, danger = false }) {
  return form({ title, action, fields, danger, intro: intro ? [el("p", {}, intro)] : [] });
}

function form({ title, action, fields, intro, danger }) {
  const returnTo = document.activeElement;
  const inputs = fields.map(field);
  const error = el("p.error", { role: "alert", hidden: true });
  const dialog = el("dialog.modal", { "aria-labelledby": "dialog-title" });
  const cancel = el("button", { type: "button", onclick: () => dialog.close("") }, "Cancel");
  const submit = el(`button.${danger ? "danger" : "primary"}`, { type: "submit" }, action);
  const body = el("form", { method: "dialog", novalidate: true, oninput: () => { error.hidden = true; },
    onsubmit: (event) => {
    event.preventDefault();
    const problem = inputs.map((i) => i.problem()).find(Boolean);
    if (problem) { error.textContent = problem; error.hidden = false; return; }
    dialog.close("done");
  } },
  el("h2", { id: "dialog-title" }, title), ...intro, ...inputs.map((i) => i.node), error,
  el("div.actions", {}, cancel, submit));
  dialog.append(body);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const values = dialog.returnValue === "done"
        ? Object.fromEntries(inputs.map((i) => [i.name, i.value()])) : null;
      dialog.remove();
      if (returnTo && document.contains(returnTo)) returnTo.focus();
      resolve(values);
    });
    dialog.showModal();
    (inputs[0]?.focusable || submit).focus();
  });
}

function field({ name, label, value = "", kind = "text", required = false, pattern = null,
  hint = null, options = [], placeholder = null, maxlength = null }) {
  const id = `field-${name}`;
  const help = hint ? el("small.muted", { id: `${id}-hint` }, hint) : null;
  const described = hint ? `${id}-hint` : null;
  if (kind === "choice") return choice({ name, label, value, options, help });
  const control = kind === "textarea"
    ? el("textarea", { id, name, rows: 5, value, required, placeholder, maxLength: maxlength, "aria-describedby": described })
    : kind === "select"
      ? el("select", { id, name, required, "aria-describedby": described },
        options.map((o) => el("option", { value: o.value, selected: o.value === value }, o.label)))
      : el("input", { id, name, type: "text", value, required, placeholder, maxLength: maxlength,
        pattern: pattern?.source, autocomplete: "off", "aria-describedby": described });
  const problem = () => {
    const given = control.value.trim();
    if (required && !given) return `${label}: this is needed.`;
    if (pattern && given && !pattern.test(given)) return `${label}: ${hint || "not in the right form."}`;
    return null;
  };
  return { name, node: el("label.field", { htmlFor: id }, el("span", {}, label), control, help),
    value: () => (kind === "select" ? control.value : control.value.trim()), problem, focusable: control };
}

function choice({ name, label, value, options, help }) {
  const radios = options.map((o) => el("input", { type: "radio", name, value: o.value, checked: o.value === value }));
  const node = el("fieldset.field", {}, el("legend", {}, label),
    options.map((o, i) => el("label.option", {}, radios[i], el("span", {}, o.label),
      o.hint ? el("small.muted", {}, o.hint) : null)), help);
  return { name, node, value: () => radios.find((r) => r.checked)?.value ?? null,
    problem: () => null, focusable: radios.find((r) => r.checked) || radios[0] };
}
