"""Event schema v1: the one shape every source writes and every view reads.

Each line of the log is one JSON object, tagged by ``type``. The spec for writers in
other languages is ``docs/events.md``; the machine-readable JSON Schema ships as
``laptime/schema/events-v1.schema.json`` and is generated from these structs.

Timestamps are UTC in one canonical form, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (for example
``2026-11-21T10:00:00.123456Z``): the index does exact integer arithmetic on them.
Token counts keep the provider's own meaning: ``input_includes_cache`` says whether
``input_tokens`` already contains the cache reads and writes (OpenTelemetry, OpenAI) or
not (Anthropic).
"""

from __future__ import annotations

import re
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
    """Where an imported event came from: importer name, file and position in it.

    Imported events derive their ``id`` deterministically from these three values, so
    importing the same file twice writes the same ids and the index keeps one copy.
    """

    importer: str  # the importer's name, e.g. "claude-code"
    file: str  # the file the event was read from, as the importer saw it
    pos: str = ""  # position inside that file (line number, byte offset, record key), as text


class _Event(
    msgspec.Struct,
    tag_field="type",
    kw_only=True,
    omit_defaults=True,
    array_like=False,
):
    """Fields every event carries."""

    v: int  # schema version; always 1 for this schema, and required
    id: str  # unique event id; 32 lowercase hex digits in the UUIDv7 layout (time-ordered)
    ts: str  # when it happened: canonical UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, 6 fraction digits
    run: str  # id of the run this event belongs to (the run span's id)
    parent: str | None = None  # the enclosing span (the run id at top level); none for the run span
    attrs: dict[str, Any] = {}  # free attributes: a JSON object of any JSON values
    source: Source | None = None  # set on imported events only


class SpanStart(_Event, tag="span_start", kw_only=True):
    """A span opened. Written when it opens, so a crash leaves evidence behind.

    By convention ``id`` equals ``span``. For the run span it must, and its ``span`` is
    also the run id.
    """

    span: str  # the span's id, unique across the log
    kind: SpanKind  # run, phase, task, llm, tool, validation, git or other
    name: str  # what the span is: the run's task, the phase's name, the model, the command


class SpanEnd(_Event, tag="span_end", kw_only=True):
    """A span closed. ``attrs`` here add to (and override) the start's attrs."""

    span: str  # the id of the span this closes
    outcome: Outcome = "completed"  # completed, failed, blocked, stopped, running or crashed
    error: str | None = None  # what went wrong, when the span did not complete


class Span(_Event, tag="span", kw_only=True):
    """A whole span in one line: what ``laptime compact`` writes for a span_start and
    its span_end. Readers treat it exactly as that pair: ``id``/``ts``/``attrs``/
    ``source`` are the start's, ``end_id``/``end_ts``/``end_attrs``/``end_source`` the end's.
    """

    span: str  # the span's id
    kind: SpanKind  # as in span_start
    name: str  # as in span_start
    end_id: str  # the id of the span_end this line replaces
    end_ts: str  # when the span closed (canonical UTC timestamp)
    outcome: Outcome = "completed"  # as in span_end
    error: str | None = None  # as in span_end
    end_attrs: dict[str, Any] = {}  # the span_end's attrs
    end_source: Source | None = None  # the span_end's source, for imported spans


class LlmUsage(_Event, tag="llm", kw_only=True):
    """One model call's usage. ``span`` is the llm span it closes, when there is one.

    Token counts keep the provider's meaning; ``input_includes_cache`` states whether
    ``input_tokens`` already counts the cache reads and writes (OpenAI, OpenTelemetry)
    or not (Anthropic). ``cost_usd`` is only set when the source itself reported a cost.
    """

    span: str | None = None  # the llm span this usage belongs to; none for an untimed call
    provider: str = ""  # "anthropic", "openai", ... ("" when unknown)
    model: str  # the model name as the provider reports it
    input_tokens: int = 0  # input (prompt) tokens, in the provider's meaning
    output_tokens: int = 0  # output (completion) tokens
    cache_read_tokens: int = 0  # input tokens served from the prompt cache
    cache_write_tokens: int = 0  # input tokens written to the prompt cache
    input_includes_cache: bool = False  # True: input_tokens already counts the cache tokens
    latency_ms: float | None = None  # wall time of the call in milliseconds
    estimated: bool = False  # True: the counts were estimated, not reported by the provider
    cost_usd: float | None = None  # cost in USD, only when the source reported one
    worker: str | None = None  # the worker (agent, process) that made the call


class Validation(_Event, tag="validation", kw_only=True):
    """A verification command ran (tests, lint, type check)."""

    command: str  # the command line, or a name for the check
    passed: bool  # whether it passed
    exit_code: int | None = None  # the process exit code, when there was one
    duration_ms: float | None = None  # how long it ran, in milliseconds
    tier: str | None = None  # free label for the check's level, e.g. "fast", "full"


class FileChange(_Event, tag="file_change", kw_only=True):
    """A file was created, modified or deleted by the run."""

    path: str  # the file's path, relative to the repository root when possible
    change: FileChangeKind = "modified"  # created, modified or deleted
    lines_added: int = 0  # lines added by this change
    lines_removed: int = 0  # lines removed by this change


class QueueSample(_Event, tag="queue", kw_only=True):
    """Work queue depth at one instant: items ready to start, in progress, and waiting."""

    ready: int = 0  # items ready to be picked up
    active: int = 0  # items being worked on
    waiting: int = 0  # items waiting on something (a dependency, a review, a human)


class Milestone(_Event, tag="milestone", kw_only=True):
    """A milestone was planned or completed."""

    name: str  # the milestone's name
    status: MilestoneStatus = "planned"  # planned or completed
    index: int | None = None  # its position in the plan, when it has one


class Checkpoint(_Event, tag="checkpoint", kw_only=True):
    """A checkpoint (usually a commit); ``verified`` when a passing verification preceded it."""

    commit: str | None = None  # the commit id, when the checkpoint is a commit
    verified: bool = False  # True when a passing verification preceded it (this is what TVc counts)


class ScopeViolation(_Event, tag="scope_violation", kw_only=True):
    """The agent touched something outside its allowed scope."""

    path: str | None = None  # what was touched, when it is a path
    reason: str | None = None  # why it is out of scope


class ErrorEvent(_Event, tag="error", kw_only=True):
    """An error worth reporting that did not necessarily end a span."""

    message: str  # the error message
    error_type: str | None = None  # the error's class or code, e.g. "TimeoutError"


class Metric(_Event, tag="metric", kw_only=True):
    """A custom measurement: name, value and unit."""

    name: str  # the metric's name
    value: float  # its value; a finite number (JSON has no NaN or Infinity)
    unit: str = ""  # its unit, e.g. "ms", "bytes" ("" when unitless)


Event = (
    SpanStart
    | SpanEnd
    | Span
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
    Span,
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
_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)


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
    for field, value in (("ts", event.ts), ("end_ts", getattr(event, "end_ts", None))):
        if value is not None and not _is_timestamp(value):
            msg = f"timestamp {value!r} is not canonical UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ` - at `$.{field}`"
            raise EventDecodeError(msg)
    return event


# Canonical UTC with fields in range, years 0001 to 9999 (month 13 or minute 61 would stop the
# index, which turns every ``ts`` into microseconds, and year 0 the price lookup; SQLite rolls a
# day 31 of a shorter month into the next). Years before 1970 are allowed: a clock set near
# the epoch can stamp a span's end a microsecond before it, and those lines must stay readable.
TIMESTAMP_PATTERN: Final = re.compile(
    r"^(?!0000)\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z$"
)


def _is_timestamp(value: str) -> bool:
    return TIMESTAMP_PATTERN.match(value) is not None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one log line, as shipped in ``laptime/schema``.

    Beyond what the structs say, it pins ``v`` to 1 and the timestamps to their
    canonical form, which ``decode`` checks too.
    """
    schema: dict[str, Any] = msgspec.json.schema(Event)
    clean_schema_descriptions(schema)
    for definition in schema.get("$defs", {}).values():
        props = definition.get("properties", {})
        if "v" in props:
            props["v"] = {"const": SCHEMA_VERSION, "description": "schema version"}
        for name in ("ts", "end_ts"):
            if name in props:
                props[name] = {"type": "string", "pattern": TIMESTAMP_PATTERN.pattern}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://laptime.dev/schema/events-v1.schema.json"
    schema["title"] = "laptime event, schema v1"
    return schema


def clean_schema_descriptions(node: Any) -> None:
    """Give every ``description`` the layout of ``inspect.cleandoc``, in place.

    msgspec copies struct docstrings into the schema, but whether it strips their
    indentation first depends on its version (0.23 does, 0.18 does not). Cleaning them
    here, idempotently, makes the schema the same text under every msgspec release.
    """
    import inspect  # lazily: kept off the import path of the SDK

    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                node[key] = inspect.cleandoc(value)
            else:
                clean_schema_descriptions(value)
    elif isinstance(node, list):
        for item in node:
            clean_schema_descriptions(item)


SCHEMA_FILE: Final = "events-v1.schema.json"


def load_json_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package, ``laptime/schema/events-v1.schema.json``.

    It equals ``json_schema()``: ``scripts/gen_schema.py`` writes it from there, and a
    test keeps the two from drifting apart.
    """
    from importlib.resources import files  # lazily: only schema users pay for the import

    data = (files("laptime") / "schema" / SCHEMA_FILE).read_bytes()
    schema: dict[str, Any] = msgspec.json.decode(data, type=dict[str, Any])
    return schema
