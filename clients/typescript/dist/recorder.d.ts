import { type Clock } from "./clock.js";
import type { Sink, Warn } from "./sink.js";
import { type Attrs, type FileChangeKind, type MilestoneStatus, type Outcome, type SpanKind } from "./vocabulary.js";
export interface RecorderOptions {
    /** The store folder, as `LAPTIME_HOME` names it. Default: found as the Python SDK finds it. */
    home?: string;
    /** Where the search for the nearest `.laptime` starts (default: `process.cwd()`). */
    cwd?: string;
    /** POST events to this `laptime serve` instead of the log (default: `$LAPTIME_ENDPOINT`). */
    endpoint?: string;
    /** The server's bearer token (default: `$LAPTIME_TOKEN`). */
    token?: string;
    /** Give up on one request to the server after this long (default: `$LAPTIME_TIMEOUT_MS`, else 2000). */
    timeoutMs?: number;
    /** Microseconds since the epoch (default: the wall clock at microsecond resolution). */
    clock?: Clock;
    /** Where events go, instead of the log or the server (tests). */
    sink?: Sink;
    /** Where warnings go (default: one line on stderr). Each kind of failure is told once. */
    onWarning?: (message: string) => void;
}
export interface RunOptions {
    /** What the run is: its task. */
    name: string;
    /** The runner that records it (`runr`, `aidf`, ...), kept as `attrs.runner`. */
    runner?: string;
    /** The run id (default: a new id). Must be unique across the log. */
    id?: string;
    attrs?: Attrs;
}
export interface SpanOptions {
    /** Default `"phase"` for `phase()`, `"other"` for `startSpan()`. */
    kind?: SpanKind;
    attrs?: Attrs;
}
export interface EndOptions {
    /** What went wrong, for a span that did not complete. */
    error?: string;
    /** Added to the start's attrs (the end's value wins on equal keys). */
    attrs?: Attrs;
}
/** One model call's usage. Counts are in the provider's own meaning (see docs/events.md). */
export interface LlmCall {
    model: string;
    /** `anthropic`, `openai`, ... */
    provider?: string;
    /** Input tokens; with Anthropic the uncached input only (set `inputIncludesCache` for OpenAI). */
    inputTokens?: number;
    outputTokens?: number;
    cacheReadTokens?: number;
    cacheWriteTokens?: number;
    /** True when `inputTokens` already counts the cache reads and writes (OpenAI, OpenTelemetry). */
    inputIncludesCache?: boolean;
    /** True when the counts were estimated (characters / 4), not reported by the provider. */
    estimated?: boolean;
    /** Only a cost the provider or a proxy reported; laptime prices tokens itself when reading. */
    costUsd?: number;
    /** The call's wall time (written as `latency_ms`). */
    durationMs?: number;
    /** The worker (agent, process) that made the call. */
    worker?: string;
    attrs?: Attrs;
}
export interface ValidationEvent {
    command: string;
    passed: boolean;
    exitCode?: number;
    durationMs?: number;
    /** A free label for the check's level: `fast`, `full`, `ci`. */
    tier?: string;
    attrs?: Attrs;
}
export interface FileChangeEvent {
    path: string;
    change?: FileChangeKind;
    linesAdded?: number;
    linesRemoved?: number;
    attrs?: Attrs;
}
export interface MilestoneEvent {
    name: string;
    status?: MilestoneStatus;
    index?: number;
    attrs?: Attrs;
}
export interface CheckpointEvent {
    commit?: string;
    /** True when a passing verification came before it (this is what TVc counts). */
    verified?: boolean;
    attrs?: Attrs;
}
export interface QueueEvent {
    ready?: number;
    active?: number;
    waiting?: number;
    attrs?: Attrs;
}
export interface ScopeViolationEvent {
    path?: string;
    reason?: string;
    attrs?: Attrs;
}
export interface ErrorEventFields {
    message: string;
    errorType?: string;
    attrs?: Attrs;
}
export interface MetricEvent {
    name: string;
    value: number;
    unit?: string;
    attrs?: Attrs;
}
/** The span the calling code runs inside (of any recorder), if any. */
export declare function currentSpan(): Span | undefined;
export declare class Recorder {
    readonly clock: Clock;
    private sink;
    private readonly options;
    private readonly warned;
    private readonly active;
    private readonly onWarning;
    /** Reports one failure of a kind; bound, so sinks and checks can hold it. */
    readonly warn: Warn;
    constructor(options?: RecorderOptions);
    /** Where events go: the sink given, else `laptime serve` when an endpoint is set, else the log. */
    private openSink;
    /** Write one event (fields after the common ones, in the schema's order). Never throws. */
    emit(type: string, run: string, parent: string | null, attrs: Attrs | undefined, fields: Record<string, unknown>, us?: number, id?: string): void;
    /** Start a run. End it with `run.end()`; until then it is `running` (or `crashed`, once silent). */
    startRun(options: RunOptions): Run;
    /**
     * Record `fn` as a run, passing it the run. Returns what `fn` returns (awaited when it
     * is async); an error `fn` throws ends the run as failed and is thrown on unchanged.
     */
    run<T>(options: RunOptions, fn: (run: Run) => Promise<T>): Promise<T>;
    run<T>(options: RunOptions, fn: (run: Run) => T): T;
    /** The run the calling code is inside; outside any, the only run in progress, if just one. */
    currentRun(): Run | undefined;
    /** @internal */
    _started(run: Run): void;
    /** @internal */
    _ended(run: Run): void;
    /** Deliver what is waiting (to the server; the log is written at once). Never rejects. */
    flush(): Promise<void>;
    /** Flush and close the log files or the connection. Safe to call twice. Never rejects. */
    close(): Promise<void>;
}
/** A span: a piece of work with a start and an end. Every span can hold spans and events. */
export declare class Span {
    readonly recorder: Recorder;
    readonly run: Run;
    readonly id: string;
    readonly kind: SpanKind;
    readonly name: string;
    /** The enclosing span's id; null for the run. */
    readonly parentId: string | null;
    readonly parent: Span | null;
    /** The worker (agent, process) doing this span's work: its `attrs.worker`, else its parent's. */
    readonly worker: string | undefined;
    /** The outcome to end with, when the span ends by itself (`phase()`, `run()`). */
    outcome: Outcome | undefined;
    private endAttrs;
    private ended;
    /** @internal Use `run.phase()`, `run.startSpan()` or `recorder.startRun()`. */
    constructor(recorder: Recorder, run: Run | null, parent: Span | null, kind: unknown, name: unknown, attrs: Attrs | undefined, id?: unknown);
    /** Choose the outcome this span ends with (blocked, stopped, ...) when it ends by itself. */
    setOutcome(outcome: Outcome): void;
    /** Add attributes to the span's end (they add to, and override, the start's). */
    set(attrs: Attrs): void;
    /** Whether the span has ended. */
    get isEnded(): boolean;
    /** End the span (default outcome: `this.outcome`, else completed). A second end is ignored. */
    end(outcome?: Outcome, options?: EndOptions): void;
    /** Run `fn` inside this span and end it with `fn`'s result: the outcome, or the error thrown on unchanged. */
    within<T>(fn: (span: this) => T): T;
    private endWith;
    /** The span new work goes into: the current one if it lies inside this span, else this span. */
    private here;
    /**
     * Record `fn` as a phase (or another kind of span) inside the current span, passing it
     * the span. Returns what `fn` returns (a promise when `fn` is async); an error `fn`
     * throws ends the span as failed (`AbortError`: stopped) and is thrown on unchanged.
     */
    phase<T>(name: string, fn: (span: Span) => Promise<T>, options?: SpanOptions): Promise<T>;
    phase<T>(name: string, fn: (span: Span) => T, options?: SpanOptions): T;
    /** Start a span by hand, inside the current span; end it with `span.end(outcome)`. */
    startSpan(name: string, options?: SpanOptions): Span;
    /** Record one model call's usage. */
    llmCall(call: LlmCall): void;
    /** Record a verification command and whether it passed. */
    validation(event: ValidationEvent): void;
    /** Record a file the run created, modified or deleted. */
    fileChange(event: FileChangeEvent): void;
    /** Record the work queue's depth now. */
    queue(event: QueueEvent): void;
    /** Record a milestone being planned or completed. */
    milestone(event: MilestoneEvent): void;
    /** Record a checkpoint (usually a commit). */
    checkpoint(event?: CheckpointEvent): void;
    /** Record that the agent touched something outside its scope. */
    scopeViolation(event?: ScopeViolationEvent): void;
    /** Record an error that did not necessarily end a span (a retried rate limit, a flaky test). */
    error(event: ErrorEventFields): void;
    /** Record a custom measurement. */
    metric(event: MetricEvent): void;
    private point;
}
/** One run: the root span. Its id is the run id. */
export declare class Run extends Span {
    /** @internal Use `recorder.startRun()` or `run()`. */
    constructor(recorder: Recorder, options: RunOptions);
}
