"""Event schema v1: the one shape every source writes and every view reads.

Each line of the log is one JSON object, tagged by ``type``. The spec for writers in
other languages is ``docs/events.md``; the machine-readable JSON Schema ships as
``laptime/schema/events-v1.schema.json`` and is generated from these structs.

Timestamps are RFC 3339 UTC strings with microseconds (``2026-11-21T10:00:00.123456Z``).
Token counts keep the provider's own meaning: ``input_includes_cache`` says whether
``input_tokens`` already contains the cache reads and writes (OpenTelemetry, OpenAI) or
not (Anthropic).
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

SCHEMA_VERSION: Final = 1

SpanKind = Literal["run", "phase", "task", "llm", "tool", "validation", "git", "other"]
SPAN_KINDS: Final[tuple[str, ...]] = (
    "run",
    "phase",
    "task",
    "llm",
    "tool",
    "validation",
    "git",
    "other",
)
Outcome = Literal["completed", "failed", "blocked", "stopped", "running", "crashed"]
OUTCOMES: Final[tuple[str, ...]] = (
    "completed",
    "failed",
    "blocked",
    "stopped",
    "running",
    "crashed",
)
FileChangeKind = Literal["created", "modified", "deleted"]
MilestoneStatus = Literal["planned", "completed"]


class Source(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where an imported event came from: importer name, file and position in it."""

    importer: str
    file: str
    pos: str = ""


class _Event(
    msgspec.Struct,
    tag_field="type",
    kw_only=True,
    omit_defaults=True,
    array_like=False,
):
    """Fields every event carries."""

    v: int
    id: str
    ts: str
    run: str
    parent: str | None = None
    attrs: dict[str, Any] = {}
    source: Source | None = None


class SpanStart(_Event, tag="span_start", kw_only=True):
    """A span opened. Written at once, so a crash leaves evidence behind."""

    span: str
    kind: SpanKind
    name: str


class SpanEnd(_Event, tag="span_end", kw_only=True):
    """A span closed. ``attrs`` here add to (and override) the start's attrs."""

    span: str
    outcome: Outcome = "completed"
    error: str | None = None


class LlmUsage(_Event, tag="llm", kw_only=True):
    """One model call's usage. ``span`` is the llm span it closes, when there is one."""

    span: str | None = None
    provider: str = ""
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    input_includes_cache: bool = False
    latency_ms: float | None = None
    estimated: bool = False
    cost_usd: float | None = None
    worker: str | None = None


class Validation(_Event, tag="validation", kw_only=True):
    """A verification command ran (tests, lint, type check)."""

    command: str
    passed: bool
    exit_code: int | None = None
    duration_ms: float | None = None
    tier: str | None = None


class FileChange(_Event, tag="file_change", kw_only=True):
    """A file was created, modified or deleted by the run."""

    path: str
    change: FileChangeKind = "modified"
    lines_added: int = 0
    lines_removed: int = 0


class QueueSample(_Event, tag="queue", kw_only=True):
    """Work queue depth at one instant (seed 002's ready / active / waiting)."""

    ready: int = 0
    active: int = 0
    waiting: int = 0


class Milestone(_Event, tag="milestone", kw_only=True):
    """A milestone was planned or completed."""

    name: str
    status: MilestoneStatus = "planned"
    index: int | None = None


class Checkpoint(_Event, tag="checkpoint", kw_only=True):
    """A checkpoint (usually a commit); ``verified`` when a passing verification preceded it."""

    commit: str | None = None
    verified: bool = False


class ScopeViolation(_Event, tag="scope_violation", kw_only=True):
    """The agent touched something outside its allowed scope."""

    path: str | None = None
    reason: str | None = None


class ErrorEvent(_Event, tag="error", kw_only=True):
    """An error worth reporting that did not necessarily end a span."""

    message: str
    error_type: str | None = None


class Metric(_Event, tag="metric", kw_only=True):
    """A custom measurement: name, value and unit."""

    name: str
    value: float
    unit: str = ""


Event = (
    SpanStart
    | SpanEnd
    | LlmUsage
    | Validation
    | FileChange
    | QueueSample
    | Milestone
    | Checkpoint
    | ScopeViolation
    | ErrorEvent
    | Metric
)
EVENT_TYPES: Final[tuple[type[_Event], ...]] = (
    SpanStart,
    SpanEnd,
    LlmUsage,
    Validation,
    FileChange,
    QueueSample,
    Milestone,
    Checkpoint,
    ScopeViolation,
    ErrorEvent,
    Metric,
)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)  # type: ignore[arg-type]


class EventDecodeError(ValueError):
    """A line is not a valid v1 event; the message names the field at fault."""


def encode(event: Event) -> bytes:
    """Serialise one event as a log line, newline included."""
    return _encoder.encode(event) + b"\n"


def decode(line: bytes | str) -> Event:
    """Parse and validate one log line.

    Raises EventDecodeError with the JSON path of the bad field, for example
    ``Expected `int`, got `str` - at `$.input_tokens```.
    """
    try:
        event = _decoder.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise EventDecodeError(str(exc)) from None
    if event.v != SCHEMA_VERSION:
        msg = f"unsupported schema version {event.v!r} - at `$.v` (this laptime reads v{SCHEMA_VERSION})"
        raise EventDecodeError(msg)
    return event


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one log line, as shipped in ``laptime/schema``."""
    schema: dict[str, Any] = msgspec.json.schema(Event)  # type: ignore[arg-type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://laptime.dev/schema/events-v1.schema.json"
    schema["title"] = "laptime event, schema v1"
    return schema
