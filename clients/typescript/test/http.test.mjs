// The HTTP transport against a loopback server that records what it got (the real
// `laptime serve` lives on another branch): POST {endpoint}/events, {"events": [...]},
// a bearer token, batches, retries after a 5xx, a refused batch dropped.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { HttpSink, Recorder, eventsUrl } from "../dist/index.js";
import { MemorySink, loopbackServer } from "./helpers.mjs";

function record(recorder) {
  return recorder.run({ name: "http run", runner: "ts" }, (run) => {
    run.phase("plan", () => run.llmCall({ model: "m", inputTokens: 3, outputTokens: 4 }));
    run.phase("implement", () => run.fileChange({ path: "a.ts", linesAdded: 1 }));
  });
}

function httpRecorder(url, options = {}) {
  const warnings = [];
  const recorder = new Recorder({ endpoint: url, onWarning: (m) => warnings.push(m), ...options });
  return { recorder, warnings };
}

describe("HTTP transport", () => {
  test("eventsUrl takes the server's base URL or the full one", () => {
    assert.equal(eventsUrl("http://127.0.0.1:8765"), "http://127.0.0.1:8765/events");
    assert.equal(eventsUrl("http://127.0.0.1:8765/"), "http://127.0.0.1:8765/events");
    assert.equal(eventsUrl("http://h/api/"), "http://h/api/events");
    assert.equal(eventsUrl("http://h/api/events"), "http://h/api/events");
  });

  test("events go as one JSON batch with the bearer token, the same events the log would get", async () => {
    const server = await loopbackServer();
    try {
      let now = Date.UTC(2026, 10, 21, 10) * 1000;
      const clock = () => (now += 1000);
      const { recorder, warnings } = httpRecorder(server.url, { token: "s3cret-token", clock });
      record(recorder);
      await recorder.flush();
      assert.equal(server.requests.length, 1);
      const [request] = server.requests;
      assert.equal(request.method, "POST");
      assert.equal(request.url, "/events");
      assert.equal(request.headers["content-type"], "application/json");
      assert.equal(request.headers.authorization, "Bearer s3cret-token");
      const body = JSON.parse(request.body);
      assert.deepEqual(Object.keys(body), ["events"]);

      const memory = new MemorySink();
      now = Date.UTC(2026, 10, 21, 10) * 1000;
      record(new Recorder({ sink: memory, clock }));
      const strip = (events) => events.map(({ id, run, parent, span, ...rest }) => rest);
      assert.deepEqual(strip(body.events), strip(memory.events));
      assert.equal(body.events.length, 8);
      assert.deepEqual(warnings, []);
      await recorder.close();
    } finally {
      await server.close();
    }
  });

  test("without a token no Authorization header is sent; LAPTIME_ENDPOINT and LAPTIME_TOKEN are read", async () => {
    const server = await loopbackServer();
    const saved = { ...process.env };
    try {
      const bare = httpRecorder(`${server.url}/events`);
      record(bare.recorder);
      await bare.recorder.flush();
      assert.equal(server.requests[0].headers.authorization, undefined);

      process.env.LAPTIME_ENDPOINT = server.url;
      process.env.LAPTIME_TOKEN = "from-env";
      const fromEnv = new Recorder({ onWarning: () => {} });
      record(fromEnv);
      await fromEnv.flush();
      assert.equal(server.requests[1].headers.authorization, "Bearer from-env");
    } finally {
      process.env = saved;
      await server.close();
    }
  });

  test("a 5xx keeps the batch and sends it again: nothing lost, nothing twice, one warning", async () => {
    const server = await loopbackServer((_req, _body, n) => (n === 1 ? { status: 503, body: "busy" } : { status: 200 }));
    try {
      const { recorder, warnings } = httpRecorder(server.url, { token: "tok-123" });
      record(recorder);
      await recorder.flush(); // the 503
      record(recorder);
      await recorder.flush(); // both runs
      assert.equal(server.requests.length, 2);
      const delivered = JSON.parse(server.requests[1].body).events;
      assert.equal(delivered.length, 16);
      assert.equal(new Set(delivered.map((e) => e.id)).size, 16);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /answered HTTP 503 busy; the events wait and are sent again/);
      assert.ok(!warnings[0].includes("tok-123"), "the token is never told");
    } finally {
      await server.close();
    }
  });

  test("a batch the server refuses (4xx) is dropped with a warning that quotes its answer", async () => {
    const refusal = '{"errors":[{"index":0,"field":"$.kind"}]}';
    const server = await loopbackServer((_req, _body, n) => (n === 1 ? { status: 422, body: refusal } : {}));
    try {
      const { recorder, warnings } = httpRecorder(server.url);
      record(recorder);
      await recorder.flush();
      record(recorder);
      await recorder.flush();
      assert.equal(server.requests.length, 2);
      assert.equal(JSON.parse(server.requests[1].body).events.length, 8, "the refused batch is not sent again");
      assert.deepEqual(warnings, [
        `${server.url}/events refused 8 events with HTTP 422 ${refusal}; they were dropped; your program continues`,
      ]);
    } finally {
      await server.close();
    }
  });

  test("large volumes go in batches of maxBatch, in order, without waiting for a flush", async () => {
    const server = await loopbackServer();
    try {
      const warnings = [];
      const sink = new HttpSink({ endpoint: server.url, maxBatch: 100, flushIntervalMs: 10_000 }, (_k, m) => warnings.push(m));
      for (let i = 0; i < 250; i++) sink.write(JSON.stringify({ type: "metric", n: i }), "2026-11-21");
      await sink.close();
      assert.deepEqual(server.requests.map((r) => JSON.parse(r.body).events.length), [100, 100, 50]);
      assert.deepEqual(server.events().map((e) => e.n), Array.from({ length: 250 }, (_, i) => i));
      assert.deepEqual(warnings, []);
    } finally {
      await server.close();
    }
  });

  test("the timer sends what waits without a flush", async () => {
    const server = await loopbackServer();
    try {
      const sink = new HttpSink({ endpoint: server.url, flushIntervalMs: 20 }, () => {});
      sink.write('{"type":"metric"}', "2026-11-21");
      for (let i = 0; i < 100 && server.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(server.requests.length, 1);
      await sink.close();
    } finally {
      await server.close();
    }
  });

  test("beyond maxBuffered waiting events, new ones are dropped with one warning", async () => {
    const server = await loopbackServer();
    try {
      const warnings = [];
      const recorder = new Recorder({ sink: new MemorySink(), onWarning: (m) => warnings.push(m) });
      const sink = new HttpSink({ endpoint: server.url, maxBatch: 1000, maxBuffered: 5, flushIntervalMs: 60_000 }, recorder.warn);
      for (let i = 0; i < 8; i++) sink.write(`{"n":${i}}`, "2026-11-21");
      await sink.close();
      assert.deepEqual(server.events().map((e) => e.n), [0, 1, 2, 3, 4]);
      assert.deepEqual(warnings, [
        `5 events are waiting for ${server.url}/events; newer events are dropped until it answers; your program continues`,
      ]);
    } finally {
      await server.close();
    }
  });
});
