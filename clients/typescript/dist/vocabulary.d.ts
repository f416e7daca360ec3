/** The words of the v1 schema (docs/events.md), the same as `laptime.events`. */
export declare const SPAN_KINDS: readonly ["run", "phase", "task", "llm", "tool", "validation", "git", "other"];
/** What a span is. */
export type SpanKind = (typeof SPAN_KINDS)[number];
export declare const OUTCOMES: readonly ["completed", "failed", "blocked", "stopped", "running", "crashed"];
/** How a span ended. A writer normally writes one of the first four. */
export type Outcome = (typeof OUTCOMES)[number];
export declare const FILE_CHANGES: readonly ["created", "modified", "deleted"];
export type FileChangeKind = (typeof FILE_CHANGES)[number];
export declare const MILESTONE_STATUSES: readonly ["planned", "completed"];
export type MilestoneStatus = (typeof MILESTONE_STATUSES)[number];
/** Free attributes: any JSON values. */
export type Attrs = Record<string, unknown>;
