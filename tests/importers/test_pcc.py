"""The work-order runner's SQLite database: ``runs`` + ``run_phase_metrics`` (seed 003).

The database is built here with sqlite3, with seed 003's schema. Run ``run-1``
(WO-2026-069), 10:00:00-10:20:00, completed: setup 60 s; builder 600 s; test 120 s
(failed); builder again (iteration 2) 300 s; test 60 s; reviewer 60 s (approved);
merge skipped.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importers import assert_valid_events, import_json, log_events, make_unreadable, problems_text, show, snapshot
from laptime import events as ev
from laptime.importers.pcc import phase_events, run_events, run_outcome
from laptime.importers.records import RecordError

if TYPE_CHECKING:
    from laptime.store import Store

SCHEMA = """
CREATE TABLE runs (
  id TEXT PRIMARY KEY, project_id TEXT, work_order_id TEXT, provider TEXT, status TEXT,
  iteration INTEGER, created_at TEXT, started_at TEXT, finished_at TEXT, error TEXT,
  failure_category TEXT, estimated_minutes INTEGER
);
CREATE TABLE IF NOT EXISTS run_phase_metrics (
  id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  iteration INTEGER NOT NULL DEFAULT 1,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_seconds INTEGER,
  outcome TEXT,
  metadata TEXT,
  FOREIGN KEY (run_id) REFERENCES runs(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_run_phase_metrics_run ON run_phase_metrics(run_id);
"""

PHASES = [
    ("p1", "run-1", "setup", 1, "2026-01-12 10:00:00", "2026-01-12 10:01:00", 60, "success", None),
    ("p2", "run-1", "builder", 1, "2026-01-12 10:01:00", "2026-01-12 10:11:00", 600, "success", '{"files_changed": 4}'),
    ("p3", "run-1", "test", 1, "2026-01-12 10:11:00", "2026-01-12 10:13:00", 120, "failed", '{"tests_failed": 2}'),
    ("p4", "run-1", "builder", 2, "2026-01-12 10:13:00", "2026-01-12 10:18:00", 300, "success", None),
    ("p5", "run-1", "test", 2, "2026-01-12 10:18:00", "2026-01-12 10:19:00", 60, "success", None),
    ("p6", "run-1", "reviewer", 1, "2026-01-12 10:19:00", "2026-01-12 10:20:00", 60, "approved", None),
    ("p7", "run-1", "merge", 1, "2026-01-12 10:20:00", "2026-01-12 10:20:00", 0, "skipped", None),
]
RUN_1 = (
    "run-1",
    "proj",
    "WO-2026-069",
    "codex",
    "completed",
    2,
    "2026-01-12 09:59:00",
    "2026-01-12 10:00:00",
    "2026-01-12 10:20:00",
    None,
    None,
    120,
)


def make_db(path: Path, runs: list[tuple[Any, ...]], phases: list[tuple[Any, ...]]) -> Path:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", runs)
    db.executemany("INSERT INTO run_phase_metrics VALUES (?,?,?,?,?,?,?,?,?)", phases)
    db.commit()
    db.close()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return make_db(tmp_path / "runner.db", [RUN_1], PHASES)


def test_import_gives_the_kpis_the_tables_say(store: Store, db_path: Path) -> None:
    summary = import_json(store, "pcc", db_path)
    assert summary["records"] == 1 + len(PHASES)
    kpi = show(store, "run-1")
    assert kpi["name"] == "WO-2026-069"
    assert kpi["runner"] == "pcc"
    assert kpi["outcome"] == "completed"
    assert kpi["total_duration_ms"] == 1_200_000
    phases = {n: (p["duration_ms"], p["attempts"], p["failed"]) for n, p in kpi["phases"].items()}
    assert phases == {
        "setup": (60_000, 1, 0),
        "builder": (900_000, 2, 0),
        "test": (180_000, 2, 1),
        "reviewer": (60_000, 1, 0),
        "merge": (0, 1, 0),
    }
    assert kpi["verification"]["retries"] == 1  # the test phase entered again
    assert kpi["unattributed_ms"] == 0
    spans = {s["name"] + str(s["attrs"]["attempt"]): s for s in kpi["spans"] if s["kind"] == "phase"}
    assert spans["builder1"]["attrs"]["files_changed"] == 4  # metadata JSON becomes attrs
    assert spans["test1"]["attrs"]["source_outcome"] == "failed"
    assert spans["reviewer1"]["attrs"]["source_outcome"] == "approved"
    assert spans["merge1"]["attrs"]["skipped"] is True
    assert spans["merge1"]["outcome"] == "completed"


@pytest.mark.parametrize(
    ("word", "outcome"),
    [
        ("success", "completed"),
        ("approved", "completed"),
        ("skipped", "completed"),
        ("failed", "failed"),
        ("changes_requested", "failed"),
    ],
)
def test_phase_outcomes_map_and_keep_the_source_word(word: str, outcome: str) -> None:
    row = {
        "id": "x",
        "run_id": "r",
        "phase": "reviewer",
        "started_at": "2026-01-12 10:00:00",
        "duration_seconds": 5,
        "outcome": word,
    }
    end = phase_events(row, "db")[-1]
    assert isinstance(end, ev.SpanEnd)
    assert (end.outcome, end.attrs["source_outcome"]) == (outcome, word)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("completed", "completed"),
        ("merged", "completed"),
        ("failed", "failed"),
        ("baseline_failed", "failed"),
        ("merge_conflict", "failed"),
        ("canceled", "stopped"),
        ("waiting_for_input", "blocked"),
        ("running", None),
        ("queued", None),
    ],
)
def test_run_statuses_map_onto_laptime_outcomes(status: str, outcome: str | None) -> None:
    assert run_outcome(status) == outcome


def test_importing_twice_adds_nothing(store: Store, db_path: Path) -> None:
    import_json(store, "pcc", db_path)
    before = snapshot(store)
    assert import_json(store, "pcc", db_path)["events_new"] == 0
    assert snapshot(store) == before
    (store.root / "imports.sqlite").unlink()
    assert import_json(store, "pcc", db_path)["events_new"] == 0
    assert snapshot(store) == before


def test_new_rows_and_a_finished_run_add_only_the_new_part(store: Store, tmp_path: Path) -> None:
    running = (*RUN_1[:4], "running", 1, *RUN_1[6:8], None, None, None, 120)
    path = make_db(tmp_path / "runner.db", [running], PHASES[:3])
    first = import_json(store, "pcc", path)
    assert show(store, "run-1")["outcome"] in ("running", "crashed")
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO run_phase_metrics VALUES (?,?,?,?,?,?,?,?,?)", PHASES[3:])
    db.execute("UPDATE runs SET status = 'completed', finished_at = '2026-01-12 10:20:00' WHERE id = 'run-1'")
    db.commit()
    db.close()
    grown = import_json(store, "pcc", path)
    assert grown["records"] == 1 + len(PHASES) - 3  # the open run again, and the new rows only
    reference = type(store)(tmp_path / "reference")
    full = import_json(reference, "pcc", make_db(tmp_path / "full.db", [RUN_1], PHASES))
    assert first["events_new"] + grown["events_new"] == full["events_new"]
    assert {e.id for e in log_events(store)} == {e.id for e in log_events(reference)}
    assert show(store, "run-1")["phases"] == show(reference, "run-1")["phases"]
    assert show(store, "run-1")["outcome"] == "completed"


def test_bad_rows_are_skipped_with_file_and_rowid(store: Store, tmp_path: Path) -> None:
    bad = [
        ("b1", "run-1", "setup", 1, "not a date", None, 5, "success", None),  # wrong value
        ("b2", "run-1", "setup", "x", "2026-01-12 10:00:00", None, 5, "success", None),  # wrong type
        ("b3", "run-1", "setup", 1, "2026-01-12 10:00:00", None, 5, "success", "{truncated"),  # truncated JSON
        ("b4", "run-1", "setup", 1, "", None, 5, "success", None),  # missing started_at
        ("b5", "run-1", "setup", 1, b"\x00\xff", None, 5, "success", None),  # binary garbage
    ]
    path = make_db(tmp_path / "runner.db", [RUN_1], PHASES + bad)
    summary = import_json(store, "pcc", path)
    assert summary["skipped_records"] == len(bad)
    warnings = problems_text(summary)
    rowids = [len(PHASES) + i for i in range(1, len(bad) + 1)]
    assert [w.split(": ", 1)[0] for w in warnings] == [f"{path}:{r}" for r in rowids]
    assert "not an ISO 8601 timestamp" in warnings[0]
    assert "`iteration`: expected an integer" in warnings[1]
    assert "`metadata`: not valid JSON" in warnings[2]
    assert "missing field `started_at`" in warnings[3]
    assert "binary data" in warnings[4]
    assert show(store, "run-1")["total_duration_ms"] == 1_200_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02 garbage" * 50, "not a SQLite database"),
        (None, "database"),  # a truncated database
    ],
)
def test_unusable_files_exit_1_and_keep_what_is_stored(
    store: Store, tmp_path: Path, db_path: Path, content: bytes | None, message: str
) -> None:
    import_json(store, "pcc", db_path)
    before = snapshot(store)
    bad = tmp_path / "bad.db"
    if content is None:
        big = make_db(
            tmp_path / "big.db",
            [RUN_1],
            [(f"q{i}", "run-1", "setup", 1, "2026-01-12 10:00:00", None, 1, "success", "{}") for i in range(3000)],
        )
        content = big.read_bytes()[:5000]
    bad.write_bytes(content)
    summary = import_json(store, "pcc", bad, expect=1)
    [warning] = problems_text(summary)
    assert warning.startswith(f"{bad}")
    assert message in warning
    assert snapshot(store) == before


def test_unreadable_missing_and_foreign_databases(
    store: Store, tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    summary = import_json(store, "pcc", other, expect=1)
    assert "no `runs` or `run_phase_metrics` table" in problems_text(summary)[0]
    assert (
        import_json(store, "pcc", tmp_path / "nope.db", expect=1)["problems"][0]["message"] == "no such file or folder"
    )
    make_unreadable(db_path, monkeypatch)
    assert problems_text(import_json(store, "pcc", db_path, expect=1)) == [f"{db_path}: permission denied"]


_values = (
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.binary(max_size=6)
    | st.booleans()
)
_ts = (
    st.sampled_from(["2026-01-12 10:00:00", "2026-01-12T10:00:00Z", "garbage", "", 1768212000, 1768212000000]) | _values
)
_row = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["p1", "r1"]) | _values,
        "run_id": st.just("run-1") | _values,
        "phase": st.sampled_from(["setup", "builder"]) | _values,
        "iteration": st.integers(-3, 5) | _values,
        "started_at": _ts,
        "ended_at": _ts,
        "created_at": _ts,
        "finished_at": _ts,
        "duration_seconds": st.integers(-5, 10**6) | _values,
        "outcome": st.sampled_from(["success", "failed", "skipped"]) | _values,
        "status": st.sampled_from(["completed", "running", "failed"]) | _values,
        "metadata": st.sampled_from(['{"a": 1}', "[1]", "{", "null"]) | _values,
        "work_order_id": _values,
        "estimated_minutes": _values,
        "error": _values,
    },
)


@settings(max_examples=400, deadline=None)
@given(row=_row)
def test_fuzz_row_parsers_raise_only_record_errors(row: dict[str, Any]) -> None:
    for parse in (lambda r: phase_events(r, "db"), lambda r: run_events(r, "db")[0]):
        try:
            events = parse(row)
        except RecordError:
            continue
        assert_valid_events(events)
        json.dumps([e.attrs for e in events])
