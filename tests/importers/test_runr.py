"""runr: ``runs/<id>/timeline.jsonl`` + ``state.json``.

The fixture run (t in seconds from 09:00:00): run_started at 0; PLAN 5-65; IMPLEMENT
65-185 (src/login.ts, src/form.ts); VERIFY 185-215 fails `npm test`; retry:
IMPLEMENT 215-275; VERIFY 275-305 passes; REVIEW 305-335; CHECKPOINT 335-345 with
commit abc1234 for milestone 0; FINALIZE 345-360 (worker_stats: claude 3, codex 2);
stop "complete" at 360. state.json plans 2 milestones.

The real-shaped fixture (real/20260107100000, t from 10:00:00) follows runr's own
runner: two milestones; in milestone 0 VERIFY fails `npm test` at 215 and runr retries
(verify_failed_retry, retry_count 1), the retry passes at 305, REVIEW 305-335 answers
`status: request_changes`, IMPLEMENT again, `npm test` passes at 425, REVIEW approves,
checkpoint d4e5f60 at 455; milestone 1's VERIFY passes `npm test` at 545 and then the
process dies (no line until `run_resumed` at 1145), VERIFY runs again 1146-1200
(`npm test` again at 1176), checkpoint a1b2c3d at 1240, FINALIZE 1240 with
worker_stats at 1242, and no `stop` line: as runr's FINALIZE does, only state.json
(phase STOPPED, stop_reason complete, phase_started_at 10:20:42) ends the run.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers import (
    FIXTURES,
    assert_valid_events,
    copy_fixture,
    import_json,
    log_bytes,
    log_events,
    make_unreadable,
    problems_text,
    run_cli,
    show,
    snapshot,
)
from laptime import events as ev
from laptime.importers.records import RecordError
from laptime.importers.runr import TimelineParser, runr_outcome, state_events, state_stop

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "20260105090000"
RUNS = FIXTURES / "runr" / "runs"
REAL = "20260107100000"
REAL_DIR = FIXTURES / "runr" / "real" / REAL


def _lines() -> list[bytes]:
    return (RUNS / RUN / "timeline.jsonl").read_bytes().splitlines(keepends=True)


def test_import_gives_the_kpis_the_timeline_says(store: Store) -> None:
    summary = import_json(store, "runr", RUNS)
    assert summary["files_read"] == 2
    assert summary["skipped_records"] == 0
    kpi = show(store, RUN)
    assert kpi["name"] == "Add a login form"
    assert kpi["runner"] == "runr"
    assert kpi["started_at"] == "2026-01-05T09:00:00.000000Z"
    assert kpi["ended_at"] == "2026-01-05T09:06:00.000000Z"
    assert kpi["total_duration_ms"] == 360_000
    assert kpi["outcome"] == "completed"
    assert kpi["tvc_ms"] == 345_000  # run_started to the checkpoint after the passing verification
    assert kpi["tvc_checkpoint"] == "abc1234"
    assert kpi["unattributed_ms"] == 5_000  # before the first phase_start
    phases = {name: (p["duration_ms"], p["attempts"], p["failed"]) for name, p in kpi["phases"].items()}
    assert phases == {
        "plan": (60_000, 1, 0),
        "implement": (180_000, 2, 0),
        "verify": (60_000, 2, 1),  # the first VERIFY's verification failed
        "review": (30_000, 1, 0),
        "checkpoint": (10_000, 1, 0),
        "finalize": (15_000, 1, 0),
    }
    assert kpi["verification"] == {
        "commands_run": 2,
        "passed": 1,
        "failed": 1,
        "retries": 1,
        "tiers_executed": ["tier0"],
    }
    assert [(v["command"], v["passed"], v["duration_ms"]) for v in kpi["validations"]] == [
        ("npm test", False, 30_000),
        ("npm test", True, 28_000),
    ]
    assert kpi["changes"]["files_touched"] == 2
    assert kpi["changes"]["modified"] == 2
    assert kpi["milestones"] == {"planned": 2, "completed": 1}
    assert kpi["checkpoint_list"] == [{"at": "2026-01-05T09:05:45.000000Z", "commit": "abc1234", "verified": True}]
    # worker_stats: call counts by worker and phase; no token counts in the source
    assert kpi["workers"]["claude"]["calls"] == 3
    assert kpi["workers"]["codex"]["calls"] == 2
    assert kpi["models"]["claude"]["by_phase"] == {
        "plan": {"calls": 1, "input_tokens": 0, "output_tokens": 0},
        "implement": {"calls": 2, "input_tokens": 0, "output_tokens": 0},
    }
    assert kpi["models"]["codex"]["by_phase"] == {"review": {"calls": 2, "input_tokens": 0, "output_tokens": 0}}
    assert kpi["tokens"]["total_tokens"] == 0
    retry = [s for s in kpi["spans"] if s["kind"] == "phase" and s["attrs"].get("retry_of")]
    assert [(s["name"], s["attrs"]["failed_command"], s["attrs"]["retry_count"]) for s in retry] == [
        ("implement", "npm test", 1)
    ]
    events = log_events(store)
    run_ends = [e for e in events if isinstance(e, ev.SpanEnd) and e.span == RUN]
    assert [(e.outcome, e.attrs) for e in run_ends] == [("completed", {"source_outcome": "complete"})]
    for event in events:
        assert event.source is not None
        assert event.source.importer == "runr"


def test_a_single_run_folder_or_timeline_file_imports_the_same_run(store: Store, tmp_path: Path) -> None:
    import_json(store, "runr", RUNS / RUN)
    before = snapshot(store)
    import_json(store, "runr", RUNS / RUN / "timeline.jsonl")  # same ids: nothing new
    assert snapshot(store) == before


def test_importing_twice_adds_nothing_even_without_the_cache(store: Store) -> None:
    import_json(store, "runr", RUNS)
    before = snapshot(store)
    again = import_json(store, "runr", RUNS)
    assert again["events_new"] == 0
    assert again["files_unchanged"] == 2
    assert snapshot(store) == before
    (store.root / "imports.sqlite").unlink()  # a lost cache costs time, not correctness
    again = import_json(store, "runr", RUNS)
    assert again["events_new"] == 0
    assert again["events_already_stored"] > 0
    assert snapshot(store) == before


def test_a_grown_timeline_adds_only_its_new_part(store: Store, tmp_path: Path) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    timeline = runs / RUN / "timeline.jsonl"
    lines = _lines()
    timeline.write_bytes(b"".join(lines[:13]))  # up to the passing verification; no stop yet
    state = runs / RUN / "state.json"
    final_state = state.read_text()
    # what state.json says while runr is still verifying: no final phase, no stop reason
    state.write_text(final_state.replace('"phase": "STOPPED"', '"phase": "VERIFY"').replace('"complete"', "null"))
    first = import_json(store, "runr", runs)
    partial = show(store, RUN)
    assert partial["ended_at"] is None
    assert partial["outcome"] in ("running", "crashed")  # no stop: DESIGN's rule decides
    size_after_first = log_bytes(store)

    # a torn last line is left for later, with a warning, and read once complete
    with timeline.open("ab") as handle:
        handle.write(lines[13][:20])
    torn = import_json(store, "runr", runs)
    assert torn["events_new"] == 0
    assert any("incomplete last line" in p for p in problems_text(torn))
    assert log_bytes(store) == size_after_first
    with timeline.open("ab") as handle:
        handle.write(lines[13][20:] + b"".join(lines[14:]))
    state.write_text(final_state)
    grown = import_json(store, "runr", runs)
    assert grown["events_new"] > 0
    assert grown["skipped_records"] == 0

    reference = type(store)(tmp_path / "reference")
    full = import_json(reference, "runr", RUNS)
    assert first["events_new"] + grown["events_new"] == full["events_new"]
    ids = [e.id for e in log_events(store)]
    assert len(ids) == len(set(ids))
    assert set(ids) == {e.id for e in log_events(reference)}
    grown_kpi, full_kpi = show(store, RUN), show(reference, RUN)
    for key in ("total_duration_ms", "outcome", "tvc_ms", "phases", "verification", "milestones", "workers"):
        assert grown_kpi[key] == full_kpi[key], key


def test_bad_lines_are_skipped_with_file_and_line(store: Store, tmp_path: Path) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    timeline = runs / RUN / "timeline.jsonl"
    lines = _lines()
    bad = [
        b'{"seq":100,"timestamp":"2026-01-05T09:0\n',  # truncated JSON
        b'{"seq":"x","timestamp":"2026-01-05T09:00:02.000Z","type":"preflight","payload":{}}\n',  # wrong type
        b'{"seq":101,"type":"preflight","payload":{}}\n',  # missing field
        b"\x00\xff\xfe garbage \x9c\n",  # binary garbage
        b'{"seq":102,"timestamp":"2026-01-05T09:00:03.000Z","type":"verification","payload":{"ok":"yes"}}\n',
        b"[1, 2, 3]\n",  # JSON, but not an object
    ]
    timeline.write_bytes(b"".join(lines[:2] + bad + lines[2:]))
    summary = import_json(store, "runr", runs)
    warnings = problems_text(summary)
    assert summary["skipped_records"] == len(bad)
    where = [w.split(": ", 1)[0] for w in warnings]
    assert where == [f"{timeline}:{n}" for n in range(3, 3 + len(bad))]
    assert "not valid JSON" in warnings[0]
    assert "`seq`: expected an integer" in warnings[1]
    assert "missing field `timestamp`" in warnings[2]
    assert "not valid JSON" in warnings[3]
    assert "`ok`: expected true or false" in warnings[4]
    assert "expected a JSON object" in warnings[5]
    kpi = show(store, RUN)  # every good line still counts
    assert kpi["total_duration_ms"] == 360_000
    assert kpi["verification"]["commands_run"] == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not valid JSON"),
        (b'{"seq": 1, "timestamp": "2026-01-05T09:00:00Z", "ty', "incomplete last line"),
    ],
)
def test_a_file_with_nothing_importable_exits_1_and_keeps_what_is_stored(
    store: Store, tmp_path: Path, content: bytes, message: str
) -> None:
    import_json(store, "runr", RUNS)
    before = snapshot(store)
    run_dir = tmp_path / "runs" / "other"
    run_dir.mkdir(parents=True)
    (run_dir / "timeline.jsonl").write_bytes(content)
    summary = import_json(store, "runr", run_dir, expect=1)
    assert summary["events_new"] == 0
    assert summary["skipped_records"] >= 1
    assert any(message in p and str(run_dir / "timeline.jsonl") in p for p in problems_text(summary))
    assert snapshot(store) == before
    assert show(store, RUN)["outcome"] == "completed"


def test_unreadable_file_and_missing_path(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    make_unreadable(runs / RUN / "timeline.jsonl", monkeypatch)
    summary = import_json(store, "runr", runs / RUN / "timeline.jsonl", expect=1)
    assert problems_text(summary) == [f"{runs / RUN / 'timeline.jsonl'}: permission denied"]
    missing = import_json(store, "runr", tmp_path / "nope", expect=1)
    assert problems_text(missing) == [f"{tmp_path / 'nope'}: no such file or folder"]
    assert missing["skipped_records"] == 1


def test_bad_state_json_is_reported_and_the_timeline_still_imports(store: Store, tmp_path: Path) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    state = runs / RUN / "state.json"
    text = state.read_text().replace('"started_at": "2026-01-05T09:00:00.000Z"', '"started_at": 42')
    state.write_text(text)
    summary = import_json(store, "runr", runs)
    line = text.splitlines().index('  "started_at": 42,') + 1
    assert problems_text(summary) == [f"{state}:{line}: `started_at`: expected an ISO 8601 timestamp, got a number"]
    assert show(store, RUN)["milestones"] == {"planned": 1, "completed": 1}


def _timeline(*records: dict[str, Any]) -> bytes:
    import json

    return b"".join(json.dumps({"seq": i + 1, **r}).encode() + b"\n" for i, r in enumerate(records))


def test_a_resumed_run_keeps_one_end_and_worker_stats_are_not_counted_twice(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "resumed"
    run_dir.mkdir(parents=True)
    stats = {"claude": 2, "codex": 0, "by_phase": {"plan": {"claude": 2, "codex": 0}}}
    more = {
        "claude": 3,
        "codex": 1,
        "by_phase": {"plan": {"claude": 2, "codex": 0}, "review": {"claude": 1, "codex": 1}},
    }
    (run_dir / "timeline.jsonl").write_bytes(
        _timeline(
            {"timestamp": "2026-01-05T10:00:00Z", "type": "run_started", "payload": {"task": "t"}},
            {"timestamp": "2026-01-05T10:00:00Z", "type": "phase_start", "payload": {"phase": "PLAN"}},
            {"timestamp": "2026-01-05T10:01:00Z", "type": "worker_stats", "payload": stats},
            {"timestamp": "2026-01-05T10:01:00Z", "type": "stop", "payload": {"reason": "time_budget_exceeded"}},
            {"timestamp": "2026-01-05T10:05:00Z", "type": "run_resumed", "payload": {}},
            {"timestamp": "2026-01-05T10:05:00Z", "type": "phase_start", "payload": {"phase": "REVIEW"}},
            {"timestamp": "2026-01-05T10:06:00Z", "type": "worker_stats", "payload": more},
            {"timestamp": "2026-01-05T10:06:00Z", "type": "stop", "payload": {"reason": "complete"}},
        )
    )
    import_json(store, "runr", run_dir)
    kpi = show(store, "resumed")
    assert kpi["outcome"] == "stopped"  # the first stop ends the run span (see docs/importers.md)
    assert kpi["total_duration_ms"] == 60_000
    assert kpi["workers"]["claude"]["calls"] == 3
    assert kpi["workers"]["codex"]["calls"] == 1
    assert [(s["name"], s["duration_ms"]) for s in kpi["spans"] if s["kind"] == "phase"] == [
        ("plan", 60_000),
        ("review", 60_000),
    ]
    assert not [s for s in kpi["spans"] if s["name"] == "downtime"]  # a stop is not a crash


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        ("complete", "completed"),
        ("completed", "completed"),
        ("error", "failed"),
        ("verification_failed_max_retries", "failed"),
        ("parse_failed", "failed"),
        ("blocked", "blocked"),
        ("escalated", "blocked"),
        ("guard_violation", "blocked"),
        ("plan_scope_violation", "blocked"),
        ("time_budget_exceeded", "stopped"),
        ("max_ticks_reached", "stopped"),
        ("user_stop", "stopped"),
        ("dry_run", "stopped"),
        ("something_new", "stopped"),
        # the rest of runr's stop reasons (its stop memo's list)
        ("stalled_timeout", "stopped"),
        ("worker_call_timeout", "stopped"),
        ("implement_blocked", "blocked"),
        ("parallel_file_collision", "blocked"),
        ("insufficient_evidence", "failed"),
        ("plan_parse_failed", "failed"),
        ("review_parse_failed", "failed"),
        ("milestone_missing", "failed"),
    ],
)
def test_stop_reasons_map_onto_laptime_outcomes(reason: str, outcome: str) -> None:
    assert runr_outcome(reason) == outcome


def test_an_unknown_stop_reason_with_an_error_is_a_failure() -> None:
    assert runr_outcome("something_new", has_error=True) == "failed"


# -- a real-shaped run: state.json's end, a crash and resume, runr's retries, reviews ----------


def _real_lines() -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in (REAL_DIR / "timeline.jsonl").read_text().splitlines()]


def _end_of(events: list[ev.Event], span: str) -> ev.SpanEnd:
    [end] = [e for e in events if isinstance(e, ev.SpanEnd) and e.span == span]
    return end


def test_a_run_whose_timeline_has_no_stop_ends_where_state_json_says(store: Store) -> None:
    assert not [r for r in _real_lines() if r["type"] in ("stop", "run_dry_stop")]  # as runr's FINALIZE writes it
    import_json(store, "runr", REAL_DIR)
    kpi = show(store, REAL)
    assert kpi["outcome"] == "completed"
    assert kpi["ended_at"] == "2026-01-07T10:20:42.000000Z"  # state.json's phase_started_at
    assert kpi["total_duration_ms"] == 1_242_000
    assert kpi["phases"]["finalize"]["duration_ms"] == 2_000  # the open FINALIZE ends with the run
    events = log_events(store)
    end = _end_of(events, REAL)
    assert (end.outcome, end.attrs) == (
        "completed",
        {"source_outcome": "complete", "source_phase": "STOPPED", "outcome_from": "state.json"},
    )
    open_spans = {e.span for e in events if isinstance(e, ev.SpanStart)} - {
        e.span for e in events if isinstance(e, ev.SpanEnd)
    }
    assert open_spans == set()


def test_state_json_ends_the_run_when_only_state_json_changed(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / REAL
    shutil.copytree(REAL_DIR, run_dir)
    state = run_dir / "state.json"
    final = state.read_text()
    # imported while FINALIZE runs: the timeline is complete, state.json not yet final
    state.write_text(final.replace('"phase": "STOPPED"', '"phase": "FINALIZE"').replace('"complete"', "null"))
    import_json(store, "runr", run_dir)
    assert show(store, REAL)["ended_at"] is None
    state.write_text(final)
    again = import_json(store, "runr", run_dir)
    assert again["files_unchanged"] == 1  # the timeline is not read again: state.json alone ends the run
    kpi = show(store, REAL)
    assert (kpi["outcome"], kpi["total_duration_ms"]) == ("completed", 1_242_000)
    assert kpi["phases"]["finalize"]["duration_ms"] == 2_000
    reference = type(store)(tmp_path / "reference")
    import_json(reference, "runr", REAL_DIR)
    assert {e.id for e in log_events(store)} == {e.id for e in log_events(reference)}  # the same ids either way
    assert import_json(store, "runr", run_dir)["events_new"] == 0


@pytest.mark.parametrize(
    ("phase", "reason", "outcome"),
    [
        ("STOPPED", "complete", "completed"),
        ("STOPPED", "time_budget_exceeded", "stopped"),
        ("STOPPED", "stalled_timeout", "stopped"),
        ("STOPPED", "verification_failed_max_retries", "failed"),
        ("STOPPED", "implement_blocked", "blocked"),
        ("STOPPED", "parallel_file_collision", "blocked"),
        ("STOPPED", None, "stopped"),
        ("BLOCKED", None, "blocked"),
        ("ESCALATED", None, "blocked"),
    ],
)
def test_state_json_stop_reasons_map_onto_outcomes(
    store: Store, tmp_path: Path, phase: str, reason: str | None, outcome: str
) -> None:
    import json

    run_dir = tmp_path / "runs" / "s1"
    shutil.copytree(REAL_DIR, run_dir)
    lines = (REAL_DIR / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    (run_dir / "timeline.jsonl").write_bytes(b"".join(lines[:6]))  # up to the first implement_complete
    doc = json.loads((REAL_DIR / "state.json").read_text())
    doc.update(phase=phase, stop_reason=reason, phase_started_at="2026-01-07T10:03:10.000Z")
    (run_dir / "state.json").write_text(json.dumps(doc, indent=2))
    import_json(store, "runr", run_dir)
    kpi = show(store, "s1")
    assert kpi["outcome"] == outcome
    assert kpi["ended_at"] == "2026-01-07T10:03:10.000000Z"
    assert kpi["phases"]["implement"]["duration_ms"] == 125_000  # 65 s to the end state.json gives
    assert _end_of(log_events(store), "s1").attrs["source_outcome"] == (reason or phase.lower())


def test_a_working_phase_in_state_json_leaves_the_run_open(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "s2"
    shutil.copytree(REAL_DIR, run_dir)
    lines = (REAL_DIR / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    (run_dir / "timeline.jsonl").write_bytes(b"".join(lines[:6]))
    state = run_dir / "state.json"
    state.write_text(state.read_text().replace('"phase": "STOPPED"', '"phase": "IMPLEMENT"'))
    import_json(store, "runr", run_dir)
    kpi = show(store, "s2")
    assert kpi["ended_at"] is None
    assert kpi["outcome"] in ("running", "crashed")  # DESIGN's rule, not state.json's stale stop_reason


def test_a_bad_end_in_state_json_is_reported_and_costs_only_the_end(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / REAL
    shutil.copytree(REAL_DIR, run_dir)
    state = run_dir / "state.json"
    text = state.read_text().replace('"phase_started_at": "2026-01-07T10:20:42.000Z"', '"phase_started_at": 42')
    state.write_text(text)
    summary = import_json(store, "runr", run_dir)
    line = text.splitlines().index('  "phase_started_at": 42,') + 1
    assert problems_text(summary) == [
        f"{state}:{line}: `phase_started_at`: expected an ISO 8601 timestamp, got a number"
    ]
    kpi = show(store, REAL)
    assert kpi["milestones"] == {"planned": 2, "completed": 2}  # state.json's milestones still count
    assert kpi["ended_at"] is None  # the timeline reader skips the bad state.json quietly: one warning


def test_max_ticks_reached_ends_the_run_as_stopped(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "ticks"
    run_dir.mkdir(parents=True)
    (run_dir / "timeline.jsonl").write_bytes(
        _timeline(
            {"timestamp": "2026-01-05T10:00:00Z", "type": "run_started", "payload": {"task": "t"}},
            {"timestamp": "2026-01-05T10:00:00Z", "type": "phase_start", "payload": {"phase": "PLAN"}},
            {"timestamp": "2026-01-05T10:01:00Z", "type": "max_ticks_reached", "payload": {"ticks_used": 1}},
        )
    )
    import_json(store, "runr", run_dir)  # runr writes this event, not a `stop`, when the ticks run out
    kpi = show(store, "ticks")
    assert (kpi["outcome"], kpi["total_duration_ms"]) == ("stopped", 60_000)


def test_a_crash_and_resume_is_downtime_that_no_phase_is_charged_for(store: Store) -> None:
    import_json(store, "runr", REAL_DIR)
    kpi = show(store, REAL)
    spans = kpi["spans"]
    [downtime] = [s for s in spans if s["name"] == "downtime"]
    assert downtime["kind"] == "other"
    assert downtime["parent_id"] == REAL  # top level: beside the phases, in none of them
    assert downtime["attrs"] == {"downtime": True, "reason": "crash"}
    # from the last line before the silence (545 s) to run_resumed (1145 s)
    assert (downtime["started_at"], downtime["ended_at"]) == (
        "2026-01-07T10:09:05.000000Z",
        "2026-01-07T10:19:05.000000Z",
    )
    assert downtime["duration_ms"] == 600_000
    verify = [s for s in spans if s["name"] == "verify"]
    # the interrupted attempt ends at the crash, and runr's VERIFY after the resume is a new one
    assert [(s["started_at"][11:19], s["ended_at"][11:19], s["outcome"]) for s in verify[-2:]] == [
        ("10:08:35", "10:09:05", "crashed"),
        ("10:19:06", "10:20:00", "completed"),
    ]
    assert kpi["phases"]["verify"] == {**kpi["phases"]["verify"], "duration_ms": 174_000, "attempts": 5}
    phase_ms = sum(p["duration_ms"] for p in kpi["phases"].values())
    assert phase_ms + downtime["duration_ms"] <= kpi["total_duration_ms"]  # phases hold none of the downtime
    # downtime is its own figure: neither a phase's time nor unattributed
    assert kpi["downtime_ms"] == 600_000
    assert kpi["unattributed_ms"] == kpi["total_duration_ms"] - phase_ms - 600_000
    assert "· downtime 10m 00s" in run_cli(store, "report", REAL).stdout


def test_compare_never_blames_a_phase_for_the_downtime(store: Store) -> None:
    import json

    import_json(store, "runr", REAL_DIR)
    result = run_cli(store, "compare", REAL, REAL, "--json")
    assert result.exit_code == 0, result.output
    cmp = json.loads(result.stdout)
    assert cmp["downtime"]["a"] == cmp["downtime"]["b"] == 600_000
    verify = next(p for p in cmp["phases"] if p["phase"] == "verify")
    assert verify["a_ms"] == 174_000  # the 10 minutes down are not in the phase that crashed
    text = run_cli(store, "compare", REAL, REAL).stdout
    assert "\ndowntime " in text


def test_runr_going_on_in_the_interrupted_phase_opens_it_again(store: Store, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "crash"
    run_dir.mkdir(parents=True)
    (run_dir / "timeline.jsonl").write_bytes(
        _timeline(
            {"timestamp": "2026-01-05T10:00:00Z", "type": "run_started", "payload": {"task": "t"}},
            {"timestamp": "2026-01-05T10:00:00Z", "type": "phase_start", "payload": {"phase": "IMPLEMENT"}},
            {"timestamp": "2026-01-05T10:01:00Z", "type": "worker_stats", "payload": {"claude": 1}},
            {"timestamp": "2026-01-05T10:05:00Z", "type": "run_resumed", "payload": {}},
            # no phase_start: runr goes on in IMPLEMENT
            {"timestamp": "2026-01-05T10:06:00Z", "type": "implement_complete", "payload": {"changed_files": ["a"]}},
            {"timestamp": "2026-01-05T10:06:00Z", "type": "phase_start", "payload": {"phase": "VERIFY"}},
            {"timestamp": "2026-01-05T10:06:30Z", "type": "stop", "payload": {"reason": "complete"}},
        )
    )
    import_json(store, "runr", run_dir)
    kpi = show(store, "crash")
    assert [(s["name"], s["duration_ms"], s["outcome"]) for s in kpi["spans"]] == [
        ("implement", 60_000, "crashed"),
        ("downtime", 240_000, "completed"),
        ("implement", 60_000, "completed"),
        ("verify", 30_000, "completed"),
    ]
    assert kpi["spans"][2]["attrs"] == {"source_phase": "IMPLEMENT", "resumed": True}
    assert kpi["phases"]["implement"]["attempts"] == 2
    assert kpi["phases"]["implement"]["duration_ms"] == 120_000
    # the same events when the timeline is read line by line across imports
    grown = type(store)(tmp_path / "grown")
    data = (run_dir / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    partial = tmp_path / "partial" / "crash"
    partial.mkdir(parents=True)
    for n in range(1, len(data) + 1):
        (partial / "timeline.jsonl").write_bytes(b"".join(data[:n]))
        import_json(grown, "runr", partial)
    assert {e.id for e in log_events(grown)} == {e.id for e in log_events(store)}


def test_verification_retries_carry_runr_own_count(store: Store) -> None:
    lines = _real_lines()
    # the fixture runs `npm test` again in milestone 1, after milestone 0's checkpoint
    checkpoint_seq = next(r["seq"] for r in lines if r["type"] == "checkpoint_complete")
    later = [r for r in lines if r["type"] == "verification" and r["seq"] > checkpoint_seq]
    assert "npm test" in later[0]["payload"]["commands"]
    import_json(store, "runr", REAL_DIR)
    validations = [e for e in log_events(store) if isinstance(e, ev.Validation)]
    assert [(v.command, v.passed, v.attrs.get("retry", False)) for v in validations] == [
        ("npm test", False, False),
        ("npm test", True, True),  # the one verify_failed_retry sent runr back for
        ("npm test", True, False),  # after the review's changes: not a retry by runr's count
        ("npm test", True, False),  # milestone 1
        ("npm test", True, False),  # milestone 1 again, after the resume
        ("npm run lint && npm run build", True, False),
    ]
    retry = validations[1]
    assert retry.attrs == {
        "retry": True,
        "retry_count": 1,
        "max_retries": 3,
        "tier": "tier0",
        "failed_command": "npm test",
    }
    assert sum(1 for r in lines if r["type"] == "verify_failed_retry") == sum(
        1 for v in validations if v.attrs.get("retry")
    )


def test_the_retry_kpi_is_runr_own_count(store: Store) -> None:
    import json

    import_json(store, "runr", REAL_DIR)
    result = run_cli(store, "kpi", REAL)
    assert result.exit_code == 0, result.output
    runner_count = sum(1 for r in _real_lines() if r["type"] == "verify_failed_retry")
    assert json.loads(result.stdout)["verification"]["retries"] == runner_count


def test_a_review_that_requests_changes_counts_as_changes_requested(store: Store) -> None:
    reviews = [r["payload"]["status"] for r in _real_lines() if r["type"] == "review_complete"]
    assert reviews == ["request_changes", "approve", "approve"]
    import_json(store, "runr", REAL_DIR)
    events = log_events(store)
    review_spans = [e.span for e in events if isinstance(e, ev.SpanStart) and e.name == "review"]
    ends = [_end_of(events, span) for span in review_spans]
    assert [(e.outcome, e.attrs.get("source_outcome")) for e in ends] == [
        ("failed", "changes_requested"),  # the reviewer sent the milestone back to IMPLEMENT
        ("completed", None),
        ("completed", None),
    ]
    assert ends[0].attrs == {
        "review_status": "request_changes",
        "review_changes": 1,
        "source_outcome": "changes_requested",
    }
    result = run_cli(store, "report", "summary", "--json")
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.stdout)["rework"]["runs_with_changes_requested"] == 1


# -- fuzzing the record parsers ---------------------------------------------------------------

_TYPES = [
    "run_started",
    "phase_start",
    "verification",
    "verify_failed_retry",
    "verify_failed_max_retries",
    "implement_complete",
    "checkpoint_complete",
    "plan_scope_violation",
    "guard_violation",
    "parse_failed",
    "worker_stats",
    "stop",
    "run_dry_stop",
    "run_resumed",
    "preflight",
]
_KEYS = [
    "task",
    "phase",
    "ok",
    "commands",
    "duration_ms",
    "tier",
    "changed_files",
    "commit",
    "milestone_index",
    "reason",
    "error",
    "claude",
    "codex",
    "by_phase",
    "plan",
    "files",
    "violations",
    "retry_count",
    "failed_command",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["2026-01-05T09:00:00Z", "PLAN", "complete", "npm test", "x"])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=12,
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "seq": st.integers(min_value=-5, max_value=10**6) | _scalars,
        "timestamp": st.sampled_from(["2026-01-05T09:00:00Z", "2026-01-05 09:00:00", "0001-01-01T00:00:00", "nope"])
        | _scalars,
        "type": st.sampled_from(_TYPES) | _scalars,
        "payload": st.dictionaries(st.sampled_from(_KEYS), _json, max_size=6) | _json,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_records, min_size=1, max_size=8))
def test_fuzz_timeline_records_raise_only_record_errors(records: list[dict[str, Any]]) -> None:
    import json

    parser = TimelineParser("run-1", "timeline.jsonl", {})
    for line, record in enumerate(records, start=1):
        try:
            data = json.dumps(record).encode()
        except (ValueError, OverflowError):
            continue
        try:
            events = parser.feed(data, line)
        except RecordError:
            continue
        assert_valid_events(events)
        json.dumps(parser.state)  # what the next import resumes from stays JSON


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzz_timeline_bytes_raise_only_record_errors(data: bytes) -> None:
    parser = TimelineParser("run-1", "timeline.jsonl", {})
    with contextlib.suppress(RecordError):
        assert_valid_events(parser.feed(data, 1))


@settings(max_examples=300, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "started_at": st.sampled_from(["2026-01-05T09:00:00Z"]) | _scalars,
            "updated_at": _scalars,
            "phase": st.sampled_from(["STOPPED", "BLOCKED", "IMPLEMENT"]) | _scalars,
            "stop_reason": st.sampled_from(["complete", "guard_violation"]) | _scalars,
            "phase_started_at": st.sampled_from(["2026-01-05T09:00:00Z"]) | _scalars,
            "last_error": _scalars,
            "milestones": st.lists(
                st.dictionaries(st.sampled_from(["goal", "risk_level", "files_expected"]), _json, max_size=3) | _json,
                max_size=4,
            )
            | _json,
        },
    )
)
def test_fuzz_state_json_raises_only_record_errors(doc: dict[str, Any]) -> None:
    import json

    try:
        data = json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return
    with contextlib.suppress(RecordError):
        assert_valid_events(state_events("run-1", "state.json", data))
    with contextlib.suppress(RecordError):
        state_stop("state.json", data)


def _spans_of(store: Store) -> list[dict[str, Any]]:
    from laptime.index import Index

    with Index(store) as index:
        index.update()
        return index.query_dicts(
            "SELECT span_id, kind, name, started_at, ended_at, outcome FROM spans ORDER BY start_us, span_id"
        )


def test_a_state_from_before_last_ns_is_read_again_from_the_start(tmp_path: Path, store: Store) -> None:
    """A timeline read up to the line before a crash by a laptime whose parser kept no
    ``last_ns`` (before e92f2c7): once runr resumed, the timeline is read again from its
    start, so the interrupted attempt still ends crashed at its last line and the silence
    is downtime, as one read of the whole gives. (Resumed with that state, the silence
    was charged to the VERIFY attempt, and the downtime had no length.)"""
    import json

    import apsw

    from laptime.store import Store as StoreType

    lines = (REAL_DIR / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    run_dir = tmp_path / "runs" / REAL
    run_dir.mkdir(parents=True)
    (run_dir / "timeline.jsonl").write_bytes(b"".join(lines[:29]))
    (run_dir / "state.json").write_text(
        (REAL_DIR / "state.json").read_text(encoding="utf-8").replace('"STOPPED"', '"VERIFY"'), encoding="utf-8"
    )
    import_json(store, "runr", tmp_path / "runs")
    cache = apsw.Connection(str(store.root / "imports.sqlite"))
    try:
        for path, extra in cache.execute("SELECT path, extra FROM files").fetchall():
            state = json.loads(extra)
            assert state.pop("v") == 2
            state.get("parser", {}).pop("last_ns", None)  # as laptime kept it before e92f2c7
            cache.execute("UPDATE files SET extra = ? WHERE path = ?", (json.dumps(state), path))
    finally:
        cache.close()
    with (run_dir / "timeline.jsonl").open("ab") as handle:
        handle.write(b"".join(lines[29:]))
    shutil.copyfile(REAL_DIR / "state.json", run_dir / "state.json")
    grown = import_json(store, "runr", tmp_path / "runs")
    assert grown["bytes_read"] >= (run_dir / "timeline.jsonl").stat().st_size  # from the start
    whole = StoreType(tmp_path / "whole" / ".laptime")
    import_json(whole, "runr", tmp_path / "runs")
    assert _spans_of(store) == _spans_of(whole)
    downtime = [s for s in _spans_of(whole) if s["name"] == "downtime"]
    assert len(downtime) == 1
    assert downtime[0]["started_at"] < downtime[0]["ended_at"]
