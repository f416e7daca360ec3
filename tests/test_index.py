"""The index: incremental ingest, ``refresh`` rebuilding it equal, seed 003's view, ``doctor``.

The central test records a store in several steps, updating the index between them (so
ingest is incremental: appends to the same segment, a run that crosses midnight into a
new day segment, a bad line), then rebuilds the index with ``laptime refresh`` and checks
that every report answers identically, and that every table holds the same rows.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import (
    FIXED_RUN_ID,
    SONNET,
    T0,
    invoke,
    invoke_json,
    make_recorder,
    record_fixed_run,
    record_simple_run,
    write_lines,
)
from laptime import SimulatedClock
from laptime.index import Index, IngestStats, event_tables
from laptime.report.format import size
from laptime.store import Store

if TYPE_CHECKING:
    from pathlib import Path

DAY1, DAY2 = "2026-01-05", "2026-01-06"
BAD_LINE = b'{"type":"milestone","v":1,"id":"broken"}\n'  # no ts, run or name


def _size(store: Store, day: str) -> int:
    return store.segment_path(day).stat().st_size


def _lines(store: Store, day: str) -> int:
    return store.segment_path(day).read_bytes().count(b"\n")


def _update(store: Store) -> IngestStats:
    with Index(store) as index:
        return index.update()


def _state(store: Store) -> dict[str, tuple[int, int]]:
    """segment -> (bytes indexed, lines indexed)."""
    with Index(store) as index:
        return {name: (offset, lines) for name, (offset, lines, _, _) in index.segment_state().items()}


def _every_answer(home: Path) -> dict[str, Any]:
    """What every report says, as JSON (and text) keyed by the command line."""
    answers: dict[str, Any] = {}
    runs = invoke_json(home, "report", "list", "--limit", "1000")["runs"]
    answers["report list --json"] = runs
    answers["report --json"] = invoke_json(home, "report")
    for status in ("completed", "failed", "running", "crashed"):
        answers[f"report list --status {status}"] = invoke_json(home, "report", "list", "--status", status)["runs"]
    for row in runs:
        run_id = row["run_id"]
        answers[f"report {run_id} --json"] = invoke_json(home, "report", run_id)
        answers[f"report show {run_id} --json"] = invoke_json(home, "report", "show", run_id)
        answers[f"report show {run_id}"] = invoke(home, "report", "show", run_id).stdout
    answers["report list"] = invoke(home, "report", "list").stdout
    doctor = invoke(home, "doctor", "--json")
    answers["doctor --json"] = (doctor.exit_code, _without_timing(json.loads(doctor.stdout)))
    return answers


TIMING = re.compile(r"elapsed|took|per_s|_rate$|duration_s$")


def _without_timing(data: Any) -> Any:
    """``data`` without wall-clock measurements of the command itself (none today)."""
    if isinstance(data, dict):
        return {k: _without_timing(v) for k, v in data.items() if not TIMING.search(k)}
    if isinstance(data, list):
        return [_without_timing(v) for v in data]
    return data


# The tables derived from the event tables (the caches, price_cache, task_cost_cache and
# model_cost_cache, are not derived: they fill as reports read).
DERIVED = (
    "runs",
    "run_llm",
    "run_phases",
    "run_facts",
    "agg_runs",
    "agg_phases",
    "agg_tasks",
    "agg_llm",
    "agg_files",
    "rank_buckets",
)


def _table_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the index, in a stable order (rowids left out)."""
    with Index(store) as index:
        tables = [*event_tables(), *DERIVED, "segments", "bad_lines", "meta"]
        return {table: sorted(index.query(f"SELECT * FROM {table}"), key=repr) for table in tables}


def _derived_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    with Index(store) as index:
        return {table: sorted(index.query(f"SELECT * FROM {table}"), key=repr) for table in DERIVED}


def _assert_derived_equal_a_rebuild(store: Store, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The derived tables of the store's (incremental) index equal those of an index rebuilt
    from a copy of its log, row for row."""
    incremental = _derived_rows(store)
    copy = Store(tmp_path / f"rebuilt-{len(list(tmp_path.glob('rebuilt-*')))}" / ".laptime")
    shutil.copytree(store.log_dir, copy.log_dir)
    with Index(copy) as index:
        index.rebuild()
    rebuilt = _derived_rows(copy)
    for table in DERIVED:
        assert incremental[table] == rebuilt[table], table
    return incremental


def test_incremental_and_rebuilt_indexes_answer_every_report_identically(store: Store) -> None:
    home = store.root

    # Step 1: one finished run on day 1.
    record_fixed_run(store)
    stats = _update(store)
    assert (stats.segments, stats.bytes, stats.events) == (1, _size(store, DAY1), _lines(store, DAY1))
    assert stats.bad_lines == []
    assert _state(store) == {f"{DAY1}.jsonl": (_size(store, DAY1), _lines(store, DAY1))}

    # Step 2: a run starts late on day 1 and the index catches up while it is open.
    clock = SimulatedClock(start=datetime(2026, 1, 5, 23, 55, tzinfo=UTC))
    with make_recorder(store, clock) as rec:
        run = rec.run("overnight", run_id="night0000", runner="cron")
        with run:
            with run.phase("plan"):
                run.llm_call(SONNET, input_tokens=10, output_tokens=1, worker="w1")
                clock.advance(120)
            before = _size(store, DAY1)
            size_after_step_1 = _state(store)[f"{DAY1}.jsonl"][0]
            stats = _update(store)  # incremental: only the bytes appended since step 1
            assert (stats.segments, stats.bytes) == (1, before - size_after_step_1)
            assert invoke_json(home, "report", "night")["ended_at"] is None

            # Step 3: past midnight, into day 2's segment.
            with run.phase("implement"):
                clock.advance(240)  # 23:57 -> 00:01
                run.file_change("x.py", "created", lines_added=5)
                run.validation("pytest", passed=True)
                run.checkpoint("c0ffee")
    assert store.segment_path(DAY2).exists()
    day1_before = _state(store)[f"{DAY1}.jsonl"][0]
    stats = _update(store)
    assert stats.segments == 2  # the day-1 append and the new day-2 segment
    assert stats.bytes == (_size(store, DAY1) - day1_before) + _size(store, DAY2)
    night = invoke_json(home, "report", "night")
    assert night["ended_at"] == "2026-01-06T00:01:00.000000Z"
    assert night["total_duration_ms"] == 360_000.0
    assert night["tvc_ms"] == 360_000.0

    # Step 4: more appends to both days, a bad line, and reports between them.
    record_simple_run(store, "aaaa1111", start=T0 + timedelta(days=1), name="day two", calls=2)
    assert len(invoke_json(home, "report", "list")["runs"]) == 3
    with store.segment_path(DAY2).open("ab") as handle:
        handle.write(BAD_LINE)
    bad_line_number = _lines(store, DAY2)
    record_simple_run(store, "aaaa2222", start=T0 + timedelta(hours=3), name="late day one", outcome="failed")
    record_simple_run(store, "bbbb3333", start=T0 + timedelta(days=1, hours=1), name="day two again", calls=0)

    # Nothing new: an update reads nothing.
    _update(store)
    assert _update(store) == IngestStats(segments=0, bytes=0, events=0, bad_lines=[])
    assert _state(store) == {
        f"{DAY1}.jsonl": (_size(store, DAY1), _lines(store, DAY1)),
        f"{DAY2}.jsonl": (_size(store, DAY2), _lines(store, DAY2)),
    }

    incremental = _every_answer(home)
    incremental_rows = _table_rows(store)
    assert len(incremental["report list --json"]) == 5
    assert incremental["doctor --json"][0] == 1  # the bad line
    assert incremental["doctor --json"][1]["bad_lines"][0]["line"] == bad_line_number

    result = invoke(home, "refresh")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"rebuilt {store.index_path} from 2 segments: ")
    events = incremental["doctor --json"][1]["events"]
    assert f": {events} events, 1 bad lines, " in result.stdout
    assert result.stderr.startswith(f"warning: {DAY2}.jsonl:")

    rebuilt = _every_answer(home)
    assert rebuilt.keys() == incremental.keys()
    for key, answer in incremental.items():
        assert rebuilt[key] == answer, key
    assert _table_rows(store) == incremental_rows


def test_update_reads_only_bytes_it_has_not_indexed(store: Store) -> None:
    # Proof by tampering: rewrite an already indexed byte range in place (same size, same
    # file). The next update does not read it; only the rebuild sees it. (The log is
    # append-only, so this never happens in real use.)
    record_simple_run(store, "r1", name="alpha")
    assert _update(store).events > 0
    path = store.segment_path(DAY1)
    data = path.read_bytes()
    assert data.count(b'"alpha"') == 1
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(data.replace(b'"alpha"', b'"omega"'))
    assert _update(store) == IngestStats()
    size = path.stat().st_size
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="beta")
    stats = _update(store)
    assert (stats.segments, stats.bytes) == (1, path.stat().st_size - size)
    assert invoke_json(store.root, "report", "r1")["name"] == "alpha"
    assert invoke(store.root, "refresh").exit_code == 0
    assert invoke_json(store.root, "report", "r1")["name"] == "omega"


def test_a_replaced_or_truncated_segment_is_read_again(store: Store) -> None:
    record_simple_run(store, "r1", name="one")
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="two")
    _update(store)
    path = store.segment_path(DAY1)
    lines = path.read_bytes().splitlines(keepends=True)
    keep = b"".join(line for line in lines if b'"run":"r1"' in line)
    path.write_bytes(keep)  # truncated: r2 is gone from the log
    stats = _update(store)
    assert (stats.segments, stats.bytes) == (1, len(keep))
    assert [r["run_id"] for r in invoke_json(store.root, "report", "list")["runs"]] == ["r1"]

    replacement = path.with_suffix(".tmp")
    replacement.write_bytes(b"".join(lines))
    replacement.replace(path)  # a new file (new inode) that begins with the bytes indexed: read on from there
    assert _update(store).bytes == len(b"".join(lines)) - len(keep)
    assert [r["run_id"] for r in invoke_json(store.root, "report", "list")["runs"]] == ["r2", "r1"]

    other = b"".join(line.replace(b'"one"', b'"uno"') for line in lines)
    replacement.write_bytes(other)
    replacement.replace(path)  # a new file with other bytes, as long: read again from the start
    assert _update(store).bytes == len(other)
    assert {r["name"] for r in invoke_json(store.root, "report", "list")["runs"]} == {"uno", "two"}

    path.unlink()  # a removed segment takes its runs with it
    _update(store)
    assert invoke_json(store.root, "report", "list")["runs"] == []


def test_a_line_still_being_written_is_left_for_the_next_update(store: Store) -> None:
    record_simple_run(store, "r1")
    path = store.segment_path(DAY1)
    before = path.stat().st_size
    other = path.with_name("other.bin")
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1))
    new = path.read_bytes()[before:]
    path.write_bytes(path.read_bytes()[:before])
    other.write_bytes(new)
    _update(store)
    half = len(new) // 2 + 3
    with path.open("ab") as handle:
        handle.write(new[:half])  # a torn tail, no newline yet
    first = _update(store)
    complete = new[:half].rfind(b"\n") + 1
    assert first.bytes == complete
    assert first.bad_lines == []
    with path.open("ab") as handle:
        handle.write(new[half:])
    second = _update(store)
    assert second.bytes == len(new) - complete
    assert second.bad_lines == []
    assert [r["run_id"] for r in invoke_json(store.root, "report", "list")["runs"]] == ["r2", "r1"]


# -- seed 003's run_phase_metrics view --------------------------------------------------------


def test_run_phase_metrics_view(store: Store) -> None:
    record_fixed_run(store)
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    with make_recorder(store, clock) as rec, rec.run("odd", run_id="odd") as run:
        with run.phase("build", target="web"):
            clock.advance(90.7)  # whole seconds in the view: 90
        with run.phase("build"), run.phase("lint"):  # a phase inside a phase is listed too
            clock.advance(0.4)
    with Index(store) as index:
        index.update()
        cursor = index.db.execute("SELECT * FROM run_phase_metrics ORDER BY run_id, started_at, phase, iteration")
        names = [d[0] for d in cursor.get_description()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
    assert names == [
        "id",
        "run_id",
        "phase",
        "iteration",
        "started_at",
        "ended_at",
        "duration_seconds",
        "outcome",
        "metadata",
    ]
    fixed = [r for r in rows if r["run_id"] == FIXED_RUN_ID]
    assert [(r["phase"], r["iteration"], r["duration_seconds"], r["outcome"]) for r in fixed] == [
        ("plan", 1, 60, "completed"),
        ("implement", 1, 120, "completed"),
        ("verify", 1, 30, "completed"),
        ("implement", 2, 30, "completed"),
        ("verify", 2, 20, "completed"),
    ]
    assert [json.loads(r["metadata"]) for r in fixed] == [{"goal": "login"}, {}, {}, {"retry_of": "verify"}, {}]
    assert fixed[0]["started_at"] == "2026-01-05T09:00:00.000000Z"
    assert fixed[0]["ended_at"] == "2026-01-05T09:01:00.000000Z"
    assert all(isinstance(r["duration_seconds"], int) for r in rows)
    assert len({r["id"] for r in rows}) == len(rows) == 8
    odd = [(r["phase"], r["iteration"], r["duration_seconds"]) for r in rows if r["run_id"] == "odd"]
    assert odd == [("build", 1, 90), ("build", 2, 0), ("lint", 1, 0)]


def test_run_phase_metrics_of_an_open_phase(store: Store) -> None:
    from helpers import record_unfinished

    record_unfinished(store, "dead", start=T0)
    with Index(store) as index:
        index.update()
        rows = index.query("SELECT phase, iteration, ended_at, duration_seconds, outcome FROM run_phase_metrics")
    assert rows == [("work", 1, None, None, "running")]


# -- doctor ---------------------------------------------------------------------------------


def _doctor_head(store: Store, events: int, runs: int) -> list[str]:
    segments = store.segments()
    total = sum(p.stat().st_size for p in segments)
    return [
        f"store      {store.root}",
        f"segments   {len(segments)} ({size(total)}), {segments[0].name} .. {segments[-1].name}",
        f"events     {events} in {runs} run{'' if runs == 1 else 's'}",
    ]


def test_doctor_on_a_healthy_store(store: Store) -> None:
    record_fixed_run(store)
    events = _lines(store, DAY1)
    result = invoke(store.root, "doctor")  # first look: the index did not exist
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        *_doctor_head(store, events, 1),
        f"index      was behind: {_size(store, DAY1)} new bytes in {DAY1}.jsonl; now brought up to date",
        "bad lines  0",
        "health     ok",
    ]
    result = invoke(store.root, "doctor")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        *_doctor_head(store, events, 1),
        "index      current",
        "bad lines  0",
        "health     ok",
    ]


def test_doctor_reports_bad_lines_where_they_are_and_exits_1(store: Store) -> None:
    record_fixed_run(store)
    assert invoke(store.root, "doctor").exit_code == 0
    path = store.segment_path(DAY1)
    good = _lines(store, DAY1)
    before = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(BAD_LINE + b"not json at all\n")
    record_simple_run(store, "after", start=T0 + timedelta(hours=2))  # lines after the bad ones still count
    events = _lines(store, DAY1) - 2
    result = invoke(store.root, "doctor")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:-1] == [
        *_doctor_head(store, events, 2),
        f"index      was behind: {path.stat().st_size - before} new bytes in {DAY1}.jsonl; now brought up to date",
        "bad lines  2 (skipped; every other line counts)",
        f"  {path}:{good + 1}: Object missing required field `ts`",
    ]
    assert result.stdout.splitlines()[-1].startswith(f"  {path}:{good + 2}: JSON is malformed: ")
    data = json.loads(invoke(store.root, "doctor", "--json").stdout)
    assert data["index_was_current"] is True
    assert data["bad_lines_total"] == 2
    assert [(b["file"], b["line"]) for b in data["bad_lines"]] == [(str(path), good + 1), (str(path), good + 2)]
    assert data["events"] == events
    assert data["runs"] == 2
    # reports warn about skipped lines only when they are first met, and still work
    assert [r["run_id"] for r in invoke_json(store.root, "report", "list")["runs"]] == ["after", FIXED_RUN_ID]


def test_report_warns_about_a_new_bad_line_on_stderr(store: Store) -> None:
    record_fixed_run(store)
    with store.segment_path(DAY1).open("ab") as handle:
        handle.write(b"{oops\n")
    result = invoke(store.root, "report", "list")
    assert result.exit_code == 0
    line = _lines(store, DAY1)
    assert result.stderr.startswith(f"warning: {DAY1}.jsonl:{line}: skipped a bad line: ")
    assert FIXED_RUN_ID[:12] in result.stdout


def test_doctor_mentions_a_torn_tail(store: Store) -> None:
    record_fixed_run(store)
    with store.segment_path(DAY1).open("ab") as handle:
        handle.write(b'{"type":"milest')
    result = invoke(store.root, "doctor")
    assert result.exit_code == 0  # not a bad line (yet): it may still be being written
    assert (
        f"torn tail  {store.segment_path(DAY1)}: last 15 bytes have no newline (a write cut short, or in progress)"
        in result.stdout.splitlines()
    )
    assert "health     ok" not in result.stdout


@pytest.mark.parametrize("command", ["doctor", "refresh"])
def test_doctor_and_refresh_without_a_store_are_exit_2(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "none" / ".laptime"
    result = invoke(missing, command)
    assert result.exit_code == 2
    verb = "check" if command == "doctor" else "rebuild"
    assert result.stderr == f"Error: no laptime store at {missing}; nothing to {verb}\n"
    assert not missing.exists()


def test_doctor_on_an_empty_store(store: Store) -> None:
    store.ensure()
    result = invoke(store.root, "doctor")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"store      {store.root}",
        "segments   0 (0 B)",
        "events     0 in 0 runs",
        "index      current",
        "bad lines  0",
        "health     ok",
    ]


class TestRepeatedEvents:
    """A writer may close a span twice (a retried flush, a buggy runner): the first end wins."""

    @staticmethod
    def _line(event: Any) -> tuple[bytes, str]:
        from laptime import events as ev

        return ev.encode(event), event.ts[:10]

    def _run_and_plan_phase(self, run: str, phase: str) -> list[tuple[bytes, str]]:
        """The starts of a run (09:00:00) and of its phase ``plan`` (09:00:01), 2026-01-05."""
        from laptime import events as ev

        day = "2026-01-05"
        return [
            self._line(ev.SpanStart(v=1, id=run, ts=f"{day}T09:00:00.000000Z", run=run, span=run, kind="run", name="")),
            self._line(
                ev.SpanStart(
                    v=1, id=phase, ts=f"{day}T09:00:01.000000Z", run=run, parent=run, span=phase,
                    kind="phase", name="plan",
                )
            ),
        ]  # fmt: skip

    def test_a_second_end_of_a_run_and_of_a_phase_is_ignored(self, store: Store) -> None:
        from laptime import events as ev

        line = self._line
        run, phase = "twice-ended-run", "twice-ended-phase"
        write_lines(
            store,
            [
                *self._run_and_plan_phase(run, phase),
                line(ev.SpanEnd(v=1, id="e1", ts="2026-01-05T09:00:11.000000Z", run=run, span=phase)),
                line(ev.SpanEnd(v=1, id="e2", ts="2026-01-05T09:00:21.000000Z", run=run, span=phase, outcome="failed")),
                line(ev.SpanEnd(v=1, id="e3", ts="2026-01-05T09:01:00.000000Z", run=run, span=run)),
                line(ev.SpanEnd(v=1, id="e4", ts="2026-01-05T09:02:00.000000Z", run=run, span=run, outcome="failed")),
            ],
        )  # fmt: skip
        kpi = invoke_json(store.root, "report", "show", run)
        assert kpi["outcome"] == "completed"
        assert kpi["total_duration_ms"] == 60_000
        assert kpi["phases"]["plan"]["duration_ms"] == 10_000
        assert [s["outcome"] for s in kpi["spans"]] == ["completed"]
        assert len(invoke_json(store.root, "report", "list")["runs"]) == 1

    def test_the_first_end_is_first_by_time_then_id_not_by_log_order(self, store: Store) -> None:
        """Ends logged out of order: the first by time wins, and on a tie of times the
        smaller id, whatever order the rows were stored in (definitions.span_end_rowid_sql
        joins on rowids, which follow the log order). Checked in every place that reads a
        span's end: the runs table, the per-run phase rows, the spans view and the KPIs."""
        from laptime import events as ev

        line = self._line
        run, phase = "late-first-run", "late-first-phase"
        write_lines(
            store,
            [
                *self._run_and_plan_phase(run, phase),
                # The phase: the later end is logged first.
                line(ev.SpanEnd(v=1, id="p1", ts="2026-01-05T09:00:21.000000Z", run=run, span=phase, outcome="failed")),
                line(ev.SpanEnd(v=1, id="p2", ts="2026-01-05T09:00:11.000000Z", run=run, span=phase)),
                # The run: two ends at the same time; "r-a" wins over "r-b", logged first.
                line(ev.SpanEnd(v=1, id="r-b", ts="2026-01-05T09:01:00.000000Z", run=run, span=run, outcome="failed")),
                line(ev.SpanEnd(v=1, id="r-a", ts="2026-01-05T09:01:00.000000Z", run=run, span=run, outcome="stopped")),
            ],
        )  # fmt: skip
        kpi = invoke_json(store.root, "report", "show", run)
        assert kpi["outcome"] == "stopped"
        assert kpi["total_duration_ms"] == 60_000
        assert kpi["phases"]["plan"]["duration_ms"] == 10_000
        assert [(s["name"], s["outcome"]) for s in kpi["spans"]] == [("plan", "completed")]
        with Index(store) as index:
            assert index.query("SELECT span_id, outcome, ended_at FROM spans ORDER BY start_us") == [
                (run, "stopped", "2026-01-05T09:01:00.000000Z"),
                (phase, "completed", "2026-01-05T09:00:11.000000Z"),
            ]
            assert index.query("SELECT outcome FROM runs") == [("stopped",)]
            assert index.query("SELECT duration_us, attempts FROM run_phases") == [(10_000_000, 1)]


# -- the derived tables after rows go away or change in place ------------------------------------


def test_derived_tables_follow_forgotten_segments(store: Store, tmp_path: Path) -> None:
    """Every derived table (the per-run ones, the store-wide aggregates, rank_buckets) equals a
    rebuild after each way an incremental ingest changes things: appends, a segment
    truncated (rows deleted, e.g. the file changes of a path another run shares, and of a
    path no other run has), replaced, and removed."""
    from laptime import events as ev

    def line(event: ev.Event) -> tuple[bytes, str]:
        return ev.encode(event), event.ts[:10]

    record_fixed_run(store)  # a.py, b.py
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="fix-login", calls=2, outcome="failed")
    write_lines(store, [
        line(ev.FileChange(v=1, id="r2-a", ts="2026-01-05T10:00:30.000000Z", run="r2", path="a.py", lines_added=7)),
        line(ev.FileChange(v=1, id="r2-c", ts="2026-01-05T10:00:31.000000Z", run="r2", path="c.py", lines_added=1)),
    ])  # fmt: skip
    _update(store)
    record_simple_run(store, "r3", start=T0 + timedelta(days=1), calls=1)
    _update(store)
    first = _assert_derived_equal_a_rebuild(store, tmp_path)
    assert [row[:3] for row in first["agg_files"]] == [("a.py", 2, 3), ("b.py", 1, 1), ("c.py", 1, 1)]
    assert {row[1] for row in first["agg_tasks"]} == {"fix-login", "simple"}
    assert {row[2] for row in first["agg_llm"]} == {DAY1, DAY2}

    # Truncated: r2 goes from the log (and with it one of a.py's changes, and c.py).
    path = store.segment_path(DAY1)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(x for x in lines if b'"run":"r2"' not in x))
    _update(store)
    second = _assert_derived_equal_a_rebuild(store, tmp_path)
    assert [row[:3] for row in second["agg_files"]] == [("a.py", 1, 2), ("b.py", 1, 1)]
    assert [row[0] for row in second["runs"]] == [FIXED_RUN_ID, "r3"]

    # Replaced by a bigger file (new inode) with r2 back; then a whole day removed.
    replacement = path.with_suffix(".tmp")
    replacement.write_bytes(b"".join(lines))
    replacement.replace(path)
    _update(store)
    assert _assert_derived_equal_a_rebuild(store, tmp_path) == first
    store.segment_path(DAY2).unlink()
    _update(store)
    third = _assert_derived_equal_a_rebuild(store, tmp_path)
    assert [row[0] for row in third["runs"]] == [FIXED_RUN_ID, "r2"]
    assert {row[2] for row in third["agg_llm"]} == {DAY1}


def test_derived_tables_follow_rows_updated_in_place(store: Store, tmp_path: Path) -> None:
    from laptime import events as ev

    def line(event: ev.Event) -> tuple[bytes, str]:
        return ev.encode(event), event.ts[:10]

    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), calls=2, outcome="failed")
    record_simple_run(store, "r3", start=T0 + timedelta(days=1), calls=1)
    _update(store)
    with Index(store) as index:
        (call_id,) = index.query("SELECT id FROM llm_calls WHERE run = 'r3'")[0]
        (end_id, end_span) = index.query(
            "SELECT e.id, e.span FROM span_ends e JOIN span_starts s ON s.span = e.span "
            "WHERE e.run = 'r2' AND s.kind = 'phase'"
        )[0]
    write_lines(
        store,
        [
            line(ev.LlmUsage(v=1, id=str(call_id), ts="2026-01-06T09:00:30.000000Z", run="r3", model=SONNET,
                             provider="anthropic", input_tokens=5_000, output_tokens=50, latency_ms=900.0)),
            line(ev.SpanEnd(v=1, id=str(end_id), ts="2026-01-05T10:30:00.000000Z", run="r2", span=str(end_span))),
        ],
    )  # fmt: skip
    assert _update(store).events == 2
    _assert_derived_equal_a_rebuild(store, tmp_path)


def test_an_unreadable_index_is_set_aside_and_rebuilt_from_the_log(store: Store) -> None:
    record_fixed_run(store)
    before = invoke_json(store.root, "report", "show", FIXED_RUN_ID)
    store.index_path.write_bytes(b"this is not a database" * 100)
    result = invoke(store.root, "report", "show", FIXED_RUN_ID, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == before
    moved = list(store.root.glob("index.sqlite.unreadable-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes().startswith(b"this is not a database")
    assert f"warning: the index was unreadable; moved it to {moved[0]} and rebuilt it from the log" in result.stderr


# -- a rebuild loads plain rows, then settles repeated ids as an incremental ingest does ----------


class TestRepeatedIdsInARebuild:
    """A rebuild inserts without a unique index and keeps, of an id seen more than once, the
    copy an incremental ingest keeps when the copies arrive one update at a time."""

    @staticmethod
    def _copies() -> list[tuple[bytes, str]]:
        from laptime import events as ev

        def line(event: ev.Event) -> tuple[bytes, str]:
            return ev.encode(event), event.ts[:10]

        run = "dup-run"

        def llm(ts: str, tokens: int, *, sidechain: bool = False) -> tuple[bytes, str]:
            attrs = {"sidechain": True} if sidechain else {}
            return line(
                ev.LlmUsage(v=1, id="call", ts=ts, run=run, model=SONNET, provider="anthropic",
                            input_tokens=tokens, output_tokens=1, attrs=attrs)
            )  # fmt: skip

        return [
            line(ev.SpanStart(v=1, id=run, ts="2026-01-05T09:00:00.000000Z", run=run, span=run, kind="run", name="a")),
            line(ev.SpanStart(v=1, id=run, ts="2026-01-05T09:00:05.000000Z", run=run, span=run, kind="run", name="b")),
            # the same end, re-closed later (a live session that grew), then an earlier copy again
            line(ev.SpanEnd(v=1, id="end", ts="2026-01-05T09:10:00.000000Z", run=run, span=run)),
            line(ev.SpanEnd(v=1, id="end", ts="2026-01-05T09:20:00.000000Z", run=run, span=run, outcome="failed")),
            line(ev.SpanEnd(v=1, id="end", ts="2026-01-05T09:15:00.000000Z", run=run, span=run)),
            line(ev.SpanEnd(v=1, id="end", ts="2026-01-05T09:20:00.000000Z", run=run, span=run, error="tie")),
            # a side question's replay (sidechain) with more tokens loses to the main copy
            llm("2026-01-05T09:01:00.000000Z", 100),
            llm("2026-01-05T09:01:00.000000Z", 900, sidechain=True),
            llm("2026-01-05T09:01:00.000000Z", 300),  # a streamed response, logged again with its final counts
            llm("2026-01-05T09:01:00.000000Z", 200),
            llm("2026-01-05T09:01:00.000000Z", 300, sidechain=False),  # a tie: the first stays
        ]

    def test_every_table_equals_an_incremental_ingest(self, store: Store, tmp_path: Path) -> None:
        copies = self._copies()
        for copy in copies:  # one update per line: each copy meets the one stored before it
            write_lines(store, [copy])
            _update(store)
        incremental = _table_rows(store)
        rebuilt_store = Store(tmp_path / "rebuilt" / ".laptime")
        shutil.copytree(store.log_dir, rebuilt_store.log_dir)
        with Index(rebuilt_store) as index:
            assert index.rebuild().events == len(copies)
        rebuilt = _table_rows(rebuilt_store)
        for table, rows in incremental.items():
            if table != "segments":  # inode numbers differ between the copies
                assert rows == rebuilt[table], table
        with Index(rebuilt_store) as index:
            assert index.query("SELECT name FROM span_starts") == [("a",)]
            assert index.query("SELECT ts, outcome FROM span_ends") == [("2026-01-05T09:20:00.000000Z", "failed")]
            assert index.query("SELECT input_tokens FROM llm_calls") == [(300,)]
            unique = index.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_id'")
            assert len(unique) == len(event_tables())


# -- a copied or restored store ---------------------------------------------------------------------------


def test_a_copied_store_is_not_read_again(store: Store, tmp_path: Path) -> None:
    """Copied segments have new inode numbers but the bytes indexed (CRC-32 of the indexed
    prefix): the copy's index goes on from where it was, reading only what is new."""
    record_simple_run(store, "r1", name="one")
    record_simple_run(store, "r2", start=T0 + timedelta(days=1), name="two")
    _update(store)
    before = _table_rows(store)
    copy = Store(tmp_path / "copy" / ".laptime")
    shutil.copytree(store.root, copy.root)
    assert {n: s[2] for n, s in Index(copy).segment_state().items()} != {
        p.name: p.stat().st_ino for p in copy.segments()
    }
    assert _update(copy) == IngestStats(segments=0, bytes=0, events=0)
    assert _update(copy) == IngestStats()  # and the new inode numbers are remembered
    after = _table_rows(copy)
    assert {t: r for t, r in after.items() if t != "segments"} == {t: r for t, r in before.items() if t != "segments"}
    record_simple_run(copy, "r3", start=T0 + timedelta(days=1, hours=2), name="three")
    stats = _update(copy)
    assert stats.segments == 1
    assert stats.bytes < copy.segment_path(DAY2).stat().st_size  # only the new run's lines


def _count_bulk_loads(mp: pytest.MonkeyPatch) -> list[str]:
    """A list that gets "rebuild" each time an update or rebuild loads in bulk."""
    calls: list[str] = []
    real = Index._bulk_load

    def spy(self: Index, cache_kib: int | None = None) -> IngestStats:
        calls.append("rebuild")
        return real(self, cache_kib)

    mp.setattr(Index, "_bulk_load", spy)
    return calls


def test_a_store_restored_with_other_bytes_is_rebuilt_in_bulk(store: Store) -> None:
    """When more bytes are to be read than the index keeps (here: all of them changed), the
    update is one bulk rebuild (plain inserts, indexes sorted once) and equals ``laptime
    refresh``."""
    record_simple_run(store, "r1", name="one")
    record_simple_run(store, "r2", start=T0 + timedelta(days=1), name="two")
    _update(store)
    for path in store.segments():
        data = path.read_bytes().replace(b'"one"', b'"uno"').replace(b'"two"', b'"dos"')
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    with pytest.MonkeyPatch.context() as mp:
        calls = _count_bulk_loads(mp)
        mp.setattr("laptime.index._BULK_MIN_BYTES", 0)  # a small log, read in bulk all the same
        stats = _update(store)
    assert calls == ["rebuild"]
    assert stats.events > 0
    assert {r["name"] for r in invoke_json(store.root, "report", "list")["runs"]} == {"uno", "dos"}
    updated = _table_rows(store)
    assert invoke(store.root, "refresh").exit_code == 0
    assert _table_rows(store) == updated


@pytest.mark.parametrize(("min_bytes", "bulk"), [(0, True), (10**9, False)])
def test_a_first_update_of_a_big_log_is_a_bulk_load(store: Store, min_bytes: int, *, bulk: bool) -> None:
    """An empty index over a log of at least ``_BULK_MIN_BYTES`` (a first import) loads in
    bulk; a small one, or a small append, ingests in place. Both equal a rebuild."""
    record_simple_run(store, "r1", name="one")
    with pytest.MonkeyPatch.context() as mp:
        calls = _count_bulk_loads(mp)
        mp.setattr("laptime.index._BULK_MIN_BYTES", min_bytes)
        _update(store)
        assert calls == (["rebuild"] if bulk else [])
        record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="two")
        calls.clear()
        mp.setattr("laptime.index._BULK_MIN_BYTES", 0)
        _update(store)  # the append is smaller than what the index holds: in place
        assert calls == []
    updated = _table_rows(store)
    assert invoke(store.root, "refresh").exit_code == 0
    assert _table_rows(store) == updated


# -- a rebuild in a file of its own, put in place -----------------------------------------------


class TestRebuildAside:
    """``laptime refresh`` builds the new index in ``index.sqlite.rebuild-<pid>`` (no syncs,
    nothing for readers to see half done) and renames it over the index when no other
    laptime process has the index open (``index.lock``); else it copies it in, in one
    transaction, or rebuilds in place. All three give the same index."""

    @staticmethod
    def _two_runs(store: Store) -> None:
        record_simple_run(store, "r1", name="one")
        record_simple_run(store, "r2", start=T0 + timedelta(days=1), name="two")

    @staticmethod
    def _rebuild(store: Store) -> IngestStats:
        with Index(store) as index:
            return index.rebuild()

    def test_alone_it_replaces_the_file(self, store: Store) -> None:
        self._two_runs(store)
        _update(store)
        incremental = _table_rows(store)
        inode = store.index_path.stat().st_ino
        stats = self._rebuild(store)
        assert stats.events > 0
        assert store.index_path.stat().st_ino != inode  # a new file
        assert sorted(p.name for p in store.root.iterdir() if p.name.startswith("index.sqlite")) == ["index.sqlite"]
        assert {t: r for t, r in _table_rows(store).items() if t != "segments"} == {
            t: r for t, r in incremental.items() if t != "segments"
        }
        assert _update(store) == IngestStats()  # current, in WAL mode, as every index
        with Index(store) as index:
            assert index.query("PRAGMA journal_mode") == [("wal",)]
        assert invoke(store.root, "report", "list").exit_code == 0

    def test_with_the_index_open_elsewhere_it_rebuilds_in_place(self, store: Store) -> None:
        self._two_runs(store)
        _update(store)
        before = _table_rows(store)
        inode = store.index_path.stat().st_ino
        with Index(store) as reader:  # another open index (its own index.lock descriptor)
            assert reader.query("SELECT COUNT(*) FROM runs") == [(2,)]
            self._rebuild(store)
            assert store.index_path.stat().st_ino == inode
            assert reader.query("SELECT COUNT(*) FROM runs") == [(2,)]
        assert _table_rows(store) == before

    def test_opened_elsewhere_while_building_it_is_copied_in(self, store: Store) -> None:
        self._two_runs(store)
        _update(store)
        before = _table_rows(store)
        inode = store.index_path.stat().st_ino
        readers: list[Index] = []
        real = Index._bulk_load

        def open_meanwhile(self: Index, cache_kib: int | None = None) -> IngestStats:
            reader = Index(store)  # opens the old index while the new one is being built
            readers.append(reader)
            assert reader.query("SELECT COUNT(*) FROM runs") == [(2,)]
            return real(self, cache_kib)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Index, "_bulk_load", open_meanwhile)
            self._rebuild(store)
        assert store.index_path.stat().st_ino == inode  # copied into the file the reader holds
        assert readers[0].query("SELECT COUNT(*) FROM runs") == [(2,)]
        readers[0].close()
        assert not list(store.root.glob("index.sqlite.rebuild-*"))
        assert {t: r for t, r in _table_rows(store).items() if t != "segments"} == {
            t: r for t, r in before.items() if t != "segments"
        }

    def test_a_failed_build_leaves_the_old_index(self, store: Store) -> None:
        self._two_runs(store)
        _update(store)
        before = _table_rows(store)

        def fail(self: Index, cache_kib: int | None = None) -> IngestStats:
            self.db.execute("CREATE TABLE half_done (x)")
            raise KeyboardInterrupt

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Index, "_bulk_load", fail)
            with pytest.raises(KeyboardInterrupt):
                self._rebuild(store)
        assert not list(store.root.glob("index.sqlite.rebuild-*"))
        assert _table_rows(store) == before

    def test_files_of_abandoned_builds_are_removed(self, store: Store) -> None:
        import os
        import subprocess
        import sys

        self._two_runs(store)
        _update(store)
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
        dead = store.root / f"index.sqlite.rebuild-{int(gone.stdout)}"
        for path in (dead, dead.with_name(dead.name + "-journal")):
            path.write_bytes(b"half a database")
        alive = store.root / f"index.sqlite.rebuild-{os.getppid()}"  # a live process's build
        alive.write_bytes(b"being built")
        self._rebuild(store)
        assert sorted(p.name for p in store.root.glob("index.sqlite.rebuild-*")) == [alive.name]


def test_a_rebuild_leaves_the_file_of_an_index_another_process_has_open(store: Store) -> None:
    """The other process's index stays readable throughout, and sees the rebuilt contents."""
    import subprocess
    import sys

    record_simple_run(store, "r1", name="one")
    _update(store)
    inode = store.index_path.stat().st_ino
    script = (
        "import sys\nfrom pathlib import Path\nfrom laptime.index import Index\nfrom laptime.store import Store\n"
        "index = Index(Store(Path(sys.argv[1])))\n"
        "print(index.query('SELECT COUNT(*) FROM runs')[0][0], flush=True)\n"
        "sys.stdin.readline()\n"
        "print(index.query('SELECT COUNT(*) FROM runs')[0][0], flush=True)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(store.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "1"
        record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="two")
        with Index(store) as index:
            index.rebuild()
        assert store.index_path.stat().st_ino == inode  # not replaced under the other process
        out, _ = holder.communicate("\n", timeout=30)
        assert out.strip() == "2"
        assert holder.returncode == 0


def test_a_rebuild_that_was_not_alone_still_holds_its_index_open(store: Store) -> None:
    """A failed try for the exclusive lock keeps the shared one (POSIX locks; a flock would
    drop it): a later rebuild elsewhere still sees this index open and leaves its file."""
    import subprocess
    import sys

    record_simple_run(store, "r1", name="one")
    _update(store)
    inode = store.index_path.stat().st_ino
    script = (
        "import sys\nfrom pathlib import Path\nfrom laptime.index import Index\nfrom laptime.store import Store\n"
        "index = Index(Store(Path(sys.argv[1])))\n"
        "print('open', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    with Index(store) as index:
        with subprocess.Popen(
            [sys.executable, "-c", script, str(store.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as holder:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "open"
            index.rebuild()  # not alone: in place, keeping its shared lock
            holder.communicate("\n", timeout=30)
        rebuild_elsewhere = (
            "import sys\nfrom pathlib import Path\nfrom laptime.index import Index\n"
            "from laptime.store import Store\nIndex(Store(Path(sys.argv[1]))).rebuild()\n"
        )
        subprocess.run([sys.executable, "-c", rebuild_elsewhere, str(store.root)], check=True, timeout=60)
        assert store.index_path.stat().st_ino == inode
        assert index.query("SELECT COUNT(*) FROM runs") == [(1,)]


def test_page_cache_is_small_by_default_and_an_import_sets_its_own(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat as the input grows (DESIGN.md): a report's connection keeps a
    4 MB page cache, an import the one importers.base names, whatever the index's size."""
    from laptime.importers import base

    with Index(store) as index:
        assert index.query("PRAGMA cache_size") == [(-4096,)]
    with Index(store, page_cache_kib=1024) as index:
        assert index.query("PRAGMA cache_size") == [(-1024,)]
    opened: list[int | None] = []
    real = base.Index

    def spy(store: Store, **kwargs: Any) -> Index:
        opened.append(kwargs.get("page_cache_kib"))
        return real(store, **kwargs)

    monkeypatch.setattr(base, "Index", spy)
    tree = store.root.parent / "cc"
    tree.mkdir()
    (tree / "s.jsonl").write_text("")
    from laptime.importers import get_importer

    base.run_import(store, get_importer("claude-code"), [tree], quiet=True)
    assert opened == [base.IMPORT_PAGE_CACHE_KIB]


@pytest.mark.parametrize(("page_cache_kib", "grows"), [(None, True), (1024, False)])
def test_an_incremental_pass_sizes_the_page_cache_to_what_it_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch, page_cache_kib: int | None, *, grows: bool
) -> None:
    """A big incremental pass gets a page cache that follows the bytes it reads (its inserts
    land all over 1M-row indexes), and gives it back when done; an index opened with a
    page cache of its own (an import, for the memory budget) keeps that one."""
    record_simple_run(store, "r1", name="one")
    _update(store)
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name="two")
    indexed = sum(offset for offset, _ in _state(store).values())
    appended = sum(p.stat().st_size for p in store.segments()) - indexed
    # A small append stands in for a big one: 10,000 bytes of cache per byte read.
    monkeypatch.setattr("laptime.index._INCREMENTAL_CACHE_PER_BYTE", 10_000)
    monkeypatch.setattr("laptime.index._INCREMENTAL_CACHE_MAX_KIB", 10**9)
    pragmas: list[str] = []

    def trace(_cursor: object, sql: str, _bindings: object) -> bool:
        if sql.startswith("PRAGMA cache_size"):
            pragmas.append(sql)
        return True  # run the statement

    with Index(store, page_cache_kib=page_cache_kib) as index:
        usual = index.query("PRAGMA cache_size")
        index.db.exec_trace = trace
        stats = index.update()
        index.db.exec_trace = None
        assert stats.segments == 1
        assert index.query("PRAGMA cache_size") == usual  # given back
    if grows:
        assert pragmas == [f"PRAGMA cache_size=-{appended * 10_000 // 1024}", f"PRAGMA cache_size={usual[0][0]}"]
    else:
        assert pragmas == []
    updated = _table_rows(store)
    assert invoke(store.root, "refresh").exit_code == 0
    assert _table_rows(store) == updated


def test_the_page_cache_of_an_incremental_pass_has_a_ceiling() -> None:
    from laptime import index as index_module

    assert index_module._incremental_cache_kib(1024 * 1024) == 2 * 1024  # 1 MB of log: 2 MB of cache
    assert index_module._incremental_cache_kib(10**12) == index_module._INCREMENTAL_CACHE_MAX_KIB


def test_lines_sqlite_cannot_hold_are_bad_lines_and_every_command_still_works(store: Store) -> None:
    """A timestamp of another width (a year written "1" instead of "0001"), an integer past
    64 bits, a line nested deeper than any parser goes, and a 27-character timestamp that is
    no time: each is a bad line named by file and line (or, the last, a run left out of the
    runs), never an error for every command after it."""
    record_fixed_run(store)
    path = store.segment_path(DAY1)
    good = _lines(store, DAY1)
    ok = '{"type":"milestone","v":1,"id":"m-%d","ts":"%s","run":"%s","name":"x","status":"completed"}\n'
    bad = [
        (ok % (1, "1-01-01T00:00:00.000000Z", "bad-width")).encode(),
        (
            '{"type":"llm","v":1,"id":"l-1","ts":"2026-01-05T10:00:00.000000Z","run":"r","model":"m",'
            f'"input_tokens":{2**70}}}\n'
        ).encode(),
        b'{"type":"milestone","v":1,"id":"deep","attrs":' + b"[" * 5000 + b"]" * 5000 + b"}\n",
    ]
    with path.open("ab") as handle:
        handle.writelines(bad)
        handle.write((ok % (2, "2026-13-45T99:99:99.999999Z", "not-a-time")).encode())
    result = invoke(store.root, "doctor", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [(b["file"], b["line"]) for b in data["bad_lines"]] == [(str(path), good + n) for n in (1, 2, 3)]
    reasons = [b["reason"] for b in data["bad_lines"]]
    assert "length" in reasons[0]
    assert "<=" in reasons[1] or "9223372036854775807" in reasons[1]
    assert reasons[2] == "JSON nested too deep"
    assert [r["run_id"] for r in invoke_json(store.root, "report", "list")["runs"]] == [FIXED_RUN_ID]
    assert invoke(store.root, "refresh").exit_code == 0
    assert invoke_json(store.root, "report", "summary")["runs"] == 1


@pytest.mark.parametrize("attrs", ["null", '"a string"', "[1, 2]", "3"])
def test_attrs_that_are_not_an_object_are_read_as_none(store: Store, attrs: str) -> None:
    """A line written by hand or by another writer may hold null, a string or a list as
    ``attrs``; every reader takes attrs for an object, so the index keeps none (the line's
    other fields count). `report show` failed on it with an AttributeError."""
    record_fixed_run(store)
    span = (
        f'{{"type":"span_start","v":1,"id":"odd-1","ts":"2026-01-05T00:02:00.000000Z","run":"{FIXED_RUN_ID}",'
        f'"parent":"{FIXED_RUN_ID}","span":"odd-1","kind":"phase","name":"odd","attrs":{attrs}}}\n'
        f'{{"type":"span_end","v":1,"id":"odd-1e","ts":"2026-01-05T00:02:30.000000Z","run":"{FIXED_RUN_ID}",'
        f'"span":"odd-1","attrs":{attrs}}}\n'
    )
    write_lines(store, [(span.encode(), DAY1)])
    shown = invoke_json(store.root, "report", "show", FIXED_RUN_ID)
    assert shown["phases"]["odd"]["attempts"] == 1
    with Index(store) as index:
        assert index.query("SELECT attrs, end_attrs FROM spans WHERE span_id = 'odd-1'") == [(None, None)]


def test_doctor_exits_1_when_the_index_cannot_be_opened(store: Store) -> None:
    record_fixed_run(store)
    lock = store.root / "index.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()  # (the index's open lock: a folder in its place cannot be opened)
    result = invoke(store.root, "doctor")
    assert result.exit_code == 1, result.output
    assert any(line.startswith("index      unusable: ") for line in result.stdout.splitlines())
    data = json.loads(invoke(store.root, "doctor", "--json").stdout)
    assert data["index_error"]
