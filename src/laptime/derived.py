"""The index's derived tables: per-run figures and store-wide aggregates, from the event tables.

The figures are those of ``laptime.definitions``, whose SQL these statements use; the index
(``laptime.index``) runs them, inside its ingest transaction, for the runs an ingest
touched (``temp.touched``), so a rebuilt index equals an incremental one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

from laptime import definitions as d
from laptime.analysis.budgets import BUDGET_CACHE_INVALIDATION
from laptime.analysis.cost import COST_CACHE_INVALIDATION
from laptime.analysis.time_split import TIME_SPLIT_INVALIDATION
from laptime.pricing import tier_bucket_sql

RUN_DURATION_US: Final = d.run_duration_sql()
ts_us = d.ts_us_sql

DERIVED_SCHEMA: Final[tuple[str, ...]] = (
    # Per-run aggregates for `report summary` (and cost): derived from the event tables
    # in _refresh_runs for the runs an ingest touched, so a rebuilt index equals an
    # incremental one. See _derived_refresh for what each column means.
    """CREATE TABLE IF NOT EXISTS run_llm (
        run_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL,
        bucket INTEGER NOT NULL, reported INTEGER NOT NULL, calls INTEGER NOT NULL,
        input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL, estimated_tokens INTEGER NOT NULL, cost_usd REAL, latency_sum REAL,
        latency_n INTEGER NOT NULL, PRIMARY KEY (run_id, model, provider, day, bucket, reported)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS run_phases (
        run_id TEXT NOT NULL, phase TEXT NOT NULL, duration_us INTEGER NOT NULL, attempts INTEGER NOT NULL,
        start_offset_us INTEGER NOT NULL, PRIMARY KEY (run_id, phase)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS run_facts (
        run_id TEXT PRIMARY KEY, tvc_us INTEGER, retries INTEGER NOT NULL,
        changes_requested INTEGER NOT NULL, downtime_us INTEGER NOT NULL, calls INTEGER NOT NULL,
        tokens INTEGER NOT NULL) WITHOUT ROWID""",
    # Store-wide aggregates for the unfiltered `report summary`, kept by _refresh_runs
    # (see the comment above RANK_EDGES for what each column means).
    """CREATE TABLE IF NOT EXISTS agg_runs (
        ended INTEGER NOT NULL, outcome TEXT NOT NULL, runs INTEGER NOT NULL, started INTEGER NOT NULL,
        duration_us INTEGER NOT NULL, duration_ms INTEGER NOT NULL, tvc_n INTEGER NOT NULL,
        with_retries INTEGER NOT NULL, with_changes INTEGER NOT NULL, rework INTEGER NOT NULL,
        PRIMARY KEY (ended, outcome)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_phases (
        phase TEXT PRIMARY KEY, runs INTEGER NOT NULL, attempts INTEGER NOT NULL, duration_us INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL, start_offset_us INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_tasks (
        named INTEGER NOT NULL, task TEXT NOT NULL, llm_runs INTEGER NOT NULL,
        PRIMARY KEY (named, task)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_llm (
        model TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL, bucket INTEGER NOT NULL,
        reported INTEGER NOT NULL, calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL, cache_write_1h INTEGER NOT NULL,
        estimated_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, latency_sum REAL NOT NULL,
        latency_n INTEGER NOT NULL, PRIMARY KEY (model, provider, day, bucket, reported)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_files (
        path TEXT PRIMARY KEY, runs INTEGER NOT NULL, changes INTEGER NOT NULL, lines_added INTEGER,
        lines_removed INTEGER) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS rank_buckets (
        metric TEXT NOT NULL, key TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (metric, key, bucket)) WITHOUT ROWID""",
    # Ordered indexes: percentiles read the values at two ranks (see rank_buckets), top
    # files the first rows; the aggregates are recomputed per touched day and path.
    f"CREATE INDEX IF NOT EXISTS runs_duration ON runs({RUN_DURATION_US})",
    "CREATE INDEX IF NOT EXISTS runs_open ON runs(last_us) WHERE ended_us IS NULL",
    "CREATE INDEX IF NOT EXISTS runs_name ON runs(name)",
    "CREATE INDEX IF NOT EXISTS run_facts_tvc ON run_facts(tvc_us) WHERE tvc_us IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS run_phases_duration ON run_phases(phase, duration_us)",
    "CREATE INDEX IF NOT EXISTS run_llm_day ON run_llm(day, model, provider, bucket, reported)",
    "CREATE INDEX IF NOT EXISTS llm_calls_latency ON llm_calls(model, provider, latency_ms) WHERE latency_ms NOTNULL",
    "CREATE INDEX IF NOT EXISTS file_changes_path ON file_changes(path, run, lines_added, lines_removed)",
    "CREATE INDEX IF NOT EXISTS agg_files_top ON agg_files(runs DESC, changes DESC, path)",
    "CREATE INDEX IF NOT EXISTS agg_llm_day ON agg_llm(day)",
)

# The derived per-run tables, rebuilt for the runs in temp.touched (after `runs`).
#   run_llm: llm usage per (run, model, provider, UTC day, tier bucket, cost reported?):
#     calls; token sums with input in Anthropic's meaning (cache excluded), cache_write_1h the
#     one-hour part of cache_write (priced at its own rate by the cost engine); estimated_tokens
#     (the call totals of estimated calls); the reported cost; latency sum and count. The
#     day and tier bucket let laptime.pricing price the groups exactly (see its docstring).
#   run_phases: top-level phase spans per (run, phase): summed duration (an open span ends
#     at the run's end), attempts, and when the phase first started, from the run's start.
#   run_facts: TVc, verification retries and downtime (laptime.definitions), whether any
#     span's attrs carry source_outcome "changes_requested", and the run's LLM calls and
#     their tokens (definitions.llm_tokens_sql over its run_llm rows, inserted just before).
_TOUCHED: Final = "(SELECT run_id FROM temp.touched)"
# Top-level spans a run was down in (definitions: downtime), with their end or the run's.
_DOWNTIME_US: Final = f"""(SELECT COALESCE(SUM(MAX(COALESCE({ts_us("e.ts")}, {d.run_end_sql("r")}), {ts_us("s.ts")})
                                   - {ts_us("s.ts")}), 0)
        FROM span_starts s LEFT JOIN span_ends e ON e.rowid = {d.span_end_rowid_sql("s.span")}
        WHERE s.run = r.run_id AND s.parent = r.run_id AND s.kind <> 'phase' AND {d.DOWNTIME_ATTR_SQL})"""


def _derived_refresh() -> list[str]:
    bucket = tier_bucket_sql(d.total_input_sql())
    return [
        *(f"DELETE FROM {t} WHERE run_id IN {_TOUCHED}" for t in ("run_llm", "run_phases", "run_facts")),
        f"""INSERT INTO run_llm
            SELECT run, model, provider, substr(ts, 1, 10), {bucket}, cost_usd IS NOT NULL, COUNT(*),
                   SUM(inp), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(c1h),
                   SUM(CASE WHEN estimated THEN inp + output_tokens + cache_read_tokens + cache_write_tokens
                       ELSE 0 END),
                   SUM(cost_usd), SUM(latency_ms), COUNT(latency_ms)
            FROM (SELECT *, {d.uncached_input_sql()} AS inp, {d.cache_write_1h_sql()} AS c1h
                  FROM llm_calls WHERE run IN {_TOUCHED})
            GROUP BY 1, 2, 3, 4, 5, 6""",
        f"""INSERT INTO run_phases
            SELECT s.run, s.name,
                   SUM(MAX(COALESCE({ts_us("e.ts")}, {d.run_end_sql("r")}), {ts_us("s.ts")}) - {ts_us("s.ts")}),
                   COUNT(*), MAX(0, MIN({ts_us("s.ts")}) - {d.run_start_sql("r")})
            FROM span_starts s JOIN runs r ON r.run_id = s.run
                 LEFT JOIN span_ends e ON e.rowid = {d.span_end_rowid_sql("s.span")}
            WHERE s.run IN {_TOUCHED} AND s.kind = 'phase' AND s.parent = s.run
            GROUP BY s.run, s.name""",
        f"""INSERT INTO run_facts
            SELECT r.run_id, {d.tvc_us_sql("r")}, {d.verification_retries_sql("r")},
                   EXISTS (SELECT 1 FROM span_starts s WHERE s.run = r.run_id
                           AND s.attrs LIKE '%changes_requested%'
                           AND s.attrs ->> '$.source_outcome' = 'changes_requested')
                   OR EXISTS (SELECT 1 FROM span_ends s WHERE s.run = r.run_id
                              AND s.attrs LIKE '%changes_requested%'
                              AND s.attrs ->> '$.source_outcome' = 'changes_requested'),
                   {_DOWNTIME_US}, COALESCE(l.calls, 0), COALESCE(l.tokens, 0)
            FROM runs r LEFT JOIN (SELECT run_id, SUM(calls) AS calls, SUM({d.llm_tokens_sql()}) AS tokens
                                   FROM run_llm WHERE run_id IN {_TOUCHED} GROUP BY run_id) l
                 ON l.run_id = r.run_id
            WHERE r.run_id IN {_TOUCHED}""",
    ]


# Store-wide aggregates, kept up to date by _refresh_runs for the runs in temp.touched:
# the "before" statements of _derived_statements run before the touched runs' rows of
# `runs` and the run_* tables are replaced, the "after" ones after. Integer aggregates
# are kept by delta (subtract the old per-run rows, add the new ones: exact, so a rebuilt
# index equals an incremental one); the ones with float sums are recomputed for the days
# (agg_llm) or paths (agg_files) the touched runs have, reading the rows in index order,
# so the sums come out the same. A rebuild (no runs before) skips the subtraction and
# recomputes every day and path.
#   agg_runs: per (ended?, outcome with COALESCE(outcome, 'completed'); '' when not ended):
#     runs; runs (every run has a duration now) and the sum of their durations (RUN_DURATION_US); runs with a
#     TVc; runs with retries, with changes requested, with either (from run_facts).
#   agg_phases: per phase, over run_phases: runs that have it, attempts, summed duration and
#     start offsets.
#   agg_tasks: per task (run name; named = 0 and task '' for runs without a name): the runs
#     with LLM calls.
#   agg_llm: run_llm summed over runs: per (model, provider, day, bucket, reported?).
#   agg_files: per path, over file_changes: runs that changed it, changes, lines added and
#     removed.
#   rank_buckets: how many values fall in each bucket of RANK_EDGES, per metric ('duration':
#     RUN_DURATION_US over every run; 'tvc': run_facts.tvc_us; 'phase': each
#     phase's run_phases.duration_us, key = the phase), so that a percentile reads the
#     value at a rank with a short OFFSET into the bucket's range of an ordered index.

# Bucket edges for rank_buckets, in microseconds: 1 ms to 12 days, 8 buckets per doubling.
# A value's bucket is the number of edges at or below it (bisect_right), so the values of
# bucket b >= 1 are those in [RANK_EDGES[b - 1], RANK_EDGES[b]).
RANK_EDGES: Final[tuple[int, ...]] = tuple(round(1000 * 2 ** (i / 8)) for i in range(241))


def rank_bucket_sql(value: str) -> str:
    """SQL for a value's bucket among RANK_EDGES (``bisect_right``), as a binary search."""

    def node(low: int, high: int) -> str:  # the answer is in [low, high]
        if low == high:
            return str(low)
        mid = (low + high + 1) // 2
        return f"CASE WHEN {value} >= {RANK_EDGES[mid - 1]} THEN {node(mid, high)} ELSE {node(low, mid - 1)} END"

    return node(0, len(RANK_EDGES))


def _upsert_sum(table: str, key: str, columns: Sequence[str], select: str) -> str:
    """INSERT a delta (``select`` gives key columns, then ``columns``) adding onto existing rows."""
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    return (
        f"INSERT INTO {table} ({key}, {', '.join(columns)}) SELECT * FROM ({select}) WHERE true "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def _derived_deltas(sign: str) -> list[str]:
    """Add (sign "+") or subtract (sign "-") the touched runs' part of the delta-kept aggregates."""
    s = sign
    run_duration = d.run_duration_sql("r")
    return [
        _upsert_sum(
            "agg_runs",
            "ended, outcome",
            ("runs", "started", "duration_us", "duration_ms", "tvc_n", "with_retries", "with_changes", "rework"),
            f"""SELECT r.ended_us IS NOT NULL,
                       CASE WHEN r.ended_us IS NOT NULL THEN COALESCE(r.outcome, 'completed') ELSE '' END,
                       {s}COUNT(*), {s}COUNT(*), {s}COALESCE(SUM({run_duration}), 0),
                       {s}COALESCE(SUM({d.ms_sql(run_duration)}), 0),
                       {s}COUNT(f.tvc_us), {s}COALESCE(SUM(f.retries > 0), 0),
                       {s}COALESCE(SUM(f.changes_requested), 0),
                       {s}COALESCE(SUM(f.retries > 0 OR f.changes_requested), 0)
                FROM runs r LEFT JOIN run_facts f ON f.run_id = r.run_id
                WHERE r.run_id IN {_TOUCHED} GROUP BY 1, 2""",
        ),
        _upsert_sum(
            "agg_phases",
            "phase",
            ("runs", "attempts", "duration_us", "duration_ms", "start_offset_us"),
            f"""SELECT phase, {s}COUNT(*), {s}SUM(attempts), {s}SUM(duration_us), {s}SUM({d.ms_sql("duration_us")}),
                       {s}SUM(start_offset_us)
                FROM run_phases WHERE run_id IN {_TOUCHED} GROUP BY phase""",
        ),
        _upsert_sum(
            "agg_tasks",
            "named, task",
            ("llm_runs",),
            f"""SELECT r.name IS NOT NULL, COALESCE(r.name, ''), {s}COUNT(*) FROM runs r
                WHERE r.run_id IN {_TOUCHED} AND EXISTS (SELECT 1 FROM run_llm l WHERE l.run_id = r.run_id)
                GROUP BY 1, 2""",
        ),
        _upsert_sum(
            "rank_buckets",
            "metric, key, bucket",
            ("n",),
            f"""SELECT 'duration', '', {rank_bucket_sql("d")}, {s}COUNT(*)
                FROM (SELECT {run_duration} AS d FROM runs r WHERE r.run_id IN {_TOUCHED}) GROUP BY 3
                UNION ALL
                SELECT 'tvc', '', {rank_bucket_sql("tvc_us")}, {s}COUNT(*) FROM run_facts
                WHERE run_id IN {_TOUCHED} AND tvc_us IS NOT NULL GROUP BY 3
                UNION ALL
                SELECT 'phase', phase, {rank_bucket_sql("duration_us")}, {s}COUNT(*) FROM run_phases
                WHERE run_id IN {_TOUCHED} GROUP BY 2, 3""",
        ),
        *(statement.format(touched=_TOUCHED) for statement in COST_CACHE_INVALIDATION),
        *(statement.format(touched=_TOUCHED) for statement in TIME_SPLIT_INVALIDATION),
        *(statement.format(touched=_TOUCHED) for statement in BUDGET_CACHE_INVALIDATION),
    ]


_TOUCHED_DAYS: Final = (
    "INSERT OR IGNORE INTO temp.touched_days SELECT DISTINCT day FROM run_llm WHERE run_id IN " + _TOUCHED
)
_TOUCHED_PATHS: Final = (
    "INSERT OR IGNORE INTO temp.touched_paths SELECT DISTINCT path FROM file_changes WHERE run IN " + _TOUCHED
)


def _derived_after(*, fresh: bool) -> list[str]:
    """The statements after the per-run tables are refreshed; ``fresh`` when the index held
    no runs before (a rebuild): then every day and path is new, and read without a filter."""
    days = "" if fresh else "WHERE day IN (SELECT day FROM temp.touched_days)"
    paths = "" if fresh else "WHERE path IN (SELECT path FROM temp.touched_paths)"
    return [
        *_derived_deltas("+"),
        "DELETE FROM agg_runs WHERE runs = 0",
        "DELETE FROM agg_phases WHERE runs = 0",
        "DELETE FROM agg_tasks WHERE llm_runs = 0",
        "DELETE FROM rank_buckets WHERE n = 0",
        *([] if fresh else [_TOUCHED_DAYS, f"DELETE FROM agg_llm {days}"]),
        # Grouped in the order of run_llm_day, so each group's float sums add the same rows
        # in the same order however many days are recomputed.
        f"""INSERT INTO agg_llm
            SELECT model, provider, day, bucket, reported, SUM(calls), SUM(input), SUM(output), SUM(cache_read),
                   SUM(cache_write), SUM(cache_write_1h), SUM(estimated_tokens), TOTAL(cost_usd),
                   TOTAL(latency_sum), SUM(latency_n)
            FROM run_llm INDEXED BY run_llm_day {days}
            GROUP BY day, model, provider, bucket, reported""",
        "DELETE FROM temp.touched_days",
        *([] if fresh else [_TOUCHED_PATHS, f"DELETE FROM agg_files {paths}"]),
        f"""INSERT INTO agg_files
            SELECT path, COUNT(DISTINCT run), COUNT(*), SUM(lines_added), SUM(lines_removed)
            FROM file_changes INDEXED BY file_changes_path {paths} GROUP BY path""",
        "DELETE FROM temp.touched_paths",
    ]


@functools.cache
def derived_statements(*, fresh: bool) -> tuple[list[str], list[str]]:
    """(before, after) the touched runs' per-run rows are replaced; built on first use (a few
    ms of string work that a read-only command never needs). No "before" when ``fresh``."""
    before = [] if fresh else [_TOUCHED_DAYS, *_derived_deltas("-")]
    return before, [*_derived_refresh(), *_derived_after(fresh=fresh)]


DERIVED_TEMP: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS touched (run_id TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS touched_days (day TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS touched_paths (path TEXT PRIMARY KEY)",
)
