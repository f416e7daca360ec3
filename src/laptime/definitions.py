"""Every figure laptime reports, defined once (DESIGN.md, "Definitions").

Each definition lives here, as Python for the code that holds rows in memory and as SQL
for the index's derived tables and the queries over them; the two forms are tested
against each other (``tests/test_definitions.py``). No view, exporter or command computes
any of these itself: the index stores them per run (``laptime.derived``), analysis reads
them, views format them.

Times are integer microseconds since the epoch (``*_us``); JSON shows integer
milliseconds (``*_ms``, see ``ms``).

- **Run start**: the run span's start; a run whose start span is missing (a log cut by
  ``clean``, a crashed writer, an importer that saw only the end) starts at its first
  event.
- **Run end**: the run span's end; a run with no end ends, for now, at its last event.
- **Run duration**: end minus start, for every run (never null).
- **Outcome**: the recorded one (``completed`` when the end says none); a run with no
  end is ``running`` while events keep arriving and ``crashed`` once it has been silent
  for longer than ``crashed_after`` (config ``crashed_after_minutes``, default 30).
- **Phase duration and attempts**: over the run's top-level phase spans (parent = the
  run): the sum of their durations (an open span lasts until the run's end) and their
  count.
- **Unattributed time**: run duration minus the union of the top-level phase spans and
  the downtime spans (never below 0).
- **Downtime**: top-level spans marked ``attrs.downtime = true`` (an importer writes one
  for a crash followed by a resume): time the runner was not running, kept out of every
  phase.
- **TVc**: run start to the first checkpoint that is verified or that follows a passing
  validation (at or before it). None when there is no such checkpoint.
- **Verification runs and retries**: validations are the runs. A validation is a retry
  when its attrs say so (``retry: true``: the runner's own count, e.g. runr's
  ``verify_failed_retry``); in a run where no validation carries ``retry``, a validation
  is a retry when an earlier validation of the same command failed. A run with no
  validations counts the extra attempts of its verification phases (named in
  ``VERIFY_PHASES``).
- **Tokens**: input is uncached input (Anthropic's meaning): where ``input_includes_cache``,
  the cache reads and writes are taken out of it. Total input is uncached input plus
  cache reads plus cache writes; total tokens add the output.
- **A run's branch**: the first of its run attributes ``vcs.branch`` (the recorder's, from
  CI or git: ``laptime.ci_context``), ``git_branch`` (Claude Code's importer) and
  ``branch`` (any runner's) that is a non-empty string; None when none is.
- **Time window** (``--since`` / ``--until``): a run is in ``[since, until)`` when its
  start is.
- **Percentiles**: ``laptime.analysis.stats.percentile`` (linear interpolation between
  the closest ranks); SQL uses SQLite's ``percentile()``, the same definition.
- **Where the time goes**: a run's wall time (run start to run end) split into the
  ``ACTIVITIES``. Each span is an activity by ``activity_of``: a declared wait first
  (``attrs.waiting_on``: ``human``/``user`` or ``sync``/``lock``/``queue``/``batch``/
  ``dependency``; or ``attrs.blocked_on_user``), else its kind (``llm``, ``tool``,
  ``git``, ``validation``); runs, phases, tasks and other spans only hold activities. A
  validation event with a ``duration_ms``, and an ``llm`` usage event with a
  ``latency_ms``, is the interval of that length that ended at its ``ts`` (an LLM call
  recorded both as a span and as usage counts once: one activity, one instant). Open
  spans last until the run's end; everything is clipped to the run. Overlap: each instant
  counts once, split equally among the distinct activities active at it, so parallel
  LLM calls on three workers count as LLM time once, and an instant with an LLM call on
  one worker and a tool on another counts half to each; an instant with no activity is
  ``other``. The parts (integer microseconds; a split's remainder goes to the activities
  in ``ACTIVITIES`` order) add up to the wall time exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final, overload

US_PER_MS: Final = 1000
US_PER_MINUTE: Final = 60_000_000
DEFAULT_CRASHED_AFTER_MINUTES: Final = 30.0

# Phase names that mean verification, for runs that time a verify phase without
# validation events (the retry fallback above).
VERIFY_PHASES: Final[tuple[str, ...]] = ("verify", "verification", "test", "validation")
# Outcomes of a span that did not succeed.
UNSUCCESSFUL: Final[tuple[str, ...]] = ("failed", "blocked", "stopped", "crashed")

# -- time ----------------------------------------------------------------------------------------

# Timestamps are canonical (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), so SQL turns them into integer
# microseconds exactly, without float rounding.
_TS_US_SQL: Final = "(unixepoch(substr({col},1,19))*1000000 + CAST(substr({col},21,6) AS INTEGER))"


def ts_us_sql(col: str) -> str:
    """SQL for the integer microseconds of a timestamp column."""
    return _TS_US_SQL.format(col=col)


@overload
def ms(us: int) -> int: ...
@overload
def ms(us: None) -> None: ...
@overload
def ms(us: int | None) -> int | None: ...
def ms(us: int | None) -> int | None:
    """Integer milliseconds of a span of microseconds (rounded half up; None stays None)."""
    return None if us is None else (us + US_PER_MS // 2) // US_PER_MS


def round_ms(value: float) -> int:
    """Integer milliseconds of a duration a source gave in (fractional) ms, half up like ``ms``."""
    return math.floor(value + 0.5)


def ms_sql(us: str) -> str:
    """SQL for ``ms`` of a non-negative integer expression (SQLite divides integers exactly)."""
    return f"((({us}) + 500) / 1000)"


def crashed_after_us(minutes: float) -> int:
    """The silence, in microseconds, after which a run with no end counts as crashed."""
    return int(minutes * US_PER_MINUTE)


# -- runs ----------------------------------------------------------------------------------------


def run_start_us(started_us: int | None, first_us: int) -> int:
    """The run's start: its start span, else its first event."""
    return started_us if started_us is not None else first_us


def run_end_us(ended_us: int | None, last_us: int) -> int:
    """The run's end: its end span, else (for now) its last event."""
    return ended_us if ended_us is not None else last_us


def run_duration_us(started_us: int | None, first_us: int, ended_us: int | None, last_us: int) -> int:
    """End minus start (see the module's docstring); never negative."""
    return max(0, run_end_us(ended_us, last_us) - run_start_us(started_us, first_us))


def run_start_sql(alias: str = "") -> str:
    """SQL for ``run_start_us`` over a ``runs`` row (``alias``: the table's alias, or none)."""
    a = f"{alias}." if alias else ""
    return f"COALESCE({a}started_us, {a}first_us)"


def run_end_sql(alias: str = "") -> str:
    """SQL for ``run_end_us`` over a ``runs`` row."""
    a = f"{alias}." if alias else ""
    return f"COALESCE({a}ended_us, {a}last_us)"


def run_duration_sql(alias: str = "") -> str:
    """SQL for ``run_duration_us`` over a ``runs`` row."""
    a = f"{alias}." if alias else ""
    return f"MAX(0, COALESCE({a}ended_us, {a}last_us) - COALESCE({a}started_us, {a}first_us))"


def outcome(ended_us: int | None, recorded: str | None, last_us: int, *, now_us: int, crashed_after_us: int) -> str:
    """The run's outcome (see the module's docstring)."""
    if ended_us is not None:
        return recorded or "completed"
    return "crashed" if now_us - last_us > crashed_after_us else "running"


def outcome_sql(now_us: int, crashed_after_us: int, alias: str = "r") -> str:
    """SQL for ``outcome`` over a ``runs`` row (the integers are inlined on purpose: a
    constant lets SQLite use the ``runs_open`` index)."""
    a = f"{alias}." if alias else ""
    return (
        f"CASE WHEN {a}ended_us IS NOT NULL THEN COALESCE({a}outcome, 'completed') "
        f"WHEN {int(now_us)} - {a}last_us > {int(crashed_after_us)} THEN 'crashed' ELSE 'running' END"
    )


def in_window(start_us: int, since_us: int | None, until_us: int | None) -> bool:
    """Whether a run that starts at ``start_us`` is in ``[since, until)``."""
    return (since_us is None or start_us >= since_us) and (until_us is None or start_us < until_us)


def window_sql(since_us: int | None, until_us: int | None, alias: str = "r") -> tuple[list[str], list[int]]:
    """SQL conditions (to AND together) and their parameters for ``in_window``."""
    start = run_start_sql(alias)
    where: list[str] = []
    params: list[int] = []
    if since_us is not None:
        where.append(f"{start} >= ?")
        params.append(since_us)
    if until_us is not None:
        where.append(f"{start} < ?")
        params.append(until_us)
    return where, params


# -- a run's branch --------------------------------------------------------------------------------

#: The run attributes that name a run's branch, the first one set winning (see the docstring).
BRANCH_ATTRS: Final[tuple[str, ...]] = ("vcs.branch", "git_branch", "branch")


def run_branch(attrs: dict[str, object]) -> str | None:
    """The run's branch from its attributes (see the module's docstring)."""
    for name in BRANCH_ATTRS:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def run_branch_sql(alias: str = "r") -> str:
    """SQL for ``run_branch`` over a ``runs`` row (NULL when the run has none)."""
    a = f"{alias}." if alias else ""
    parts = ", ".join(
        f"CASE WHEN json_type({a}attrs, '$.\"{name}\"') = 'text' THEN NULLIF({a}attrs ->> '$.\"{name}\"', '') END"
        for name in BRANCH_ATTRS
    )
    return f"COALESCE({parts})"


# -- phases and unattributed time ------------------------------------------------------------------


def span_end_rowid_sql(span: str) -> str:
    """The ``span_ends`` rowid of the end of the span whose id is the SQL expression
    ``span``: its first end, by time and then id (a span closed twice keeps the first
    close; the index's version 4), NULL while it is open. Joined on as
    ``LEFT JOIN span_ends e ON e.rowid = span_end_rowid_sql("s.span")``.

    A rowid, not the end's id: the join then reads the row straight from the table's
    B-tree instead of looking the id up in ``span_ends_id`` first (about 22% faster for
    the 355k spans of a 1M-event index). A rowid is only compared within one statement,
    so a VACUUM that renumbers rows cannot change an answer."""
    return f"(SELECT x.rowid FROM span_ends x WHERE x.span = {span} ORDER BY x.ts, x.id LIMIT 1)"


# A span (of a kind other than phase, at the top level of its run) marked as downtime.
DOWNTIME_ATTR_SQL: Final = "(s.attrs ->> '$.downtime') IN (1, 'true')"


def is_downtime(kind: str, parent_id: str | None, run_id: str, attrs: dict[str, object]) -> bool:
    """Whether a span is downtime (see the module's docstring)."""
    return kind != "phase" and parent_id == run_id and attrs.get("downtime") in (True, "true")


def span_duration_us(start_us: int, end_us: int | None, run_end: int) -> int:
    """A span's duration; an open span lasts until the run's end (never negative)."""
    return max(end_us if end_us is not None else run_end, start_us) - start_us


def union_us(intervals: Iterable[tuple[int, int]]) -> int:
    """Total length of the union of ``[start, end)`` intervals."""
    total = 0
    current_start: int | None = None
    current_end = 0
    for start, end in sorted(intervals):
        if current_start is None or start > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None:
        total += current_end - current_start
    return total


def unattributed_us(duration_us: int, covered: Iterable[tuple[int, int]]) -> int:
    """Run duration minus the union of its top-level phase and downtime spans (at least 0)."""
    return max(0, duration_us - union_us(covered))


# -- tokens ----------------------------------------------------------------------------------------


def uncached_input(input_tokens: int, cache_read: int, cache_write: int, includes_cache: bool | int) -> int:
    """Input tokens not read from or written to the cache (Anthropic's meaning)."""
    if includes_cache:
        return max(0, input_tokens - cache_read - cache_write)
    return input_tokens


def total_input(input_tokens: int, cache_read: int, cache_write: int, includes_cache: bool | int) -> int:
    """Uncached input plus cache reads plus cache writes."""
    return uncached_input(input_tokens, cache_read, cache_write, includes_cache) + cache_read + cache_write


def uncached_input_sql(alias: str = "") -> str:
    """SQL for ``uncached_input`` over an ``llm_calls`` row."""
    a = f"{alias}." if alias else ""
    return (
        f"(CASE WHEN {a}input_includes_cache THEN MAX(0, {a}input_tokens - {a}cache_read_tokens - "
        f"{a}cache_write_tokens) ELSE {a}input_tokens END)"
    )


def total_input_sql(alias: str = "") -> str:
    """SQL for ``total_input`` over an ``llm_calls`` row."""
    a = f"{alias}." if alias else ""
    return f"({uncached_input_sql(alias)} + {a}cache_read_tokens + {a}cache_write_tokens)"


def llm_tokens_sql(alias: str = "") -> str:
    """SQL for the tokens of a group of calls (a ``run_llm`` or ``agg_llm`` row): uncached
    input, output, cache reads and cache writes, the tokens every KPI and budget counts."""
    a = f"{alias}." if alias else ""
    return f"({a}input + {a}output + {a}cache_read + {a}cache_write)"


def cache_write_1h_sql(alias: str = "") -> str:
    """SQL for the one-hour part of a call's cache writes (``attrs.cache_write_1h_tokens``,
    as the Claude Code importer records it), clamped to the call's cache writes."""
    a = f"{alias}." if alias else ""
    raw = f"COALESCE(CAST({a}attrs ->> '$.cache_write_1h_tokens' AS INTEGER), 0)"
    return f"MAX(0, MIN({a}cache_write_tokens, {raw}))"


def cache_write_1h(attrs: dict[str, Any], cache_write_tokens: int) -> int:
    """``cache_write_1h_sql`` for one call's attrs, in Python (the live export prices calls
    before they reach the index)."""
    raw = attrs.get("cache_write_1h_tokens", 0)
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    return max(0, min(cache_write_tokens, value))


# -- verification and TVc (SQL over the index's event tables, for laptime.derived) ---------------------


def tvc_us_sql(run_alias: str = "r") -> str:
    """SQL for a run's TVc in microseconds (NULL when it has none), given a ``runs`` alias."""
    r = run_alias
    return f"""((SELECT {ts_us_sql("c.ts")} FROM checkpoints c
                WHERE c.run = {r}.run_id AND (c.verified OR EXISTS (
                    SELECT 1 FROM validations v WHERE v.run = c.run AND v.passed AND v.ts <= c.ts))
                ORDER BY c.ts, c.id LIMIT 1) - {run_start_sql(r)})"""


def verification_retries_sql(run_alias: str = "r", phases_table: str = "run_phases") -> str:
    """SQL for a run's verification retries (see the module's docstring)."""
    r = run_alias
    verify = ", ".join(f"'{name}'" for name in VERIFY_PHASES)
    explicit = "(v.attrs ->> '$.retry') IN (1, 'true')"
    return f"""(CASE
        WHEN EXISTS (SELECT 1 FROM validations v WHERE v.run = {r}.run_id AND {explicit}) THEN
            (SELECT COUNT(*) FROM validations v WHERE v.run = {r}.run_id AND {explicit})
        WHEN EXISTS (SELECT 1 FROM validations WHERE run = {r}.run_id) THEN
            (SELECT COUNT(*) FROM validations v WHERE v.run = {r}.run_id AND EXISTS (
                 SELECT 1 FROM validations w WHERE w.run = v.run AND w.command = v.command
                 AND NOT w.passed AND (w.ts < v.ts OR (w.ts = v.ts AND w.id < v.id))))
        ELSE (SELECT COALESCE(SUM(p.attempts - 1), 0) FROM {phases_table} p
              WHERE p.run_id = {r}.run_id AND lower(p.phase) IN ({verify})) END)"""


# -- where the time goes ---------------------------------------------------------------------------

#: The activities a run's wall time is split into, in their order (see the module docstring).
ACTIVITIES: Final[tuple[str, ...]] = ("llm", "tool", "git", "validation", "sync_wait", "human_wait", "other")
_WAITS: Final[dict[str, str]] = {
    "human": "human_wait",
    "user": "human_wait",
    "sync": "sync_wait",
    "lock": "sync_wait",
    "queue": "sync_wait",
    "batch": "sync_wait",
    "dependency": "sync_wait",
}
_KIND_ACTIVITIES: Final[dict[str, str]] = {"llm": "llm", "tool": "tool", "git": "git", "validation": "validation"}


def activity_of(kind: str, waiting_on: object = None, *, blocked_on_user: object = None) -> str | None:
    """What a span spends its time on, or None for a span that only holds others (a run,
    phase, task, or a span of kind ``other`` that declares no wait)."""
    if blocked_on_user in (True, 1, "true"):
        return "human_wait"
    if isinstance(waiting_on, str) and (wait := _WAITS.get(waiting_on.lower())) is not None:
        return wait
    return _KIND_ACTIVITIES.get(kind)


def split_wall_time(start_us: int, end_us: int, intervals: Iterable[tuple[int, int, str]]) -> dict[str, int]:
    """``[start_us, end_us)`` split into the ACTIVITIES, from ``(start, end, activity)``
    intervals (clipped to it): each instant once, shared equally by the distinct activities
    active at it, ``other`` when none is. The values add up to ``end_us - start_us``."""
    parts = dict.fromkeys(ACTIVITIES, 0)
    if end_us <= start_us:
        return parts
    edges: list[tuple[int, int, str]] = []
    for begin, end, activity in intervals:
        lo, hi = max(begin, start_us), min(end, end_us)
        if hi > lo and activity in parts and activity != "other":
            edges.append((lo, 1, activity))
            edges.append((hi, -1, activity))
    edges.sort()
    # Exact shares in units of 1/_SPLIT_UNIT µs (divisible by every count of activities),
    # rounded to whole µs once at the end, so no rounding builds up segment by segment.
    exact = dict.fromkeys(ACTIVITIES, 0)
    active = dict.fromkeys(ACTIVITIES, 0)
    at = start_us
    for edge in [*edges, (end_us, 0, "other")]:
        when = edge[0]
        if when > at:
            running = [a for a in ACTIVITIES if active[a] > 0] or ["other"]
            for activity in running:
                exact[activity] += (when - at) * (_SPLIT_UNIT // len(running))
            at = when
        active[edge[2]] += edge[1]
    for activity, value in exact.items():
        parts[activity] = value // _SPLIT_UNIT
    # Largest remainders get the µs left over (ties in ACTIVITIES order): the parts add up.
    left = (end_us - start_us) - sum(parts.values())
    by_remainder = sorted(ACTIVITIES, key=lambda a: (-(exact[a] % _SPLIT_UNIT), ACTIVITIES.index(a)))
    for activity in by_remainder[:left]:
        parts[activity] += 1
    return parts


_SPLIT_UNIT: Final = 420  # lcm(1, ..., 7): one instant split among up to 7 activities stays exact
