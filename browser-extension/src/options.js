// Settings: the hub's address and an API key — pasted, or handed over by pairing with the
// short code the hub shows. Says whether the hub answers and the key works.
import { checkHub, claimPairing, hubBase } from "./lib/hub.js";
import { loadSettings, saveSettings } from "./lib/settings.js";

const $ = (id) => document.getElementById(id);

function say(text, kind) {
  $("status").textContent = text;
  $("status").className = kind;
}

// A hub away from this machine needs the user's leave to be reached (optional permission).
// Asked first thing in the click (Firefox grants it only within the user's gesture).
function allowed(url) {
  const origin = hubBase(url);
  if (/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(origin)) return Promise.resolve(true);
  return chrome.permissions.request({ origins: [`${origin}/*`] });
}

async function store(url, key, permitted) {
  if (!(await permitted)) throw new Error("the extension may not reach that address");
  await saveSettings({ url: hubBase(url), key });
  await chrome.runtime.sendMessage({ type: "retry" }); // what waited may go now
  const status = await checkHub({ url, key });
  say(status.ok ? `Saved — ${status.message}.` : `Saved, but: ${status.message}`, status.ok ? "ok" : "error");
}

$("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const permitted = allowed($("url").value);
    await store($("url").value, $("key").value.trim(), permitted);
  } catch (error) { say(error.message, "error"); }
});

$("pair").addEventListener("click", async () => {
  try {
    const permitted = allowed($("url").value); // before any await: still the user's gesture
    if (!(await permitted)) throw new Error("the extension may not reach that address");
    const paired = await claimPairing($("url").value, $("code").value, `Browser extension (${navigator.userAgent.includes("Firefox") ? "Firefox" : "Chromium"})`);
    $("key").value = paired.secret;
    $("code").value = "";
    await store($("url").value, paired.secret, permitted);
  } catch (error) { say(`Pairing failed: ${error.message}`, "error"); }
});

loadSettings().then(async (settings) => {
  $("url").value = settings.url;
  $("key").value = settings.key;
  if (settings.key) {
    const status = await checkHub(settings);
    say(status.ok ? `${status.message[0].toUpperCase()}${status.message.slice(1)}.` : status.message, status.ok ? "ok" : "error");
  }
});
