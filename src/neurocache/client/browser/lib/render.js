// Markdown for model replies and messages: parsed by marked, then sanitized by DOMPurify
// (scripts, event handlers, javascript: links and foreign elements are removed). Citations
// like [2] become buttons that open the source they name.
import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.js";
import { el } from "./dom.js";

marked.setOptions({ gfm: true, breaks: true });
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Classes only for code highlighting: a message must not dress up as the hub's own UI.
  const language = [...node.classList].filter((c) => /^language-[\w-]+$/.test(c));
  node.removeAttribute("class");
  if (language.length) node.className = language.join(" ");
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const CITATION = /\[(\d{1,3})\]/g;

export function markdown(text, { sources = [], onCite } = {}) {
  const html = DOMPurify.sanitize(marked.parse(text || ""), {
    USE_PROFILES: { html: true },
    // No media (it would fetch, or dress up), no forms, no ids or names (they would
    // shadow the page's own elements).
    FORBID_TAGS: ["style", "form", "input", "textarea", "select", "button", "iframe", "img",
      "video", "audio", "picture", "source", "svg", "math", "dialog"],
    FORBID_ATTR: ["style", "id", "name"],
  });
  const box = el("div.markdown");
  box.innerHTML = html; // sanitized above
  if (sources.length && onCite) linkCitations(box, sources, onCite);
  return box;
}

function linkCitations(root, sources, onCite) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const node of texts) {
    if (!node.data.match(CITATION) || node.parentElement.closest("code, pre, a")) continue;
    const parts = [];
    let last = 0;
    for (const match of node.data.matchAll(CITATION)) {
      const source = sources.find((s) => s.number === Number(match[1]));
      parts.push(node.data.slice(last, match.index));
      parts.push(source
        ? el("button.cite", { type: "button", title: source.title || "source",
            onclick: () => onCite(source) }, `[${match[1]}]`)
        : match[0]);
      last = match.index + match[0].length;
    }
    parts.push(node.data.slice(last));
    node.replaceWith(...parts);
  }
}
