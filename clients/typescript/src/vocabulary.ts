/** The words of the v1 schema (docs/events.md), the same as `laptime.events`. */

export const SPAN_KINDS = ["run", "phase", "task", "llm", "tool", "validation", "git", "other"] as const;
/** What a span is. */
export type SpanKind = (typeof SPAN_KINDS)[number];

export const OUTCOMES = ["completed", "failed", "blocked", "stopped", "running", "crashed"] as const;
/** How a span ended. A writer normally writes one of the first four. */
export type Outcome = (typeof OUTCOMES)[number];

export const FILE_CHANGES = ["created", "modified", "deleted"] as const;
export type FileChangeKind = (typeof FILE_CHANGES)[number];

export const MILESTONE_STATUSES = ["planned", "completed"] as const;
export type MilestoneStatus = (typeof MILESTONE_STATUSES)[number];

/** Free attributes: any JSON values. */
export type Attrs = Record<string, unknown>;
