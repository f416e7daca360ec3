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
import { type LlmCall, Recorder, type RecorderOptions, type Run, type RunOptions, type Span, type SpanOptions } from "./recorder.js";
export { formatTimestamp, newId, systemClock, type Clock } from "./clock.js";
export { FileSink } from "./file-sink.js";
export { ENDPOINT_ENV, HttpSink, TIMEOUT_ENV, TOKEN_ENV, eventsUrl, type HttpSinkOptions } from "./http-sink.js";
export { type CheckpointEvent, type EndOptions, type ErrorEventFields, type FileChangeEvent, type LlmCall, type MetricEvent, type MilestoneEvent, type QueueEvent, Recorder, type RecorderOptions, Run, type RunOptions, type ScopeViolationEvent, Span, type SpanOptions, type ValidationEvent, currentSpan, } from "./recorder.js";
export type { Sink, Warn } from "./sink.js";
export { HOME_ENV, StoreError, findStore, segmentPath } from "./store.js";
export { type Attrs, FILE_CHANGES, type FileChangeKind, MILESTONE_STATUSES, type MilestoneStatus, OUTCOMES, type Outcome, SPAN_KINDS, type SpanKind, } from "./vocabulary.js";
/** The process-wide recorder behind `run()`, `phase()`, `llmCall()`, made on first use. */
export declare function defaultRecorder(): Recorder;
/** Replace the process-wide recorder (tests; other options); returns the one it replaces. */
export declare function configure(options: RecorderOptions | Recorder): Recorder | undefined;
/** Record `fn` as a run on the default recorder; returns what `fn` returns. */
export declare function run<T>(options: RunOptions, fn: (run: Run) => Promise<T>): Promise<T>;
export declare function run<T>(options: RunOptions, fn: (run: Run) => T): T;
/** Start a run on the default recorder; end it with `run.end(outcome)`. */
export declare function startRun(options: RunOptions): Run;
/**
 * Record `fn` as a phase of the current span (see `Span.phase`). Outside any run, `fn`
 * still runs, unrecorded, after one warning.
 */
export declare function phase<T>(name: string, fn: (span: Span | undefined) => Promise<T>, options?: SpanOptions): Promise<T>;
export declare function phase<T>(name: string, fn: (span: Span | undefined) => T, options?: SpanOptions): T;
/** Record one model call's usage in the current span (see `Span.llmCall`). */
export declare function llmCall(call: LlmCall): void;
/** The run the calling code is in, if any. */
export declare function currentRun(): Run | undefined;
/** Deliver what the default recorder has waiting (before `process.exit()`). Never rejects. */
export declare function flush(): Promise<void>;
