"""AIDF: ``.ai/reports/YYYY-MM-DD/run-<id>.json``, one whole ExecutionReport per run.

The main fixture (run 3f2a9c1e): 10:00:00-10:02:00, completed, 2 iterations of 70 s
and 50 s; sonnet 18000/2500 then 12000/1500 tokens, reported cost 0.0915 + 0.0585;
`pnpm test` fails in iteration 1 and passes in 2; 1 file modified, 2 created; 1 scope
violation (package.json). The second (extra/run-7c41d2e0): blocked, estimated tokens,
run-wide phases only. The third (cases/run-5d6e7f80), as AIDF's MetricsCollector
writes one: 3 iterations; `cost.estimatedTotal` from the user's own rates and no
`cost.perIteration`; `totalDurationMs` 187654.32 while the ISO times say 187654;
contextLoading and `other` in `timing.phases` only, the other phases per iteration
(scopeChecking 4.1 ms each); a file both modified and created, and one deleted.
"""

from __future__ import annotations

import contextlib
import itertools
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
    log_events,
    make_unreadable,
    problems_text,
    run_cli,
    show,
    snapshot,
)
from laptime import events as ev
from laptime.definitions import round_ms
from laptime.importers.aidf import report_events
from laptime.importers.records import RecordError

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "3f2a9c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b"
BLOCKED = "7c41d2e0-1111-4222-8333-944455556666"
REPORT = FIXTURES / "aidf" / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json"
CASE = "5d6e7f80-aaaa-4bbb-8ccc-dddddddddddd"
CASE_REPORT = FIXTURES / "aidf" / "cases" / "run-5d6e7f80.json"


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
        "other": (6_000, 1),  # timing.phases only: kept, in iteration 2's time outside its phases
    }
    assert kpi["unattributed_ms"] == 0
    model = kpi["models"]["claude-sonnet-4-5"]
    assert (model["provider"], model["calls"], model["input_tokens"], model["output_tokens"]) == (
        "anthropic",
        2,
        30_000,
        4_000,
    )
    assert model["estimated_calls"] == 0
    assert model["by_phase"] == {"aiExecution": {"calls": 2, "input_tokens": 30_000, "output_tokens": 4_000}}
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
    assert kpi["tokens"]["total_tokens"] == 8_900
    assert kpi["tokens"]["estimated_tokens"] == 8_900  # the report says its counts are estimates
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


def _case() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CASE_REPORT.read_text())
    return data


def _llm(store: Store, run: str) -> list[ev.LlmUsage]:
    return [e for e in log_events(store) if isinstance(e, ev.LlmUsage) and e.run == run]


def test_estimated_total_is_the_reported_cost_without_per_iteration_costs(store: Store) -> None:
    doc = _case()
    assert "perIteration" not in doc["cost"]
    total = doc["cost"]["estimatedTotal"]
    import_json(store, "aidf", CASE_REPORT)
    kpi = show(store, CASE)
    assert kpi["cost_usd"] == total  # exactly: the source's figure, not laptime's prices
    assert kpi["cost_source"] == "reported"
    assert kpi["cost"]["reported_usd"] == total
    calls = _llm(store, CASE)
    assert [c.attrs["iteration"] for c in calls] == [1, 2, 3]
    costs = [c.cost_usd for c in calls]
    assert None not in costs
    assert sum(costs) == total  # type: ignore[arg-type]
    assert sum(reversed(costs)) == total  # type: ignore[arg-type]
    tokens = [t["input"] + t["output"] for t in doc["tokens"]["perIteration"]]
    for cost, n in zip(costs, tokens, strict=True):
        assert cost == pytest.approx(total * n / sum(tokens), rel=1e-12)  # shared by tokens


def test_estimated_total_wins_over_per_iteration_costs_that_do_not_add_up(store: Store, tmp_path: Path) -> None:
    doc = json.loads(REPORT.read_text())
    parts = [0.1, 0.2]
    doc["cost"]["perIteration"] = [{"iteration": i + 1, "cost": c} for i, c in enumerate(parts)]
    doc["cost"]["estimatedTotal"] = total = 0.3
    assert sum(parts) != total  # the float sum of AIDF's own parts misses its total
    report = tmp_path / "run-3f2a9c1e.json"
    report.write_text(json.dumps(doc, indent=2))
    import_json(store, "aidf", report)
    shown = show(store, RUN)
    assert (shown["cost_usd"], shown["cost_source"]) == (total, "reported")
    calls = _llm(store, RUN)
    assert [c.cost_usd for c in calls] == [pytest.approx(c) for c in parts]  # shared as AIDF split it
    # where a share had to move off AIDF's figure by a rounding step, the figure is kept beside it
    assert [c.attrs.get("source_cost_usd", c.cost_usd) for c in calls] == parts


def test_a_reported_cost_without_token_counts_still_counts(store: Store, tmp_path: Path) -> None:
    doc = _case()
    del doc["tokens"]  # a CLI provider that reports no tokens
    report = tmp_path / "run-5d6e7f80.json"
    report.write_text(json.dumps(doc, indent=2))
    import_json(store, "aidf", report)
    shown = show(store, CASE)
    assert (shown["cost_usd"], shown["cost_source"]) == (doc["cost"]["estimatedTotal"], "reported")
    [call] = _llm(store, CASE)
    assert (call.input_tokens, call.output_tokens, call.estimated) == (0, 0, True)
    assert call.attrs == {"whole_run": True, "tokens_unknown": True}


def test_run_level_phases_are_kept_beside_the_iterations_own(store: Store) -> None:
    doc = _case()
    per_iteration = {p for it in doc["timing"]["perIteration"] for p in it["phases"]}
    assert {"contextLoading", "other"} - per_iteration == {"contextLoading", "other"}
    import_json(store, "aidf", CASE_REPORT)
    kpi = show(store, CASE)
    durations = {name: p["duration_ms"] for name, p in kpi["phases"].items()}
    # as stated, in integer ms (half up: the JSON vocabulary's *_ms)
    assert durations == {k: round_ms(v) for k, v in doc["timing"]["phases"].items()}
    assert kpi["unattributed_ms"] == pytest.approx(0, abs=1e-6)  # no phase time is lost
    spans = [s for s in kpi["spans"] if s["kind"] == "phase"]
    run_level = [s for s in spans if s["attrs"].get("run_level")]
    assert {s["name"] for s in run_level} == {"contextLoading", "other"}
    assert all(kpi["started_at"] <= s["started_at"] and s["ended_at"] <= kpi["ended_at"] for s in spans)
    by_start = sorted(spans, key=lambda s: s["started_at"])
    assert all(a["ended_at"] <= b["started_at"] for a, b in itertools.pairwise(by_start))  # no overlap


def test_total_duration_ms_is_the_run_duration(store: Store) -> None:
    doc = _case()
    timing = doc["timing"]
    import_json(store, "aidf", CASE_REPORT)
    kpi = show(store, CASE)
    assert timing["completedAt"] == "2026-01-08T09:03:07.654Z"  # cut to the millisecond
    assert kpi["total_duration_ms"] == round_ms(timing["totalDurationMs"])
    assert kpi["ended_at"] == "2026-01-08T09:03:07.654320Z"


def test_stated_durations_are_used_as_stated(store: Store) -> None:
    doc = _case()
    import_json(store, "aidf", CASE_REPORT)
    kpi = show(store, CASE)
    assert [v["duration_ms"] for v in kpi["validations"]] == [
        round_ms(r["durationMs"]) for r in doc["validation"]["runs"]
    ]
    spans = [s for s in kpi["spans"] if s["kind"] == "phase" and "iteration" in s["attrs"]]
    stated = [(it["iteration"], name, ms) for it in doc["timing"]["perIteration"] for name, ms in it["phases"].items()]
    got = [(s["attrs"]["iteration"], s["name"], s["duration_ms"]) for s in spans]
    assert got == [(i, name, round_ms(ms)) for i, name, ms in stated]  # integer ms in the JSON
    # the log keeps the stated value to the microsecond: 4.1 ms stays 4,100 µs, not 4,099
    from laptime.clock import parse_timestamp_us

    exact = [parse_timestamp_us(s["ended_at"]) - parse_timestamp_us(s["started_at"]) for s in spans]
    assert exact == [round(ms * 1000) for _, _, ms in stated]
    ai = {it["iteration"]: it["phases"]["aiExecution"] for it in doc["timing"]["perIteration"]}
    assert {c.attrs["iteration"]: c.latency_ms for c in _llm(store, CASE)} == ai


def _aidf_most_modified(reports: list[dict[str, Any]]) -> dict[str, int]:
    """AIDF's ReportWriter.aggregate: every path in files.modified and files.created, per report."""
    counts: dict[str, int] = {}
    for report in reports:
        for path in [*report["files"]["modified"], *report["files"]["created"]]:
            counts[path] = counts.get(path, 0) + 1
    return counts


def test_most_modified_files_count_as_aidf_counts_them(store: Store) -> None:
    reports = [json.loads(REPORT.read_text()), _case()]
    assert reports[1]["files"]["deleted"]
    import_json(store, "aidf", REPORT, CASE_REPORT)
    result = run_cli(store, "report", "summary", "--json")
    assert result.exit_code == 0, result.output
    top = {f["path"]: f["changes"] for f in json.loads(result.stdout)["top_files"]}
    assert top == _aidf_most_modified(reports)  # deleted files are not in AIDF's list
    [run] = [e for e in log_events(store) if isinstance(e, ev.SpanStart) and e.span == CASE]
    assert run.attrs["files_deleted"] == reports[1]["files"]["deleted"]
    assert show(store, CASE)["changes"]["created"] == len(reports[1]["files"]["created"])


def test_the_run_records_its_iterations(store: Store) -> None:
    doc = _case()
    import_json(store, "aidf", CASE_REPORT)
    [run] = [e for e in log_events(store) if isinstance(e, ev.SpanStart) and e.span == CASE]
    assert (run.attrs["iterations"], run.attrs["max_iterations"]) == (doc["iterations"], doc["maxIterations"])


def test_an_older_report_without_the_iteration_count_counts_its_iterations(store: Store, tmp_path: Path) -> None:
    doc = _case()
    del doc["iterations"]
    report = tmp_path / "run-5d6e7f80.json"
    report.write_text(json.dumps(doc, indent=2))
    import_json(store, "aidf", report)
    [run] = [e for e in log_events(store) if isinstance(e, ev.SpanStart) and e.span == CASE]
    assert run.attrs["iterations"] == len(doc["timing"]["perIteration"])


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


@settings(max_examples=300, deadline=None)
@given(
    total=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    weights=st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False), max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_exact_split_adds_up_to_the_total_in_any_order(total: float, weights: list[float], order: Any) -> None:
    from laptime.importers.records import split_exactly

    parts = split_exactly(total, weights)
    assert len(parts) == len(weights)
    if not parts:
        return
    assert all(p >= 0 for p in parts)
    shuffled = list(parts)
    order.shuffle(shuffled)
    assert sum(parts) == total
    assert sum(shuffled) == total


def test_a_run_that_would_end_after_the_year_9999_is_a_skipped_record(store: Store, tmp_path: Path) -> None:
    """No event timestamp can name a time past 9999-12-31: the report is skipped with a
    warning that names it, not "a bug in laptime"."""
    data = json.loads(REPORT.read_text(encoding="utf-8"))
    data["timing"]["startedAt"] = "9999-12-31T23:59:59.999Z"
    data["timing"].pop("completedAt", None)
    report = tmp_path / "run-99999999.json"
    report.write_text(json.dumps(data), encoding="utf-8")
    summary = import_json(store, "aidf", report, expect=1)  # (every record skipped: exit 1, as for any bad report)
    assert (summary["events_new"], summary["skipped_records"]) == (0, 1)
    assert problems_text(summary) == [
        f"{report}:1: a time after the year 9999 (or before the year 1), which no event timestamp can hold"
    ]
