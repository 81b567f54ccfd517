// The outbox: captures wait here (in extension storage) until the hub has them. Pure
// functions over a plain array, so the service worker, the popup and the tests share them;
// the caller stores the array it gets back.

export const BACKOFF_BASE_MS = 5_000;
export const BACKOFF_MAX_MS = 30 * 60_000;
// A send still marked after this long was cut off (the browser stopped the worker): due again.
export const STALE_SENDING_MS = 2 * 60_000;

// Try n (1, 2, 3 ...) waits 5 s, 10 s, 20 s ... up to 30 min, with up to 20 % jitter so
// many queued captures do not all wake the hub at the same instant.
export function backoffMs(attempts, random = Math.random) {
  const plain = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(plain * (1 + 0.2 * random()));
}

export function newId(random = crypto.getRandomValues.bind(crypto)) {
  const bytes = random(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function enqueue(queue, capture, now = Date.now(), id = newId()) {
  return [...queue, { id, capture, attempts: 0, nextAt: now, createdAt: now, lastError: null,
    sending: false, held: false }];
}

function sendingNow(item, now) {
  return item.sending && now - (item.sentAt || 0) < STALE_SENDING_MS;
}

// Due now: not being sent, not held for the user (a refused key), and its wait is over.
export function due(queue, now = Date.now()) {
  return queue.filter((item) => !sendingNow(item, now) && !item.held && item.nextAt <= now);
}

export function markSending(queue, id, now = Date.now()) {
  return queue.map((item) => (item.id === id ? { ...item, sending: true, sentAt: now } : item));
}

export function remove(queue, id) {
  return queue.filter((item) => item.id !== id);
}

// A failed send: `retry` (hub away, busy or broken) waits its backoff; otherwise (the hub
// refused it: bad key, invalid capture) it is held until the user retries or discards.
export function markFailed(queue, id, error, { retry, now = Date.now(), random = Math.random } = {}) {
  return queue.map((item) => {
    if (item.id !== id) return item;
    const attempts = item.attempts + 1;
    return { ...item, sending: false, attempts, lastError: String(error),
      held: !retry, nextAt: retry ? now + backoffMs(attempts, random) : item.nextAt };
  });
}

// The user's "retry": everything (or one) is due again at once.
export function retryNow(queue, id = null, now = Date.now()) {
  return queue.map((item) => (id === null || item.id === id
    ? { ...item, held: false, nextAt: now } : item));
}

// A worker that stopped mid-send (MV3 ends idle workers) left items marked `sending`:
// they are sent again; the hub keeps the same content once, so that is safe.
export function recover(queue) {
  return queue.map((item) => (item.sending ? { ...item, sending: false } : item));
}

export function nextWake(queue, now = Date.now()) {
  const waiting = queue.filter((item) => !item.held).map((item) => (sendingNow(item, now)
    ? item.sentAt + STALE_SENDING_MS : item.nextAt));
  return waiting.length ? Math.min(...waiting) : null;
}

export function badgeText(queue) {
  return queue.length ? String(queue.length) : "";
}
