// How a runner uses the package, type-checked by dist.test.mjs against the shipped .d.ts
// (through the package's own name and `exports`, as an installed copy resolves it).
import * as laptime from "@laptime/recorder";
import { Recorder, type Run, type Span } from "@laptime/recorder";

async function runnerLoop(): Promise<string> {
  const id: string = await laptime.run({ name: "task", runner: "runr", attrs: { ticks: 3 } }, async (run: Run) => {
    const plan: number = run.phase("PLAN", () => 1);
    const verified: boolean = await run.phase(
      "VERIFY",
      async (span: Span) => {
        span.setOutcome("blocked");
        laptime.llmCall({ model: "claude-sonnet-4-5", provider: "anthropic", inputTokens: plan, outputTokens: 2 });
        return true;
      },
      { kind: "validation", attrs: { tier: "fast" } },
    );
    run.checkpoint({ commit: "abc", verified });
    const manual = run.startSpan("REVIEW", { kind: "phase" });
    manual.end("completed", { attrs: { reviewer: "bot" } });
    return run.id;
  });
  const recorder = new Recorder({ endpoint: "http://127.0.0.1:8765", token: "t", timeoutMs: 500 });
  const wo = recorder.startRun({ name: "wo-1", runner: "work-order" });
  wo.end("stopped", { error: "budget" });
  await recorder.close();
  // @ts-expect-error an outcome outside the vocabulary is a type error
  wo.end("approved");
  return id;
}

export { runnerLoop };
