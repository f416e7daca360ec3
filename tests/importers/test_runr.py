"""runr: ``runs/<id>/timeline.jsonl`` + ``state.json``.

The fixture run (t in seconds from 09:00:00): run_started at 0; PLAN 5-65; IMPLEMENT
65-185 (src/login.ts, src/form.ts); VERIFY 185-215 fails `npm test`; retry:
IMPLEMENT 215-275; VERIFY 275-305 passes; REVIEW 305-335; CHECKPOINT 335-345 with
commit abc1234 for milestone 0; FINALIZE 345-360 (worker_stats: claude 3, codex 2);
stop "complete" at 360. state.json plans 2 milestones.
"""

from __future__ import annotations

import contextlib
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
    show,
    snapshot,
)
from laptime import events as ev
from laptime.importers.records import RecordError
from laptime.importers.runr import TimelineParser, runr_outcome, state_events

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "20260105090000"
RUNS = FIXTURES / "runr" / "runs"


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
        "plan": {"calls": 1, "tokens_in": 0, "tokens_out": 0},
        "implement": {"calls": 2, "tokens_in": 0, "tokens_out": 0},
    }
    assert kpi["models"]["codex"]["by_phase"] == {"review": {"calls": 2, "tokens_in": 0, "tokens_out": 0}}
    assert kpi["tokens"]["total"] == 0
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
    ],
)
def test_stop_reasons_map_onto_laptime_outcomes(reason: str, outcome: str) -> None:
    assert runr_outcome(reason) == outcome


def test_an_unknown_stop_reason_with_an_error_is_a_failure() -> None:
    assert runr_outcome("something_new", has_error=True) == "failed"


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
