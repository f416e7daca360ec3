"""laptime.definitions: each figure's Python and SQL forms agree, and every view reads them.

The SQL forms run in a real SQLite (apsw, as the index uses) over hand-made rows, so a
drift between the two forms fails here before it can reach a view.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0, invoke_json, record_simple_run
from laptime import definitions as d

if TYPE_CHECKING:
    from laptime.store import Store

US = st.integers(min_value=0, max_value=10**15)
MAYBE_US = st.none() | US


def _sqlite() -> apsw.Connection:
    db = apsw.Connection(":memory:")
    db.execute(
        "CREATE TABLE runs (run_id TEXT, started_us INTEGER, ended_us INTEGER, first_us INTEGER, last_us INTEGER, "
        "outcome TEXT)"
    )
    db.execute(
        "CREATE TABLE llm_calls (input_tokens INTEGER, cache_read_tokens INTEGER, cache_write_tokens INTEGER, "
        "input_includes_cache INTEGER, attrs TEXT)"
    )
    return db


DB = _sqlite()


class TestRunTimes:
    @settings(max_examples=300, deadline=None)
    @given(started=MAYBE_US, ended=MAYBE_US, first=US, last=US)
    def test_start_end_duration_sql_equal_python(
        self, started: int | None, ended: int | None, first: int, last: int
    ) -> None:
        DB.execute("DELETE FROM runs")
        DB.execute("INSERT INTO runs VALUES ('r', ?, ?, ?, ?, NULL)", (started, ended, first, last))
        start, end, duration = DB.execute(
            f"SELECT {d.run_start_sql('r')}, {d.run_end_sql('r')}, {d.run_duration_sql('r')} FROM runs r"
        ).fetchall()[0]
        assert start == d.run_start_us(started, first)
        assert end == d.run_end_us(ended, last)
        assert duration == d.run_duration_us(started, first, ended, last)
        assert duration >= 0

    def test_a_run_without_a_start_span_starts_at_its_first_event(self) -> None:
        assert d.run_start_us(None, 5_000_000) == 5_000_000
        assert d.run_duration_us(None, 5_000_000, 65_000_000, 70_000_000) == 60_000_000
        assert d.run_duration_us(None, 5_000_000, None, 70_000_000) == 65_000_000

    @settings(max_examples=300, deadline=None)
    @given(
        ended=MAYBE_US,
        recorded=st.sampled_from([None, "completed", "failed", "blocked", "stopped"]),
        last=US,
        now=US,
        crashed_after=st.integers(min_value=0, max_value=10**12),
    )
    def test_outcome_sql_equals_python(
        self, ended: int | None, recorded: str | None, last: int, now: int, crashed_after: int
    ) -> None:
        DB.execute("DELETE FROM runs")
        DB.execute("INSERT INTO runs VALUES ('r', NULL, ?, 0, ?, ?)", (ended, last, recorded))
        (got,) = DB.execute(f"SELECT {d.outcome_sql(now, crashed_after)} FROM runs r").fetchall()[0]
        assert got == d.outcome(ended, recorded, last, now_us=now, crashed_after_us=crashed_after)

    def test_outcome_running_then_crashed(self) -> None:
        minute = 60_000_000
        assert d.outcome(None, None, 0, now_us=29 * minute, crashed_after_us=d.crashed_after_us(30)) == "running"
        assert d.outcome(None, None, 0, now_us=31 * minute, crashed_after_us=d.crashed_after_us(30)) == "crashed"
        assert d.outcome(5, None, 0, now_us=10**15, crashed_after_us=1) == "completed"

    @settings(max_examples=200, deadline=None)
    @given(started=MAYBE_US, first=US, since=MAYBE_US, until=MAYBE_US)
    def test_window_sql_equals_python(
        self, started: int | None, first: int, since: int | None, until: int | None
    ) -> None:
        DB.execute("DELETE FROM runs")
        DB.execute("INSERT INTO runs VALUES ('r', ?, NULL, ?, ?, NULL)", (started, first, first))
        where, params = d.window_sql(since, until, "r")
        sql = "SELECT COUNT(*) FROM runs r" + (" WHERE " + " AND ".join(where) if where else "")
        (n,) = DB.execute(sql, params).fetchall()[0]
        assert bool(n) == d.in_window(d.run_start_us(started, first), since, until)


class TestTokens:
    @settings(max_examples=300, deadline=None)
    @given(
        inp=st.integers(0, 10**9),
        cread=st.integers(0, 10**9),
        cwrite=st.integers(0, 10**9),
        includes=st.booleans(),
        one_hour=st.none() | st.integers(-5, 2 * 10**9),
    )
    def test_uncached_and_total_input_sql_equal_python(
        self, inp: int, cread: int, cwrite: int, includes: bool, one_hour: int | None
    ) -> None:
        DB.execute("DELETE FROM llm_calls")
        attrs = json.dumps({} if one_hour is None else {"cache_write_1h_tokens": one_hour})
        DB.execute("INSERT INTO llm_calls VALUES (?, ?, ?, ?, ?)", (inp, cread, cwrite, includes, attrs))
        uncached, total, c1h = DB.execute(
            f"SELECT {d.uncached_input_sql()}, {d.total_input_sql()}, {d.cache_write_1h_sql()} FROM llm_calls"
        ).fetchall()[0]
        assert uncached == d.uncached_input(inp, cread, cwrite, includes)
        assert total == d.total_input(inp, cread, cwrite, includes)
        assert 0 <= c1h <= cwrite
        if one_hour is not None and 0 <= one_hour <= cwrite:
            assert c1h == one_hour

    def test_input_that_includes_the_cache_is_taken_apart(self) -> None:
        assert d.uncached_input(10_000, 5_000, 2_000, includes_cache=True) == 3_000
        assert d.uncached_input(10_000, 5_000, 2_000, includes_cache=False) == 10_000
        assert d.total_input(3_000, 5_000, 2_000, includes_cache=False) == 10_000


class TestMs:
    @pytest.mark.parametrize(
        ("us", "expected"), [(None, None), (0, 0), (499, 0), (500, 1), (1_499, 1), (60_000_000, 60_000)]
    )
    def test_ms_rounds_half_up(self, us: int | None, expected: int | None) -> None:
        assert d.ms(us) == expected


def _drop_run_start(store: Store, run_id: str) -> None:
    """Take the run span's span_start out of the log, as a log cut by hand would."""
    for segment in store.segments():
        kept = [
            line
            for line in segment.read_bytes().splitlines(keepends=True)
            if not (b'"type":"span_start"' in line and json.loads(line).get("span") == run_id)
        ]
        segment.write_bytes(b"".join(kept))


def _json(store: Store, *args: str) -> Any:
    return invoke_json(store.root, *args)


class TestRunWithoutStartSpan:
    """Issue 7: such a run showed 20m in `report RUN`, null in `report list`, and was left out of
    `report summary`. It starts at its first event, in every view."""

    def test_every_view_gives_it_the_same_start_and_duration(self, store: Store) -> None:
        record_simple_run(store, "r-whole", start=T0, seconds=600)
        record_simple_run(store, "r-headless", start=T0 + timedelta(hours=1), seconds=1200)
        _drop_run_start(store, "r-headless")
        scoreboard = _json(store, "report", "r-headless")
        listed = {r["run_id"]: r for r in _json(store, "report", "list")["runs"]}
        summary = _json(store, "report", "summary")
        assert listed["r-headless"]["total_duration_ms"] == scoreboard["total_duration_ms"]
        assert listed["r-headless"]["started_at"] == scoreboard["started_at"]
        # the first event left is the phase's start, at the run's own start time
        assert scoreboard["started_at"] == "2026-01-05T10:00:00.000000Z"
        assert scoreboard["total_duration_ms"] == pytest.approx(1_200_000, abs=1)
        assert summary["runs"] == 2
        assert summary["duration_ms"]["n"] == 2
        assert summary["duration_ms"]["total"] == pytest.approx(
            listed["r-whole"]["total_duration_ms"] + listed["r-headless"]["total_duration_ms"]
        )

    def test_since_selects_it_by_its_first_event(self, store: Store) -> None:
        record_simple_run(store, "r-headless", start=T0 + timedelta(hours=1), seconds=60)
        _drop_run_start(store, "r-headless")
        inside = _json(store, "report", "list", "--since", "2026-01-05T10:00:00Z")["runs"]
        outside = _json(store, "report", "list", "--since", "2026-01-05T10:00:01Z")["runs"]
        assert [r["run_id"] for r in inside] == ["r-headless"]
        assert outside == []
        summary = _json(store, "report", "summary", "--since", "2026-01-05T10:00:00Z")
        assert summary["runs"] == 1
        assert summary["duration_ms"]["n"] == 1
