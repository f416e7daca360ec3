// No cost to the measured program: an unwritable store, a full disk, an unreachable
// endpoint or a slow receiver never breaks or stalls it. Each gives one warning on
// stderr, and the program's own result and errors are untouched. Each case runs in a
// child process, so what is checked is the real stderr and the real time to exit.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import { DIST, closedPort, loopbackServer, runNode, tmp } from "./helpers.mjs";

// A program that records a busy run (1000 phases, each with an llm call), then a phase
// that throws its own error, which it catches and checks is the very same object.
const PROGRAM = `
import * as laptime from ${JSON.stringify(DIST)};
const started = performance.now();
const mine = new Error("the program's own error");
const result = await laptime.run({ name: "busy", runner: "faults" }, async (run) => {
  for (let i = 0; i < 1000; i++) {
    await run.phase("step", async () => {
      laptime.llmCall({ model: "claude-sonnet-4-5", provider: "anthropic", inputTokens: i, outputTokens: 1 });
    });
  }
  try {
    await run.phase("broken", async () => { throw mine; });
  } catch (err) {
    if (err !== mine) throw new Error("the error was not passed through unchanged");
  }
  return "the program's result";
});
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ result, ms }) + "\\n");
`;

function parse(outcome) {
  assert.equal(outcome.code, 0, outcome.stderr);
  const { result, ms } = JSON.parse(outcome.stdout);
  assert.equal(result, "the program's result");
  return ms;
}

function warnings(stderr) {
  return stderr.split("\n").filter((line) => line.startsWith("laptime: "));
}

describe("no cost to the measured program", () => {
  test("a store that cannot be created: one warning, the program carries on", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "a-file"), "not a folder");
    const outcome = await runNode(PROGRAM, { LAPTIME_HOME: join(dir, "a-file", ".laptime") });
    parse(outcome);
    const told = warnings(outcome.stderr);
    assert.equal(told.length, 1, outcome.stderr);
    assert.match(told[0], /^laptime: could not record events \(ENOTDIR: .*\); your program continues$/);
    assert.equal(outcome.stderr, `${told[0]}\n`, "nothing else on stderr");
  });

  test("a store path that is a file: one warning naming it", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "store"), "");
    const outcome = await runNode(PROGRAM, { LAPTIME_HOME: join(dir, "store") });
    parse(outcome);
    assert.deepEqual(warnings(outcome.stderr), [
      `laptime: could not record events (store path ${join(dir, "store")} is a file, not a folder; point LAPTIME_HOME at a folder); your program continues`,
    ]);
  });

  test("a full disk: one warning, the program carries on", async () => {
    const home = join(tmp(), ".laptime");
    mkdirSync(join(home, "log"), { recursive: true });
    const today = new Date().toISOString().slice(0, 10);
    // /dev/full takes an open but refuses every write with ENOSPC, as a full disk does
    symlinkSync("/dev/full", join(home, "log", `${today}.jsonl`));
    const outcome = await runNode(PROGRAM, { LAPTIME_HOME: home });
    parse(outcome);
    const told = warnings(outcome.stderr);
    assert.equal(told.length, 1, outcome.stderr);
    assert.match(told[0], /ENOSPC/);
  });

  test("an endpoint nobody listens on: one warning, no stall", async () => {
    const port = await closedPort();
    const outcome = await runNode(PROGRAM, { LAPTIME_ENDPOINT: `http://127.0.0.1:${port}` });
    parse(outcome);
    const told = warnings(outcome.stderr);
    assert.equal(told.length, 1, outcome.stderr);
    assert.match(told[0], /^laptime: http:\/\/127\.0\.0\.1:\d+\/events cannot be reached \(ECONNREFUSED/);
  });

  test("a receiver that never answers: the run does not wait for it", async () => {
    const server = await loopbackServer(() => ({ hang: true }));
    try {
      // With a 60 s timeout, a run that waited for any of its six batches would take a
      // minute. Once the child has printed its result, and the server holds its first
      // request unanswered, the child is killed.
      const outcome = await runNode(
        PROGRAM,
        { LAPTIME_ENDPOINT: server.url, LAPTIME_TIMEOUT_MS: "60000" },
        {
          onFirstLine: async (child) => {
            for (let i = 0; i < 200 && server.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
            child.kill("SIGKILL");
          },
        },
      );
      const { result, ms } = JSON.parse(outcome.stdout);
      assert.equal(result, "the program's result");
      assert.ok(ms < 30_000, `the run took ${ms} ms`);
      assert.ok(server.requests.length >= 1, "a request was sent, and never answered, yet the run went on");
    } finally {
      await server.close();
    }
  });

  test("a receiver that never answers: the exit waits at most twice the timeout, one warning", async () => {
    const server = await loopbackServer(() => ({ hang: true }));
    try {
      const timeoutMs = 300;
      const outcome = await runNode(PROGRAM, { LAPTIME_ENDPOINT: server.url, LAPTIME_TIMEOUT_MS: String(timeoutMs) });
      const ms = parse(outcome);
      // the request in flight, then one last try for what waits; the rest is Node's start
      assert.ok(outcome.ms > 2 * timeoutMs, "the requests in flight were waited for, up to their timeout");
      assert.ok(outcome.ms < ms + 2 * timeoutMs + 10_000, `the process took ${outcome.ms} ms`);
      const told = warnings(outcome.stderr);
      assert.equal(told.length, 1, outcome.stderr);
      assert.match(told[0], /cannot be reached \(no answer within 300 ms\); the events wait and are sent again/);
      assert.match(told[0], /your program continues$/);
    } finally {
      await server.close();
    }
  });

  test("the same program with a working store writes every event and says nothing", async () => {
    const home = join(tmp(), ".laptime");
    const outcome = await runNode(PROGRAM, { LAPTIME_HOME: home });
    parse(outcome);
    assert.equal(outcome.stderr, "");
    const lines = readdirSync(join(home, "log")).flatMap((name) =>
      readFileSync(join(home, "log", name), "utf8").trimEnd().split("\n"),
    );
    // the run's start and end, 1001 phases' start and end, 1000 llm calls
    assert.equal(lines.length, 2 + 2 * 1001 + 1000);
    const broken = lines.map((line) => JSON.parse(line)).find((e) => e.type === "span_end" && e.outcome === "failed");
    assert.equal(broken.error, "Error: the program's own error");
  });
});
