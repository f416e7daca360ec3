"""Pipeline metrics in Choragen's sense (seed 004), computed from the index.

Choragen's ``metrics:summary`` reports task cycle time (started to completed: avg,
p50, p90), rework rate, first-time-right rate, tasks per chain, tokens (by model),
chains and requests. Here the same numbers come from any task spans in the index, so
they work for every source that records tasks, not only for Choragen imports:

- a **task** is a (run, task span name) pair; each of its task spans is one attempt.
  Its cycle time is its latest attempt's start to that attempt's completion, as in
  Choragen (the latest ``task:started`` to the latest ``task:completed``). A task
  whose latest attempt has not completed is not completed.
- **percentiles** follow DESIGN.md (linear interpolation between closest ranks), not
  Choragen's nearest rank (``sorted[ceil(p/100*n)-1]``); both are reported.
- a **rework** is a ``choragen.task:rework`` metric event; rework rate is the share
  of completed tasks that had one, first-time-right its complement.
- **chains** are the selected runs except Choragen request runs; **requests** are
  runs with ``choragen.entity == "request"``.

docs/importers-choragen-otlp.md lists where and why this differs from Choragen's own
arithmetic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from laptime.analysis.stats import percentile
from laptime.index import Index

REWORK_METRIC = "choragen.task:rework"
_ENTITY = "attrs ->> '$.\"choragen.entity\"'"


def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    """Choragen's percentile, ``sorted[max(0, ceil(q/100*n) - 1)]``: for comparison only."""
    if not sorted_values:
        return None
    return float(sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)])


def _one(index: Index, sql: str) -> tuple[int, int]:
    row = index.db.execute(sql).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _select_runs(index: Index, runner: str | None, since_us: int | None, until_us: int | None) -> None:
    clauses: list[str] = []
    params: list[Any] = []
    if runner is not None:
        clauses.append("runner = ?")
        params.append(runner)
    if since_us is not None:
        clauses.append("started_us >= ?")
        params.append(since_us)
    if until_us is not None:
        clauses.append("started_us < ?")
        params.append(until_us)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    index.db.execute("CREATE TEMP TABLE IF NOT EXISTS pipeline_runs (run_id TEXT PRIMARY KEY, is_request INTEGER)")
    index.db.execute("DELETE FROM temp.pipeline_runs")
    index.db.execute(
        f"INSERT INTO temp.pipeline_runs SELECT run_id, COALESCE({_ENTITY} = 'request', 0) FROM runs {where}",
        params,
    )


def pipeline_metrics(
    index: Index,
    *,
    runner: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> dict[str, Any]:
    """Choragen-style pipeline metrics over the runs that match (all runs by default)."""
    _select_runs(index, runner, since_us, until_us)
    chain_runs = "SELECT run_id FROM temp.pipeline_runs WHERE NOT is_request"

    # tasks: (run, name) -> attempts in start order
    attempts: dict[tuple[str, str], list[tuple[int, int | None, str, bool, str | None]]] = defaultdict(list)
    for run_id, name, start_us, end_us, outcome, no_start, model in index.db.execute(
        f"""SELECT run_id, name, start_us, end_us, outcome,
                   COALESCE(attrs ->> '$."choragen.no_start"', 0),
                   COALESCE(end_attrs ->> '$."choragen.model"', attrs ->> '$."choragen.model"')
            FROM spans WHERE kind = 'task' AND run_id IN ({chain_runs})
            ORDER BY run_id, name, start_us, span_id"""
    ):
        attempts[(run_id, name)].append((start_us, end_us, outcome, bool(no_start), model))

    cycle_ms: list[float] = []
    completed: set[tuple[str, str]] = set()
    models: dict[str, int] = defaultdict(int)
    for key, spans in attempts.items():
        start_us, end_us, outcome, no_start, model = spans[-1]
        if outcome != "completed" or end_us is None:
            continue
        completed.add(key)
        if model:
            models[model] += 1
        if not no_start:
            cycle_ms.append((end_us - start_us) / 1000)
    cycle_ms.sort()

    n_starts = sum(1 for spans in attempts.values() for span in spans if not span[3])
    reworks: dict[tuple[str, str], int] = defaultdict(int)
    for run_id, task in index.db.execute(
        f"SELECT run, attrs ->> '$.task' FROM metrics WHERE name = ? AND run IN ({chain_runs})", (REWORK_METRIC,)
    ):
        reworks[(run_id, task or "")] += 1
    reworked_completed = sum(1 for key in reworks if key in completed)
    n_completed = len(completed)

    chains_total, chains_done = _one(
        index,
        f"""SELECT COUNT(*), COALESCE(SUM(r.ended_us IS NOT NULL AND COALESCE(r.outcome, 'completed') = 'completed'), 0)
            FROM runs r WHERE r.run_id IN ({chain_runs})""",
    )
    requests_total, requests_closed = _one(
        index,
        """SELECT COUNT(*), COALESCE(SUM(r.ended_us IS NOT NULL AND COALESCE(r.outcome, 'completed') = 'completed'), 0)
           FROM runs r WHERE r.run_id IN (SELECT run_id FROM temp.pipeline_runs WHERE is_request)""",
    )

    by_model = [
        {
            "model": model,
            "calls": calls,
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
        }
        for model, calls, inp, out, cache_read, cache_write in index.db.execute(
            """SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens),
                      SUM(cache_write_tokens)
               FROM llm_calls WHERE run IN (SELECT run_id FROM temp.pipeline_runs)
               GROUP BY model ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC, model"""
        )
    ]
    total_in = sum(int(m["input_tokens"]) for m in by_model)
    total_out = sum(int(m["output_tokens"]) for m in by_model)

    return {
        "tasks": {
            "total": len(attempts),
            "completed": n_completed,
            "attempts": sum(len(s) for s in attempts.values()),
            "cycle_time_ms": {
                "n": len(cycle_ms),
                "avg": sum(cycle_ms) / len(cycle_ms) if cycle_ms else None,
                "p50": percentile(cycle_ms, 50),
                "p90": percentile(cycle_ms, 90),
                "nearest_rank_p50": nearest_rank(cycle_ms, 50),
                "nearest_rank_p90": nearest_rank(cycle_ms, 90),
            },
        },
        "quality": {
            "total_reworks": sum(reworks.values()),
            "tasks_with_rework": len(reworks),
            "completed_with_rework": reworked_completed,
            "rework_rate": reworked_completed / n_completed if n_completed else None,
            "first_time_right_rate": (n_completed - reworked_completed) / n_completed if n_completed else None,
            "avg_rework_iterations": sum(reworks.values()) / len(reworks) if reworks else None,
        },
        "chains": {
            "total": chains_total,
            "completed": chains_done,
            "avg_tasks_per_chain": len(attempts) / chains_total if chains_total else None,
            # Choragen's own figure counts every task start, so a restarted task counts twice
            "avg_task_starts_per_chain": n_starts / chains_total if chains_total else None,
        },
        "requests": {"total": requests_total, "closed": requests_closed},
        "tokens": {
            "total_input": total_in,
            "total_output": total_out,
            "avg_per_completed_task": (total_in + total_out) / n_completed if n_completed else None,
            "by_model": by_model,
        },
        "models": [
            {"model": model, "tasks_completed": count}
            for model, count in sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
