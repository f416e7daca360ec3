/**
 * The recorder: runs, spans (phases, tasks, tools, ...) and point events (LLM calls,
 * validations, checkpoints, ...), written as v1 event lines (docs/events.md), the same
 * lines the Python recorder writes.
 *
 * Instrumentation never breaks the program it measures: any failure inside the recorder
 * (an unwritable store, a full disk, an unreachable server) becomes one warning on stderr
 * and is swallowed. The caller's own errors pass through unchanged and become the outcome
 * of the span they crossed.
 *
 * The current span follows the code through `await`s, timers and callbacks
 * (AsyncLocalStorage), so phases started in parallel (`Promise.all`) get the right parents.
 */
import { AsyncLocalStorage } from "node:async_hooks";

import { Check, cleanAttrs } from "./check.js";
import { type Clock, formatTimestamp, newId, systemClock } from "./clock.js";
import { FileSink } from "./file-sink.js";
import { ENDPOINT_ENV, HttpSink, TIMEOUT_ENV, TOKEN_ENV } from "./http-sink.js";
import type { Sink, Warn } from "./sink.js";
import { findStore } from "./store.js";
import {
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

const current = new AsyncLocalStorage<Span>();

// JSON.stringify writes a lone surrogate as a \udXXX escape, which is valid JSON but not
// UTF-8 text: laptime's decoder refuses the whole line. Such strings (cut in the middle of
// an emoji, say) are written with U+FFFD in the surrogate's place instead.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
const SPAN_KIND_SET: ReadonlySet<string> = new Set(SPAN_KINDS);

/** The span the calling code runs inside (of any recorder), if any. */
export function currentSpan(): Span | undefined {
  return current.getStore();
}

function defaultWarning(message: string): void {
  try {
    process.stderr.write(`laptime: ${message}\n`);
  } catch {
    // stderr is gone: nowhere left to tell
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** The span's outcome and error text when `err` crossed it. */
function outcomeOf(err: unknown, chosen: Outcome | undefined): { outcome: Outcome; error: string } {
  let error: string;
  let name = "";
  try {
    if (err instanceof Error) {
      name = err.name;
      error = err.message ? `${err.name}: ${err.message}` : err.name;
    } else {
      error = String(err);
    }
  } catch {
    error = "an error that cannot be described";
  }
  // an aborted operation was stopped on purpose, as Python's KeyboardInterrupt and cancellation
  if (name === "AbortError") return { outcome: "stopped", error };
  return { outcome: chosen !== undefined && chosen !== "completed" ? chosen : "failed", error };
}

export class Recorder {
  readonly clock: Clock;
  private sink: Sink | undefined;
  private readonly options: RecorderOptions;
  private readonly warned = new Set<string>();
  private readonly active = new Set<Run>();
  private readonly onWarning: (message: string) => void;
  /** Reports one failure of a kind; bound, so sinks and checks can hold it. */
  readonly warn: Warn = (key, message) => {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    try {
      this.onWarning(`${message}; your program continues`);
    } catch {
      // a warning handler that throws must not break the caller either
    }
  };

  constructor(options: RecorderOptions = {}) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.sink = options.sink;
    this.onWarning = options.onWarning ?? defaultWarning;
  }

  /** Where events go: the sink given, else `laptime serve` when an endpoint is set, else the log. */
  private openSink(): Sink {
    const env = process.env;
    const endpoint = this.options.endpoint ?? (env[ENDPOINT_ENV] || undefined);
    if (endpoint !== undefined) {
      const timeout = this.options.timeoutMs ?? (Number(env[TIMEOUT_ENV]) || undefined);
      this.sink = new HttpSink(
        { endpoint, token: this.options.token ?? env[TOKEN_ENV], timeoutMs: timeout },
        this.warn,
      );
    } else {
      this.sink = new FileSink(findStore(this.options.home, this.options.cwd));
    }
    return this.sink;
  }

  /** Write one event (fields after the common ones, in the schema's order). Never throws. */
  emit(
    type: string,
    run: string,
    parent: string | null,
    attrs: Attrs | undefined,
    fields: Record<string, unknown>,
    us: number = this.clock(),
    id: string = newId(us),
  ): void {
    try {
      const ts = formatTimestamp(us);
      const event: Record<string, unknown> = { type, v: 1, id, ts, run };
      if (parent !== null) event.parent = parent;
      if (attrs !== undefined && Object.keys(attrs).length > 0) event.attrs = attrs;
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) event[key] = value;
      let line = JSON.stringify(event);
      let malformed = false;
      // a lone surrogate comes out as a \udXXX escape: only then is each string looked at
      if (line.includes("\\ud")) {
        line = JSON.stringify(event, (_key, value: unknown) => {
          if (typeof value !== "string" || !LONE_SURROGATE.test(value)) return value;
          malformed = true;
          return value.replace(LONE_SURROGATES, "\ufffd");
        });
      }
      if (malformed) {
        this.warn(
          "invalid:surrogate",
          "got a string with half of a UTF-16 surrogate pair (a string cut in the middle of a character); " +
            "recorded it with U+FFFD in its place, as laptime cannot read such a line",
        );
      }
      (this.sink ?? this.openSink()).write(line, ts.slice(0, 10));
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err instanceof Error ? err.name : "error");
      const text = err instanceof Error ? err.message : String(err);
      this.warn(`emit:${code}`, `could not record events (${text})`);
    }
  }

  /** Start a run. End it with `run.end()`; until then it is `running` (or `crashed`, once silent). */
  startRun(options: RunOptions): Run {
    return new Run(this, options);
  }

  /**
   * Record `fn` as a run, passing it the run. Returns what `fn` returns (awaited when it
   * is async); an error `fn` throws ends the run as failed and is thrown on unchanged.
   */
  run<T>(options: RunOptions, fn: (run: Run) => Promise<T>): Promise<T>;
  run<T>(options: RunOptions, fn: (run: Run) => T): T;
  run<T>(options: RunOptions, fn: (run: Run) => T): T {
    return this.startRun(options).within(fn);
  }

  /** The run the calling code is inside; outside any, the only run in progress, if just one. */
  currentRun(): Run | undefined {
    const span = current.getStore();
    if (span !== undefined && span.recorder === this) return span.run;
    return this.active.size === 1 ? this.active.values().next().value : undefined;
  }

  /** @internal */
  _started(run: Run): void {
    this.active.add(run);
  }

  /** @internal */
  _ended(run: Run): void {
    this.active.delete(run);
  }

  /** Deliver what is waiting (to the server; the log is written at once). Never rejects. */
  async flush(): Promise<void> {
    try {
      await this.sink?.flush();
    } catch (err) {
      this.warn("flush", `could not deliver events (${String(err)})`);
    }
  }

  /** Flush and close the log files or the connection. Safe to call twice. Never rejects. */
  async close(): Promise<void> {
    try {
      await this.sink?.close();
    } catch (err) {
      this.warn("close", `could not close (${String(err)})`);
    }
  }
}

/** A span: a piece of work with a start and an end. Every span can hold spans and events. */
export class Span {
  readonly recorder: Recorder;
  readonly run: Run;
  readonly id: string = "";
  readonly kind: SpanKind;
  readonly name: string;
  /** The enclosing span's id; null for the run. */
  readonly parentId: string | null;
  readonly parent: Span | null;
  /** The worker (agent, process) doing this span's work: its `attrs.worker`, else its parent's. */
  readonly worker: string | undefined;
  /** The outcome to end with, when the span ends by itself (`phase()`, `run()`). */
  outcome: Outcome | undefined;
  private endAttrs: Attrs | undefined;
  private ended = false;

  /** @internal Use `run.phase()`, `run.startSpan()` or `recorder.startRun()`. */
  constructor(
    recorder: Recorder,
    run: Run | null,
    parent: Span | null,
    kind: unknown,
    name: unknown,
    attrs: Attrs | undefined,
    id?: unknown,
  ) {
    this.recorder = recorder;
    this.run = run ?? (this as unknown as Run);
    this.parent = parent;
    this.parentId = parent?.id ?? null;
    let checked: Attrs | undefined;
    if (typeof kind === "string" && SPAN_KIND_SET.has(kind) && typeof name === "string" && id === undefined) {
      // the common case, kept cheap: a valid kind and name, no attrs to clean
      this.kind = kind as SpanKind;
      this.name = name;
      this.id = "";
      checked = attrs === undefined ? undefined : cleanAttrs(attrs, "span", recorder.warn);
    } else {
      const check = new Check(kind === "run" ? "run" : "span", recorder.warn);
      this.kind = check.choice("kind", kind, SPAN_KINDS, "other");
      this.name = check.text("name", name);
      this.id = id === undefined ? "" : check.text("id", id);
      checked = check.attrs(attrs);
    }
    const us = recorder.clock();
    if (!this.id) this.id = newId(us);
    const runId = run?.id ?? this.id;
    const own = attrs?.worker;
    this.worker = typeof own === "string" ? own : parent?.worker;
    recorder.emit("span_start", runId, this.parentId, checked, {
      span: this.id,
      kind: this.kind,
      name: this.name,
    }, us, this.id);
  }

  /** Choose the outcome this span ends with (blocked, stopped, ...) when it ends by itself. */
  setOutcome(outcome: Outcome): void {
    this.outcome = new Check("setOutcome", this.recorder.warn).choice("outcome", outcome, OUTCOMES, "completed");
  }

  /** Add attributes to the span's end (they add to, and override, the start's). */
  set(attrs: Attrs): void {
    this.endAttrs = { ...this.endAttrs, ...attrs };
  }

  /** Whether the span has ended. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** End the span (default outcome: `this.outcome`, else completed). A second end is ignored. */
  end(outcome?: Outcome, options: EndOptions = {}): void {
    if (this.ended) return;
    this.ended = true;
    try {
      const check = new Check("end", this.recorder.warn);
      const chosen = outcome === undefined ? (this.outcome ?? "completed") : check.choice("outcome", outcome, OUTCOMES, "completed");
      const error = check.optionalText("error", options.error);
      const attrs = options.attrs === undefined ? this.endAttrs : { ...this.endAttrs, ...options.attrs };
      this.recorder.emit("span_end", this.run.id, null, check.attrs(attrs), {
        span: this.id,
        outcome: chosen === "completed" ? undefined : chosen,
        error: error ?? undefined,
      });
    } finally {
      if (this.kind === "run") this.recorder._ended(this.run);
    }
  }

  /** Run `fn` inside this span and end it with `fn`'s result: the outcome, or the error thrown on unchanged. */
  within<T>(fn: (span: this) => T): T {
    let result: T;
    try {
      result = current.run(this, fn, this);
    } catch (err) {
      this.endWith(err);
      throw err;
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (value) => {
          this.end();
          return value;
        },
        (err: unknown) => {
          this.endWith(err);
          throw err;
        },
      ) as T;
    }
    this.end();
    return result;
  }

  private endWith(err: unknown): void {
    try {
      const { outcome, error } = outcomeOf(err, this.outcome);
      this.end(outcome, { error });
    } catch {
      // the caller's error matters more than ours
    }
  }

  /** The span new work goes into: the current one if it lies inside this span, else this span. */
  private here(): Span {
    const span = current.getStore();
    for (let s: Span | null | undefined = span; s; s = s.parent) {
      if (s === this) return span as Span;
    }
    return this;
  }

  /**
   * Record `fn` as a phase (or another kind of span) inside the current span, passing it
   * the span. Returns what `fn` returns (a promise when `fn` is async); an error `fn`
   * throws ends the span as failed (`AbortError`: stopped) and is thrown on unchanged.
   */
  phase<T>(name: string, fn: (span: Span) => Promise<T>, options?: SpanOptions): Promise<T>;
  phase<T>(name: string, fn: (span: Span) => T, options?: SpanOptions): T;
  phase<T>(name: string, fn: (span: Span) => T, options: SpanOptions = {}): T {
    let span: Span;
    try {
      span = new Span(this.recorder, this.run, this.here(), options.kind ?? "phase", name, options.attrs);
    } catch (err) {
      this.recorder.warn("span", `could not start span ${String(name)} (${String(err)})`);
      return fn(this);
    }
    return span.within(fn);
  }

  /** Start a span by hand, inside the current span; end it with `span.end(outcome)`. */
  startSpan(name: string, options: SpanOptions = {}): Span {
    return new Span(this.recorder, this.run, this.here(), options.kind ?? "other", name, options.attrs);
  }

  /** Record one model call's usage. */
  llmCall(call: LlmCall): void {
    const c = new Check("llmCall", this.recorder.warn);
    const model = c.text("model", call?.model);
    if (!model) {
      this.recorder.warn("llmCall:model", "llmCall needs a model name; the call was not recorded");
      return;
    }
    const where = this.here();
    this.point("llm", c, call.attrs, {
      provider: c.text("provider", call.provider ?? "") || undefined,
      model,
      input_tokens: c.count("inputTokens", call.inputTokens) || undefined,
      output_tokens: c.count("outputTokens", call.outputTokens) || undefined,
      cache_read_tokens: c.count("cacheReadTokens", call.cacheReadTokens) || undefined,
      cache_write_tokens: c.count("cacheWriteTokens", call.cacheWriteTokens) || undefined,
      input_includes_cache: c.flag("inputIncludesCache", call.inputIncludesCache) || undefined,
      latency_ms: c.optionalNumber("durationMs", call.durationMs) ?? undefined,
      estimated: c.flag("estimated", call.estimated) || undefined,
      cost_usd: c.optionalNumber("costUsd", call.costUsd) ?? undefined,
      worker: (call.worker === undefined ? where.worker : c.optionalText("worker", call.worker)) ?? undefined,
    }, where);
  }

  /** Record a verification command and whether it passed. */
  validation(event: ValidationEvent): void {
    const c = new Check("validation", this.recorder.warn);
    this.point("validation", c, event.attrs, {
      command: c.text("command", event.command),
      passed: event.passed === true ? true : c.flag("passed", event.passed),
      exit_code: c.optionalInt("exitCode", event.exitCode) ?? undefined,
      duration_ms: c.optionalNumber("durationMs", event.durationMs) ?? undefined,
      tier: c.optionalText("tier", event.tier) ?? undefined,
    });
  }

  /** Record a file the run created, modified or deleted. */
  fileChange(event: FileChangeEvent): void {
    const c = new Check("fileChange", this.recorder.warn);
    const change = event.change === undefined ? "modified" : c.choice("change", event.change, FILE_CHANGES, "modified");
    this.point("file_change", c, event.attrs, {
      path: c.text("path", event.path),
      change: change === "modified" ? undefined : change,
      lines_added: c.count("linesAdded", event.linesAdded) || undefined,
      lines_removed: c.count("linesRemoved", event.linesRemoved) || undefined,
    });
  }

  /** Record the work queue's depth now. */
  queue(event: QueueEvent): void {
    const c = new Check("queue", this.recorder.warn);
    this.point("queue", c, event.attrs, {
      ready: c.count("ready", event.ready) || undefined,
      active: c.count("active", event.active) || undefined,
      waiting: c.count("waiting", event.waiting) || undefined,
    });
  }

  /** Record a milestone being planned or completed. */
  milestone(event: MilestoneEvent): void {
    const c = new Check("milestone", this.recorder.warn);
    const status =
      event.status === undefined ? "planned" : c.choice("status", event.status, MILESTONE_STATUSES, "planned");
    this.point("milestone", c, event.attrs, {
      name: c.text("name", event.name),
      status: status === "planned" ? undefined : status,
      index: c.optionalInt("index", event.index) ?? undefined,
    });
  }

  /** Record a checkpoint (usually a commit). */
  checkpoint(event: CheckpointEvent = {}): void {
    const c = new Check("checkpoint", this.recorder.warn);
    this.point("checkpoint", c, event.attrs, {
      commit: c.optionalText("commit", event.commit) ?? undefined,
      verified: c.flag("verified", event.verified) || undefined,
    });
  }

  /** Record that the agent touched something outside its scope. */
  scopeViolation(event: ScopeViolationEvent = {}): void {
    const c = new Check("scopeViolation", this.recorder.warn);
    this.point("scope_violation", c, event.attrs, {
      path: c.optionalText("path", event.path) ?? undefined,
      reason: c.optionalText("reason", event.reason) ?? undefined,
    });
  }

  /** Record an error that did not necessarily end a span (a retried rate limit, a flaky test). */
  error(event: ErrorEventFields): void {
    const c = new Check("error", this.recorder.warn);
    this.point("error", c, event.attrs, {
      message: c.text("message", event.message),
      error_type: c.optionalText("errorType", event.errorType) ?? undefined,
    });
  }

  /** Record a custom measurement. */
  metric(event: MetricEvent): void {
    const c = new Check("metric", this.recorder.warn);
    this.point("metric", c, event.attrs, {
      name: c.text("name", event.name),
      value: c.number("value", event.value),
      unit: c.text("unit", event.unit ?? "") || undefined,
    });
  }

  private point(
    type: string,
    check: Check,
    attrs: Attrs | undefined,
    fields: Record<string, unknown>,
    where: Span = this.here(),
  ): void {
    try {
      this.recorder.emit(type, this.run.id, where.id, check.attrs(attrs), fields);
    } catch (err) {
      this.recorder.warn(`point:${type}`, `could not record a ${type} event (${String(err)})`);
    }
  }
}

/** One run: the root span. Its id is the run id. */
export class Run extends Span {
  /** @internal Use `recorder.startRun()` or `run()`. */
  constructor(recorder: Recorder, options: RunOptions) {
    const given = options?.attrs;
    const attrs: Attrs | undefined =
      options?.runner === undefined
        ? given
        : { ...(given === undefined ? {} : cleanAttrs(given, "run", recorder.warn)), runner: options.runner };
    super(recorder, null, null, "run", options?.name, attrs, options?.id);
    recorder._started(this);
  }
}
