import assert from "node:assert/strict";
import { test } from "node:test";
import { sseEvents } from "../src/lib/sse.js";

function streamOf(...parts) {
  return new ReadableStream({ start(controller) {
    for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
    controller.close();
  } });
}

test("events split across reads are joined; [DONE] ends the stream", async () => {
  const body = streamOf('data: {"a":', ' 1}\n\ndata: {"b": 2}\n', "\n: comment\n\ndata: [DONE]\n\ndata: {\"c\": 3}\n\n");
  const seen = [];
  for await (const event of sseEvents(body)) seen.push(event);
  assert.deepEqual(seen, [{ a: 1 }, { b: 2 }]);
});
