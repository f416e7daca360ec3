"""The SQLite index: a derived, rebuildable view of the log.

One table per event type, with one column per field (``attrs`` and ``source`` kept as
JSON text), plus a ``runs`` table derived from them. Ingest is incremental: the index
remembers, per segment, how many bytes it has read, and reads only what is new. A
rebuilt index (``laptime refresh``) equals the incremental one, because both run the
same statements over the same lines in the same order.

The hot path decodes whole chunks with msgspec into per-type structs whose ``attrs`` stay
raw JSON, and hands tuples straight to SQLite: no per-field Python work per event.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Self

import apsw
import msgspec

from laptime import events as ev
from laptime.log import LineChunk, read_chunks, torn_tail
from laptime.store import Store

INDEX_VERSION: Final = 5  # 3: derived run_llm, run_phases, run_facts; 4: the first span_end of a span wins;
# 5: store-wide aggregates (agg_*, rank_buckets) and indexes for a fast unfiltered `report summary`

# A run's duration in microseconds (a run with no end: up to its last event), for runs with a start.
RUN_DURATION_US: Final = "(COALESCE(ended_us, last_us) - started_us)"

# Timestamps are canonical (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), so SQL can turn them
# into integer microseconds exactly, without float rounding.
TS_US_SQL: Final = "(unixepoch(substr({col},1,19))*1000000 + CAST(substr({col},21,6) AS INTEGER))"


def ts_us(col: str) -> str:
    """SQL for the integer microseconds of a timestamp column."""
    return TS_US_SQL.format(col=col)


_TABLE_OF: Final[dict[type[Any], str]] = {
    ev.SpanStart: "span_starts",
    ev.SpanEnd: "span_ends",
    ev.LlmUsage: "llm_calls",
    ev.Validation: "validations",
    ev.FileChange: "file_changes",
    ev.QueueSample: "queue_samples",
    ev.Milestone: "milestones",
    ev.Checkpoint: "checkpoints",
    ev.ScopeViolation: "scope_violations",
    ev.ErrorEvent: "errors",
    ev.Metric: "metrics",
}
_RAW_FIELDS: Final = frozenset({"attrs", "source", "end_attrs", "end_source"})


def _ingest_struct(event_type: type[Any]) -> type[msgspec.Struct]:
    """A twin of an event struct whose ``attrs`` and ``source`` stay raw JSON bytes.

    Decoding into it validates every typed field but builds no dict per event.
    """
    fields: list[tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(event_type):
        if info.name in _RAW_FIELDS:
            empty = b"{}" if info.name in ("attrs", "end_attrs") else b""
            fields.append((info.name, msgspec.Raw, msgspec.Raw(empty)))
        elif info.name == "v":
            # Checked in C while decoding: a line of another schema version fails
            # its chunk's fast path and is reported on its own.
            fields.append(("v", Literal[1], msgspec.NODEFAULT))
        elif info.required:
            fields.append((info.name, info.type, msgspec.NODEFAULT))
        else:
            fields.append((info.name, info.type, info.default))
    config = event_type.__struct_config__
    return msgspec.defstruct(
        f"Ingest{event_type.__name__}",
        fields,
        tag_field="type",
        tag=config.tag,
        kw_only=True,
    )


_INGEST_TYPES: Final = {event_type: _ingest_struct(event_type) for event_type in _TABLE_OF}
_TABLE_OF_INGEST: Final = {_INGEST_TYPES[t]: table for t, table in _TABLE_OF.items()}
_COLUMNS: Final = {table: msgspec.structs.fields(_INGEST_TYPES[t]) for t, table in _TABLE_OF.items()}
# A compacted ``span`` line is indexed as the span_start and span_end it replaces.
_SPAN_INGEST: Final = _ingest_struct(ev.Span)
_SPAN_START_FIELDS: Final = tuple(info.name for info in _COLUMNS["span_starts"])
_SPAN_END_FIELDS: Final = tuple(
    {"id": "end_id", "ts": "end_ts", "attrs": "end_attrs", "source": "end_source"}.get(info.name, info.name)
    for info in _COLUMNS["span_ends"]
)


def _union() -> Any:
    members = (*_INGEST_TYPES.values(), _SPAN_INGEST)
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    return union


_UNION: Final = _union()
_decoder: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(_UNION)


def _create_table_sql(table: str) -> str:
    # Columns carry no declared type on purpose: with no type affinity SQLite stores
    # each value as bound, which makes inserts about 40% faster. msgspec has already
    # validated every value's type while decoding.
    cols = ", ".join(f'"{info.name}"' for info in _COLUMNS[table])
    return f'CREATE TABLE IF NOT EXISTS {table} (seg, {cols}, UNIQUE("id"))'


_LLM_TOTAL: Final = "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"


def _insert_sql(table: str, seg: int) -> str:
    """An event seen twice (same id) is indexed once. For llm usage a copy not marked
    ``attrs.sidechain`` wins over one that is (a Claude Code side question replays
    parent responses in a sidechain file, with other counts), then the copy with the
    largest token total (a streamed response is logged again with its final counts);
    for a span end the latest; on a tie the first stays. These rules are
    order-independent, so a rebuilt index equals an incremental one."""
    names = ", ".join(f'"{info.name}"' for info in _COLUMNS[table])
    values = ", ".join("NULLIF(CAST(? AS TEXT), '')" if info.name in _RAW_FIELDS else "?" for info in _COLUMNS[table])
    updates = ", ".join(f'"{info.name}" = excluded."{info.name}"' for info in _COLUMNS[table] if info.name != "id")
    if table == "span_ends":
        # A span end seen again with a later time wins (an importer re-closes a span
        # whose source grew, e.g. a live Claude Code session); on a tie the first stays.
        return (
            f"INSERT INTO {table} (seg, {names}) VALUES ({seg}, {values}) "
            f"ON CONFLICT(id) DO UPDATE SET seg = excluded.seg, {updates} WHERE excluded.ts > {table}.ts"
        )
    if table != "llm_calls":
        return f"INSERT OR IGNORE INTO {table} (seg, {names}) VALUES ({seg}, {values})"
    excluded_total = " + ".join(f"excluded.{c.strip()}" for c in _LLM_TOTAL.split("+"))
    stored_total = f"{table}.{_LLM_TOTAL.replace('+', f'+ {table}.')}"
    main = "(COALESCE({} ->> '$.sidechain', 0) = 0)"
    return (
        f"INSERT INTO {table} (seg, {names}) VALUES ({seg}, {values}) "
        f"ON CONFLICT(id) DO UPDATE SET seg = excluded.seg, {updates} "
        f"WHERE ({main.format('excluded.attrs')}, {excluded_total}) > ({main.format(f'{table}.attrs')}, {stored_total})"
    )


_SCHEMA: Final = [
    *(_create_table_sql(table) for table in _TABLE_OF.values()),
    *(f"CREATE INDEX IF NOT EXISTS {table}_run ON {table}(run)" for table in _TABLE_OF.values()),
    "CREATE INDEX IF NOT EXISTS span_ends_span ON span_ends(span)",
    """CREATE TABLE IF NOT EXISTS segments (
        seg INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, offset INTEGER NOT NULL DEFAULT 0,
        lines INTEGER NOT NULL DEFAULT 0, inode INTEGER, size INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS bad_lines (
        seg INTEGER NOT NULL, line INTEGER NOT NULL, offset INTEGER NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (seg, line))""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, name TEXT, runner TEXT, started_us INTEGER, ended_us INTEGER,
        last_us INTEGER NOT NULL, outcome TEXT, error TEXT, attrs TEXT, end_attrs TEXT)""",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs(started_us)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    f"""CREATE VIEW IF NOT EXISTS spans AS
        SELECT s.span AS span_id, s.run AS run_id, s.parent AS parent_id, s.kind, s.name,
               s.ts AS started_at, e.ts AS ended_at,
               {ts_us("s.ts")} AS start_us, {ts_us("e.ts")} AS end_us,
               COALESCE(e.outcome, 'running') AS outcome, e.error, s.attrs, e.attrs AS end_attrs, s.source
        FROM span_starts s LEFT JOIN span_ends e ON e.id = (
                SELECT x.id FROM span_ends x WHERE x.span = s.span ORDER BY x.ts, x.id LIMIT 1)""",
    # Seed 003's table, as a view over the log: one row per phase span, numbered by
    # attempt within its run.
    """CREATE VIEW IF NOT EXISTS run_phase_metrics AS
        SELECT span_id AS id, run_id, name AS phase,
               ROW_NUMBER() OVER (PARTITION BY run_id, name ORDER BY start_us, span_id) AS iteration,
               started_at, ended_at,
               CASE WHEN end_us IS NULL THEN NULL ELSE (end_us - start_us) / 1000000 END AS duration_seconds,
               outcome, attrs AS metadata
        FROM spans WHERE kind = 'phase'""",
    # Per-run aggregates for `report summary` (and cost): derived from the event tables
    # in _refresh_runs for the runs an ingest touched, so a rebuilt index equals an
    # incremental one. See _derived_refresh for what each column means.
    """CREATE TABLE IF NOT EXISTS run_llm (
        run_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL,
        bucket INTEGER NOT NULL, reported INTEGER NOT NULL, calls INTEGER NOT NULL,
        input INTEGER NOT NULL, output INTEGER NOT NULL, cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL,
        estimated_tokens INTEGER NOT NULL, cost_usd REAL, latency_sum REAL, latency_n INTEGER NOT NULL,
        PRIMARY KEY (run_id, model, provider, day, bucket, reported)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS run_phases (
        run_id TEXT NOT NULL, phase TEXT NOT NULL, duration_us INTEGER NOT NULL, attempts INTEGER NOT NULL,
        start_offset_us INTEGER NOT NULL, PRIMARY KEY (run_id, phase)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS run_facts (
        run_id TEXT PRIMARY KEY, tvc_us INTEGER, retries INTEGER NOT NULL,
        changes_requested INTEGER NOT NULL) WITHOUT ROWID""",
    # Store-wide aggregates for the unfiltered `report summary`, kept by _refresh_runs
    # (see the comment above RANK_EDGES for what each column means).
    """CREATE TABLE IF NOT EXISTS agg_runs (
        ended INTEGER NOT NULL, outcome TEXT NOT NULL, runs INTEGER NOT NULL, started INTEGER NOT NULL,
        duration_us INTEGER NOT NULL, tvc_n INTEGER NOT NULL, with_retries INTEGER NOT NULL,
        with_changes INTEGER NOT NULL, rework INTEGER NOT NULL, PRIMARY KEY (ended, outcome)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_phases (
        phase TEXT PRIMARY KEY, runs INTEGER NOT NULL, attempts INTEGER NOT NULL, duration_us INTEGER NOT NULL,
        start_offset_us INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_tasks (
        named INTEGER NOT NULL, task TEXT NOT NULL, llm_runs INTEGER NOT NULL,
        PRIMARY KEY (named, task)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_llm (
        model TEXT NOT NULL, provider TEXT NOT NULL, day TEXT NOT NULL, bucket INTEGER NOT NULL,
        reported INTEGER NOT NULL, calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
        cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL, estimated_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL, latency_sum REAL NOT NULL, latency_n INTEGER NOT NULL,
        PRIMARY KEY (model, provider, day, bucket, reported)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS agg_files (
        path TEXT PRIMARY KEY, runs INTEGER NOT NULL, changes INTEGER NOT NULL, lines_added INTEGER,
        lines_removed INTEGER) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS rank_buckets (
        metric TEXT NOT NULL, key TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (metric, key, bucket)) WITHOUT ROWID""",
    # Ordered indexes: percentiles read the values at two ranks (see rank_buckets), top
    # files the first rows; the aggregates are recomputed per touched day and path.
    f"CREATE INDEX IF NOT EXISTS runs_duration ON runs({RUN_DURATION_US}) WHERE started_us IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS runs_open ON runs(last_us) WHERE ended_us IS NULL",
    "CREATE INDEX IF NOT EXISTS runs_name ON runs(name)",
    "CREATE INDEX IF NOT EXISTS run_facts_tvc ON run_facts(tvc_us) WHERE tvc_us IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS run_phases_duration ON run_phases(phase, duration_us)",
    "CREATE INDEX IF NOT EXISTS run_llm_day ON run_llm(day, model, provider, bucket, reported)",
    "CREATE INDEX IF NOT EXISTS llm_calls_latency ON llm_calls(model, provider, latency_ms) WHERE latency_ms NOTNULL",
    "CREATE INDEX IF NOT EXISTS file_changes_path ON file_changes(path, run, lines_added, lines_removed)",
    "CREATE INDEX IF NOT EXISTS agg_files_top ON agg_files(runs DESC, changes DESC, path)",
    "CREATE INDEX IF NOT EXISTS agg_llm_day ON agg_llm(day)",
    # A cache, not derived: task costs priced under one price fingerprint (laptime.analysis.cost).
    # _refresh_runs drops the rows of the tasks (and models) whose runs it touches.
    """CREATE TABLE IF NOT EXISTS task_cost_cache (
        named INTEGER NOT NULL, task TEXT NOT NULL, fingerprint TEXT NOT NULL, runs INTEGER NOT NULL,
        cost_usd REAL, unpriced INTEGER NOT NULL, PRIMARY KEY (named, task)) WITHOUT ROWID""",
    # The same for models: a ModelCost (laptime.analysis.cost) as JSON, per (model, provider).
    """CREATE TABLE IF NOT EXISTS model_cost_cache (
        model TEXT NOT NULL, provider TEXT NOT NULL, fingerprint TEXT NOT NULL, payload TEXT NOT NULL,
        PRIMARY KEY (model, provider)) WITHOUT ROWID""",
]

# The derived per-run tables, rebuilt for the runs in temp.touched (after `runs`).
#   run_llm: llm usage per (run, model, provider, UTC day, tier bucket, cost reported?):
#     calls; token sums with input in Anthropic's meaning (cache excluded); estimated_tokens
#     (the call totals of estimated calls); the reported cost; latency sum and count. The
#     day and tier bucket let laptime.pricing price the groups exactly (see its docstring).
#   run_phases: top-level phase spans per (run, phase): summed duration (an open span ends
#     at the run's end), attempts, and when the phase first started, from the run's start.
#   run_facts: TVc (run start to the first checkpoint after a passing validation, or a
#     verified one), retries (as analysis.kpi counts them), and whether any span's attrs
#     carry source_outcome "changes_requested".
_TOUCHED: Final = "(SELECT run_id FROM temp.touched)"
_LLM_INPUT: Final = (
    "CASE WHEN input_includes_cache THEN MAX(0, input_tokens - cache_read_tokens - cache_write_tokens) "
    "ELSE input_tokens END"
)
_VERIFY_PHASES: Final = "('verify', 'verification', 'test', 'validation')"


def _derived_refresh() -> list[str]:
    from laptime.pricing import tier_bucket_sql  # no genai-prices import: just the thresholds

    bucket = tier_bucket_sql("inp + cache_read_tokens + cache_write_tokens")
    return [
        *(f"DELETE FROM {t} WHERE run_id IN {_TOUCHED}" for t in ("run_llm", "run_phases", "run_facts")),
        f"""INSERT INTO run_llm
            SELECT run, model, provider, substr(ts, 1, 10), {bucket}, cost_usd IS NOT NULL, COUNT(*),
                   SUM(inp), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                   SUM(CASE WHEN estimated THEN inp + output_tokens + cache_read_tokens + cache_write_tokens
                       ELSE 0 END),
                   SUM(cost_usd), SUM(latency_ms), COUNT(latency_ms)
            FROM (SELECT *, {_LLM_INPUT} AS inp FROM llm_calls WHERE run IN {_TOUCHED})
            GROUP BY 1, 2, 3, 4, 5, 6""",
        f"""INSERT INTO run_phases
            SELECT s.run, s.name,
                   SUM(MAX(COALESCE({ts_us("e.ts")}, COALESCE(r.ended_us, r.last_us)), {ts_us("s.ts")})
                       - {ts_us("s.ts")}),
                   COUNT(*), MIN({ts_us("s.ts")}) - COALESCE(r.started_us, MIN({ts_us("s.ts")}))
            FROM span_starts s JOIN runs r ON r.run_id = s.run LEFT JOIN span_ends e ON e.id = (
                SELECT x.id FROM span_ends x WHERE x.span = s.span ORDER BY x.ts, x.id LIMIT 1)
            WHERE s.run IN {_TOUCHED} AND s.kind = 'phase' AND s.parent = s.run
            GROUP BY s.run, s.name""",
        f"""INSERT INTO run_facts
            SELECT r.run_id,
                   (SELECT {ts_us("c.ts")} FROM checkpoints c WHERE c.run = r.run_id AND (c.verified OR EXISTS (
                        SELECT 1 FROM validations v WHERE v.run = c.run AND v.passed AND v.ts <= c.ts))
                    ORDER BY c.ts, c.id LIMIT 1) - r.started_us,
                   CASE WHEN EXISTS (SELECT 1 FROM validations WHERE run = r.run_id) THEN
                       (SELECT COUNT(*) FROM validations v WHERE v.run = r.run_id AND EXISTS (
                            SELECT 1 FROM validations w WHERE w.run = v.run AND w.command = v.command
                            AND NOT w.passed AND (w.ts < v.ts OR (w.ts = v.ts AND w.id < v.id))))
                   ELSE (SELECT COALESCE(SUM(attempts - 1), 0) FROM run_phases p
                         WHERE p.run_id = r.run_id AND lower(p.phase) IN {_VERIFY_PHASES}) END,
                   EXISTS (SELECT 1 FROM span_starts s WHERE s.run = r.run_id
                           AND s.attrs LIKE '%changes_requested%'
                           AND s.attrs ->> '$.source_outcome' = 'changes_requested')
                   OR EXISTS (SELECT 1 FROM span_ends s WHERE s.run = r.run_id
                              AND s.attrs LIKE '%changes_requested%'
                              AND s.attrs ->> '$.source_outcome' = 'changes_requested')
            FROM runs r WHERE r.run_id IN {_TOUCHED}""",
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
#     runs; runs with a start and the sum of their durations (RUN_DURATION_US); runs with a
#     TVc; runs with retries, with changes requested, with either (from run_facts).
#   agg_phases: per phase, over run_phases: runs that have it, attempts, summed duration and
#     start offsets.
#   agg_tasks: per task (run name; named = 0 and task '' for runs without a name): the runs
#     with LLM calls.
#   agg_llm: run_llm summed over runs: per (model, provider, day, bucket, reported?).
#   agg_files: per path, over file_changes: runs that changed it, changes, lines added and
#     removed.
#   rank_buckets: how many values fall in each bucket of RANK_EDGES, per metric ('duration':
#     RUN_DURATION_US over runs with a start; 'tvc': run_facts.tvc_us; 'phase': each
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
    run_duration = "(COALESCE(r.ended_us, r.last_us) - r.started_us)"
    return [
        _upsert_sum(
            "agg_runs",
            "ended, outcome",
            ("runs", "started", "duration_us", "tvc_n", "with_retries", "with_changes", "rework"),
            f"""SELECT r.ended_us IS NOT NULL,
                       CASE WHEN r.ended_us IS NOT NULL THEN COALESCE(r.outcome, 'completed') ELSE '' END,
                       {s}COUNT(*), {s}COUNT(r.started_us), {s}COALESCE(SUM({run_duration}), 0),
                       {s}COUNT(f.tvc_us), {s}COALESCE(SUM(f.retries > 0), 0),
                       {s}COALESCE(SUM(f.changes_requested), 0),
                       {s}COALESCE(SUM(f.retries > 0 OR f.changes_requested), 0)
                FROM runs r LEFT JOIN run_facts f ON f.run_id = r.run_id
                WHERE r.run_id IN {_TOUCHED} GROUP BY 1, 2""",
        ),
        _upsert_sum(
            "agg_phases",
            "phase",
            ("runs", "attempts", "duration_us", "start_offset_us"),
            f"""SELECT phase, {s}COUNT(*), {s}SUM(attempts), {s}SUM(duration_us), {s}SUM(start_offset_us)
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
                FROM (SELECT {run_duration} AS d FROM runs r
                      WHERE r.run_id IN {_TOUCHED} AND r.started_us IS NOT NULL) GROUP BY 3
                UNION ALL
                SELECT 'tvc', '', {rank_bucket_sql("tvc_us")}, {s}COUNT(*) FROM run_facts
                WHERE run_id IN {_TOUCHED} AND tvc_us IS NOT NULL GROUP BY 3
                UNION ALL
                SELECT 'phase', phase, {rank_bucket_sql("duration_us")}, {s}COUNT(*) FROM run_phases
                WHERE run_id IN {_TOUCHED} GROUP BY 2, 3""",
        ),
        # Caches keyed by task and by model: the touched runs' ones, before and after, are priced again.
        f"""DELETE FROM task_cost_cache WHERE (named, task) IN (
                SELECT name IS NOT NULL, COALESCE(name, '') FROM runs WHERE run_id IN {_TOUCHED})""",
        f"""DELETE FROM model_cost_cache WHERE (model, provider) IN (
                SELECT model, provider FROM run_llm WHERE run_id IN {_TOUCHED})""",
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
                   SUM(cache_write), SUM(estimated_tokens), TOTAL(cost_usd), TOTAL(latency_sum), SUM(latency_n)
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
def _derived_statements(*, fresh: bool) -> tuple[list[str], list[str]]:
    """(before, after) the touched runs' per-run rows are replaced; built on first use (a few
    ms of string work that a read-only command never needs). No "before" when ``fresh``."""
    before = [] if fresh else [_TOUCHED_DAYS, *_derived_deltas("-")]
    return before, [*_derived_refresh(), *_derived_after(fresh=fresh)]


_DERIVED_TEMP: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS touched (run_id TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS touched_days (day TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS touched_paths (path TEXT PRIMARY KEY)",
)

_TABLES_WITH_TIME: Final = tuple(_TABLE_OF.values())


class IndexOpenError(Exception):
    """The index cannot be opened or updated; ``laptime refresh`` rebuilds it."""


@dataclass(frozen=True)
class BadLine:
    """A log line that could not be read, and why."""

    segment: str
    line: int
    offset: int
    reason: str


@dataclass
class IngestStats:
    """What one ingest pass read."""

    segments: int = 0
    bytes: int = 0
    events: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)


class Index:
    """An open ``index.sqlite``. Use as a context manager, or call ``close()``."""

    def __init__(self, store: Store, *, create: bool = True) -> None:
        self.store = store
        path = store.index_path
        if not create and not path.exists():
            msg = f"no index at {path}; run `laptime refresh` to build it"
            raise IndexOpenError(msg)
        #: Where an unreadable index was moved before a new one was built, if it was.
        self.moved_aside: Path | None = None
        try:
            self._connect(path)
        except (apsw.NotADBError, apsw.CorruptError):
            # The index is derived from the log: an unreadable one is set aside (not
            # deleted, for a post-mortem) and built again from the log.
            self.moved_aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            try:
                path.replace(self.moved_aside)
                for suffix in ("-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
                self._connect(path)
            except (apsw.Error, OSError) as exc:
                msg = f"cannot open the index {path}: {exc}; delete it and run `laptime refresh` to rebuild it"
                raise IndexOpenError(msg) from None
        except (apsw.Error, OSError) as exc:
            msg = f"cannot open the index {path}: {exc}; delete it and run `laptime refresh` to rebuild it"
            raise IndexOpenError(msg) from None

    def _connect(self, path: Path) -> None:
        self.store.root.mkdir(parents=True, exist_ok=True)
        self.db = apsw.Connection(str(path))
        self.db.set_busy_timeout(30_000)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # 64 MB of page cache (SQLite's default is 2 MB): imported events have ids
        # hashed from their source, so their inserts land all over the id index.
        self.db.execute("PRAGMA cache_size=-65536")
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        version = None
        with contextlib.suppress(apsw.SQLError):
            row = self.db.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
            version = row[0] if row else None
        if version is not None and version != str(INDEX_VERSION):
            self._drop_all()
        with self.db:
            for statement in _SCHEMA:  # writes nothing when the schema is there
                self.db.execute(statement)
            if version != str(INDEX_VERSION):  # so that opening a current index writes nothing at all
                self.db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('index_version', ?)", (str(INDEX_VERSION),)
                )

    def _drop_all(self) -> None:
        with self.db:
            rows = self.db.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            for kind, name in rows:
                self.db.execute(f'DROP {"VIEW" if kind == "view" else "TABLE"} IF EXISTS "{name}"')

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading helpers ----------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql, params))

    def query_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        try:
            names = [d[0] for d in cursor.get_description()]
        except apsw.ExecutionCompleteError:
            return []  # no row at all
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def bad_lines(self) -> list[BadLine]:
        return [
            BadLine(name, line, offset, reason)
            for name, line, offset, reason in self.db.execute(
                "SELECT s.name, b.line, b.offset, b.reason FROM bad_lines b JOIN segments s USING (seg) "
                "ORDER BY s.name, b.line"
            )
        ]

    def segment_state(self) -> dict[str, tuple[int, int, int | None, int]]:
        """name -> (bytes indexed, lines indexed, inode, size at last ingest)."""
        return {
            name: (offset, lines, inode, size)
            for name, offset, lines, inode, size in self.db.execute(
                "SELECT name, offset, lines, inode, size FROM segments"
            )
        }

    # -- ingest ----------------------------------------------------------------------------

    def update(self, *, before_refresh: Sequence[str] = ()) -> IngestStats:
        """Read whatever the log gained since the last update.

        ``before_refresh`` are statements run after the new rows are in and before the
        derived tables are refreshed (``rebuild`` recreates its indexes there).
        """
        stats = IngestStats()
        known = self.segment_state()
        present = {p.name: p for p in self.store.segments()}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived structs; the cycle collector only slows this down
        try:
            for name in sorted(set(known) - set(present)):
                self._forget_segment(name)  # removed by `clean`, or by hand
            # One transaction, and one refresh of the derived run tables, for all the
            # segments that grew: an import spread over many days touches many segments.
            with self.db:
                self._touched: set[str] = set()
                for name, path in present.items():
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    offset, lines, inode, _ = known.get(name, (0, 0, None, 0))
                    if name in known and (st.st_ino != inode or st.st_size < offset):
                        # Replaced or truncated: its old rows may no longer be in the log.
                        self._forget_segment(name)
                        offset, lines = 0, 0
                    if st.st_size == offset:
                        continue
                    stats.segments += 1
                    self._ingest_segment(path, offset, lines, st.st_ino, stats)
                for statement in before_refresh:
                    self.db.execute(statement)
                if stats.segments:
                    self._refresh_runs(self._touched)
        finally:
            if gc_was_enabled:
                gc.enable()
        return stats

    def rebuild(self) -> IngestStats:
        """Drop everything and index the whole log again.

        The event tables' secondary indexes are dropped for the bulk load and built
        again before the derived tables are refreshed: one sort per index instead of a
        B-tree insert per row, which makes a rebuild much faster. ``UNIQUE(id)`` stays,
        since it de-duplicates repeated events while they are read.
        """
        self._drop_all()
        self._ensure_schema()
        event_tables_sql = ",".join(f"'{t}'" for t in _TABLE_OF.values())
        secondary = [
            (name, sql)
            for name, sql in self.db.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({event_tables_sql})"
            )
        ]
        with self.db:
            for name, _ in secondary:
                self.db.execute(f'DROP INDEX "{name}"')
        return self.update(before_refresh=[sql for _, sql in secondary])

    def _segment_id(self, name: str, inode: int) -> int:
        row = self.db.execute("SELECT seg FROM segments WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        self.db.execute("INSERT INTO segments(name, offset, lines, inode, size) VALUES (?, 0, 0, ?, 0)", (name, inode))
        return int(self.db.last_insert_rowid())

    def _forget_segment(self, name: str) -> None:
        with self.db:
            row = self.db.execute("SELECT seg FROM segments WHERE name = ?", (name,)).fetchone()
            if row is None:
                return
            seg = row[0]
            touched = self._runs_in_segment(seg)
            # The paths of the file changes about to go: their agg_files rows are recomputed.
            for statement in _DERIVED_TEMP:
                self.db.execute(statement)
            self.db.execute(
                "INSERT OR IGNORE INTO temp.touched_paths SELECT path FROM file_changes WHERE seg = ?", (seg,)
            )
            for table in _TABLE_OF.values():
                self.db.execute(f"DELETE FROM {table} WHERE seg = ?", (seg,))
            self.db.execute("DELETE FROM bad_lines WHERE seg = ?", (seg,))
            self.db.execute("DELETE FROM segments WHERE seg = ?", (seg,))
            self._refresh_runs(touched)

    def _runs_in_segment(self, seg: int) -> set[str]:
        runs: set[str] = set()
        for table in _TABLE_OF.values():
            runs.update(r[0] for r in self.db.execute(f"SELECT DISTINCT run FROM {table} WHERE seg = ?", (seg,)))
        return runs

    def _ingest_segment(self, path: Path, offset: int, lines: int, inode: int, stats: IngestStats) -> None:
        with self.db:
            seg = self._segment_id(path.name, inode)
            end, line_no = offset, lines + 1
            for chunk in read_chunks(path, offset, lines + 1):
                stats.events += self._ingest_chunk(seg, chunk, stats)
                stats.bytes += len(chunk.data)
                end, line_no = chunk.end, chunk.first_line + chunk.line_count
            size = path.stat().st_size
            self.db.execute(
                "UPDATE segments SET offset = ?, lines = ?, inode = ?, size = ? WHERE seg = ?",
                (end, line_no - 1, inode, size, seg),
            )

    def _ingest_chunk(self, seg: int, chunk: LineChunk, stats: IngestStats) -> int:
        try:
            decoded: list[Any] = _decoder.decode_lines(chunk.data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            decoded = self._decode_line_by_line(seg, chunk, stats)
        # The runs this chunk touches, read off the events themselves (in C): an upsert
        # that updates a row in place must refresh its run's derived rows too.
        self._touched.update(map(_RUN_OF, decoded))
        by_table: dict[str, list[Any]] = {}
        astuple = msgspec.structs.astuple
        table_of = _TABLE_OF_INGEST
        for event in decoded:
            table = table_of.get(type(event))
            if table is None:  # a compacted span: one start row and one end row
                _add_merged_span(by_table, event)
                continue
            rows = by_table.get(table)
            if rows is None:
                rows = by_table[table] = []
            rows.append(astuple(event))
        for table, rows in by_table.items():
            self.db.executemany(_insert_sql(table, seg), rows)
        return len(decoded)

    def _decode_line_by_line(self, seg: int, chunk: LineChunk, stats: IngestStats) -> list[Any]:
        good: list[Any] = []
        offset = chunk.start
        for number, raw in enumerate(chunk.data.split(b"\n")[:-1], start=chunk.first_line):
            line_start = offset
            offset += len(raw) + 1
            if not raw.strip():
                continue
            event, reason = _decode_with_recovery(raw)
            if event is not None:
                good.append(event)
            if reason is not None:
                bad = BadLine(chunk.path.name, number, line_start, reason)
                stats.bad_lines.append(bad)
                self.db.execute(
                    "INSERT OR REPLACE INTO bad_lines(seg, line, offset, reason) VALUES (?, ?, ?, ?)",
                    (seg, number, line_start, reason),
                )
        return good

    # -- the derived runs table ------------------------------------------------------------

    def _refresh_runs(self, run_ids: set[str]) -> None:
        for statement in _DERIVED_TEMP:
            self.db.execute(statement)
        if not run_ids:
            self.db.execute("DELETE FROM temp.touched_paths")
            return
        self.db.execute("DELETE FROM temp.touched")
        self.db.executemany("INSERT OR IGNORE INTO temp.touched VALUES (?)", ((r,) for r in run_ids))
        fresh = not self.db.execute("SELECT EXISTS (SELECT 1 FROM runs)").fetchall()[0][0]
        before, after = _derived_statements(fresh=fresh)
        for statement in before:  # take the touched runs' old rows out of the aggregates
            self.db.execute(statement)
        self.db.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM temp.touched)")
        last_parts = " UNION ALL ".join(
            f"SELECT run, MAX(ts) AS ts FROM {table} WHERE run IN (SELECT run_id FROM temp.touched) GROUP BY run"
            for table in _TABLES_WITH_TIME
        )
        self.db.execute(
            f"""
            INSERT INTO runs(run_id, name, runner, started_us, ended_us, last_us, outcome, error, attrs, end_attrs)
            SELECT t.run_id, s.name, s.attrs ->> '$.runner',
                   {ts_us("s.ts")}, {ts_us("e.ts")}, {ts_us("l.ts")},
                   e.outcome, e.error, s.attrs, e.attrs
            FROM temp.touched t
            JOIN (SELECT run, MAX(ts) AS ts FROM ({last_parts}) GROUP BY run) l ON l.run = t.run_id
            LEFT JOIN span_starts s ON s.id = (
                SELECT x.id FROM span_starts x WHERE x.run = t.run_id AND x.span = t.run_id AND x.kind = 'run'
                ORDER BY x.ts, x.id LIMIT 1)
            LEFT JOIN span_ends e ON e.id = (
                SELECT x.id FROM span_ends x WHERE x.span = t.run_id ORDER BY x.ts, x.id LIMIT 1)
            """
        )
        for statement in after:  # per-run, then store-wide aggregates (set-based SQL)
            self.db.execute(statement)


_RUN_OF: Final = operator.attrgetter("run")


def _add_merged_span(by_table: dict[str, list[Any]], event: Any) -> None:
    start = tuple(getattr(event, name) for name in _SPAN_START_FIELDS)
    end = tuple(None if name == "parent" else getattr(event, name) for name in _SPAN_END_FIELDS)
    by_table.setdefault("span_starts", []).append(start)
    by_table.setdefault("span_ends", []).append(end)


def _decode_with_recovery(raw: bytes) -> tuple[Any | None, str | None]:
    """Decode one line. A torn fragment glued to a whole event (a writer killed
    mid-line, then another writer's append) is reported, and the event after it kept."""
    try:
        event = _decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        reason = _short_reason(exc)
        start = raw.find(b'{"', 1)
        while start > 0:
            try:
                event = _decoder.decode(raw[start:])
            except (msgspec.ValidationError, msgspec.DecodeError):
                start = raw.find(b'{"', start + 1)
                continue
            return event, f"torn line: {start} bytes of garbage before an event, which was kept ({reason})"
        return None, reason
    return event, None


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def open_index(store: Store, *, update: bool = True) -> Index:
    """Open the index and bring it up to date with the log."""
    index = Index(store)
    if update:
        index.update()
    return index


def pending_torn_tail(store: Store) -> list[tuple[str, int]]:
    """Segments ending in an unfinished line: (name, bytes after the last newline)."""
    out = []
    for path in store.segments():
        tail = torn_tail(path, 0)
        if tail:
            out.append((path.name, tail))
    return out


def table_of(event_type: type[Any]) -> str | None:
    """The index table that holds events of ``event_type`` (None for a compacted span)."""
    return _TABLE_OF.get(event_type)


def event_tables() -> tuple[str, ...]:
    """The index's tables that hold events, one per event type."""
    return tuple(_TABLE_OF.values())
