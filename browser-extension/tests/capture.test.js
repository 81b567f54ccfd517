import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_HTML_CHARS, describe, noteCapture, pageCapture, parseTags, selectionCapture } from "../src/lib/capture.js";

const page = { url: "https://example.org/tides", title: "Tides", html: "<p>Tide</p>", text: "Tide",
  favicon: "https://example.org/favicon.ico", selection: "" };
const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);

test("a page capture carries text, HTML, title, URL, favicon and time", () => {
  const capture = pageCapture(page, { tags: "sea, moon moon", collection: "Coast", note: " look " }, NOW);
  assert.deepEqual(capture, { url: page.url, title: "Tides", captured_at: "2026-11-29T12:00:00.000Z",
    tags: ["sea", "moon"], favicon: page.favicon, note: "look", collection: "Coast",
    text: "Tide", html: "<p>Tide</p>" });
  assert.equal(describe(capture), "Page: Tides");
});

test("a huge page goes without its HTML; an empty one is refused", () => {
  const huge = pageCapture({ ...page, html: "x".repeat(MAX_HTML_CHARS + 1) }, {}, NOW);
  assert.equal(huge.html, undefined);
  assert.equal(huge.text, "Tide");
  assert.throws(() => pageCapture({ ...page, html: "", text: "  " }), /no text/);
});

test("a selection capture needs a selection, a note capture a note", () => {
  assert.throws(() => selectionCapture(page), /select some text/);
  const picked = selectionCapture({ ...page, selection: "  high tide at six " }, {}, NOW);
  assert.equal(picked.selection, "high tide at six");
  assert.equal(picked.html, undefined);
  assert.equal(describe(picked), "Selection: Tides");
  assert.throws(() => noteCapture({ url: page.url, title: "T" }, { note: " " }), /write a note/);
  const note = noteCapture({ url: page.url, title: "T" }, { note: "call back" }, NOW);
  assert.equal(note.note, "call back");
  assert.equal(describe(note), "Note: T");
});

test("tags are split on commas and spaces, kept once", () => {
  assert.deepEqual(parseTags(" a,b  c,,a "), ["a", "b", "c"]);
  assert.deepEqual(parseTags(undefined), []);
});
