// The extension's settings and outbox, in extension storage (never synced: the key stays
// on this machine).
import { DEFAULT_HUB_URL } from "./hub.js";

export async function loadSettings(storage = chrome.storage.local) {
  const { settings } = await storage.get("settings");
  return { url: DEFAULT_HUB_URL, key: "", ...(settings || {}) };
}

export async function saveSettings(settings, storage = chrome.storage.local) {
  await storage.set({ settings: { url: settings.url, key: settings.key } });
}

export async function loadQueue(storage = chrome.storage.local) {
  return (await storage.get("queue")).queue || [];
}

export async function saveQueue(queue, storage = chrome.storage.local) {
  await storage.set({ queue });
}
