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
async function allowed(url) {
  const origin = hubBase(url);
  if (/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(origin)) return true;
  return chrome.permissions.request({ origins: [`${origin}/*`] });
}

async function store(url, key) {
  if (!(await allowed(url))) throw new Error("the extension may not reach that address");
  await saveSettings({ url: hubBase(url), key });
  await chrome.runtime.sendMessage({ type: "retry" }); // what waited may go now
  const status = await checkHub({ url, key });
  say(status.ok ? `Saved — ${status.message}.` : `Saved, but: ${status.message}`, status.ok ? "ok" : "error");
}

$("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try { await store($("url").value, $("key").value.trim()); } catch (error) { say(error.message, "error"); }
});

$("pair").addEventListener("click", async () => {
  try {
    const paired = await claimPairing($("url").value, $("code").value, `Browser extension (${navigator.userAgent.includes("Firefox") ? "Firefox" : "Chromium"})`);
    $("key").value = paired.secret;
    $("code").value = "";
    await store($("url").value, paired.secret);
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
