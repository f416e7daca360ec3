"""``laptime report clean`` and ``laptime compact``: old segments go, every KPI stays."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import T0, invoke, invoke_json, record_fixed_run, record_simple_run, record_unfinished
from laptime.index import Index
from laptime.retention import MaintenanceBusyError, compact, maintenance_lock

if TYPE_CHECKING:
    from laptime.store import Store

TODAY = date(2026, 11, 21)


def _every_report(store: Store) -> dict[str, Any]:
    """Every report laptime gives on the store, as JSON, keyed by command."""
    runs = invoke_json(store.root, "report", "list", "--limit", "1000")["runs"]
    out: dict[str, Any] = {"list": runs}
    for row in runs:
        out[f"report {row['run_id']}"] = invoke_json(store.root, "report", row["run_id"])
        out[f"show {row['run_id']}"] = invoke_json(store.root, "report", "show", row["run_id"])
    return out


def _lines(store: Store) -> int:
    return sum(sum(1 for line in p.read_bytes().split(b"\n") if line.strip()) for p in store.segments())


@pytest.fixture(name="old_store")
def fixture_old_store(store: Store) -> Store:
    """Runs on three past days, one unfinished, plus a torn line."""
    record_fixed_run(store, run_id="run-a-0000000000000000000000000000")
    record_simple_run(store, "run-b-0000000000000000000000000000", start=T0 + timedelta(days=1), calls=3)
    record_unfinished(store, "run-c-0000000000000000000000000000", start=T0 + timedelta(days=2))
    day = (T0 + timedelta(days=1)).date().isoformat()
    with store.segment_path(day).open("ab") as handle:
        handle.write(b'{"type":"span_start","v":1,"id":"torn\n')
    return store


class TestCompact:
    def test_every_kpi_is_unchanged_and_the_log_shrinks(self, old_store: Store) -> None:
        before = _every_report(old_store)
        lines_before = _lines(old_store)
        result = compact(old_store, today=TODAY)
        # the unfinished run's day has no pair to merge and nothing torn: left alone
        assert result.segments_rewritten == 2
        assert result.torn_lines_dropped == 0
        assert result.lines_quarantined == 1
        assert result.spans_merged > 0
        assert result.lines_after == result.lines_before - result.spans_merged - result.lines_quarantined
        assert _lines(old_store) == lines_before - result.spans_merged - 1
        assert _every_report(old_store) == before
        with Index(old_store) as index:
            assert index.bad_lines() == []
            merged = sum(
                1 for p in old_store.segments() for line in p.read_bytes().splitlines() if b'"type":"span"' in line
            )
            assert merged == result.spans_merged

    def test_an_unfinished_span_stays_open(self, old_store: Store) -> None:
        compact(old_store, today=TODAY)
        kpi = invoke_json(old_store.root, "report", "show", "run-c")
        assert kpi["outcome"] == "crashed"
        assert [s["ended_at"] for s in kpi["spans"]] == [None]

    def test_compacting_twice_changes_nothing_more(self, old_store: Store) -> None:
        compact(old_store, today=TODAY)
        sizes = {p.name: p.stat().st_size for p in old_store.segments()}
        again = compact(old_store, today=TODAY)
        assert again.spans_merged == 0
        assert again.lines_quarantined == 0
        assert again.segments_rewritten == 0
        assert {p.name: p.stat().st_size for p in old_store.segments()} == sizes

    def test_recent_days_are_left_alone(self, old_store: Store) -> None:
        # "today" is the last segment's day: it and the day before may still be written
        result = compact(old_store, today=T0.date() + timedelta(days=2))
        assert result.segments_rewritten == 1
        assert sorted(result.skipped_recent) == ["2026-01-06.jsonl", "2026-01-07.jsonl"]

    def test_the_cli_reports_what_it_did(self, old_store: Store) -> None:
        result = invoke(old_store.root, "compact", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["segments_rewritten"] == 2
        assert data["torn_lines_dropped"] == 0
        assert data["lines_quarantined"] == 1


class TestClean:
    def test_dry_run_removes_nothing(self, old_store: Store) -> None:
        segments = [p.name for p in old_store.segments()]
        result = invoke(old_store.root, "report", "clean", "--before", "2026-01-06")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].startswith("would remove 1 segments (")
        assert lines[0].endswith("before 2026-01-06: 2026-01-05.jsonl .. 2026-01-05.jsonl")
        assert lines[1] == "runs: 1 removed whole, 0 keep later events"
        assert lines[2] == "nothing was removed; add --confirm to remove them"
        assert [p.name for p in old_store.segments()] == segments

    def test_confirm_removes_old_segments_and_their_runs(self, old_store: Store) -> None:
        result = invoke(old_store.root, "report", "clean", "--before", "2026-01-06", "--confirm", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["removed"] is True
        assert data["segments"] == ["2026-01-05.jsonl"]
        assert data["runs_removed_whole"] == 1
        assert [p.name for p in old_store.segments()] == ["2026-01-06.jsonl", "2026-01-07.jsonl"]
        runs = {r["run_id"] for r in invoke_json(old_store.root, "report", "list")["runs"]}
        assert runs == {"run-b-0000000000000000000000000000", "run-c-0000000000000000000000000000"}

    def test_nothing_older(self, old_store: Store) -> None:
        result = invoke(old_store.root, "report", "clean", "--before", "2025-01-01", "--confirm")
        assert result.exit_code == 0
        assert result.stdout == "nothing to remove: no segment is older than 2025-01-01\n"

    def test_a_bad_date_is_a_usage_error(self, old_store: Store) -> None:
        result = invoke(old_store.root, "report", "clean", "--before", "last tuesday")
        assert result.exit_code == 2
        assert "--before: 'last tuesday' is not a date; use YYYY-MM-DD" in result.output


class TestMaintenanceLock:
    def test_compact_gives_up_when_an_import_holds_the_store_too_long(
        self, old_store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("laptime.retention.MAINTENANCE_WAIT_S", 0.2)
        with maintenance_lock(old_store, exclusive=False), pytest.raises(MaintenanceBusyError):
            compact(old_store, today=TODAY)

    def test_the_cli_says_so(self, old_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("laptime.retention.MAINTENANCE_WAIT_S", 0.2)
        with maintenance_lock(old_store, exclusive=False):
            result = invoke(old_store.root, "compact")
        assert result.exit_code == 1
        assert "another laptime clean, compact or import is working on this store" in result.output
