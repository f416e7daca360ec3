"""``report summary``: aggregate KPIs over many runs, by DESIGN.md's definitions.

Everything is computed in SQL over the index's derived per-run tables (``runs``,
``run_llm``, ``run_phases``, ``run_facts``), so 100k runs take a few hundred ms.
Percentiles use SQLite's ``percentile()``: linear interpolation between closest ranks,
the same definition as ``laptime.analysis.stats.percentile``.

Definitions used here:

- Run duration, outcome, TVc, retries, tokens and the time window: ``laptime.definitions``.
- Success rate: completed runs over runs that are no longer running.
- Per phase: over the runs that have the phase, each run's summed time in it; share is
  the phase's total over the total duration of the selected runs.
- Rework: runs with retries (``analysis.kpi``'s count) or with a span whose attrs say
  ``source_outcome = "changes_requested"``.
- Tasks are runs grouped by name; files rank by the number of runs that changed them.
- Budgets: runs over their ``[budgets]`` limits, by ``laptime.analysis.budgets`` in SQL.
- Iterations: the average of the run attribute ``iterations`` (AIDF's importer writes
  it) over the selected runs that record it as a number; ``n`` counts those runs.

Returns ``analysis.report_results.Summary``: integer ms for totals, min, max and
latencies; avg and percentiles of integer-ms durations stay fractional.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from laptime import definitions as d
from laptime.analysis.cost import CostCalculator, ModelCost, cost_source
from laptime.analysis.report_results import Summary
from laptime.clock import timestamp_from_us
from laptime.derived import RANK_EDGES, RUN_DURATION_US
from laptime.events import OUTCOMES

if TYPE_CHECKING:
    from laptime.config import BudgetRule
    from laptime.index import Index
    from laptime.pricing import PriceBook

TOP_TASKS = 5
TOP_FILES = 10


@dataclass(frozen=True)
class SummaryFilters:
    since_us: int | None = None  # runs started at or after
    until_us: int | None = None  # runs started before
    status: str | None = None  # one of events.OUTCOMES
    task: str | None = None  # a substring of the run's name, or a glob (* ? [...])
    runner: str | None = None  # the runner, exactly
    model: str | None = None  # runs that called a model containing this (case-insensitive)

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def to_json(self) -> dict[str, Any]:
        return {
            "since": timestamp_from_us(self.since_us) if self.since_us is not None else None,
            "until": timestamp_from_us(self.until_us) if self.until_us is not None else None,
            "status": self.status,
            "task": self.task,
            "runner": self.runner,
            "model": self.model,
        }


def filter_sql(
    filters: SummaryFilters, now_us: int, crashed_after_us: int, *, window: bool = True
) -> tuple[list[str], list[Any]]:
    """SQL conditions over ``runs r`` (to AND together) and their parameters for the filters;
    without the time window when ``window`` is false (``analysis.regression``'s baselines)."""
    where: list[str] = []
    params: list[Any] = []
    if window:
        window_where, window_params = d.window_sql(filters.since_us, filters.until_us, "r")
        where += window_where
        params += window_params
    if filters.status is not None:
        where.append(f"({d.outcome_sql(now_us, crashed_after_us)}) = ?")
        params.append(filters.status)
    if filters.task is not None:
        if any(c in filters.task for c in "*?["):
            where.append("r.name GLOB ?")
        else:
            where.append("instr(lower(r.name), lower(?)) > 0")
        params.append(filters.task)
    if filters.runner is not None:
        where.append("r.runner = ?")
        params.append(filters.runner)
    if filters.model is not None:
        where.append("r.run_id IN (SELECT run_id FROM run_llm WHERE instr(lower(model), lower(?)) > 0)")
        params.append(filters.model)
    return where, params


def _selection(index: Index, filters: SummaryFilters, now_us: int, crashed_after_us: int) -> str | None:
    """None for every run; else the SQL of the selected run ids (a temp table)."""
    if filters.is_empty():
        return None
    where, params = filter_sql(filters, now_us, crashed_after_us)
    index.execute("CREATE TEMP TABLE IF NOT EXISTS summary_sel (run_id TEXT PRIMARY KEY)")
    index.execute("DELETE FROM temp.summary_sel")
    index.execute(f"INSERT INTO temp.summary_sel SELECT r.run_id FROM runs r WHERE {' AND '.join(where)}", params)
    return "SELECT run_id FROM temp.summary_sel"


def _stats(row: tuple[Any, ...]) -> dict[str, Any]:
    n, total, p50, p90, p95, low, high = row
    return {
        "n": n,
        "total": int(total) if n else 0,  # a sum of integer ms
        "avg": total / n if n else None,
        "p50": p50,
        "p90": p90,
        "p95": p95,
        "min": low,
        "max": high,
    }


_STATS_SQL = "COUNT({x}), TOTAL({x}), percentile({x}, 50), percentile({x}, 90), percentile({x}, 95), MIN({x}), MAX({x})"


@dataclass
class _Parts:
    """What both ways of computing a summary hand to the JSON assembly."""

    outcomes: dict[str, int]
    durations: dict[str, Any]
    tvc: tuple[int, float | None, float | None]
    phases: list[tuple[str, int, dict[str, Any]]]  # (phase, attempts, _stats), by average start, then name
    rework: tuple[int, int, int]  # runs with retries, with changes requested, with either
    files: list[tuple[Any, ...]]  # path, runs, changes, lines added, lines removed
    p95_latency: Callable[[ModelCost], float | None]
    iterations: tuple[int, float | None]  # runs that record their iterations, and the average


def compute_summary(
    index: Index,
    book: PriceBook,
    filters: SummaryFilters | None = None,
    *,
    now_us: int,
    crashed_after_us: int,
    budget_rules: Sequence[BudgetRule] = (),
    by_branch: bool = False,
) -> Summary:
    """The summary of the runs the filters select; ``budget_rules``: the config's ``[budgets]``;
    ``by_branch``: with ``branches`` (laptime.analysis.branches)."""
    filters = filters or SummaryFilters()
    sel = _selection(index, filters, now_us, crashed_after_us)
    costs = CostCalculator(index, book, runs_sql=sel)
    if sel is None:
        parts = _store_wide(index, now_us=now_us, crashed_after_us=crashed_after_us)
    else:
        parts = _selected(index, sel, now_us=now_us, crashed_after_us=crashed_after_us)
    outcomes = parts.outcomes
    runs = sum(outcomes.values())
    settled = runs - outcomes["running"]
    durations = parts.durations
    tvc_n, tvc_p50, tvc_p90 = parts.tvc

    # -- tokens and cost --------------------------------------------------------------------
    models = costs.by_model()
    total = costs.total()
    tok = {
        "input_tokens": sum(m.input for m in models),
        "output_tokens": sum(m.output for m in models),
        "cache_read_tokens": sum(m.cache_read for m in models),
        "cache_write_tokens": sum(m.cache_write for m in models),
    }
    tok_total = sum(tok.values())
    estimated = sum(m.estimated_tokens for m in models)

    # -- phases --------------------------------------------------------------------------------
    all_time_ms = durations["total"]
    phases = []
    for name, attempts, stats in parts.phases:
        entry: dict[str, Any] = {"phase": name, "attempts": attempts, **stats}
        entry["share"] = entry["total"] / all_time_ms if all_time_ms else None
        phases.append(entry)
    in_phases = sum(p["share"] or 0.0 for p in phases)

    # -- rework, tasks, files -------------------------------------------------------------
    with_retries, with_changes, rework = parts.rework
    tasks = costs.by_task(TOP_TASKS)
    files = parts.files

    iterations_n, iterations_avg = parts.iterations
    from laptime.analysis.time_split import runs_time_split

    time_split = runs_time_split(index, sel)

    data = {
        "filters": filters.to_json(),
        "runs": runs,
        "outcomes": outcomes,
        "success_rate": outcomes["completed"] / settled if settled else None,
        "duration_ms": durations,
        "tvc_ms": {"n": tvc_n, "p50": tvc_p50, "p90": tvc_p90},
        "iterations": {"n": iterations_n, "avg": iterations_avg},
        "tokens": {
            **tok,
            "total_tokens": tok_total,
            "estimated_tokens": estimated,
            "estimated_share": estimated / tok_total if tok_total else None,
        },
        "cost": {
            "cost_usd": total.cost_usd,
            "cost_source": cost_source(total.calls, sum(m.reported_calls for m in models), total.unpriced_calls),
            "avg_per_run_usd": total.cost_usd / runs if total.cost_usd is not None and runs else None,
            "reported_usd": total.reported_usd,
            "llm_calls": total.calls,
            "unpriced_calls": total.unpriced_calls,
            "unpriced_models": total.unpriced_models,
        },
        "phases": phases,
        "outside_phases_share": max(0.0, 1.0 - in_phases) if phases and all_time_ms else None,
        "time_split": msgspec.to_builtins(time_split),
        "models": [
            {
                "model": m.model,
                "provider": m.provider or None,
                "calls": m.calls,
                "tokens": {
                    "input_tokens": m.input,
                    "output_tokens": m.output,
                    "cache_read_tokens": m.cache_read,
                    "cache_write_tokens": m.cache_write,
                    "total_tokens": m.tokens,
                    "estimated_tokens": m.estimated_tokens,
                },
                "cost_usd": m.cost_usd,
                "cost_source": cost_source(m.calls, m.reported_calls, m.unpriced_calls),
                "price_sources": m.sources,
                "unpriced_calls": m.unpriced_calls,
                "latency_n": m.latency_n,
                # latencies are the sources' fractional ms: shown as integer ms, half up
                "avg_latency_ms": _round_ms(m.avg_latency_ms),
                "p95_latency_ms": _round_ms(parts.p95_latency(m)),
            }
            for m in models
        ],
        "rework": {
            "runs_with_retries": with_retries,
            "runs_with_changes_requested": with_changes,
            "rework_runs": rework,
            "rate": rework / runs if runs else None,
        },
        "top_tasks": [
            {"task": t.task, "runs": t.runs, "cost_usd": t.cost_usd, "unpriced_calls": t.unpriced_calls} for t in tasks
        ],
        "top_files": [
            {"path": path, "runs": n_runs, "changes": n, "lines_added": added or 0, "lines_removed": removed or 0}
            for path, n_runs, n, added, removed in files
        ],
        "budgets": _budgets(index, book, budget_rules, sel, runs),
    }
    if by_branch:
        from laptime.analysis.branches import branch_rows

        data["branches"] = branch_rows(index, book, sel, now_us=now_us, crashed_after_us=crashed_after_us)
    return msgspec.convert(data, Summary)


def _budgets(index: Index, book: PriceBook, rules: Sequence[BudgetRule], sel: str | None, runs: int) -> Any:
    """Runs over their [budgets] limits, in SQL (analysis.budgets); None without budgets."""
    if not rules:
        return None
    from laptime.analysis.budgets import count_over_budget

    counts = count_over_budget(index, book, rules, sel)
    if counts is None:
        return None
    return {
        "runs_with_budget": counts.runs_with_budget,
        "runs_over_budget": counts.runs_over_budget,
        "share": counts.runs_over_budget / runs if runs else None,
        "by_limit": counts.by_limit,
    }


def _round_ms(value: float | None) -> int | None:
    return None if value is None else d.round_ms(value)


# Runs whose run span records a number of iterations (AIDF's importer writes attrs.iterations).
# One pass over runs.attrs, also store-wide: about 10 ms per 100k runs here (json_type alone
# measured faster than an instr() pre-filter); a run whose attribute is not a number is left out.
_ITERATIONS_SQL = """SELECT COUNT(it), AVG(it) FROM (
    SELECT r.attrs ->> '$.iterations' AS it FROM runs r
    WHERE json_type(r.attrs, '$.iterations') IN ('integer', 'real') {extra})"""


def _iterations(index: Index, sel: str | None) -> tuple[int, float | None]:
    extra = f"AND r.run_id IN ({sel})" if sel is not None else ""
    n, avg = index.query(_ITERATIONS_SQL.format(extra=extra))[0]
    return int(n), (float(avg) if avg is not None else None)


# -- over the selected runs: SQL over the per-run tables ------------------------------------------


def _selected(index: Index, sel: str, *, now_us: int, crashed_after_us: int) -> _Parts:
    def where(column: str, extra: str = "") -> str:
        parts = [f"{column} IN ({sel})"]
        if extra:
            parts.append(extra)
        return "WHERE " + " AND ".join(parts)

    q = index.query
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in q(
        f"SELECT {d.outcome_sql(now_us, crashed_after_us)}, COUNT(*) FROM runs r {where('r.run_id')} GROUP BY 1"
    ):
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    # every statistic is over the runs' durations as each run shows them (integer ms)
    duration = d.ms_sql(d.run_duration_sql("r"))
    durations = _stats(
        q(f"SELECT {_STATS_SQL.format(x='d')} FROM (SELECT {duration} AS d FROM runs r {where('r.run_id')})")[0]
    )
    tvc_n, tvc_p50, tvc_p90 = q(
        f"SELECT COUNT(t), percentile(t, 50), percentile(t, 90) "
        f"FROM (SELECT {d.ms_sql('tvc_us')} AS t FROM run_facts f "
        f"{where('f.run_id', 'f.tvc_us IS NOT NULL')})"
    )[0]
    p95_latency = {
        (model, provider): p95
        for model, provider, p95 in q(
            f"SELECT model, provider, percentile(latency_ms, 95) FROM llm_calls c "
            f"{where('c.run', 'c.latency_ms IS NOT NULL')} GROUP BY model, provider"
        )
    }
    phases = [
        (name, attempts, _stats(tuple(stats)))
        for name, attempts, _offset, *stats in q(
            f"""SELECT phase, SUM(attempts), AVG(start_offset_us), {_STATS_SQL.format(x="d")}
                FROM (SELECT phase, attempts, start_offset_us, {d.ms_sql("duration_us")} AS d FROM run_phases p
                      {where("p.run_id")})
                GROUP BY phase ORDER BY 3, phase"""
        )
    ]
    with_retries, with_changes, rework = q(
        f"""SELECT COALESCE(SUM(retries > 0), 0), COALESCE(SUM(changes_requested), 0),
                   COALESCE(SUM(retries > 0 OR changes_requested), 0)
            FROM run_facts f {where("f.run_id")}"""
    )[0]
    files = q(
        f"""SELECT path, COUNT(DISTINCT run), COUNT(*), SUM(lines_added), SUM(lines_removed)
            FROM file_changes c {where("c.run")} GROUP BY path ORDER BY 2 DESC, 3 DESC, path LIMIT {TOP_FILES}"""
    )
    return _Parts(
        outcomes=outcomes,
        durations=durations,
        tvc=(tvc_n, tvc_p50, tvc_p90),
        phases=phases,
        rework=(with_retries, with_changes, rework),
        files=files,
        p95_latency=lambda m: p95_latency.get((m.model, m.provider)),
        iterations=_iterations(index, sel),
    )


# -- over every run: the index's store-wide aggregates ------------------------------------------
#
# The same figures as _selected, read from agg_runs, agg_phases, agg_files (and agg_llm via
# CostCalculator) instead of scanning 100k runs; sums are exact integers (in microseconds),
# and percentiles read the two values around each rank from an ordered index, finding the
# rank's place through rank_buckets, then interpolate as SQLite's percentile() does.


def sqlite_percentile(n: int, q: float, value_at: Callable[[int], float]) -> float | None:
    """SQLite's percentile(Y, q) over n sorted values, reading only the values it needs.

    The arithmetic is SQLite's own, step by step, so the result is the same double; it is
    the definition of laptime.analysis.stats.percentile (linear interpolation between the
    closest ranks)."""
    if n == 0:
        return None
    ix = (q / 100.0) * (n - 1)  # checked against SQLite 3.54 (tests/test_summary.py)
    i1 = int(ix)
    i2 = i1 if ix == i1 or i1 == n - 1 else i1 + 1
    v1 = value_at(i1)
    v2 = value_at(i2) if i2 != i1 else v1
    return v1 + (v2 - v1) * (ix - i1)


class _Ranked:
    """The values of one rank_buckets metric, read by rank from an ordered index.

    ``source`` is the FROM and WHERE of the rows (no ORDER BY), ``value`` their value in
    microseconds, sorted by an index."""

    def __init__(
        self, index: Index, metric: str, key: str = "", *, value: str, source: str, params: Sequence[Any] = ()
    ) -> None:
        self.index = index
        self.value = value
        self.source = source
        self.params = list(params)
        self.buckets = index.query(
            "SELECT bucket, n FROM rank_buckets WHERE metric = ? AND key = ? ORDER BY bucket", (metric, key)
        )
        self.n = sum(n for _, n in self.buckets)
        self._cache: dict[int, float] = {}

    def __call__(self, rank: int) -> float:
        """The value at ``rank`` (0-based, ascending), in ms."""
        if rank in self._cache:
            return self._cache[rank]
        before = 0
        lower = ""
        for bucket, n in self.buckets:
            if rank < before + n:
                lower = f" AND {self.value} >= {RANK_EDGES[bucket - 1]}" if bucket > 0 else ""
                break
            before += n
        rows = self.index.query(
            f"SELECT {self.value} FROM {self.source}{lower} ORDER BY {self.value} LIMIT 2 OFFSET {rank - before}",
            self.params,
        )
        for i, (value,) in enumerate(rows):  # the next rank comes along for free
            self._cache[rank + i] = float(d.ms(value))
        return self._cache[rank]

    def stats(self, total_ms: int) -> dict[str, Any]:
        """Like _stats over the values in integer ms; ``total_ms`` is their exact sum."""
        n = self.n
        if not n:
            return _stats((0, 0.0, None, None, None, None, None))
        low = self.index.query(f"SELECT {self.value} FROM {self.source} ORDER BY {self.value} LIMIT 1", self.params)
        high = self.index.query(
            f"SELECT {self.value} FROM {self.source} ORDER BY {self.value} DESC LIMIT 1", self.params
        )
        return _stats(
            (
                n,
                total_ms,
                sqlite_percentile(n, 50, self),
                sqlite_percentile(n, 90, self),
                sqlite_percentile(n, 95, self),
                d.ms(low[0][0]),
                d.ms(high[0][0]),
            )
        )


def _store_wide(index: Index, *, now_us: int, crashed_after_us: int) -> _Parts:
    q = index.query
    counts: dict[str, int] = {}
    duration_ms = tvc_n = with_retries = with_changes = rework = 0
    for ended, outcome, n, d_ms, n_tvc, retried, changed, either in q(
        "SELECT ended, outcome, runs, duration_ms, tvc_n, with_retries, with_changes, rework FROM agg_runs"
    ):
        if ended:
            counts[outcome] = counts.get(outcome, 0) + n
        duration_ms += d_ms
        tvc_n += n_tvc
        with_retries += retried
        with_changes += changed
        rework += either
    # Runs with no end are running or crashed depending on now: few, through runs_open.
    open_runs, crashed = q(
        "SELECT COUNT(*), COALESCE(SUM(? - last_us > ?), 0) FROM runs WHERE ended_us IS NULL",
        (now_us, crashed_after_us),
    )[0]
    if open_runs:
        counts["crashed"] = counts.get("crashed", 0) + crashed
        counts["running"] = counts.get("running", 0) + open_runs - crashed
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for outcome in sorted(counts):  # as GROUP BY orders them
        outcomes[outcome] = outcomes.get(outcome, 0) + counts[outcome]

    run_duration = _Ranked(index, "duration", value=RUN_DURATION_US, source="runs WHERE true")
    durations = run_duration.stats(duration_ms)
    tvc = _Ranked(index, "tvc", value="tvc_us", source="run_facts WHERE tvc_us IS NOT NULL")
    tvc_stats = (tvc_n, sqlite_percentile(tvc.n, 50, tvc), sqlite_percentile(tvc.n, 90, tvc))

    phase_rows = q("SELECT phase, runs, attempts, duration_ms, start_offset_us FROM agg_phases")
    # AVG(start_offset_us) in SQLite: the exact integer sum, as a double, over the count.
    phase_rows.sort(key=lambda row: (float(row[4]) / float(row[1]), row[0]))
    phases = [
        (
            phase,
            attempts,
            _Ranked(
                index, "phase", phase, value="duration_us", source="run_phases WHERE phase = ?", params=(phase,)
            ).stats(total),
        )
        for phase, _n, attempts, total, _offsets in phase_rows
    ]
    files = q(
        f"""SELECT path, runs, changes, lines_added, lines_removed FROM agg_files
            ORDER BY runs DESC, changes DESC, path LIMIT {TOP_FILES}"""
    )

    def p95_latency(m: ModelCost) -> float | None:
        """p95 of the model's latencies: agg_llm counts them, llm_calls_latency orders them."""
        n = m.latency_n
        source = "FROM llm_calls WHERE model = ? AND provider = ? AND latency_ms IS NOT NULL ORDER BY latency_ms DESC"

        def value_at(rank: int) -> float:  # from the top: p95 is near the end
            rows = q(f"SELECT latency_ms {source} LIMIT 1 OFFSET {n - 1 - rank}", (m.model, m.provider))
            return float(rows[0][0])

        return sqlite_percentile(n, 95, value_at)

    return _Parts(
        outcomes=outcomes,
        durations=durations,
        tvc=tvc_stats,
        phases=phases,
        rework=(with_retries, with_changes, rework),
        files=files,
        p95_latency=p95_latency,
        iterations=_iterations(index, None),
    )


# The summary's run selection, for the views that take the same filters (``laptime metrics``).
run_selection = _selection
