/**
 * @laptime/recorder: record an agent runner's runs into a laptime event log (v1), or
 * send them to `laptime serve`. No runtime dependencies; Node 20 or later.
 *
 * ```ts
 * import * as laptime from "@laptime/recorder";
 *
 * await laptime.run({ name: "fix login bug", runner: "my-runner" }, async (run) => {
 *   await run.phase("plan", async () => {
 *     laptime.llmCall({ model: "claude-sonnet-4-5", provider: "anthropic", inputTokens: 2104, outputTokens: 512 });
 *   });
 *   await Promise.all([run.phase("implement", implementA), run.phase("implement", implementB)]);
 *   run.checkpoint({ commit: "9f2c1e4", verified: true });
 * });
 * ```
 *
 * The module-level functions use one recorder per process, made on first use from the
 * environment: `LAPTIME_ENDPOINT` (+ `LAPTIME_TOKEN`, `LAPTIME_TIMEOUT_MS`) sends to a
 * server, else events go to the log of the store found like git finds `.git`
 * (`LAPTIME_HOME`, else the nearest `.laptime` upward, else `./.laptime`).
 */
import {
  type LlmCall,
  Recorder,
  type RecorderOptions,
  type Run,
  type RunOptions,
  type Span,
  type SpanOptions,
  currentSpan,
} from "./recorder.js";

export { formatTimestamp, newId, systemClock, type Clock } from "./clock.js";
export { FileSink } from "./file-sink.js";
export { ENDPOINT_ENV, HttpSink, TIMEOUT_ENV, TOKEN_ENV, eventsUrl, type HttpSinkOptions } from "./http-sink.js";
export {
  type CheckpointEvent,
  type EndOptions,
  type ErrorEventFields,
  type FileChangeEvent,
  type LlmCall,
  type MetricEvent,
  type MilestoneEvent,
  type QueueEvent,
  Recorder,
  type RecorderOptions,
  Run,
  type RunOptions,
  type ScopeViolationEvent,
  Span,
  type SpanOptions,
  type ValidationEvent,
  currentSpan,
} from "./recorder.js";
export type { Sink, Warn } from "./sink.js";
export { HOME_ENV, StoreError, findStore, segmentPath } from "./store.js";
export {
  type Attrs,
  FILE_CHANGES,
  type FileChangeKind,
  MILESTONE_STATUSES,
  type MilestoneStatus,
  OUTCOMES,
  type Outcome,
  SPAN_KINDS,
  type SpanKind,
} from "./vocabulary.js";

let defaultRec: Recorder | undefined;

/** The process-wide recorder behind `run()`, `phase()`, `llmCall()`, made on first use. */
export function defaultRecorder(): Recorder {
  defaultRec ??= new Recorder();
  return defaultRec;
}

/** Replace the process-wide recorder (tests; other options); returns the one it replaces. */
export function configure(options: RecorderOptions | Recorder): Recorder | undefined {
  const previous = defaultRec;
  defaultRec = options instanceof Recorder ? options : new Recorder(options);
  return previous;
}

/** Record `fn` as a run on the default recorder; returns what `fn` returns. */
export function run<T>(options: RunOptions, fn: (run: Run) => Promise<T>): Promise<T>;
export function run<T>(options: RunOptions, fn: (run: Run) => T): T;
export function run<T>(options: RunOptions, fn: (run: Run) => T): T {
  return defaultRecorder().run(options, fn);
}

/** Start a run on the default recorder; end it with `run.end(outcome)`. */
export function startRun(options: RunOptions): Run {
  return defaultRecorder().startRun(options);
}

/** The span the calling code is in: the current span, else the only run in progress. */
function here(what: string): Span | undefined {
  const span = currentSpan() ?? defaultRecorder().currentRun();
  if (span === undefined) {
    defaultRecorder().warn(`no-run:${what}`, `no run is active for ${what}; start one with laptime.run(...)`);
  }
  return span;
}

/**
 * Record `fn` as a phase of the current span (see `Span.phase`). Outside any run, `fn`
 * still runs, unrecorded, after one warning.
 */
export function phase<T>(name: string, fn: (span: Span | undefined) => Promise<T>, options?: SpanOptions): Promise<T>;
export function phase<T>(name: string, fn: (span: Span | undefined) => T, options?: SpanOptions): T;
export function phase<T>(name: string, fn: (span: Span | undefined) => T, options?: SpanOptions): T {
  const span = here(`phase ${JSON.stringify(name)}`);
  return span === undefined ? fn(undefined) : span.phase(name, fn, options);
}

/** Record one model call's usage in the current span (see `Span.llmCall`). */
export function llmCall(call: LlmCall): void {
  here("llmCall")?.llmCall(call);
}

/** The run the calling code is in, if any. */
export function currentRun(): Run | undefined {
  return currentSpan()?.run ?? defaultRecorder().currentRun();
}

/** Deliver what the default recorder has waiting (before `process.exit()`). Never rejects. */
export async function flush(): Promise<void> {
  await defaultRec?.flush();
}
