"""Where the time goes: a run's wall time, or many runs', split into activities.

The split is ``laptime.definitions.split_wall_time`` over the spans the definitions call
activities (``activity_of``) and the validations that carry a duration. One run is
computed from its spans when asked; across runs (``report summary``) each run's split is
kept in ``time_split_cache`` once computed, and the index drops a run's row whenever an
ingest touches the run (``TIME_SPLIT_INVALIDATION``), so a warm summary reads one row per
run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import apsw

from laptime import definitions as d
from laptime.analysis.results import TimeSplit
from laptime.when import FIRST_US

if TYPE_CHECKING:
    from laptime.index import Index

_COLUMNS: Final = ", ".join(d.ACTIVITIES)
# Raise when the split's definition (laptime.definitions) changes: rows of another version
# are computed again, without a rebuild.
TIME_SPLIT_VERSION: Final = 1

# Created with the index's schema (laptime.index), emptied for the runs an ingest touches
# ({touched}: the SQL of their ids; laptime.derived runs it).
TIME_SPLIT_SCHEMA: Final[tuple[str, ...]] = (
    f"""CREATE TABLE IF NOT EXISTS time_split_cache (
        run_id TEXT PRIMARY KEY, version INTEGER NOT NULL, wall_us INTEGER NOT NULL,
        {", ".join(f"{a} INTEGER NOT NULL" for a in d.ACTIVITIES)}) WITHOUT ROWID""",
)
TIME_SPLIT_INVALIDATION: Final[tuple[str, ...]] = ("DELETE FROM time_split_cache WHERE run_id IN {touched}",)

# Batches of run ids per query: SQLite's limit on bound parameters is far above this.
_BATCH: Final = 500


def run_time_split(index: Index, run_id: str) -> TimeSplit:
    """One run's split, computed from its spans."""
    splits = _compute(index, [run_id])
    wall, parts = splits.get(run_id, (0, dict.fromkeys(d.ACTIVITIES, 0)))
    return time_split_result(wall, parts, runs=1 if run_id in splits else 0)


def runs_time_split(index: Index, runs_sql: str | None = None) -> TimeSplit:
    """The split of every run, or of those ``runs_sql`` (a query of run ids) selects, added
    up: the runs not in the cache are computed first (and kept, where the index can be
    written), then the cache is summed in SQL."""
    selected = f"AND r.run_id IN ({runs_sql})" if runs_sql else ""
    sums = ", ".join(f"COALESCE(SUM(c.{a}), 0)" for a in d.ACTIVITIES)
    # One snapshot for all of it: if an ingest commits after the splits were computed, the
    # keep fails (the snapshot is stale) instead of caching a split of the older log over
    # the row the ingest dropped, and the sum cannot count a run another process kept meanwhile.
    with index.transaction():
        missing = [
            str(row[0])
            for row in index.execute(
                f"""SELECT r.run_id FROM runs r LEFT JOIN time_split_cache c
                    ON c.run_id = r.run_id AND c.version = ? WHERE c.run_id IS NULL {selected}""",
                (TIME_SPLIT_VERSION,),
            )
        ]
        computed = _compute(index, missing) if missing else {}
        kept = _keep(index, computed) if computed else True
        (row,) = index.query(  # an aggregate: always one row
            f"""SELECT COUNT(*), COALESCE(SUM(c.wall_us), 0), {sums} FROM time_split_cache c
                JOIN runs r ON r.run_id = c.run_id WHERE c.version = ? {selected}""",
            (TIME_SPLIT_VERSION,),
        )
    runs, wall = int(row[0]), int(row[1])
    parts = dict(zip(d.ACTIVITIES, map(int, row[2:]), strict=True))
    if not kept:  # a read-only store, a stale snapshot: the cache lacks them, add them here
        runs += len(computed)
        for run_wall, run_parts in computed.values():
            wall += run_wall
            for activity, value in run_parts.items():
                parts[activity] += value
    return time_split_result(wall, parts, runs=runs)


def time_split_result(wall_us: int, parts: dict[str, int], *, runs: int) -> TimeSplit:
    """The typed result: whole milliseconds that add up to the wall time's (largest
    remainders), and each activity's share of the wall time."""
    wall_ms = d.round_ms(wall_us / d.US_PER_MS)
    floors = {a: parts[a] // d.US_PER_MS for a in d.ACTIVITIES}
    left = wall_ms - sum(floors.values())
    order = sorted(d.ACTIVITIES, key=lambda a: (-(parts[a] % d.US_PER_MS), d.ACTIVITIES.index(a)))
    for activity in order[: max(0, left)]:
        floors[activity] += 1
    shares = {a: (parts[a] / wall_us if wall_us else 0.0) for a in d.ACTIVITIES}
    return TimeSplit(
        runs=runs,
        wall_ms=wall_ms,
        llm_ms=floors["llm"],
        tool_ms=floors["tool"],
        git_ms=floors["git"],
        validation_ms=floors["validation"],
        sync_wait_ms=floors["sync_wait"],
        human_wait_ms=floors["human_wait"],
        other_ms=floors["other"],
        shares=shares,
    )


def _batches(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _BATCH):
        yield list(items[i : i + _BATCH])


def _compute(index: Index, run_ids: Sequence[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """run id -> (wall µs, activity -> µs), from the runs' spans and validations."""
    bounds: dict[str, tuple[int, int]] = {}
    intervals: dict[str, list[tuple[int, int, str]]] = {}
    for batch in _batches(run_ids):
        marks = ",".join("?" * len(batch))
        for run_id, start, end in index.execute(
            f"SELECT run_id, {d.run_start_sql('r')}, {d.run_end_sql('r')} FROM runs r WHERE run_id IN ({marks})",
            batch,
        ):
            bounds[run_id] = (int(start), int(end))
            intervals[run_id] = []
        rows: Any = index.execute(
            f"""SELECT run_id, kind, start_us, end_us, attrs ->> '$.waiting_on', attrs ->> '$.blocked_on_user',
                       end_attrs ->> '$.blocked_on_user'
                FROM spans WHERE run_id IN ({marks}) AND kind NOT IN ('run', 'phase')""",
            batch,
        )
        for run_id, kind, start, end, waiting_on, blocked, end_blocked in rows:
            activity = d.activity_of(kind, waiting_on, blocked_on_user=blocked or end_blocked)
            if activity is None or run_id not in bounds:
                continue
            stop = end if end is not None else bounds[run_id][1]  # open: until the run's end
            intervals[run_id].append((int(start), int(stop), activity))
        for run_id, at_us, duration_ms in index.execute(
            f"""SELECT run, {d.ts_us_sql("ts")}, duration_ms FROM validations
                WHERE run IN ({marks}) AND duration_ms > 0""",
            batch,
        ):
            if run_id in bounds:
                intervals[run_id].append((_start_us(at_us, duration_ms), int(at_us), "validation"))
        for run_id, at_us, latency_ms in index.execute(
            f"""SELECT run, {d.ts_us_sql("ts")}, latency_ms FROM llm_calls
                WHERE run IN ({marks}) AND latency_ms > 0""",
            batch,
        ):
            if run_id in bounds:
                intervals[run_id].append((_start_us(at_us, latency_ms), int(at_us), "llm"))
    return {
        run_id: (end - start, d.split_wall_time(start, end, intervals[run_id]))
        for run_id, (start, end) in bounds.items()
    }


def _keep(index: Index, computed: dict[str, tuple[int, dict[str, int]]]) -> bool:
    marks = ",".join("?" * (3 + len(d.ACTIVITIES)))
    rows = [
        (run_id, TIME_SPLIT_VERSION, wall, *(parts[a] for a in d.ACTIVITIES))
        for run_id, (wall, parts) in computed.items()
    ]
    try:
        index.executemany(f"INSERT OR REPLACE INTO time_split_cache VALUES ({marks})", rows)
    except (apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):
        return False  # a stale snapshot, a read-only store: computed again next time
    return True


def _start_us(at_us: int, took_ms: float) -> int:
    """When something that took ``took_ms`` and ended at ``at_us`` started; a duration that
    reaches back past the year 1 (1e308 ms is a float, and a valid one) starts there."""
    return int(max(at_us - took_ms * d.US_PER_MS, FIRST_US))
