import assert from "node:assert/strict";
import { test } from "node:test";
import { HubError, checkHub, claimPairing, hubBase, retriable, sendCapture } from "../src/lib/hub.js";

const settings = { url: "http://127.0.0.1:4444/", key: "nc_secret" };

function answering(status, body) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { calls, fetchImpl };
}

test("a capture is posted with the key, as JSON, to the hub's origin", async () => {
  const { calls, fetchImpl } = answering(202, { document: { id: "d1" }, duplicate: false });
  const accepted = await sendCapture(settings, { url: "https://a.example" }, fetchImpl);
  assert.equal(accepted.document.id, "d1");
  assert.equal(calls[0].url, "http://127.0.0.1:4444/api/v1/captures");
  assert.equal(calls[0].init.headers.Authorization, "Bearer nc_secret");
  assert.equal(calls[0].init.headers["Content-Type"], "application/json");
});

test("what to retry: unreachable, 408, 429, 5xx; not a refusal", async () => {
  assert.deepEqual([0, 408, 429, 500, 503, 400, 401, 403, 413, 422].map(retriable),
    [true, true, true, true, true, false, false, false, false, false]);
  const away = await sendCapture(settings, {}, async () => { throw new TypeError("Failed to fetch"); })
    .catch((e) => e);
  assert.ok(away instanceof HubError);
  assert.equal(away.retry, true);
  assert.equal(away.status, 0);
  const { fetchImpl } = answering(401, { error: { code: "unauthorized", message: "that API key is not valid", status: 401, details: {} } });
  const refused = await sendCapture(settings, {}, fetchImpl).catch((e) => e);
  assert.equal(refused.retry, false);
  assert.equal(refused.message, "that API key is not valid");
  assert.equal(refused.code, "unauthorized");
});

test("the hub's status: connected, a bad key, or away", async () => {
  const ok = answering(200, { principal: { name: "ext", scopes: ["chat", "read", "write"] } });
  assert.deepEqual(await checkHub(settings, ok.fetchImpl),
    { ok: true, reachable: true, message: "connected as “ext”", scopes: ["chat", "read", "write"] });
  const bad = answering(401, { error: { message: "that API key is not valid" } });
  assert.equal((await checkHub(settings, bad.fetchImpl)).reachable, true);
  const away = await checkHub(settings, async () => { throw new TypeError("x"); });
  assert.equal(away.reachable, false);
  assert.equal((await checkHub({ url: settings.url, key: "" })).ok, false);
});

test("pairing sends the code without a key; only http(s) hub addresses", async () => {
  const { calls, fetchImpl } = answering(201, { secret: "nc_new" });
  assert.equal((await claimPairing("http://localhost:4444", " abcd-efgh ", "ext", fetchImpl)).secret, "nc_new");
  assert.deepEqual(JSON.parse(calls[0].init.body), { code: "ABCD-EFGH", name: "ext" });
  assert.equal(calls[0].init.headers.Authorization, undefined);
  assert.throws(() => hubBase("file:///etc/passwd"), /http/);
  assert.throws(() => hubBase("not a url"), /not a URL/);
});
