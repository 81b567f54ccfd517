// What a capture sends (POST /api/v1/captures), made from what was read in the page.

export const MAX_HTML_CHARS = 5_000_000; // a larger page goes without its HTML (text kept)

export function parseTags(text) {
  return [...new Set(String(text || "").split(/[,\s]+/).map((t) => t.trim()).filter(Boolean))].slice(0, 100);
}

function common(source, options, now) {
  const capture = { url: source.url, title: (source.title || "").slice(0, 1000),
    captured_at: new Date(now).toISOString(), tags: parseTags(options.tags) };
  if (source.favicon) capture.favicon = source.favicon;
  if (options.note && options.note.trim()) capture.note = options.note.trim();
  if (options.collection) capture.collection = options.collection;
  return capture;
}

export function pageCapture(page, options = {}, now = Date.now()) {
  const capture = { ...common(page, options, now), text: page.text || "" };
  if (page.html && page.html.length <= MAX_HTML_CHARS) capture.html = page.html;
  if (!capture.text.trim() && !capture.html) throw new Error("this page has no text to save");
  return capture;
}

export function selectionCapture(page, options = {}, now = Date.now()) {
  const selection = (page.selection || "").trim();
  if (!selection) throw new Error("select some text on the page first");
  return { ...common(page, options, now), selection };
}

export function noteCapture(tab, options = {}, now = Date.now()) {
  if (!options.note || !options.note.trim()) throw new Error("write a note first");
  return common(tab, options, now);
}

// A line for the outbox list: what it is and where from.
export function describe(capture) {
  const kind = capture.selection ? "Selection" : capture.html || capture.text ? "Page" : "Note";
  return `${kind}: ${capture.title || capture.url}`;
}
