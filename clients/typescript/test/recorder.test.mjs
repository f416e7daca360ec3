// The recorder's API: runs, phases (sync and async, nested, in parallel), outcomes,
// point events, ids and timestamps, and what it does with bad values.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { formatTimestamp, newId } from "../dist/index.js";
import { memoryRecorder } from "./helpers.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const starts = (events) => events.filter((e) => e.type === "span_start");
const endOf = (events, span) => events.find((e) => e.type === "span_end" && e.span === span);
const startNamed = (events, name) => starts(events).filter((e) => e.name === name);

describe("ids and timestamps", () => {
  test("a timestamp has the canonical form, to the microsecond", () => {
    assert.equal(formatTimestamp(Date.UTC(2026, 10, 21, 10, 0, 5, 200) * 1000 + 7), "2026-11-21T10:00:05.200007Z");
    assert.equal(formatTimestamp(0), "1970-01-01T00:00:00.000000Z");
    assert.equal(formatTimestamp(1_999_999), "1970-01-01T00:00:01.999999Z");
  });

  test("an id is 32 hex digits in the UUIDv7 layout, its first 12 the millisecond", () => {
    const us = Date.UTC(2026, 10, 21, 10, 0, 0) * 1000;
    const id = newId(us);
    assert.match(id, /^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    assert.equal(parseInt(id.slice(0, 12), 16), us / 1000);
  });

  test("ids made in one process are unique and sort in creation order", () => {
    const us = Date.now() * 1000;
    const ids = Array.from({ length: 10_000 }, () => newId(us));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  test("events take the recorder's clock, and never run backwards", () => {
    let now = Date.UTC(2026, 10, 21, 23, 59, 59, 999) * 1000 + 500;
    const { recorder, events } = memoryRecorder({ clock: () => now });
    recorder.run({ name: "r" }, () => {
      now += 1000; // past midnight: the next event is in the next day's segment
    });
    assert.deepEqual(
      events.map((e) => e.ts),
      ["2026-11-21T23:59:59.999500Z", "2026-11-22T00:00:00.000500Z"],
    );
  });
});

describe("runs and phases", () => {
  test("run() writes the run span and returns what its function returns", async () => {
    const { recorder, events } = memoryRecorder();
    const result = await recorder.run({ name: "fix bug", runner: "runr", attrs: { branch: "main" } }, async (run) => {
      await sleep(1);
      return run.id;
    });
    const [start, end] = events;
    assert.equal(events.length, 2);
    assert.equal(result, start.id);
    assert.deepEqual(
      { ...start, id: 0, ts: 0 },
      {
        type: "span_start", v: 1, id: 0, ts: 0, run: start.id, attrs: { branch: "main", runner: "runr" },
        span: start.id, kind: "run", name: "fix bug",
      },
    );
    assert.deepEqual(Object.keys(end), ["type", "v", "id", "ts", "run", "span"]);
    assert.equal(end.span, start.id);
  });

  test("a given run id is used", () => {
    const { recorder, events } = memoryRecorder();
    recorder.run({ name: "r", id: "wo-123" }, () => {});
    assert.deepEqual(events.map((e) => [e.id === "wo-123", e.run, e.span]), [
      [true, "wo-123", "wo-123"],
      [false, "wo-123", "wo-123"],
    ]);
  });

  test("nested phases get their parent, and point events the innermost span", async () => {
    const { recorder, events } = memoryRecorder();
    await recorder.run({ name: "r" }, async (run) => {
      await run.phase("plan", async () => {
        await sleep(1);
        run.phase("think", () => run.milestone({ name: "m" }), { kind: "task" });
        run.llmCall({ model: "m1" });
      });
    });
    const [runStart, plan, think] = starts(events);
    assert.equal(plan.parent, runStart.id);
    assert.equal(think.parent, plan.id);
    assert.equal(think.kind, "task");
    assert.equal(events.find((e) => e.type === "milestone").parent, think.id);
    assert.equal(events.find((e) => e.type === "llm").parent, plan.id);
  });

  test("phases started in parallel (Promise.all) each keep their own children", async () => {
    const { recorder, events } = memoryRecorder();
    await recorder.run({ name: "r" }, (run) =>
      Promise.all(
        [30, 10, 20].map((delay, i) =>
          run.phase(`worker-${i}`, async () => {
            await sleep(delay);
            await run.phase(`step-${i}`, async () => {
              await sleep(delay);
              run.llmCall({ model: `model-${i}` });
            });
          }),
        ),
      ),
    );
    for (let i = 0; i < 3; i++) {
      const [worker] = startNamed(events, `worker-${i}`);
      const [step] = startNamed(events, `step-${i}`);
      assert.equal(step.parent, worker.id);
      assert.equal(events.find((e) => e.model === `model-${i}`).parent, step.id);
    }
  });

  test("a sync phase returns its value at once, not a promise", () => {
    const { recorder } = memoryRecorder();
    const value = recorder.run({ name: "r" }, (run) => run.phase("p", () => 42));
    assert.equal(value, 42);
  });

  test("the caller's error passes through unchanged and becomes the outcome", async () => {
    const { recorder, events, warnings } = memoryRecorder();
    const boom = new TypeError("bad input");
    const syncBoom = new RangeError("out of range");
    await assert.rejects(
      recorder.run({ name: "r" }, async (run) => {
        assert.throws(() => run.phase("sync", () => { throw syncBoom; }), (err) => err === syncBoom);
        await run.phase("async", async () => {
          await sleep(1);
          throw boom;
        });
      }),
      (err) => err === boom,
    );
    const [runStart, sync, async_] = starts(events);
    assert.deepEqual(
      [endOf(events, sync.id), endOf(events, async_.id), endOf(events, runStart.id)].map((e) => [e.outcome, e.error]),
      [
        ["failed", "RangeError: out of range"],
        ["failed", "TypeError: bad input"],
        ["failed", "TypeError: bad input"],
      ],
    );
    assert.deepEqual(warnings, []);
  });

  test("an AbortError stops the span; a thrown non-Error is kept as text", async () => {
    const { recorder, events } = memoryRecorder();
    const abort = new DOMException("cancelled by user", "AbortError");
    await assert.rejects(
      recorder.run({ name: "r" }, async (run) => {
        await assert.rejects(run.phase("odd", async () => { throw "plain string"; }), (e) => e === "plain string");
        await run.phase("aborted", async () => { throw abort; });
      }),
      (err) => err === abort,
    );
    const ends = events.filter((e) => e.type === "span_end");
    assert.deepEqual(ends.map((e) => [e.outcome, e.error]), [
      ["failed", "plain string"],
      ["stopped", "AbortError: cancelled by user"],
      ["stopped", "AbortError: cancelled by user"],
    ]);
  });

  test("setOutcome and set() choose how a phase ends", () => {
    const { recorder, events } = memoryRecorder();
    recorder.run({ name: "r" }, (run) => {
      run.phase("review", (span) => {
        span.setOutcome("blocked");
        span.set({ original_outcome: "changes_requested" });
      });
    });
    const [, review] = starts(events);
    const end = endOf(events, review.id);
    assert.equal(end.outcome, "blocked");
    assert.deepEqual(end.attrs, { original_outcome: "changes_requested" });
  });

  test("startRun and startSpan are ended by hand; a second end is ignored", () => {
    const { recorder, events } = memoryRecorder();
    const run = recorder.startRun({ name: "wo-7", runner: "work-order" });
    const builder = run.startSpan("builder", { kind: "phase", attrs: { iteration: 2 } });
    builder.end("failed", { error: "tests failed", attrs: { original_outcome: "failed" } });
    builder.end();
    run.end("stopped");
    assert.equal(recorder.currentRun(), undefined);
    assert.deepEqual(
      events.map((e) => [e.type, e.kind ?? e.outcome ?? "completed", e.parent ?? null]),
      [
        ["span_start", "run", null],
        ["span_start", "phase", run.id],
        ["span_end", "failed", null],
        ["span_end", "stopped", null],
      ],
    );
    assert.equal(events[2].error, "tests failed");
  });

  test("every point event writes its fields, with defaults left out", () => {
    const { recorder, events } = memoryRecorder();
    recorder.run({ name: "r" }, (run) => {
      run.llmCall({
        model: "gpt-4.1", provider: "openai", inputTokens: 9000, outputTokens: 800, cacheReadTokens: 6144,
        inputIncludesCache: true, durationMs: 2100.5, worker: "w1", costUsd: 0.01, estimated: true,
      });
      run.validation({ command: "ruff check .", passed: false, exitCode: 1, tier: "fast" });
      run.fileChange({ path: "a.ts", linesAdded: 3 });
      run.queue({ ready: 2 });
      run.milestone({ name: "m", status: "completed", index: 0 });
      run.checkpoint({ commit: "abc", verified: true });
      run.scopeViolation({ path: "x", reason: "y" });
      run.error({ message: "rate limited", errorType: "E429" });
      run.metric({ name: "coverage", value: 87.5, unit: "%" });
    });
    const rest = events.slice(1, -1).map(({ type, v, id, ts, run, parent, ...fields }) => [type, fields]);
    assert.deepEqual(rest, [
      ["llm", { provider: "openai", model: "gpt-4.1", input_tokens: 9000, output_tokens: 800, cache_read_tokens: 6144,
        input_includes_cache: true, latency_ms: 2100.5, estimated: true, cost_usd: 0.01, worker: "w1" }],
      ["validation", { command: "ruff check .", passed: false, exit_code: 1, tier: "fast" }],
      ["file_change", { path: "a.ts", lines_added: 3 }],
      ["queue", { ready: 2 }],
      ["milestone", { name: "m", status: "completed", index: 0 }],
      ["checkpoint", { commit: "abc", verified: true }],
      ["scope_violation", { path: "x", reason: "y" }],
      ["error", { message: "rate limited", error_type: "E429" }],
      ["metric", { name: "coverage", value: 87.5, unit: "%" }],
    ]);
  });

  test("an llm call without a worker takes the one of the span it is in", () => {
    const { recorder, events } = memoryRecorder();
    recorder.run({ name: "r" }, (run) => {
      run.phase("implement", () => run.phase("edit", () => run.llmCall({ model: "m" })), { attrs: { worker: "w2" } });
    });
    assert.equal(events.find((e) => e.type === "llm").worker, "w2");
  });
});

describe("bad values", () => {
  test("a bad value is replaced, kept in attrs, and warned about once per call and field", () => {
    const { recorder, events, warnings } = memoryRecorder();
    recorder.run({ name: "r" }, (run) => {
      for (let i = 0; i < 3; i++) run.llmCall({ model: "m", inputTokens: -5, outputTokens: 12.6, cacheReadTokens: NaN });
      run.fileChange({ path: "a", change: "renamed" });
      run.metric({ name: "x", value: Infinity });
      run.phase("p", () => {}, { kind: "stage" });
    });
    const llm = events.filter((e) => e.type === "llm");
    assert.equal(llm.length, 3);
    assert.deepEqual({ ...llm[0], id: 0, ts: 0, run: 0, parent: 0 }, {
      type: "llm", v: 1, id: 0, ts: 0, run: 0, parent: 0, model: "m", output_tokens: 13,
      attrs: { invalid_inputTokens: -5, invalid_outputTokens: 12.6, invalid_cacheReadTokens: "NaN" },
    });
    assert.equal(events.find((e) => e.type === "file_change").change, undefined);
    assert.equal(events.find((e) => e.type === "metric").value, 0);
    assert.equal(startNamed(events, "p")[0].kind, "other");
    assert.equal(warnings.length, 6, warnings.join("\n"));
    assert.match(warnings[0], /invalid inputTokens in llmCall \(-5 is not a count/);
    assert.ok(warnings.every((w) => w.endsWith("your program continues")));
  });

  test("attrs JSON cannot hold as they are are made safe; circular ones are dropped, the event kept", () => {
    const { recorder, events, warnings } = memoryRecorder();
    const circular = { name: "loop" };
    circular.self = circular;
    recorder.run({ name: "r", attrs: { big: 2n ** 70n, small: 5n, nan: NaN } }, (run) => {
      run.metric({ name: "m", value: 1, attrs: circular });
    });
    assert.deepEqual(events[0].attrs, { big: "1180591620717411303424", small: 5, nan: "NaN" });
    assert.deepEqual(Object.keys(events[1].attrs), ["invalid_attrs"]);
    assert.equal(events[1].name, "m");
    assert.equal(warnings.length, 1);
  });

  test("half a surrogate pair (a string cut inside an emoji) becomes U+FFFD, with one warning", () => {
    const { recorder, events, warnings } = memoryRecorder();
    const cut = "done \u{1F389}".slice(0, -1);
    recorder.run({ name: cut, attrs: { note: cut, whole: "ok \u{1F389}" } }, (run) => run.error({ message: cut }));
    assert.equal(events[0].name, "done \ufffd");
    assert.deepEqual(events[0].attrs, { note: "done \ufffd", whole: "ok \u{1F389}" });
    assert.equal(events[1].message, "done \ufffd");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /half of a UTF-16 surrogate pair/);
  });

  test("an llm call without a model is not recorded (one warning)", () => {
    const { recorder, events, warnings } = memoryRecorder();
    recorder.run({ name: "r" }, (run) => run.llmCall({ inputTokens: 5 }));
    assert.equal(events.filter((e) => e.type === "llm").length, 0);
    assert.equal(warnings.filter((w) => w.includes("needs a model")).length, 1);
  });
});
