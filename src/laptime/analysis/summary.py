"""``report summary``: aggregate KPIs over many runs, by DESIGN.md's definitions.

Everything is computed in SQL over the index's derived per-run tables (``runs``,
``run_llm``, ``run_phases``, ``run_facts``), so 100k runs take a few hundred ms.
Percentiles use SQLite's ``percentile()``: linear interpolation between closest ranks,
the same definition as ``laptime.analysis.stats.percentile``.

Definitions used here:

- A run's outcome is the recorded one; a run with no end is running, then crashed
  once silent for longer than ``crashed_after`` (as in ``analysis.kpi``).
- Run duration: end (or last sign of life) minus start, over runs with a start.
- Success rate: completed runs over runs that are no longer running.
- Per phase: over the runs that have the phase, each run's summed time in it; share is
  the phase's total over the total duration of the selected runs.
- Rework: runs with retries (``analysis.kpi``'s count) or with a span whose attrs say
  ``source_outcome = "changes_requested"``.
- Tasks are runs grouped by name; files rank by the number of runs that changed them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from laptime.analysis.cost import CostCalculator
from laptime.clock import timestamp_from_us
from laptime.events import OUTCOMES

if TYPE_CHECKING:
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


def outcome_sql(now_us: int, crashed_after_us: int, alias: str = "r") -> str:
    """SQL for a run's outcome, like ``RunRow.outcome`` (integers inlined on purpose)."""
    return (
        f"CASE WHEN {alias}.ended_us IS NOT NULL THEN COALESCE({alias}.outcome, 'completed') "
        f"WHEN {int(now_us)} - {alias}.last_us > {int(crashed_after_us)} THEN 'crashed' ELSE 'running' END"
    )


def _selection(index: Index, filters: SummaryFilters, now_us: int, crashed_after_us: int) -> str | None:
    """None for every run; else the SQL of the selected run ids (a temp table)."""
    if filters.is_empty():
        return None
    where: list[str] = []
    params: list[Any] = []
    if filters.since_us is not None:
        where.append("COALESCE(r.started_us, r.last_us) >= ?")
        params.append(filters.since_us)
    if filters.until_us is not None:
        where.append("COALESCE(r.started_us, r.last_us) < ?")
        params.append(filters.until_us)
    if filters.status is not None:
        where.append(f"({outcome_sql(now_us, crashed_after_us)}) = ?")
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
    db = index.db
    db.execute("CREATE TEMP TABLE IF NOT EXISTS summary_sel (run_id TEXT PRIMARY KEY)")
    db.execute("DELETE FROM temp.summary_sel")
    db.execute(f"INSERT INTO temp.summary_sel SELECT r.run_id FROM runs r WHERE {' AND '.join(where)}", params)
    return "SELECT run_id FROM temp.summary_sel"


def _stats(row: tuple[Any, ...]) -> dict[str, Any]:
    n, total, p50, p90, p95, low, high = row
    return {
        "n": n,
        "total": total if n else 0.0,
        "avg": total / n if n else None,
        "p50": p50,
        "p90": p90,
        "p95": p95,
        "min": low,
        "max": high,
    }


_STATS_SQL = "COUNT({x}), TOTAL({x}), percentile({x}, 50), percentile({x}, 90), percentile({x}, 95), MIN({x}), MAX({x})"


def compute_summary(
    index: Index,
    book: PriceBook,
    filters: SummaryFilters | None = None,
    *,
    now_us: int,
    crashed_after_us: int,
) -> dict[str, Any]:
    """The summary of the runs the filters select, as a JSON-ready dict."""
    filters = filters or SummaryFilters()
    sel = _selection(index, filters, now_us, crashed_after_us)

    def where(column: str, extra: str = "") -> str:
        parts = [f"{column} IN ({sel})"] if sel else []
        if extra:
            parts.append(extra)
        return ("WHERE " + " AND ".join(parts)) if parts else ""

    q = index.query
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in q(
        f"SELECT {outcome_sql(now_us, crashed_after_us)}, COUNT(*) FROM runs r {where('r.run_id')} GROUP BY 1"
    ):
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    runs = sum(outcomes.values())
    settled = runs - outcomes["running"]

    duration = "(COALESCE(r.ended_us, r.last_us) - r.started_us) / 1000.0"
    duration_row = q(
        f"SELECT {_STATS_SQL.format(x='d')} FROM (SELECT {duration} AS d FROM runs r "
        f"{where('r.run_id', 'r.started_us IS NOT NULL')})"
    )[0]
    durations = _stats(duration_row)
    tvc_n, tvc_p50, tvc_p90 = q(
        f"SELECT COUNT(t), percentile(t, 50), percentile(t, 90) FROM (SELECT tvc_us / 1000.0 AS t FROM run_facts f "
        f"{where('f.run_id', 'f.tvc_us IS NOT NULL')})"
    )[0]

    # -- tokens and cost --------------------------------------------------------------------
    costs = CostCalculator(index, book, runs_sql=sel)
    models = costs.by_model()
    total = costs.total()
    tok = {
        "input": sum(m.input for m in models),
        "output": sum(m.output for m in models),
        "cache_read": sum(m.cache_read for m in models),
        "cache_write": sum(m.cache_write for m in models),
    }
    tok_total = sum(tok.values())
    estimated = sum(m.estimated_tokens for m in models)
    p95_latency = {
        (model, provider): p95
        for model, provider, p95 in q(
            f"SELECT model, provider, percentile(latency_ms, 95) FROM llm_calls c "
            f"{where('c.run', 'c.latency_ms IS NOT NULL')} GROUP BY model, provider"
        )
    }

    # -- phases --------------------------------------------------------------------------------
    all_time_ms = durations["total"]
    phases = []
    for name, attempts, offset, *stats in q(
        f"""SELECT phase, SUM(attempts), AVG(start_offset_us), {_STATS_SQL.format(x="d")}
            FROM (SELECT phase, attempts, start_offset_us, duration_us / 1000.0 AS d FROM run_phases p
                  {where("p.run_id")})
            GROUP BY phase ORDER BY 3, phase"""
    ):
        del offset
        entry: dict[str, Any] = {"phase": name, "attempts": attempts, **_stats(tuple(stats))}
        entry["share"] = entry["total"] / all_time_ms if all_time_ms else None
        phases.append(entry)
    in_phases = sum(p["share"] or 0.0 for p in phases)

    # -- rework, tasks, files -------------------------------------------------------------
    with_retries, with_changes, rework = q(
        f"""SELECT COALESCE(SUM(retries > 0), 0), COALESCE(SUM(changes_requested), 0),
                   COALESCE(SUM(retries > 0 OR changes_requested), 0)
            FROM run_facts f {where("f.run_id")}"""
    )[0]
    tasks = costs.by_task(TOP_TASKS)
    files = q(
        f"""SELECT path, COUNT(DISTINCT run), COUNT(*), SUM(lines_added), SUM(lines_removed)
            FROM file_changes c {where("c.run")} GROUP BY path ORDER BY 2 DESC, 3 DESC, path LIMIT {TOP_FILES}"""
    )

    return {
        "filters": filters.to_json(),
        "runs": runs,
        "outcomes": outcomes,
        "success_rate": outcomes["completed"] / settled if settled else None,
        "duration_ms": durations,
        "tvc_ms": {"n": tvc_n, "p50": tvc_p50, "p90": tvc_p90},
        "tokens": {
            **tok,
            "total": tok_total,
            "estimated": estimated,
            "estimated_share": estimated / tok_total if tok_total else None,
        },
        "cost": {
            "total_usd": total.cost_usd,
            "avg_per_run_usd": total.cost_usd / runs if total.cost_usd is not None and runs else None,
            "reported_usd": total.reported_usd,
            "llm_calls": total.calls,
            "unpriced_calls": total.unpriced_calls,
            "unpriced_models": total.unpriced_models,
        },
        "phases": phases,
        "outside_phases_share": max(0.0, 1.0 - in_phases) if phases and all_time_ms else None,
        "models": [
            {
                "model": m.model,
                "provider": m.provider or None,
                "calls": m.calls,
                "tokens": {
                    "input": m.input,
                    "output": m.output,
                    "cache_read": m.cache_read,
                    "cache_write": m.cache_write,
                    "total": m.tokens,
                    "estimated": m.estimated_tokens,
                },
                "cost_usd": m.cost_usd,
                "price_sources": m.sources,
                "unpriced_calls": m.unpriced_calls,
                "latency_n": m.latency_n,
                "avg_latency_ms": m.avg_latency_ms,
                "p95_latency_ms": p95_latency.get((m.model, m.provider)),
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
    }
