// Runs inside the captured page (chrome.scripting.executeScript serializes this function:
// it may use nothing from outside it). Readability, injected just before, finds the main
// text; the page itself is read from a clone, never changed.
export function extractPage() {
  let text = "";
  try {
    // eslint-disable-next-line no-undef
    const article = typeof Readability === "function" ? new Readability(document.cloneNode(true)).parse() : null;
    text = article?.textContent?.trim() || "";
  } catch { /* a page Readability cannot read: fall back to what is shown */ }
  if (!text) text = document.body ? document.body.innerText : "";
  const icon = document.querySelector("link[rel~='icon']");
  let favicon = icon ? icon.href : `${location.origin}/favicon.ico`;
  if (!/^https?:|^data:image\//.test(favicon) || favicon.length > 100_000) favicon = null;
  return { url: location.href, title: document.title, html: document.documentElement.outerHTML,
    text, favicon, selection: String(window.getSelection() || "") };
}
