"""AIDF: ``.ai/reports/YYYY-MM-DD/run-<id>.json``, one whole ExecutionReport per run.

The main fixture (run 3f2a9c1e): 10:00:00-10:02:00, completed, 2 iterations of 70 s
and 50 s; sonnet 18000/2500 then 12000/1500 tokens, reported cost 0.0915 + 0.0585;
`pnpm test` fails in iteration 1 and passes in 2; 1 file modified, 2 created; 1 scope
violation (package.json). The second (extra/run-7c41d2e0): blocked, estimated tokens,
run-wide phases only.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importers import (
    FIXTURES,
    assert_valid_events,
    copy_fixture,
    import_json,
    make_unreadable,
    problems_text,
    show,
    snapshot,
)
from laptime.importers.aidf import report_events
from laptime.importers.records import RecordError

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "3f2a9c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b"
BLOCKED = "7c41d2e0-1111-4222-8333-944455556666"
REPORT = FIXTURES / "aidf" / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json"


def test_import_gives_the_kpis_the_report_says(store: Store) -> None:
    summary = import_json(store, "aidf", FIXTURES / "aidf")  # a project folder: .ai/reports is found
    assert summary["files_read"] == 1
    kpi = show(store, RUN)
    assert kpi["name"] == "Add a search box to the header"
    assert kpi["runner"] == "aidf"
    assert (kpi["started_at"], kpi["ended_at"]) == ("2026-01-05T10:00:00.000000Z", "2026-01-05T10:02:00.000000Z")
    assert kpi["total_duration_ms"] == 120_000
    assert kpi["outcome"] == "completed"
    phases = {name: (p["duration_ms"], p["attempts"]) for name, p in kpi["phases"].items()}
    assert phases == {  # per iteration, laid out one after the other
        "contextLoading": (2_000, 1),
        "aiExecution": (90_000, 2),
        "scopeChecking": (500, 2),
        "validation": (20_000, 2),
        "gitOperations": (1_500, 2),
    }
    model = kpi["models"]["claude-sonnet-4-5"]
    assert (model["provider"], model["calls"], model["tokens_in"], model["tokens_out"]) == (
        "anthropic",
        2,
        30_000,
        4_000,
    )
    assert model["estimated_calls"] == 0
    assert model["by_phase"] == {"aiExecution": {"calls": 2, "tokens_in": 30_000, "tokens_out": 4_000}}
    assert kpi["cost"]["reported_usd"] == pytest.approx(0.15)
    assert kpi["verification"]["commands_run"] == 2
    assert kpi["verification"]["retries"] == 1
    assert [(v["command"], v["passed"], v["exit_code"], v["tier"]) for v in kpi["validations"]] == [
        ("pnpm test", False, 1, "pre_commit"),
        ("pnpm test", True, 0, "pre_commit"),
    ]
    assert (kpi["changes"]["created"], kpi["changes"]["modified"], kpi["changes"]["deleted"]) == (2, 1, 0)
    assert kpi["scope_violations"] == 1
    assert kpi["tvc_ms"] is None  # AIDF reports no checkpoints


def test_a_blocked_run_with_estimated_tokens(store: Store) -> None:
    import_json(store, "aidf", FIXTURES / "aidf" / "extra" / "run-7c41d2e0.json")
    kpi = show(store, BLOCKED)
    assert kpi["outcome"] == "blocked"
    assert kpi["error"] == "Needs a design decision on the footer layout"
    assert kpi["tokens"]["total"] == 8_900
    assert kpi["tokens"]["estimated"] == 8_900  # the report says its counts are estimates
    assert {n: p["duration_ms"] for n, p in kpi["phases"].items()} == {
        "contextLoading": 1_000,
        "aiExecution": 25_000,
        "other": 4_000,
    }


def test_importing_twice_adds_nothing(store: Store) -> None:
    import_json(store, "aidf", FIXTURES / "aidf")
    before = snapshot(store)
    assert import_json(store, "aidf", FIXTURES / "aidf")["events_new"] == 0
    assert snapshot(store) == before
    (store.root / "imports.sqlite").unlink()
    again = import_json(store, "aidf", FIXTURES / "aidf")
    assert again["events_new"] == 0
    assert snapshot(store) == before


def test_a_new_report_adds_only_its_run_and_a_rewritten_one_adds_nothing(store: Store, tmp_path: Path) -> None:
    project = copy_fixture("aidf", tmp_path)
    first = import_json(store, "aidf", project)
    day = project / ".ai" / "reports" / "2026-01-06"
    day.mkdir()
    shutil.copy(project / "extra" / "run-7c41d2e0.json", day / "run-7c41d2e0.json")
    report = project / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json"
    report.write_text(json.dumps(json.loads(report.read_text())))  # same report, rewritten compactly
    grown = import_json(store, "aidf", project)
    assert grown["files_read"] == 2
    assert grown["runs"] == 1  # only the new report's run gained events
    reference = type(store)(tmp_path / "reference")
    single = import_json(reference, "aidf", day)
    assert grown["events_new"] == single["events_new"]
    assert first["events_new"] > 0


@pytest.mark.parametrize(
    ("edit", "line_of", "message"),
    [
        (lambda t: t[: len(t) // 2], None, "not valid JSON"),  # truncated
        (lambda t: t.replace('"passed": true', '"passed": "yes"'), '"passed": "yes"', "expected true or false"),
        (lambda t: t.replace('"runId": "3f2a9c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b",', ""), None, "missing field `runId`"),
        (lambda t: t.replace('"input": 12000', '"input": -5'), '"input": -5', "cannot be negative"),
        (lambda _: "", None, "empty file"),
        (lambda _: "\x00\x01binary\xff garbage", None, "not valid JSON"),
    ],
)
def test_bad_reports_warn_with_file_and_line_and_exit_1(
    store: Store, tmp_path: Path, edit: Any, line_of: str | None, message: str
) -> None:
    import_json(store, "aidf", FIXTURES / "aidf" / "extra")
    before = snapshot(store)
    bad = tmp_path / "run-3f2a9c1e.json"
    text = edit(REPORT.read_text())
    bad.write_text(text)
    summary = import_json(store, "aidf", bad, expect=1)
    assert summary["skipped_records"] == 1
    [warning] = problems_text(summary)
    assert warning.startswith(str(bad))
    assert message in warning
    if line_of is not None:
        line = next(n for n, row in enumerate(text.splitlines(), start=1) if line_of in row)
        assert warning.startswith(f"{bad}:{line}: ")
    assert snapshot(store) == before  # nothing stored is lost


def test_unreadable_and_missing(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_fixture("aidf", tmp_path)
    report = project / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json"
    make_unreadable(report, monkeypatch)
    summary = import_json(store, "aidf", project / ".ai" / "reports", expect=1)
    assert problems_text(summary) == [f"{report}: permission denied"]
    assert import_json(store, "aidf", tmp_path / "missing", expect=1)["skipped_records"] == 1


def test_one_bad_report_among_good_ones_exits_0(store: Store, tmp_path: Path) -> None:
    project = copy_fixture("aidf", tmp_path)
    (project / ".ai" / "reports" / "2026-01-05" / "run-deadbeef.json").write_text('{"runId": 5}')
    summary = import_json(store, "aidf", project)
    assert summary["events_new"] > 0
    assert summary["skipped_records"] == 1


_scalars = st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """The fixture report with some fields replaced by arbitrary JSON, or deleted."""
    base = json.loads(REPORT.read_text())
    paths = [
        ("runId",),
        ("status",),
        ("provider",),
        ("timing", "startedAt"),
        ("timing", "completedAt"),
        ("timing", "perIteration"),
        ("timing", "phases"),
        ("tokens", "perIteration"),
        ("tokens", "estimated"),
        ("cost", "perIteration"),
        ("validation", "runs"),
        ("files", "created"),
        ("scope", "blockedFiles"),
        ("scope", "violations"),
        ("environment",),
    ]

    def apply(changes: list[tuple[tuple[str, ...], Any, bool]]) -> dict[str, Any]:
        doc = json.loads(json.dumps(base))
        for path, value, delete in changes:
            target = doc
            for key in path[:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else {}
            if isinstance(target, dict):
                if delete:
                    target.pop(path[-1], None)
                else:
                    target[path[-1]] = value
        return doc

    return st.lists(st.tuples(st.sampled_from(paths), _json, st.booleans()), max_size=4).map(apply)


@settings(max_examples=300, deadline=None)
@given(doc=_mutations())
def test_fuzz_report_parser_raises_only_record_errors(doc: dict[str, Any]) -> None:
    try:
        data = json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return
    with contextlib.suppress(RecordError):
        assert_valid_events(report_events(data, "run.json"))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()))
def test_fuzz_report_bytes_raise_only_record_errors(data: bytes) -> None:
    with contextlib.suppress(RecordError):
        assert_valid_events(report_events(data, "run.json"))
