"""``laptime status [--report]``: exact text, and trends against the previous 5 runs.

The store holds seven one-phase runs (tests/helpers.py ``record_simple_run``), one hour
apart, each with sonnet calls of 100 in / 10 out ($0.00045 a call at the config's
$3/$15 per 1M):

    old      10m 00s, 3 calls, completed   (the 6th before the last: not counted)
    p1..p5   1m 00s,  1 call,  p3 failed, the others completed
    last     1m 30s,  1 call,  completed

So against the mean of p1..p5: duration 90 s vs 60 s is +50% (↑), cost $0.00045 vs
$0.00045 is 0% (→), success 100% vs a rate of 80% (↑).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import T0, invoke, invoke_json, record_simple_run
from laptime.analysis.trends import arrow, numeric_trend, run_trends, success_trend
from test_compare import PRICES

if TYPE_CHECKING:
    from laptime.store import Store


@pytest.fixture
def seven_runs(store: Store) -> Store:
    record_simple_run(store, "old", start=T0, name="old", seconds=600, calls=3)
    for i in range(1, 6):
        record_simple_run(
            store,
            f"p{i}",
            start=T0 + timedelta(hours=i),
            name=f"task {i}",
            outcome="failed" if i == 3 else None,
        )
    record_simple_run(store, "last", start=T0 + timedelta(hours=6), name="fix-login", seconds=90, runner="pipeline")
    store.config_path.write_text(PRICES, encoding="utf-8")
    return store


def _plain_status(store: Store) -> str:
    segments = sorted(store.log_dir.glob("*.jsonl"))
    size = sum(p.stat().st_size for p in segments)
    return (
        f"store      {store.root}\n"
        f"segments   1 ({size / 1024:.1f} KiB), 2026-01-05.jsonl .. 2026-01-05.jsonl\n"
        "events     37 in 7 runs\n"
        "index      current\n"
        "bad lines  0\n"
        "health     ok\n"
    )


REPORT = """\

Last run
run        last · fix-login · pipeline · started 2026-01-05 15:00:00Z
outcome    completed in 1m 30s
llm        1 call · 100 in · 10 out · 110 tokens in all
cost       $0.0004
trends     vs the mean of the previous 5 runs (↑ / ↓ beyond ±5%, → within; at most 5 runs)
               last  trend   previous
  --------  -------  ------  --------
  duration   1m 30s  ↑ +50%  1m 00s
  cost      $0.0004  → +0%   $0.0004
  success       yes  ↑       80%
"""


def test_status_text_is_exact(seven_runs: Store) -> None:
    invoke(seven_runs.root, "refresh")  # the index is current before status looks
    result = invoke(seven_runs.root, "status")
    assert result.exit_code == 0, result.output
    assert result.stdout == _plain_status(seven_runs)


def test_status_says_when_the_index_was_behind(seven_runs: Store) -> None:
    result = invoke(seven_runs.root, "status")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[3].startswith("index      was behind: ")
    assert result.stdout.splitlines()[3].endswith("; now brought up to date")
    assert invoke(seven_runs.root, "status").stdout == _plain_status(seven_runs)


def test_report_adds_the_last_run_and_trends(seven_runs: Store) -> None:
    invoke(seven_runs.root, "refresh")
    plain = invoke(seven_runs.root, "status").stdout
    result = invoke(seven_runs.root, "status", "--report")
    assert result.exit_code == 0, result.output
    assert result.stdout == plain + REPORT


def test_plain_status_is_unchanged_by_the_other_features(seven_runs: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke(seven_runs.root, "refresh")
    before = invoke(seven_runs.root, "status").stdout
    # pricing config, profiling turned on, a --report run, exports and compare in between:
    seven_runs.config_path.write_text(PRICES.replace("3.0", "30.0"), encoding="utf-8")
    monkeypatch.setenv("LAPTIME_PROFILE", "1")
    assert invoke(seven_runs.root, "status", "--report").exit_code == 0
    assert invoke(seven_runs.root, "compare", "p1", "last").exit_code == 0
    assert invoke(seven_runs.root, "report", "export", "--csv", "-").exit_code == 0
    assert invoke(seven_runs.root, "status").stdout == before == _plain_status(seven_runs)


def test_report_json(seven_runs: Store) -> None:
    data = invoke_json(seven_runs.root, "status", "--report")
    assert data["runs"] == 7
    assert data["events"] == 37
    assert data["bad_lines_total"] == 0
    last = data["last_run"]
    assert (last["run_id"], last["outcome"], last["total_duration_ms"]) == ("last", "completed", 90_000.0)
    assert last["cost_usd"] == pytest.approx(0.00045)
    trends = last["trends"]
    assert trends["previous_runs"] == ["p5", "p4", "p3", "p2", "p1"]
    assert trends["duration_ms"] == {"value": 90_000.0, "mean": 60_000.0, "n": 5, "change_pct": 50.0, "arrow": "↑"}
    assert trends["cost_usd"]["arrow"] == "→"
    assert trends["cost_usd"]["change_pct"] == pytest.approx(0.0, abs=1e-9)
    assert trends["success"] == {"value": 1.0, "rate": 0.8, "n": 5, "arrow": "↑"}
    assert "text" not in data


def test_report_with_a_single_run(store: Store) -> None:
    record_simple_run(store, "only", start=T0)
    lines = invoke(store.root, "status", "--report").stdout.splitlines()
    assert lines[-1] == "trends     - (no earlier finished run to compare with)"


def test_status_without_a_store(tmp_path: object) -> None:
    result = invoke(tmp_path / "nothing" / ".laptime", "status", "--report")  # type: ignore[operator]
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].endswith("(none yet: record a run with the SDK, or try `laptime demo`)")
    assert "no runs recorded yet" in result.stdout
    assert json.loads(invoke(tmp_path / "nothing" / ".laptime", "status", "--json").stdout)["exists"] is False  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [
        (105.0, 100.0, "→"),  # exactly +5%: within
        (105.1, 100.0, "↑"),
        (94.9, 100.0, "↓"),
        (95.0, 100.0, "→"),
        (1.0, 0.0, "↑"),
        (0.0, 0.0, "→"),
        (None, 100.0, None),
        (100.0, None, None),
    ],
)
def test_arrow_threshold(value: float | None, baseline: float | None, expected: str | None) -> None:
    assert arrow(value, baseline) == expected


def test_trend_means_skip_unknown_values() -> None:
    assert numeric_trend(2.0, [None, 1.0, 3.0]) == {"value": 2.0, "mean": 2.0, "n": 2, "change_pct": 0.0, "arrow": "→"}
    assert numeric_trend(2.0, [None])["arrow"] is None
    assert success_trend("failed", ["completed", "failed"])["arrow"] == "↓"
    assert success_trend("failed", ["failed"])["arrow"] == "→"
    assert success_trend("completed", [])["arrow"] is None


def test_only_five_previous_runs_count() -> None:
    def summary(i: int, ms: float) -> dict[str, object]:
        return {"run_id": f"r{i}", "total_duration_ms": ms, "cost_usd": 1.0, "outcome": "completed"}

    previous = [summary(i, 100.0) for i in range(5)] + [summary(9, 10_000.0)]
    trends = run_trends(summary(99, 100.0), previous)
    assert trends["previous_runs"] == ["r0", "r1", "r2", "r3", "r4"]
    assert trends["duration_ms"]["arrow"] == "→"
