import assert from "node:assert/strict";
import { test } from "node:test";
import * as outbox from "../src/lib/queue.js";

const capture = { url: "https://example.org/a", title: "A", text: "hello" };

test("backoff doubles from 5 s up to 30 min, with at most 20 % jitter", () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => outbox.backoffMs(n, () => 0)), [5000, 10000, 20000, 40000]);
  assert.equal(outbox.backoffMs(40, () => 0), 30 * 60_000);
  assert.equal(outbox.backoffMs(1, () => 1), 6000);
});

test("a capture is due at once, then waits its backoff after a failure", () => {
  let queue = outbox.enqueue([], capture, 1000, "a");
  assert.deepEqual(outbox.due(queue, 1000).map((i) => i.id), ["a"]);
  queue = outbox.markSending(queue, "a");
  assert.deepEqual(outbox.due(queue, 1000), [], "not twice while it is being sent");
  queue = outbox.markFailed(queue, "a", "hub away", { retry: true, now: 2000, random: () => 0 });
  assert.equal(queue[0].attempts, 1);
  assert.equal(queue[0].nextAt, 7000);
  assert.deepEqual(outbox.due(queue, 6999), []);
  assert.deepEqual(outbox.due(queue, 7000).map((i) => i.id), ["a"]);
  assert.equal(outbox.nextWake(queue), 7000);
});

test("a refusal is held for the user until retried; discard removes it", () => {
  let queue = outbox.enqueue([], capture, 0, "a");
  queue = outbox.enqueue(queue, { ...capture, url: "https://example.org/b" }, 0, "b");
  queue = outbox.markFailed(queue, "a", "that API key is not valid", { retry: false, now: 10 });
  assert.equal(queue[0].held, true);
  assert.deepEqual(outbox.due(queue, 1e12).map((i) => i.id), ["b"]);
  assert.equal(outbox.nextWake(queue), 0);
  queue = outbox.retryNow(queue, "a", 50);
  assert.deepEqual(outbox.due(queue, 50).map((i) => i.id), ["a", "b"]);
  queue = outbox.remove(queue, "a");
  assert.deepEqual(queue.map((i) => i.id), ["b"]);
  assert.equal(outbox.badgeText(queue), "1");
  assert.equal(outbox.badgeText([]), "");
});

test("sends cut short by a stopped worker are due again", () => {
  const queue = outbox.markSending(outbox.enqueue([], capture, 0, "a"), "a", 1000);
  assert.deepEqual(outbox.due(outbox.recover(queue), 1000).map((i) => i.id), ["a"]);
  // without a new worker: a send marked for longer than a fetch can last is stale
  assert.deepEqual(outbox.due(queue, 1000 + outbox.STALE_SENDING_MS - 1), []);
  assert.equal(outbox.nextWake(queue, 1000), 1000 + outbox.STALE_SENDING_MS);
  assert.deepEqual(outbox.due(queue, 1000 + outbox.STALE_SENDING_MS).map((i) => i.id), ["a"]);
});

test("ids are random hex", () => {
  const id = outbox.newId();
  assert.match(id, /^[0-9a-f]{24}$/);
  assert.notEqual(id, outbox.newId());
});
