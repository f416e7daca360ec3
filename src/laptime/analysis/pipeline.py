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
- **the time window** (``since_us``/``until_us``) filters *events by their own
  timestamp*, as Choragen's aggregator filters its event log before it replays it, so
  the figures agree with Choragen's ``metrics:summary`` over the same period. It does
  not select chains by their start. Within the window a task's start counts only if
  its ``task:started`` lies in it, and its completion only if its ``task:completed``
  does: a task started before the window and completed inside it is completed with no
  cycle time; one started inside and completed after it is not completed. A chain or
  request counts when any of its events lies in the window.
- **a chain filter** (``chain``) keeps the runs of that Choragen ``chainId``, and the
  requests that chain links to (its ``requestId``).

docs/importers.md ("Pipeline metrics") lists where and why this differs from
Choragen's own arithmetic.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from laptime import definitions as d
from laptime.analysis.report_results import PipelineReport
from laptime.analysis.stats import percentile
from laptime.clock import timestamp_from_us
from laptime.definitions import ts_us_sql as ts_us
from laptime.index import Index

REWORK_METRIC = "choragen.task:rework"
_ENTITY = "attrs ->> '$.\"choragen.entity\"'"
_CHAIN_ID = "attrs ->> '$.\"choragen.chain_id\"'"
_REQUEST_ID = "attrs ->> '$.\"choragen.request_id\"'"


class UnknownChainError(LookupError):
    """No run in the index belongs to the Choragen chain asked for."""

    def __init__(self, chain: str) -> None:
        super().__init__(chain)
        self.chain = chain


@dataclass(frozen=True, slots=True)
class Window:
    """Event time from ``since_us`` (inclusive) to ``until_us`` (exclusive); None is open."""

    since_us: int | None = None
    until_us: int | None = None

    @property
    def is_open(self) -> bool:
        return self.since_us is None and self.until_us is None

    def __contains__(self, us: object) -> bool:
        if not isinstance(us, int):
            return False
        return (self.since_us is None or us >= self.since_us) and (self.until_us is None or us < self.until_us)

    def sql(self, column: str, params: list[Any]) -> str:
        """An SQL condition on the integer microseconds ``column`` ("1" when open)."""
        clauses = []
        if self.since_us is not None:
            clauses.append(f"{column} >= ?")
            params.append(self.since_us)
        if self.until_us is not None:
            clauses.append(f"{column} < ?")
            params.append(self.until_us)
        return " AND ".join(clauses) or "1"


@dataclass(frozen=True, slots=True)
class _Attempt:
    start_us: int
    end_us: int | None
    outcome: str
    no_start: bool
    model: str | None

    @property
    def completed(self) -> bool:
        return self.outcome == "completed" and self.end_us is not None


def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    """Choragen's percentile, ``sorted[max(0, ceil(q/100*n) - 1)]``: for comparison only."""
    if not sorted_values:
        return None
    return float(sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)])


def _one(index: Index, sql: str, params: Sequence[Any] = ()) -> tuple[int, int]:
    row = index.execute(sql, params).fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def _select_runs(index: Index, runner: str | None, chain: str | None) -> None:
    """``temp.pipeline_runs``: the runs of ``runner`` (and of ``chain`` with the
    requests it links to). Time is not a run filter: the window applies to events."""
    clauses: list[str] = []
    params: list[Any] = []
    if runner is not None:
        clauses.append("runner = ?")
        params.append(runner)
    where = " AND ".join(clauses) or "1"
    index.execute("CREATE TEMP TABLE IF NOT EXISTS pipeline_runs (run_id TEXT PRIMARY KEY, is_request INTEGER)")
    index.execute("DELETE FROM temp.pipeline_runs")
    if chain is None:
        index.execute(
            f"INSERT INTO temp.pipeline_runs SELECT run_id, COALESCE({_ENTITY} = 'request', 0) FROM runs WHERE {where}",
            params,
        )
        return
    index.execute(
        f"""INSERT INTO temp.pipeline_runs SELECT run_id, 0 FROM runs
            WHERE {where} AND COALESCE({_ENTITY}, '') <> 'request' AND {_CHAIN_ID} = ?""",
        [*params, chain],
    )
    if index.execute("SELECT 1 FROM temp.pipeline_runs LIMIT 1").fetchone() is None:
        raise UnknownChainError(chain)
    index.execute(
        f"""INSERT OR IGNORE INTO temp.pipeline_runs SELECT run_id, 1 FROM runs
            WHERE {where} AND {_ENTITY} = 'request' AND {_REQUEST_ID} IN (
                SELECT {_REQUEST_ID} FROM runs WHERE run_id IN (SELECT run_id FROM temp.pipeline_runs))""",
        params,
    )


def _task_in_window(spans: list[_Attempt], window: Window) -> tuple[bool, _Attempt | None, bool]:
    """(has an event in the window, the completed attempt if the task is completed
    there, whether that attempt's start is in the window too).

    The rule is the unfiltered one (the latest attempt decides) applied to the events
    inside the window only: the latest ``task:started`` in it and the latest
    ``task:completed`` in it. A completion counts unless a later start in the window
    reopened the task; its cycle time needs its own start inside the window."""
    starts = [a for a in spans if not a.no_start and a.start_us in window]
    completions = [a for a in spans if a.completed and a.end_us in window]
    seen = bool(starts or completions) or any(a.start_us in window or a.end_us in window for a in spans)
    if not completions:
        return seen, None, False
    done = max(completions, key=lambda a: (a.end_us or 0, a.start_us))
    latest_start = max(starts, key=lambda a: a.start_us) if starts else None
    if latest_start is not None and latest_start.start_us > done.start_us:
        return seen, None, False  # restarted after its completion: open again
    return seen, done, latest_start is done


def pipeline_metrics(
    index: Index,
    *,
    runner: str | None = None,
    chain: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> PipelineReport:
    """Choragen-style pipeline metrics over the runs that match (all runs by default),
    counting the events whose timestamps lie in ``[since_us, until_us)``.

    Raises UnknownChainError when ``chain`` names no chain in the index."""
    window = Window(since_us, until_us)
    _select_runs(index, runner, chain)
    chain_runs = "SELECT run_id FROM temp.pipeline_runs WHERE NOT is_request"

    # tasks: (run, name) -> attempts in start order
    attempts: dict[tuple[str, str], list[_Attempt]] = defaultdict(list)
    for run_id, name, start_us, end_us, outcome, no_start, model in index.execute(
        f"""SELECT run_id, name, start_us, end_us, outcome,
                   COALESCE(attrs ->> '$."choragen.no_start"', 0),
                   COALESCE(end_attrs ->> '$."choragen.model"', attrs ->> '$."choragen.model"')
            FROM spans WHERE kind = 'task' AND run_id IN ({chain_runs})
            ORDER BY run_id, name, start_us, span_id"""
    ):
        attempts[(run_id, name)].append(_Attempt(start_us, end_us, outcome, bool(no_start), model))

    cycle_ms: list[int] = []  # each task's in integer ms, as every duration is shown
    tasks_seen: set[tuple[str, str]] = set()
    completed: set[tuple[str, str]] = set()
    models: dict[str, int] = defaultdict(int)
    n_attempts = n_starts = 0
    for key, spans in attempts.items():
        n_attempts += sum(1 for a in spans if a.start_us in window)
        n_starts += sum(1 for a in spans if not a.no_start and a.start_us in window)
        seen, done, with_start = _task_in_window(spans, window)
        if seen:
            tasks_seen.add(key)
        if done is None:
            continue
        completed.add(key)
        if done.model:
            models[done.model] += 1
        if with_start and done.end_us is not None:
            cycle_ms.append(d.ms(done.end_us - done.start_us))
    cycle_ms.sort()

    params: list[Any] = [REWORK_METRIC]
    in_window = window.sql(ts_us("ts"), params)
    reworks: dict[tuple[str, str], int] = defaultdict(int)
    for run_id, task in index.execute(
        f"SELECT run, attrs ->> '$.task' FROM metrics WHERE name = ? AND run IN ({chain_runs}) AND {in_window}",
        params,
    ):
        reworks[(run_id, task or "")] += 1
    reworked_completed = sum(1 for key in reworks if key in completed)
    n_completed = len(completed)

    # A chain or request counts when any of its events lies in the window: its start,
    # its end, or (for a chain) one of its tasks' events.
    task_runs = {run_id for run_id, _ in tasks_seen} | {run_id for run_id, _ in reworks}
    chains_total = chains_done = requests_total = requests_closed = 0
    for run_id, is_request, started, ended, outcome in index.execute(
        """SELECT r.run_id, p.is_request, r.started_us, r.ended_us, r.outcome
           FROM runs r JOIN temp.pipeline_runs p ON p.run_id = r.run_id"""
    ):
        closed = ended is not None and (outcome or "completed") == "completed" and ended in window
        if not (window.is_open or started in window or ended in window or run_id in task_runs):
            continue
        if is_request:
            requests_total += 1
            requests_closed += closed
        else:
            chains_total += 1
            chains_done += closed

    params = []
    in_window = window.sql(ts_us("ts"), params)
    by_model = [
        {
            "model": model,
            "calls": calls,
            "input_tokens": int(inp),
            "output_tokens": int(out),
            "cache_read_tokens": int(cache_read),
            "cache_write_tokens": int(cache_write),
        }
        for model, calls, inp, out, cache_read, cache_write in index.execute(
            f"""SELECT model, COUNT(*), TOTAL(input_tokens), TOTAL(output_tokens), TOTAL(cache_read_tokens),
                      TOTAL(cache_write_tokens)
               FROM llm_calls WHERE run IN (SELECT run_id FROM temp.pipeline_runs) AND {in_window}
               GROUP BY model ORDER BY SUM(input_tokens) + SUM(output_tokens) DESC, model""",
            params,
        )
    ]
    total_in = sum(int(m["input_tokens"]) for m in by_model)
    total_out = sum(int(m["output_tokens"]) for m in by_model)

    data = {
        "filters": {
            "runner": runner,
            "chain": chain,
            "since": None if since_us is None else timestamp_from_us(since_us),
            "until": None if until_us is None else timestamp_from_us(until_us),
            "window": "event_time",
        },
        "tasks": {
            "total": len(tasks_seen),
            "completed": n_completed,
            "attempts": n_attempts,
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
            "avg_tasks_per_chain": len(tasks_seen) / chains_total if chains_total else None,
            # Choragen's own figure counts every task start, so a restarted task counts twice
            "avg_task_starts_per_chain": n_starts / chains_total if chains_total else None,
        },
        "requests": {"total": requests_total, "closed": requests_closed},
        "tokens": {
            "input_tokens": total_in,
            "output_tokens": total_out,
            "avg_per_completed_task": (total_in + total_out) / n_completed if n_completed else None,
            "by_model": by_model,
        },
        "models": [
            {"model": model, "tasks_completed": count}
            for model, count in sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
    return msgspec.convert(data, PipelineReport)
