"""One run's KPIs, by DESIGN.md's definitions, computed from the index.

The JSON shape holds seed 000's KPI fields (run_id, started_at, ended_at,
total_duration_ms, outcome, phases, models, verification, changes, milestones) plus
``tvc_ms`` and ``unattributed_ms``, and more detail that the terminal views use.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from laptime import definitions as d
from laptime.analysis.results import RunDetail, RunKpi, RunListRow
from laptime.clock import timestamp_from_us
from laptime.definitions import ts_us_sql as ts_us
from laptime.errors import UsageError
from laptime.index import Index

if TYPE_CHECKING:
    from laptime.config import BudgetRule
    from laptime.pricing import PriceBook

_SQLITE_MAX_INT = 2**63 - 1
NO_PHASE = "(no phase)"  # LLM calls made outside every top-level phase


class RunLookupError(UsageError, LookupError):
    """No run, or more than one, matches what the user gave."""


class AmbiguousRunError(RunLookupError):
    """More than one run matches the prefix the user gave."""


@dataclass(frozen=True)
class RunRow:
    """A run as the ``runs`` table knows it."""

    run_id: str
    name: str | None
    runner: str | None
    started_us: int | None  # the run span's start (None: no start span)
    ended_us: int | None  # the run span's end (None: no end yet)
    first_us: int  # the run's first event
    last_us: int  # the run's last event
    raw_outcome: str | None
    error: str | None
    attrs: dict[str, Any]

    def outcome(self, now_us: int, crashed_after_us: int) -> str:
        """The run's outcome (``laptime.definitions.outcome``)."""
        return d.outcome(
            self.ended_us, self.raw_outcome, self.last_us, now_us=now_us, crashed_after_us=crashed_after_us
        )

    def start_us(self) -> int:
        """The run's start (``laptime.definitions.run_start_us``)."""
        return d.run_start_us(self.started_us, self.first_us)

    def end_us(self) -> int:
        """The run's end (``laptime.definitions.run_end_us``)."""
        return d.run_end_us(self.ended_us, self.last_us)

    def duration_us(self) -> int:
        """The run's duration (``laptime.definitions.run_duration_us``)."""
        return d.run_duration_us(self.started_us, self.first_us, self.ended_us, self.last_us)


_RUN_COLUMNS = "run_id, name, runner, started_us, ended_us, first_us, last_us, outcome, error, attrs"
_RUN_ORDER = f"{d.run_start_sql()} DESC, run_id DESC"


def _run_row(row: tuple[Any, ...]) -> RunRow:
    attrs = json.loads(row[9]) if row[9] else {}
    return RunRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], attrs)


def resolve_run(index: Index, given: str | None) -> RunRow:
    """The run named by a full id or a unique prefix; the latest run when None."""
    if given is None:
        rows = index.query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY {_RUN_ORDER} LIMIT 1")
        if not rows:
            msg = "no runs recorded yet; record one with the SDK, `laptime import`, or try `laptime demo`"
            raise RunLookupError(msg)
        return _run_row(rows[0])
    given = given.strip()
    if not given:
        raise RunLookupError("the run id is empty; give a full id or a unique prefix")
    upper = given + "\uffff"
    rows = index.query(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 6", (given, upper)
    )
    exact = [r for r in rows if r[0] == given]
    if exact:
        return _run_row(exact[0])
    if not rows:
        msg = f"no run matches {given!r}; `laptime report list` shows the recorded runs"
        raise RunLookupError(msg)
    if len(rows) > 1:
        shown = ", ".join(r[0] for r in rows[:5])
        more = " and more" if len(rows) > 5 else ""
        msg = f"{given!r} matches several runs ({shown}{more}); give more characters of the id"
        raise AmbiguousRunError(msg)
    return _run_row(rows[0])


def list_runs(
    index: Index,
    *,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int | None = None,
) -> list[RunRow]:
    """Runs in the time window [since, until) (``laptime.definitions``), newest first."""
    where, window_params = d.window_sql(since_us, until_us, alias="")
    params: list[int] = list(window_params)
    sql = f"SELECT {_RUN_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_RUN_ORDER}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(min(int(limit), _SQLITE_MAX_INT))  # a huge --limit means "no limit", not an error
    return [_run_row(r) for r in index.query(sql, params)]


@dataclass
class SpanRow:
    span_id: str
    parent_id: str | None
    kind: str
    name: str
    start_us: int
    end_us: int | None
    outcome: str
    error: str | None
    attrs: dict[str, Any]


def load_spans(index: Index, run_id: str) -> list[SpanRow]:
    rows = index.query(
        f"""SELECT s.span, s.parent, s.kind, s.name, {ts_us("s.ts")}, {ts_us("e.ts")},
                   COALESCE(e.outcome, 'running'), e.error, s.attrs, e.attrs
            FROM span_starts s LEFT JOIN span_ends e ON e.rowid = {d.span_end_rowid_sql("s.span")}
            WHERE s.run = ? ORDER BY s.ts, s.span""",
        (run_id,),
    )
    spans = []
    for span, parent, kind, name, start, end, outcome, error, attrs, end_attrs in rows:
        merged = json.loads(attrs) if attrs else {}
        if end_attrs and end_attrs != "{}":
            merged.update(json.loads(end_attrs))
        spans.append(SpanRow(span, parent, kind, name, start, end, outcome, error, merged))
    return spans


def compute_kpi(
    index: Index, run: RunRow, *, now_us: int, crashed_after_us: int, book: PriceBook | None = None
) -> RunKpi:
    """Every KPI of one run; cost priced by ``book`` (default: genai-prices, no overrides)."""
    from laptime.analysis.cost import run_cost_detail
    from laptime.pricing import PriceBook

    run_id = run.run_id
    spans = load_spans(index, run_id)
    by_id = {s.span_id: s for s in spans}
    run_end = run.end_us()
    run_start = run.start_us()
    facts = index.query("SELECT tvc_us, retries, downtime_us FROM run_facts WHERE run_id = ?", (run_id,))
    tvc_us, retries, downtime_us = facts[0] if facts else (None, 0, 0)
    derived_phases = {
        phase: (duration_us, attempts)
        for phase, duration_us, attempts in index.query(
            "SELECT phase, duration_us, attempts FROM run_phases WHERE run_id = ?", (run_id,)
        )
    }

    def top_phase_of(span_id: str | None) -> str | None:
        """The top-level phase a span or event sits in (None: directly in the run)."""
        seen = 0
        while span_id is not None and span_id in by_id and seen < 10_000:
            span = by_id[span_id]
            if span.kind == "phase" and span.parent_id == run_id:
                return span.name
            span_id = span.parent_id
            seen += 1
        return None

    # -- phases ---------------------------------------------------------------------------
    # Durations and attempts come from the index's run_phases (laptime.definitions); the
    # spans add what only they know: failed attempts, and the order the phases began in.
    phases: dict[str, dict[str, Any]] = {}
    covered = []
    for span in spans:
        end = span.start_us + d.span_duration_us(span.start_us, span.end_us, run_end)
        if d.is_downtime(span.kind, span.parent_id, run_id, span.attrs):
            covered.append((span.start_us, end))
            continue
        if span.kind != "phase" or span.parent_id != run_id:
            continue
        covered.append((span.start_us, end))
        duration_us, attempts = derived_phases.get(span.name, (0, 0))
        entry = phases.setdefault(
            span.name,
            {
                "duration_ms": d.ms(duration_us),
                "share": duration_us / run.duration_us() if run.duration_us() > 0 else None,
                "attempts": attempts,
                "failed": 0,
                "first_start_us": span.start_us,
            },
        )
        if span.outcome in d.UNSUCCESSFUL:
            entry["failed"] += 1
    unattributed_us = d.unattributed_us(run.duration_us(), covered)

    # -- llm calls ------------------------------------------------------------------------
    llm_rows = index.query(
        f"""SELECT model, provider, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                   input_includes_cache, latency_ms, estimated, cost_usd, worker, parent, {ts_us("ts")},
                   {d.cache_write_1h_sql()}
            FROM llm_calls WHERE run = ? ORDER BY ts, id""",
        (run_id,),
    )
    models: dict[str, dict[str, Any]] = {}
    workers: dict[str, dict[str, Any]] = {}
    tokens = dict.fromkeys(
        (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "estimated_tokens",
            "total_tokens",
        ),
        0,
    )
    for (
        model,
        provider,
        inp,
        out,
        cread,
        cwrite,
        includes,
        latency,
        estimated,
        _reported_cost,
        worker,
        parent,
        _ts,
        c1h,
    ) in llm_rows:
        tin = d.uncached_input(inp, cread, cwrite, includes)
        m = models.setdefault(
            model,
            {
                "provider": provider or None,
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "estimated_calls": 0,
                "avg_latency_ms": None,
                "_latencies": [],
                "by_phase": {},
            },
        )
        m["calls"] += 1
        m["input_tokens"] += tin
        m["output_tokens"] += out
        m["cache_read_tokens"] += cread
        m["cache_write_tokens"] += cwrite
        m["estimated_calls"] += 1 if estimated else 0
        if latency is not None:
            m["_latencies"].append(latency)
        phase = top_phase_of(parent) or NO_PHASE
        bp = m["by_phase"].setdefault(phase, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        bp["calls"] += 1
        bp["input_tokens"] += tin
        bp["output_tokens"] += out
        w = workers.setdefault(worker or "(main)", {"calls": 0, "input_tokens": 0, "output_tokens": 0, "models": {}})
        w["calls"] += 1
        w["input_tokens"] += tin
        w["output_tokens"] += out
        w["models"][model] = w["models"].get(model, 0) + 1
        call_total = tin + out + cread + cwrite
        tokens["input_tokens"] += tin
        tokens["output_tokens"] += out
        tokens["cache_read_tokens"] += cread
        tokens["cache_write_tokens"] += cwrite
        tokens["cache_write_1h_tokens"] += c1h
        tokens["total_tokens"] += call_total
        if estimated:
            tokens["estimated_tokens"] += call_total
    for m in models.values():
        lat = m.pop("_latencies")
        m["avg_latency_ms"] = d.round_ms(sum(lat) / len(lat)) if lat else None

    # -- verification, checkpoints, TVc -------------------------------------------------------
    validations = index.query_dicts(
        f"""SELECT command, passed, exit_code, duration_ms, tier, {ts_us("ts")} AS at_us, parent
            FROM validations WHERE run = ? ORDER BY ts, id""",
        (run_id,),
    )
    tiers: list[str] = []
    for v in validations:
        if v["tier"] and v["tier"] not in tiers:
            tiers.append(v["tier"])
    checkpoints = index.query_dicts(
        f'SELECT "commit", verified, {ts_us("ts")} AS at_us FROM checkpoints WHERE run = ? ORDER BY ts, id',
        (run_id,),
    )
    # TVc is the index's (laptime.definitions); the checkpoint it stops at is the first at that time.
    verified_checkpoint = next(
        (c["commit"] for c in checkpoints if tvc_us is not None and c["at_us"] == run_start + tvc_us), None
    )

    # -- changes, milestones, the rest ----------------------------------------------------------
    changes = index.query(
        """SELECT path, change, SUM(lines_added), SUM(lines_removed) FROM file_changes
           WHERE run = ? GROUP BY path ORDER BY path""",
        (run_id,),
    )
    change_kinds: dict[str, int] = defaultdict(int)
    for row in index.query(
        "SELECT change, COUNT(DISTINCT path) FROM file_changes WHERE run = ? GROUP BY change", (run_id,)
    ):
        change_kinds[row[0]] = row[1]
    milestone_rows = index.query("SELECT name, status FROM milestones WHERE run = ?", (run_id,))
    planned = {name for name, _ in milestone_rows}
    completed = {name for name, status in milestone_rows if status == "completed"}
    scope_violations = index.query("SELECT COUNT(*) FROM scope_violations WHERE run = ?", (run_id,))[0][0]
    errors = index.query("SELECT COUNT(*) FROM errors WHERE run = ?", (run_id,))[0][0]
    queue = index.query(
        "SELECT COUNT(*), MAX(ready), MAX(active), MAX(waiting), AVG(active) FROM queue_samples WHERE run = ?",
        (run_id,),
    )[0]

    cost = run_cost_detail(
        index, book if book is not None else PriceBook(), run_id, lambda parent: top_phase_of(parent) or NO_PHASE
    )
    for name, m in models.items():
        m["cost_usd"] = cost.by_model.get(name)
    data = {
        "run_id": run_id,
        "name": run.name,
        "runner": run.runner,
        "started_at": timestamp_from_us(run_start),
        "ended_at": timestamp_from_us(run.ended_us) if run.ended_us is not None else None,
        "total_duration_ms": d.ms(run.duration_us()),
        "outcome": run.outcome(now_us, crashed_after_us),
        "error": run.error,
        "tvc_ms": d.ms(tvc_us),
        "tvc_checkpoint": verified_checkpoint,
        "unattributed_ms": d.ms(unattributed_us),
        "downtime_ms": d.ms(downtime_us),
        "phases": {
            name: {k: v for k, v in entry.items() if k != "first_start_us"}
            for name, entry in sorted(phases.items(), key=lambda kv: kv[1]["first_start_us"])
        },
        "models": models,
        "workers": workers,
        "tokens": tokens,
        "cost_usd": cost.cost_usd,
        "cost_source": cost.cost_source,
        "cost": {
            "reported_usd": cost.reported_usd,
            "estimated_usd": cost.estimated_usd,
            "unpriced_calls": cost.unpriced_calls,
            "unpriced_models": cost.unpriced_models,
            "by_model": cost.by_model,
            "by_phase": cost.by_phase,
        },
        "llm_calls": len(llm_rows),
        "verification": {
            "commands_run": len(validations),
            "passed": sum(1 for v in validations if v["passed"]),
            "failed": sum(1 for v in validations if not v["passed"]),
            "retries": retries,
            "tiers_executed": tiers,
        },
        "changes": {
            "files_touched": len(changes),
            "lines_added": sum(r[2] or 0 for r in changes),
            "lines_removed": sum(r[3] or 0 for r in changes),
            "created": change_kinds.get("created", 0),
            "modified": change_kinds.get("modified", 0),
            "deleted": change_kinds.get("deleted", 0),
        },
        "milestones": {"planned": len(planned), "completed": len(completed)},
        "checkpoints": len(checkpoints),
        "scope_violations": scope_violations,
        "errors": errors,
        "queue": {
            "samples": queue[0],
            "max_ready": queue[1],
            "max_active": queue[2],
            "max_waiting": queue[3],
            "avg_active": queue[4],
        },
    }
    return msgspec.convert(data, RunKpi)


def run_detail(index: Index, run: RunRow, kpi: RunKpi, budget_rules: Sequence[BudgetRule] = ()) -> RunDetail:
    """What ``report show`` adds to the KPIs: every span, validation and file, and the
    ``[budgets]`` limits the run crossed (``budget_rules``: the config's)."""
    spans = load_spans(index, run.run_id)
    run_end = run.end_us()
    depth: dict[str, int] = {run.run_id: 0}
    children: dict[str | None, list[SpanRow]] = defaultdict(list)
    for span in spans:
        if span.span_id != run.run_id:
            children[span.parent_id].append(span)
    ordered: list[dict[str, Any]] = []

    def walk(parent: str, level: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: (s.start_us, s.span_id)):
            end = span.end_us if span.end_us is not None else run_end
            depth[span.span_id] = level
            ordered.append(
                {
                    "span_id": span.span_id,
                    "parent_id": span.parent_id,
                    "depth": level,
                    "kind": span.kind,
                    "name": span.name,
                    "started_at": timestamp_from_us(span.start_us),
                    "ended_at": timestamp_from_us(span.end_us) if span.end_us is not None else None,
                    "duration_ms": d.ms(d.span_duration_us(span.start_us, span.end_us, end)),
                    "outcome": span.outcome if span.end_us is not None else kpi.outcome,
                    "error": span.error,
                    "attrs": span.attrs,
                }
            )
            walk(span.span_id, level + 1)

    walk(run.run_id, 1)
    known = {s.span_id for s in spans}
    for span in spans:  # orphans whose parent never made it into the log
        if span.span_id != run.run_id and span.parent_id not in known and span.parent_id != run.run_id:
            walk(span.parent_id or "", 1)
    validations = index.query_dicts(
        "SELECT ts AS at, command, passed, exit_code, duration_ms, tier FROM validations WHERE run = ? ORDER BY ts, id",
        (run.run_id,),
    )
    for v in validations:
        v["passed"] = bool(v["passed"])
        v["duration_ms"] = None if v["duration_ms"] is None else d.round_ms(v["duration_ms"])
    files = index.query_dicts(
        """SELECT path, GROUP_CONCAT(DISTINCT change) AS change, SUM(lines_added) AS lines_added,
                  SUM(lines_removed) AS lines_removed
           FROM file_changes WHERE run = ? GROUP BY path ORDER BY path""",
        (run.run_id,),
    )
    checkpoints = index.query_dicts(
        'SELECT ts AS at, "commit", verified FROM checkpoints WHERE run = ? ORDER BY ts, id', (run.run_id,)
    )
    for c in checkpoints:
        c["verified"] = bool(c["verified"])
    from laptime.analysis.critical_path import critical_path
    from laptime.analysis.time_split import run_time_split

    split = run_time_split(index, run.run_id)
    data = {
        **msgspec.to_builtins(kpi),
        "time_split": msgspec.to_builtins(split),
        "critical_path": msgspec.to_builtins(critical_path(spans, run.run_id, run.start_us(), run_end, split)),
        "spans": ordered,
        "validations": validations,
        "files": files,
        "checkpoint_list": checkpoints,
    }
    detail = msgspec.convert(data, RunDetail)
    if budget_rules:
        from laptime.analysis.budgets import Figures, recorded_crossings, run_budget

        figures = Figures(kpi.cost_usd, kpi.total_duration_ms, kpi.tokens.total_tokens)
        detail.budget = run_budget(budget_rules, kpi.name, kpi.runner, figures, recorded_crossings(index, run.run_id))
    return detail


SHORT_ID_MIN = 12


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def short_ids(index: Index, run_ids: Iterable[str], *, min_length: int = SHORT_ID_MIN) -> dict[str, str]:
    """For each run id, its shortest prefix (at least ``min_length`` characters) that no other
    stored run's id starts with, so that ``resolve_run`` finds exactly this run by it.

    UUIDv7 ids begin with their millisecond, so two runs started in the same millisecond
    share their first 12 digits; only the neighbours in id order can share a longer prefix."""
    out: dict[str, str] = {}
    for run_id in run_ids:
        longest = 0
        for sql in (
            "SELECT run_id FROM runs WHERE run_id < ? ORDER BY run_id DESC LIMIT 1",
            "SELECT run_id FROM runs WHERE run_id > ? ORDER BY run_id LIMIT 1",
        ):
            for (other,) in index.query(sql, (run_id,)):
                longest = max(longest, _common_prefix(run_id, other))
        out[run_id] = run_id[: max(min_length, longest + 1)]
    return out


def run_summaries(
    index: Index, runs: list[RunRow], *, now_us: int, crashed_after_us: int, book: PriceBook | None = None
) -> list[RunListRow]:
    """The light per-run rows of ``report list``: no per-span work; cost by the cost engine."""
    from laptime.analysis.cost import RunCost, run_costs
    from laptime.pricing import PriceBook

    if not runs:
        return []
    costs = run_costs(index, book if book is not None else PriceBook(), [r.run_id for r in runs])
    no_calls = RunCost(0.0, 0, 0)
    ids = [r.run_id for r in runs]
    totals: dict[str, tuple[int, int]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for run_id, calls, toks in index.query(
            f"SELECT run_id, calls, tokens FROM run_facts WHERE run_id IN ({marks}) AND calls > 0",
            part,
        ):
            totals[run_id] = (calls, toks or 0)
    prefixes = short_ids(index, ids)
    out = []
    for r in runs:
        calls, toks = totals.get(r.run_id, (0, 0))
        cost = costs.get(r.run_id, no_calls)
        out.append(
            RunListRow(
                run_id=r.run_id,
                short_id=prefixes[r.run_id],
                name=r.name,
                runner=r.runner,
                started_at=timestamp_from_us(r.start_us()),
                ended_at=timestamp_from_us(r.ended_us) if r.ended_us is not None else None,
                total_duration_ms=d.ms(r.duration_us()),
                outcome=r.outcome(now_us, crashed_after_us),
                llm_calls=calls,
                total_tokens=toks,
                cost_usd=cost.cost_usd,
                cost_source=cost.source,  # type: ignore[arg-type]  # cost_source() returns one of CostSource
            )
        )
    return out
