// Writes one run with every kind of event into the store named by LAPTIME_HOME, then
// prints the run id. Used by the Python test tests/test_ts_recorder.py, which validates
// every line against the shipped JSON Schema and reads the run back with laptime's reports.
import * as laptime from "../dist/index.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const runId = await laptime.run(
  { name: "fix login bug", runner: "ts-test", attrs: { branch: "fix/login", ticket: 42n } },
  async (run) => {
    await run.phase("plan", async (plan) => {
      await sleep(30);
      laptime.llmCall({
        model: "claude-sonnet-4-5",
        provider: "anthropic",
        inputTokens: 2104,
        outputTokens: 512,
        cacheReadTokens: 18000,
        cacheWriteTokens: 1200,
        durationMs: 3700,
      });
      run.milestone({ name: "login fixed", index: 1 });
      plan.set({ plan_steps: 3 });
    });
    await Promise.all(
      ["w1", "w2"].map((worker, i) =>
        run.phase(
          "implement",
          async () => {
            await sleep(20 + 20 * i);
            await laptime.phase("edit", async () => {
              await sleep(10);
              run.fileChange({ path: `src/${worker}.ts`, change: i ? "created" : "modified", linesAdded: 10, linesRemoved: i });
            }, { kind: "task" });
            laptime.llmCall({
              model: "gpt-4.1",
              provider: "openai",
              inputTokens: 9000,
              outputTokens: 800,
              cacheReadTokens: 6144,
              inputIncludesCache: true,

            });
          },
          { attrs: { worker } },
        ),
      ),
    );
    await run.phase("verify", async () => {
      try {
        await run.phase("pytest -q", async () => {
          await sleep(5);
          throw new Error("1 test failed");
        }, { kind: "validation" });
      } catch {
        run.validation({ command: "pytest -q", passed: false, exitCode: 1, tier: "full" });
      }
      run.validation({ command: "pytest -q", passed: true, exitCode: 0, durationMs: 5.5, tier: "full" });
      run.checkpoint({ commit: "9f2c1e4a7b", verified: true });
      run.milestone({ name: "login fixed", status: "completed", index: 1 });
      run.metric({ name: "coverage", value: 87.5, unit: "%" });
      run.queue({ ready: 2, active: 1 });
      run.scopeViolation({ path: ".github/workflows/ci.yml", reason: "outside src/" });
      run.error({ message: "flaky test failed once", errorType: "FlakyTest" });
    });
    const review = run.startSpan("review", { kind: "phase" });
    await sleep(5);
    review.end("blocked", { error: "waiting for a human", attrs: { reviewer: "ana" } });
    return run.id;
  },
);
process.stdout.write(`${runId}\n`);
