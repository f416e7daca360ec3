/** The words of the v1 schema (docs/events.md), the same as `laptime.events`. */
export const SPAN_KINDS = ["run", "phase", "task", "llm", "tool", "validation", "git", "other"];
export const OUTCOMES = ["completed", "failed", "blocked", "stopped", "running", "crashed"];
export const FILE_CHANGES = ["created", "modified", "deleted"];
export const MILESTONE_STATUSES = ["planned", "completed"];
