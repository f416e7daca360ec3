"""Choragen's pipeline metrics log, ``.choragen/metrics/events.jsonl`` (FORMATS.md).

One JSON object per line: ``{id, timestamp, eventType, entityType, entityId, chainId?,
requestId?, model?, tokens?{input, output}, agent?{model, role, tokens?}, metadata?}``.
Keys come in any order; both the design document's form (``agent{model, role,
tokens}``) and the real one (top-level ``model`` and ``tokens``) are read.

Mapping (docs/importers.md has the full table):

- a **chain** is a run (its span id is the run id); ``chain:completed`` ends it;
- a **request** (CR/FR) is a run of its own, opened by its first event and ended by
  ``request:closed``;
- a **task** attempt is a task span inside its chain's run, named by the task id:
  ``task:started`` opens it, ``task:completed`` closes it (``completed``). A second
  ``task:started`` while one is open closes the open one as ``stopped``;
- every other record (``task:submitted``, ``task:rework``, ``chain:approved``...)
  becomes a ``metric`` event named ``choragen.<eventType>`` with value 1;
- tokens become an ``llm`` usage event with the record's model.

Ids derive from the record's own ``id`` (a UUID), so re-imports, grown files and even
a moved file add nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from laptime import events as ev
from laptime.clock import parse_timestamp_us, timestamp_from_us
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    find_files,
    iter_lines,
    open_regular,
    source_event_id,
)
from laptime.importers.records import TOO_DEEP, RecordError, too_deep

NAME = "choragen"
ENTITY_TYPES = ("task", "chain", "request")
MAX_TAIL_BYTES = 1 << 20
_NS_PER_US = 1000
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


@dataclass(frozen=True, slots=True)
class ChoragenRecord:
    """One parsed Choragen event."""

    id: str
    ts_us: int
    event_type: str
    entity_type: str
    entity_id: str
    chain_id: str | None = None
    request_id: str | None = None
    model: str | None = None
    role: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.event_type.partition(":")[2]


# Field readers of their own, not records.get_*: an empty string counts as absent, token
# counts may reach 2**62, and the messages (which users see) are worded differently.


def _opt_str(obj: dict[str, Any], key: str, where: str = "") -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"`{where}{key}` must be a string, got {type(value).__name__}")
    return value or None


def _req_str(obj: dict[str, Any], key: str) -> str:
    if key not in obj:
        raise RecordError(f"missing field `{key}`")
    value = _opt_str(obj, key)
    if value is None:
        raise RecordError(f"`{key}` is empty")
    return value


def _tokens(value: Any, where: str) -> tuple[int, int]:
    if not isinstance(value, dict):
        raise RecordError(f"`{where}` must be an object {{input, output}}, got {type(value).__name__}")
    counts = []
    for key in ("input", "output"):
        count = value.get(key, 0)
        if count is None:
            count = 0
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or count >= 1 << 62:
            raise RecordError(f"`{where}.{key}` must be a whole number of tokens, got {count!r}")
        counts.append(count)
    return counts[0], counts[1]


def parse_record(line: bytes | str) -> ChoragenRecord:
    """One Choragen line as a record. Raises RecordError (only) for anything unusable."""
    if too_deep(line):
        raise RecordError(TOO_DEEP)
    try:
        obj = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise RecordError(f"not JSON ({exc})") from None
    except RecursionError:  # too_deep keeps these out; a guard all the same
        raise RecordError(TOO_DEEP) from None
    if not isinstance(obj, dict):
        raise RecordError(f"not a JSON object but {type(obj).__name__}")
    record_id = _req_str(obj, "id")
    event_type = _req_str(obj, "eventType")
    prefix, sep, action = event_type.partition(":")
    if not sep or not action:
        raise RecordError(f"`eventType` {event_type!r} is not of the form entity:action")
    entity_type = _opt_str(obj, "entityType") or prefix
    if entity_type not in ENTITY_TYPES:
        raise RecordError(f"`entityType` {entity_type!r} is not one of task, chain, request")
    if prefix != entity_type:
        raise RecordError(f"`eventType` {event_type!r} does not match `entityType` {entity_type!r}")
    entity_id = _req_str(obj, "entityId")
    stamp = _req_str(obj, "timestamp")
    try:
        ts_us = parse_timestamp_us(stamp)
    except (ValueError, OverflowError):
        raise RecordError(f"`timestamp` {stamp!r} is not an ISO 8601 time") from None
    if not 0 <= ts_us <= _MAX_US:
        raise RecordError(f"`timestamp` {stamp!r} is out of range")
    model = _opt_str(obj, "model")
    role = None
    tokens = None
    agent = obj.get("agent")
    if agent is not None:
        if not isinstance(agent, dict):
            raise RecordError(f"`agent` must be an object, got {type(agent).__name__}")
        model = model or _opt_str(agent, "model", "agent.")
        role = _opt_str(agent, "role", "agent.")
        if agent.get("tokens") is not None:
            tokens = _tokens(agent["tokens"], "agent.tokens")
    if obj.get("tokens") is not None:
        tokens = _tokens(obj["tokens"], "tokens")
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise RecordError(f"`metadata` must be an object, got {type(metadata).__name__}")
    chain_id = _opt_str(obj, "chainId")
    if entity_type == "chain":
        chain_id = entity_id
    return ChoragenRecord(
        id=record_id,
        ts_us=ts_us,
        event_type=event_type,
        entity_type=entity_type,
        entity_id=entity_id,
        chain_id=chain_id,
        request_id=_opt_str(obj, "requestId") or (entity_id if entity_type == "request" else None),
        model=model,
        role=role,
        input_tokens=None if tokens is None else tokens[0],
        output_tokens=None if tokens is None else tokens[1],
        metadata=metadata,
    )


def provider_of(model: str) -> str:
    """A best guess at the provider from a model name ("" when unsure)."""
    name = model.lower()
    if "claude" in name:
        return "anthropic"
    if name.startswith(("gpt", "o1", "o3", "o4", "codex")):
        return "openai"
    if "gemini" in name:
        return "google"
    return ""


def read_lines(file: Path, state: FileState, ctx: ImportContext) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every complete line from ``state.offset``.

    Keeps ``state.offset`` and ``state.extra["line"]`` up to date as lines are
    consumed. A last line without a newline is tried too: if it parses as JSON it is a
    complete record (a writer that does not end its last line); if not, it is left
    for the next import (a write in progress) and reported as truncated.
    """
    base_line = int(state.extra.get("line", 0))
    number = base_line
    for number_rel, offset, raw in iter_lines(file, state.offset):
        number = base_line + number_rel
        ctx.record(1, len(raw) + 1)
        state.offset = offset + len(raw) + 1
        state.extra["line"] = number
        line = raw.rstrip(b"\r")
        if line.strip():
            yield number, line
    with open_regular(file) as handle:
        handle.seek(state.offset)
        tail = handle.read(MAX_TAIL_BYTES + 1)
    if not tail.strip():
        if not state.offset and not tail:
            ctx.warn(None, "empty file: no records")
        return
    number += 1
    try:
        if not too_deep(tail):  # a deep tail is complete enough to be refused as a record
            msgspec.json.decode(tail)
    except msgspec.DecodeError:
        ctx.warn(number, "truncated last line (no newline, not complete JSON); it is read again when the file grows")
        return
    ctx.record(1, len(tail))
    state.offset += len(tail)
    state.extra["line"] = number
    yield number, tail


class Builder:
    """Turns records into events, remembering open spans across incremental reads."""

    def __init__(self, file: Path, extra: dict[str, Any], importer: str = NAME) -> None:
        self.file = str(file)
        self.importer = importer
        self.runs: dict[str, list[Any]] = extra.setdefault("runs", {})  # key -> [run id, ended]
        self.tasks: dict[str, list[Any]] = extra.setdefault("tasks", {})  # key -> [span id, start us]
        # Record ids seen in this read. Event ids derive from them, so a repeated id (a
        # replayed line) would open or close the same span twice; it is skipped. Across
        # reads the index's id de-duplication does the same job.
        self.seen: dict[str, int | str] = {}

    def _id(self, rec: ChoragenRecord, part: str) -> str:
        return source_event_id(rec.ts_us * _NS_PER_US, self.importer, rec.id, part)

    def _common(self, line: int | str) -> dict[str, Any]:
        return {"v": ev.SCHEMA_VERSION, "source": ev.Source(self.importer, self.file, str(line))}

    def _attrs(self, rec: ChoragenRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {"choragen.event": rec.event_type, "choragen.id": rec.id}
        if rec.chain_id:
            attrs["choragen.chain_id"] = rec.chain_id
        if rec.request_id:
            attrs["choragen.request_id"] = rec.request_id
        if rec.model:
            attrs["choragen.model"] = rec.model
        if rec.role:
            attrs["choragen.role"] = rec.role
        if rec.metadata:
            attrs["choragen.metadata"] = rec.metadata
        return attrs

    def _run(self, kind: str, key: str, rec: ChoragenRecord, line: int | str) -> tuple[str, list[ev.Event]]:
        """The run of a chain or request, opened by the first record that names it."""
        slot = f"{kind}\x1f{key}"
        known = self.runs.get(slot)
        if known is not None:
            return str(known[0]), []
        run_id = self._id(rec, f"{kind}-run")
        self.runs[slot] = [run_id, False]
        attrs = {"runner": NAME, "choragen.entity": kind, **self._attrs(rec)}
        if kind == "chain":
            attrs["choragen.chain_id"] = key
        else:
            attrs["choragen.request_id"] = key
        start = ev.SpanStart(
            id=run_id,
            span=run_id,
            run=run_id,
            kind="run",
            name=key or "(no chain)",
            ts=timestamp_from_us(rec.ts_us),
            attrs=attrs,
            **self._common(line),
        )
        return run_id, [start]

    def _metric(self, rec: ChoragenRecord, line: int | str, run_id: str, parent: str) -> ev.Metric:
        attrs = self._attrs(rec)
        if rec.entity_type == "task":
            attrs["task"] = rec.entity_id
        return ev.Metric(
            id=self._id(rec, "metric"),
            ts=timestamp_from_us(rec.ts_us),
            run=run_id,
            parent=parent,
            name=f"choragen.{rec.event_type}",
            value=1.0,
            attrs=attrs,
            **self._common(line),
        )

    def _usage(self, rec: ChoragenRecord, line: int | str, run_id: str, parent: str) -> list[ev.Event]:
        if rec.input_tokens is None and rec.output_tokens is None:
            return []
        model = rec.model or "unknown"
        return [
            ev.LlmUsage(
                id=self._id(rec, "llm"),
                ts=timestamp_from_us(rec.ts_us),
                run=run_id,
                parent=parent,
                provider=provider_of(model),
                model=model,
                input_tokens=rec.input_tokens or 0,
                output_tokens=rec.output_tokens or 0,
                worker=rec.role,
                attrs={"choragen.event": rec.event_type, "choragen.id": rec.id, "task": rec.entity_id}
                if rec.entity_type == "task"
                else {"choragen.event": rec.event_type, "choragen.id": rec.id},
                **self._common(line),
            )
        ]

    def events(self, rec: ChoragenRecord, line: int | str) -> list[ev.Event]:
        """The events of one record; RecordError for a record id already read."""
        first = self.seen.setdefault(rec.id, line)
        if first != line:
            msg = f"duplicate record id {rec.id!r} (first on line {first}); skipped"
            raise RecordError(msg)
        if rec.entity_type == "request":
            run_id, out = self._run("request", rec.entity_id, rec, line)
            parent = run_id
            slot = self.runs[f"request\x1f{rec.entity_id}"]
            if rec.action == "closed" and not slot[1]:
                slot[1] = True
                out.append(self._end(rec, line, run_id, run_id, "completed"))
            elif out and rec.action == "created":
                pass  # the run's start is this record
            else:
                out.append(self._metric(rec, line, run_id, parent))
            out.extend(self._usage(rec, line, run_id, parent))
            return out
        chain = rec.chain_id or ""
        run_id, out = self._run("chain", chain, rec, line)
        if rec.entity_type == "chain":
            slot = self.runs[f"chain\x1f{chain}"]
            if rec.action == "completed" and not slot[1]:
                slot[1] = True
                out.append(self._end(rec, line, run_id, run_id, "completed"))
            elif not (out and rec.action == "created"):
                out.append(self._metric(rec, line, run_id, run_id))
            out.extend(self._usage(rec, line, run_id, run_id))
            return out
        # a task
        key = f"{chain}\x1f{rec.entity_id}"
        open_span = self.tasks.get(key)
        usage_parent = run_id
        if rec.action == "started":
            if open_span is not None:
                end = self._end(rec, line, run_id, str(open_span[0]), "stopped", part="superseded")
                out.append(end)
            span_id = self._id(rec, "task")
            self.tasks[key] = [span_id, rec.ts_us]
            out.append(self._task_start(rec, line, run_id, span_id, {**self._attrs(rec), "task": rec.entity_id}))
            usage_parent = span_id
        elif rec.action == "completed":
            if open_span is None:
                # Completed without a start we saw: a zero-length span, so the task
                # counts as completed, marked so that it has no cycle time.
                span_id = self._id(rec, "task")
                attrs = {**self._attrs(rec), "task": rec.entity_id, "choragen.no_start": True}
                out.append(self._task_start(rec, line, run_id, span_id, attrs))
                open_span = [span_id, rec.ts_us]
            self.tasks.pop(key, None)
            out.append(self._end(rec, line, run_id, str(open_span[0]), "completed", start_us=int(open_span[1])))
            usage_parent = str(open_span[0])
        else:
            usage_parent = str(open_span[0]) if open_span is not None else run_id
            out.append(self._metric(rec, line, run_id, usage_parent))
        out.extend(self._usage(rec, line, run_id, usage_parent))
        return out

    def _task_start(
        self, rec: ChoragenRecord, line: int | str, run_id: str, span_id: str, attrs: dict[str, Any]
    ) -> ev.SpanStart:
        return ev.SpanStart(
            id=span_id,
            span=span_id,
            run=run_id,
            parent=run_id,
            kind="task",
            name=rec.entity_id,
            ts=timestamp_from_us(rec.ts_us),
            attrs=attrs,
            **self._common(line),
        )

    def _end(
        self,
        rec: ChoragenRecord,
        line: int | str,
        run_id: str,
        span: str,
        outcome: ev.Outcome,
        *,
        part: str = "end",
        start_us: int | None = None,
    ) -> ev.SpanEnd:
        ts = rec.ts_us if start_us is None else max(rec.ts_us, start_us)  # never before its start
        return ev.SpanEnd(
            id=self._id(rec, part),
            span=span,
            run=run_id,
            parent=None if span == run_id else run_id,
            outcome=outcome,
            ts=timestamp_from_us(ts),
            attrs=self._attrs(rec),
            **self._common(line),
        )


class ChoragenImporter(Importer):
    """``laptime import choragen .choragen/metrics/events.jsonl``."""

    name: ClassVar[str] = NAME
    append_only: ClassVar[bool] = True

    def discover(self, path: Path) -> Iterator[Path]:
        return find_files(path, ("events.jsonl",))

    def detect(self, path: Path) -> bool:
        if path.is_dir():
            return (path / ".choragen" / "metrics" / "events.jsonl").is_file() or (
                path / "metrics" / "events.jsonl"
            ).is_file()
        if not path.is_file():
            return False
        with open_regular(path) as handle:
            first = handle.readline(1 << 16)
        try:
            parse_record(first)
        except RecordError:
            return False
        return True

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        builder = Builder(file, state.extra)
        for number, line in read_lines(file, state, ctx):
            try:
                events = builder.events(parse_record(line), number)
            except RecordError as exc:
                ctx.warn(number, str(exc))
                continue
            yield from events
