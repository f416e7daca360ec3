"""AIDF execution reports: ``.ai/reports/YYYY-MM-DD/run-<8 chars>.json``.

One pretty-printed ExecutionReport per run, written whole when the run ends. Each file
is one record: it is re-read whole when it changes (``append_only = False``) and the
ids, derived from the report's ``runId``, de-duplicate. The mapping is documented in
``docs/importers.md``.

Phase timing: AIDF reports cumulative milliseconds per phase, not when each phase ran.
When ``timing.perIteration[].phases`` is there, each iteration is laid out from the
run's start (iteration after iteration, by ``durationMs``) and, inside it, its phases
one after the other in AIDF's order; what ``timing.phases`` holds beyond them (context
loading, ``other``) fills the run's time no iteration phase covers. Otherwise the
run-wide ``timing.phases`` are laid out one after the other from ``startedAt``.
Durations are AIDF's own; the placement inside an iteration is a reconstruction.

Stated figures win over recomputed ones: the run lasts ``totalDurationMs`` (not
``completedAt - startedAt``, cut to the millisecond), and ``cost.estimatedTotal`` is
the run's reported cost, shared out exactly over its calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from laptime import events as ev
from laptime.importers.base import FileState, ImportContext, Importer, find_files, source_event_id, timestamp
from laptime.importers.records import (
    RecordError,
    as_object,
    decode_json,
    get_bool,
    get_count,
    get_int,
    get_list,
    get_num,
    get_obj,
    get_str,
    parse_ts_ns,
    short,
    split_exactly,
    type_name,
)

IMPORTER = "aidf"
PHASE_ORDER = ("contextLoading", "aiExecution", "scopeChecking", "validation", "gitOperations", "other")
_STATUS: dict[str, ev.Outcome] = {
    "completed": "completed",
    "complete": "completed",
    "success": "completed",
    "blocked": "blocked",
    "failed": "failed",
    "error": "failed",
    "stopped": "stopped",
    "cancelled": "stopped",
    "aborted": "stopped",
    "interrupted": "stopped",
}
_MS = 1_000_000  # ns per ms
_MAX_ITEMS = 10_000
# Run-level phase time that the iterations' phases leave over is kept as a phase span of
# its own when it is at least this long: less is AIDF's rounding (it rounds the run-level
# phases to 0.01 ms), not time.
_MIN_REMAINDER_MS = 1.0


def _ns(ms: float) -> int:
    """Milliseconds as nanoseconds, rounded (``int`` would turn 1234.5679 ms into ...899 ns)."""
    return round(ms * _MS)


def provider_name(provider_type: str) -> str:
    """AIDF's provider type (anthropic-api, claude-cli, openai-api, cursor-cli) as a provider."""
    t = provider_type.lower()
    if "anthropic" in t or "claude" in t:
        return "anthropic"
    if "openai" in t or "codex" in t or "gpt" in t:
        return "openai"
    if "cursor" in t:
        return "cursor"
    return t


class _Doc:
    """Builds the events of one report."""

    def __init__(self, run_id: str, file: str, start_ns: int) -> None:
        self.run_id = run_id
        self.file = file
        self.start_ns = start_ns
        self.events: list[ev.Event] = []

    def common(self, ts_ns: int, pos: str, *parts: object) -> dict[str, Any]:
        return {
            "v": 1,
            "id": source_event_id(ts_ns, IMPORTER, self.run_id, *parts),
            "ts": timestamp(ts_ns),
            "run": self.run_id,
            "source": ev.Source(IMPORTER, self.file, pos),
        }


def _phase_ms(phases: dict[str, Any]) -> list[tuple[str, float]]:
    """(phase, ms) in AIDF's order, then any other names alphabetically; zero phases dropped."""
    names = [p for p in PHASE_ORDER if p in phases] + sorted(p for p in phases if p not in PHASE_ORDER)
    out = []
    for name in names:
        ms = get_num(phases, name)
        if ms:
            out.append((name, ms))
    return out


def report_events(data: bytes, file: str) -> list[ev.Event]:
    """The events of one ExecutionReport. Raises RecordError for a report that is not one."""
    doc = as_object(decode_json(data), "the report")
    run_id = get_str(doc, "runId", required=True)
    assert run_id is not None
    if not run_id.strip():
        raise RecordError("`runId` is empty", key="runId")
    timing = get_obj(doc, "timing")
    started = timing.get("startedAt") if timing.get("startedAt") is not None else doc.get("timestamp")
    start_ns = parse_ts_ns(started, "startedAt")
    total_ms = get_num(timing, "totalDurationMs")
    end_pos = "timing.totalDurationMs"
    if total_ms is not None:
        # AIDF measures the run with performance.now(); its ISO timestamps are cut to the
        # millisecond, so completedAt - startedAt is not the duration it reports
        end_ns: int | None = start_ns + _ns(total_ms)
    elif timing.get("completedAt") is not None:
        end_ns = parse_ts_ns(timing.get("completedAt"), "completedAt")
        end_pos = "timing.completedAt"
        if end_ns < start_ns:
            raise RecordError("`completedAt` is before `startedAt`", key="completedAt")
    else:
        end_ns = None
    status = get_str(doc, "status", required=True)
    assert status is not None
    d = _Doc(run_id, file, start_ns)

    provider = get_obj(doc, "provider")
    provider_type = get_str(provider, "type") or ""
    model = get_str(provider, "model") or provider_type or "unknown"
    attrs: dict[str, Any] = {"runner": IMPORTER}
    for key in ("taskPath", "taskGoal", "taskType", "roleName", "cwd", "aidfVersion"):
        text = get_str(doc, key)
        if text:
            attrs[key] = short(text, 2000)
    for key in ("iterations", "maxIterations", "consecutiveFailures"):
        value = get_int(doc, key)
        if value is not None:
            attrs[key] = value
    iterations = attrs.get("iterations")
    if iterations is None:
        # an older report without the count: the iterations it details
        numbered = {
            get_int(as_object(item, f"`timing.perIteration[{i}]`"), "iteration") or i + 1
            for i, item in enumerate(get_list(get_obj(doc, "timing"), "perIteration")[:_MAX_ITEMS])
        }
        if numbered:
            attrs["iterations"] = len(numbered)
    if "maxIterations" in attrs:
        attrs["max_iterations"] = attrs["maxIterations"]  # the name the summary reads
    files = get_obj(doc, "files")
    deleted: list[str] = []
    for i, path in enumerate(get_list(files, "deleted")[:_MAX_ITEMS]):
        if not isinstance(path, str):
            raise RecordError(f"`files.deleted[{i}]`: expected a path, got {type_name(path)}", key="deleted")
        deleted.append(path)
    if deleted:
        # not file changes: AIDF's most-modified list counts modified and created only
        attrs["files_deleted"] = deleted[:200]
        attrs["files_deleted_count"] = len(deleted)
    if provider_type:
        attrs["provider"] = provider_type
    if get_str(provider, "model"):
        attrs["model"] = model
    environment = get_obj(doc, "environment")
    for key in ("nodeVersion", "os", "ciProvider", "ciBuildId", "ciBranch", "ciCommit"):
        text = get_str(environment, key)
        if text:
            attrs[f"env.{key}"] = short(text, 500)
    ci = get_bool(environment, "ci")
    if ci is not None:
        attrs["env.ci"] = ci
    name = get_str(doc, "taskGoal") or get_str(doc, "taskPath") or run_id
    d.events.append(
        ev.SpanStart(
            **{**d.common(start_ns, "runId", "run"), "id": run_id},
            span=run_id,
            kind="run",
            name=short(name),
            attrs=attrs,
        )
    )

    # -- phases, per iteration when the report has them --------------------------------------
    iteration_start: dict[int, int] = {}
    phase_span: dict[tuple[int, str], str] = {}
    phase_at: dict[tuple[int, str], int] = {}
    ai_ms: dict[int, float] = {}
    in_iterations: dict[str, float] = {}  # ms per phase that the iterations' own phases hold
    per_iteration = get_list(timing, "perIteration")[:_MAX_ITEMS]
    cursor = start_ns
    free: list[tuple[int, int]] = []  # run time no iteration phase covers: (start, end) ns
    for i, item in enumerate(per_iteration):
        it = as_object(item, f"`timing.perIteration[{i}]`")
        number = get_int(it, "iteration")
        number = i + 1 if number is None else number
        iteration_start.setdefault(number, cursor)
        duration = get_num(it, "durationMs") or 0.0
        phase_cursor = cursor
        for phase, ms in _phase_ms(get_obj(it, "phases")):
            pos = f"timing.perIteration[{i}].phases.{phase}"
            span = _phase(d, phase, phase_cursor, _ns(ms), pos=pos, iteration=number)
            phase_span.setdefault((number, phase), span)
            phase_at.setdefault((number, phase), phase_cursor)
            in_iterations[phase] = in_iterations.get(phase, 0.0) + ms
            if phase == "aiExecution":
                ai_ms[number] = ai_ms.get(number, 0.0) + ms
            phase_cursor += _ns(ms)
        iteration_end = cursor + max(_ns(duration), phase_cursor - cursor)
        if iteration_end > phase_cursor:
            free.append((phase_cursor, iteration_end))  # the iteration's time outside its phases
        cursor = iteration_end
    if end_ns is not None and end_ns > cursor:
        free.append((cursor, end_ns))  # the run's time after its last iteration
    # Run-level phases: all of them, one after the other, when no iteration has phases.
    # Otherwise what they hold beyond the iterations' phases (AIDF times contextLoading
    # and `other` outside the iterations' own phase maps): laid into the run's time that
    # no iteration phase covers, earliest first, as pieces where one gap is too short.
    merged: list[tuple[int, int]] = []
    for a, b in free:
        if merged and merged[-1][1] >= a:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    spill_ns = max(cursor, end_ns or cursor)
    phase_cursor = start_ns
    for phase, run_ms in _phase_ms(get_obj(timing, "phases")):
        pos = f"timing.phases.{phase}"
        if not in_iterations:
            span = _phase(d, phase, phase_cursor, _ns(run_ms), pos=pos, iteration=None)
            phase_span.setdefault((0, phase), span)
            phase_at.setdefault((0, phase), phase_cursor)
            phase_cursor += _ns(run_ms)
            continue
        remainder = run_ms - in_iterations.get(phase, 0.0)
        if remainder < _MIN_REMAINDER_MS:
            continue
        for k, (at_ns, length_ns) in enumerate(_fill(merged, _ns(remainder), spill_ns)):
            span = _phase(d, phase, at_ns, length_ns, pos=pos, iteration=None, run_level=True, piece=k)
            phase_span.setdefault((0, phase), span)
            phase_at.setdefault((0, phase), at_ns)
            spill_ns = max(spill_ns, at_ns + length_ns)

    def at(iteration: int | None, phase: str, default: int) -> int:
        """Where an event of ``phase`` in ``iteration`` sits: the phase's start, else the iteration's."""
        if iteration is not None and (iteration, phase) in phase_at:
            return phase_at[iteration, phase]
        return iteration_start.get(iteration, default) if iteration is not None else default

    def parent(iteration: int | None, phase: str) -> str:
        return phase_span.get((iteration or 0, phase)) or phase_span.get((0, phase)) or run_id

    # -- tokens and cost -----------------------------------------------------------------------
    tokens = get_obj(doc, "tokens")
    estimated = bool(get_bool(tokens, "estimated"))
    costs: dict[int, float] = {}
    cost = get_obj(doc, "cost")
    for i, item in enumerate(get_list(cost, "perIteration")[:_MAX_ITEMS]):
        c = as_object(item, f"`cost.perIteration[{i}]`")
        number = get_int(c, "iteration")
        amount = get_num(c, "cost")
        if number is not None and amount is not None:
            costs[number] = costs.get(number, 0.0) + amount
    total_cost = get_num(cost, "estimatedTotal")
    llm_common: dict[str, Any] = {"provider": provider_name(provider_type), "model": model, "estimated": estimated}
    calls: list[tuple[int, int, dict[str, Any]]] = []  # (iteration, tokens, event fields)
    for i, item in enumerate(get_list(tokens, "perIteration")[:_MAX_ITEMS]):
        t = as_object(item, f"`tokens.perIteration[{i}]`")
        number = get_int(t, "iteration")
        number = i + 1 if number is None else number
        ts_ns = at(number, "aiExecution", start_ns)
        fields: dict[str, Any] = {
            **d.common(ts_ns, f"tokens.perIteration[{i}]", "llm", i, number),
            "parent": parent(number, "aiExecution"),
            "input_tokens": get_count(t, "input"),
            "output_tokens": get_count(t, "output"),
            "latency_ms": ai_ms.get(number),
            "cost_usd": costs.get(number),
            "attrs": {"iteration": number},
        }
        calls.append((number, fields["input_tokens"] + fields["output_tokens"], fields))
    if not calls and (
        tokens.get("totalInput") is not None or tokens.get("totalOutput") is not None or total_cost is not None
    ):
        # one call for the whole run; with a cost but no tokens (a CLI provider), the
        # reported cost still needs a call to carry it
        no_tokens = tokens.get("totalInput") is None and tokens.get("totalOutput") is None
        whole: dict[str, Any] = {
            **d.common(start_ns, "tokens", "llm_total"),
            "parent": run_id,
            "input_tokens": get_count(tokens, "totalInput"),
            "output_tokens": get_count(tokens, "totalOutput"),
            "cost_usd": total_cost if total_cost is not None else (sum(costs.values()) if costs else None),
            "attrs": {"whole_run": True, **({"tokens_unknown": True} if no_tokens else {})},
        }
        if no_tokens:
            whole["estimated"] = True
        calls.append((0, 0, whole))
    if total_cost is not None and calls:
        # estimatedTotal is the run's reported cost: shared among the calls so that they
        # add up to it exactly, in proportion to AIDF's per-iteration costs when every
        # call has one (else to the calls' tokens)
        have_costs = all(fields["cost_usd"] is not None for _n, _t, fields in calls)
        weights = [float(fields["cost_usd"]) if have_costs else float(n) for _i, n, fields in calls]
        for (_i, _n, fields), share in zip(calls, split_exactly(total_cost, weights), strict=True):
            if fields["cost_usd"] is not None and fields["cost_usd"] != share:
                fields["attrs"] = {**fields["attrs"], "source_cost_usd": fields["cost_usd"]}
            fields["cost_usd"] = share
    for _i, _n, fields in calls:
        d.events.append(ev.LlmUsage(**{**llm_common, **fields}))

    # -- validations ------------------------------------------------------------------------------
    validation = get_obj(doc, "validation")
    last_ns = end_ns if end_ns is not None else cursor
    for i, item in enumerate(get_list(validation, "runs")[:_MAX_ITEMS]):
        v = as_object(item, f"`validation.runs[{i}]`")
        number = get_int(v, "iteration")
        command = get_str(v, "command") or get_str(v, "phase") or "validation"
        passed = get_bool(v, "passed", required=True)
        ts_ns = at(number, "validation", last_ns)
        d.events.append(
            ev.Validation(
                **d.common(ts_ns, f"validation.runs[{i}]", "validation", i),
                parent=parent(number, "validation"),
                command=short(command, 2000),
                passed=bool(passed),
                exit_code=get_int(v, "exitCode"),
                duration_ms=get_num(v, "durationMs"),
                tier=get_str(v, "phase"),
                attrs={"iteration": number} if number is not None else {},
            )
        )

    # -- files and scope ---------------------------------------------------------------------------
    # modified and created, one event per entry as AIDF's aggregate counts them (a path
    # in both lists counts twice there); deleted paths are run attrs (above)
    for change, key in (("created", "created"), ("modified", "modified")):
        for i, path in enumerate(get_list(files, key)[:_MAX_ITEMS]):
            if not isinstance(path, str):
                raise RecordError(f"`files.{key}[{i}]`: expected a path, got {type_name(path)}", key=key)
            d.events.append(
                ev.FileChange(
                    **d.common(last_ns, f"files.{key}[{i}]", "file", key, path),
                    parent=run_id,
                    path=path,
                    change=change,  # type: ignore[arg-type]
                )
            )
    scope = get_obj(doc, "scope")
    mode = get_str(scope, "mode")
    blocked = get_list(scope, "blockedFiles")[:_MAX_ITEMS]
    reason = f"outside the task's scope (mode {mode})" if mode else "outside the task's scope"
    for i, path in enumerate(blocked):
        if not isinstance(path, str):
            raise RecordError(f"`scope.blockedFiles[{i}]`: expected a path, got {type_name(path)}", key="blockedFiles")
        d.events.append(
            ev.ScopeViolation(
                **d.common(last_ns, f"scope.blockedFiles[{i}]", "scope", i, path),
                parent=run_id,
                path=path,
                reason=reason,
            )
        )
    for i in range(len(blocked), min(get_count(scope, "violations"), _MAX_ITEMS)):
        d.events.append(
            ev.ScopeViolation(**d.common(last_ns, "scope.violations", "scope", i), parent=run_id, reason=reason)
        )

    # -- the end ---------------------------------------------------------------------------------
    if end_ns is not None:
        outcome = _STATUS.get(status.strip().lower(), "failed")
        error = get_str(doc, "error") or get_str(doc, "blockedReason")
        d.events.append(
            ev.SpanEnd(
                **{
                    **d.common(end_ns, end_pos, "run_end"),
                    "id": source_event_id(start_ns, IMPORTER, run_id, "run_end"),
                },
                span=run_id,
                outcome=outcome,
                error=short(error, 2000) if error else None,
                attrs={"source_outcome": status},
            )
        )
    return d.events


def _phase(
    d: _Doc,
    phase: str,
    start_ns: int,
    length_ns: int,
    *,
    pos: str,
    iteration: int | None,
    run_level: bool = False,
    piece: int = 0,
) -> str:
    """A phase span of ``length_ns`` from ``start_ns``; returns its id."""
    attrs: dict[str, Any] = {"reconstructed_start": True}
    if iteration is not None:
        attrs["iteration"] = iteration
    if run_level:
        attrs["run_level"] = True  # time timing.phases holds beyond the iterations' phases
    key: tuple[object, ...] = (iteration, phase) if piece == 0 else (iteration, phase, piece)
    common = d.common(start_ns, pos, "phase", *key)
    span: str = common["id"]
    d.events.append(ev.SpanStart(**common, parent=d.run_id, span=span, kind="phase", name=phase, attrs=attrs))
    end_ns = start_ns + length_ns
    d.events.append(ev.SpanEnd(**d.common(end_ns, pos, "phase_end", *key), parent=d.run_id, span=span))
    return span


def _fill(free: list[tuple[int, int]], length_ns: int, spill_ns: int) -> list[tuple[int, int]]:
    """(start, length) pieces that lay ``length_ns`` into the ``free`` intervals, earliest
    first (``free`` is consumed); what does not fit goes at ``spill_ns``."""
    pieces: list[tuple[int, int]] = []
    while length_ns > 0 and free:
        a, b = free[0]
        take = min(length_ns, b - a)
        pieces.append((a, take))
        length_ns -= take
        if a + take >= b:
            free.pop(0)
        else:
            free[0] = (a + take, b)
    if length_ns > 0:
        pieces.append((spill_ns, length_ns))
    return pieces


class AidfImporter(Importer):
    """AIDF's ``.ai/reports/**/run-*.json`` execution reports."""

    name: ClassVar[str] = "aidf"
    append_only: ClassVar[bool] = False

    def discover(self, path: Path) -> Iterator[Path]:
        return find_files(path, ("run-*.json",), roots=(".ai/reports",))

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return path.name.startswith("run-") and path.suffix == ".json" and _looks_like_report(path)
        if (path / ".ai" / "reports").is_dir():
            return True
        if path.name == "reports" and path.parent.name == ".ai":
            return True
        return any(True for _ in path.glob("*/run-*.json"))

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        data = file.read_bytes()
        state.offset = len(data)
        ctx.record(1, len(data))
        if not data.strip():
            ctx.warn(None, "empty file")
            return
        try:
            events = report_events(data, str(file))
        except RecordError as exc:
            ctx.warn(exc.line_in(data), str(exc))
            return
        yield from events


def _looks_like_report(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    return b'"runId"' in head
