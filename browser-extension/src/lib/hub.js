// Talking to the hub: its public API only (API.md), with an API key. Every failure becomes
// a HubError that says whether trying again later can help.

export const DEFAULT_HUB_URL = "http://127.0.0.1:4444";
// A hub that takes the connection but never answers must not hold the outbox for good
// (and the browser stops a worker whose fetch runs past 30 s anyway).
export const TIMEOUT_MS = 25_000;

export class HubError extends Error {
  constructor(message, { status = 0, retry = false, code = null } = {}) {
    super(message);
    this.status = status; // 0: the hub could not be reached
    this.retry = retry;
    this.code = code;
  }
}

// Worth trying again later: unreachable, timed out, rate-limited or failing. A refusal
// (bad key, invalid capture) is not: the user has to act.
export function retriable(status) {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

export function hubBase(url) {
  let parsed;
  try { parsed = new URL(url); } catch { throw new HubError(`not a URL: ${url}`); }
  if (!["http:", "https:"].includes(parsed.protocol)) throw new HubError("the hub URL must start with http:// or https://");
  return parsed.origin;
}

// `streaming: true` (an answer being written) goes without the timeout.
export async function hubFetch(settings, path, { streaming = false, ...init } = {}, fetchImpl = fetch) {
  const headers = { ...(init.headers || {}) };
  if (settings.key) headers.Authorization = `Bearer ${settings.key}`;
  if (init.body !== undefined && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
  let response;
  const signal = init.signal ?? (streaming ? undefined : AbortSignal.timeout(TIMEOUT_MS));
  try {
    response = await fetchImpl(hubBase(settings.url) + path, { ...init, headers, signal });
  } catch (error) {
    if (error instanceof HubError) throw error;
    const why = error?.name === "TimeoutError" ? "did not answer in time" : "cannot be reached";
    throw new HubError(`the hub at ${settings.url} ${why}`, { retry: true });
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  let message = `the hub answered ${response.status}`;
  let code = null;
  try {
    const body = await response.json();
    message = body?.error?.message || message;
    code = body?.error?.code || null;
  } catch { /* not our JSON: keep the status */ }
  return new HubError(message, { status: response.status, retry: retriable(response.status), code });
}

export async function sendCapture(settings, capture, fetchImpl = fetch) {
  const response = await hubFetch(settings, "/api/v1/captures",
    { method: "POST", body: JSON.stringify(capture) }, fetchImpl);
  return response.json();
}

// Reachable, and the key valid: what the options page and the popup show.
export async function checkHub(settings, fetchImpl = fetch) {
  if (!settings.key) return { ok: false, reachable: null, message: "no API key yet: pair or paste one" };
  try {
    const session = await (await hubFetch(settings, "/api/v1/session", {}, fetchImpl)).json();
    const who = session.principal || session;
    return { ok: true, reachable: true, message: `connected as “${who.name || "owner"}”`,
      scopes: who.scopes || [] };
  } catch (error) {
    return { ok: false, reachable: error.status !== 0, message: error.message };
  }
}

export async function claimPairing(url, code, name, fetchImpl = fetch) {
  const response = await hubFetch({ url }, "/api/v1/pairings/claim",
    { method: "POST", body: JSON.stringify({ code: code.trim().toUpperCase(), name }) }, fetchImpl);
  return response.json();
}
