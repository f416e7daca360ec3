"""``laptime compare A B``: exact text and JSON for two hand-built runs.

Run A is the fixed run of tests/helpers.py (5m 00s). Run B repeats its script, slower
(t in seconds from B's start)::

    0-60     plan: sonnet 1000 in / 200 out
    60-65    nothing (5 s unattributed)
    65-365   implement: 4 sonnet calls (1000/250 each), 4 haiku calls (200/50 each)
    365-405  verify: `pytest -q` fails (unit)
    405-490  implement again: 1 haiku call (100/20)
    490-520  verify: `pytest -q` passes (unit), `ruff check` fails (lint)
    520-550  nothing (30 s unattributed); the run ends failed at t=550

So B took 250 s longer: implement 385 s vs 150 s (+235 s, 94% of the difference),
verify 70 s vs 50 s (+20 s), unattributed 35 s vs 40 s (-5 s); llm calls 10 vs 4.

Prices come from the store's config (sonnet $3/$15 per 1M, cache read $0.30, cache
write $3.75; haiku $1/$5), so they do not depend on genai-prices' data:
A costs 0.021375 (sonnet) + 0.00075 (haiku) = $0.022125; B 0.033 + 0.002 = $0.035.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import FIXED_RUN_ID, HAIKU, SONNET, T0, invoke, invoke_json, kpi_of, make_recorder, record_fixed_run
from laptime import SimulatedClock
from laptime.analysis.compare import compare_kpis
from laptime.analysis.regression import GroupValues, RunGroup, check_values
from laptime.analysis.results import to_builtins
from laptime.report.compare_view import render
from laptime.report.style import Style

if TYPE_CHECKING:
    from laptime.analysis.regression import RegressionCheck
    from laptime.store import Store

B_RUN_ID = "b2000000000000000000000000000002"

PRICES = """\
[[pricing.models]]
match = "sonnet"
input_per_1m = 3.0
output_per_1m = 15.0
cache_read_per_1m = 0.30
cache_write_per_1m = 3.75

[[pricing.models]]
match = "haiku"
input_per_1m = 1.0
output_per_1m = 5.0
"""


def record_slower_run(store: Store) -> None:
    clock = SimulatedClock(start=T0 + timedelta(days=1))
    with make_recorder(store, clock) as rec, rec.run("fix-login", run_id=B_RUN_ID, runner="pipeline") as run:
        with run.phase("plan"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=1000, output_tokens=200)
            clock.advance(60)
        clock.advance(5)
        with run.phase("implement"):
            for _ in range(4):
                run.llm_call(SONNET, provider="anthropic", input_tokens=1000, output_tokens=250)
                run.llm_call(HAIKU, provider="anthropic", input_tokens=200, output_tokens=50)
            clock.advance(300)
        with run.phase("verify"):
            run.validation("pytest -q", passed=False, exit_code=1, tier="unit")
            clock.advance(40)
        with run.phase("implement"):
            run.llm_call(HAIKU, provider="anthropic", input_tokens=100, output_tokens=20)
            clock.advance(85)
        with run.phase("verify"):
            run.validation("pytest -q", passed=True, exit_code=0, tier="unit")
            run.validation("ruff check", passed=False, exit_code=1, tier="lint")
            clock.advance(30)
        clock.advance(30)
        run.set_outcome("failed")


@pytest.fixture
def two_runs(store: Store) -> Store:
    record_fixed_run(store)
    record_slower_run(store)
    store.config_path.write_text(PRICES, encoding="utf-8")
    return store


COMPARE_TEXT = """\
A  f1xed0000000 · fix-login · started 2026-01-05 09:00:00Z · completed in 5m 00s · $0.02
B  b20000000000 · fix-login · started 2026-01-06 09:00:00Z · failed in 9m 10s · $0.04

B took 4m 10s longer than A: implement +3m 55s (94% of the difference), verify +20.0s; llm calls +6, cost +$0.01

phase              A       B    delta  change  attempts
------------  ------  ------  -------  ------  --------
plan          1m 00s  1m 00s      0ms     +0%  1
implement     2m 30s  6m 25s  +3m 55s   +157%  2
verify         50.0s  1m 10s   +20.0s    +40%  2
unattributed   40.0s   35.0s    -5.0s    -12%
total         5m 00s  9m 10s  +4m 10s    +83%

LLM by model
model                    calls            tokens in         tokens out                          cost
-----------------  -----------  -------------------  -----------------  ----------------------------
claude-haiku-4-5    2 → 5 (+3)     400 → 900 (+500)    70 → 220 (+150)  $0.0008 → $0.0020 (+$0.0013)
claude-sonnet-4-5   2 → 5 (+3)  3.0k → 5.0k (+2.0k)  700 → 1.2k (+500)        $0.02 → $0.03 (+$0.01)
all models         4 → 10 (+6)  3.4k → 5.9k (+2.5k)  770 → 1.4k (+650)        $0.02 → $0.04 (+$0.01)

verification  runs 3 · passed 2 → 1 (-1) · failed 1 → 2 (+1) · retries 1
outcome       completed → failed
TVc           4m 30s → -
changes       files 2 → 0 (-2) · lines added 53 → 0 (-53) · lines removed 3 → 0 (-3)

Regressions beyond noise: B against its baseline
baseline last:20 like A: 1 run, started 2026-01-05 09:00:00Z .. 2026-01-05 09:00:00Z
current  run B: 1 run, started 2026-01-06 09:00:00Z .. 2026-01-06 09:00:00Z
not tested: 1 baseline run; a test needs at least 5
"""


def test_compare_text_is_exact(two_runs: Store) -> None:
    result = invoke(two_runs.root, "compare", FIXED_RUN_ID[:6], B_RUN_ID[:4])
    assert result.exit_code == 0, result.output
    assert result.stdout == COMPARE_TEXT


def test_compare_json(two_runs: Store) -> None:
    data = invoke_json(two_runs.root, "compare", FIXED_RUN_ID, B_RUN_ID)
    assert data["a"]["run_id"] == FIXED_RUN_ID
    assert data["b"]["run_id"] == B_RUN_ID
    assert data["where_the_time_went"] == (
        "B took 4m 10s longer than A: implement +3m 55s (94% of the difference), verify +20.0s; "
        "llm calls +6, cost +$0.01"
    )
    assert data["duration"] == {
        "a": 300_000.0,
        "b": 550_000.0,
        "delta": 250_000.0,
        "change_pct": pytest.approx(83.333, abs=1e-3),
    }
    phases = {p["phase"]: p for p in data["phases"]}
    assert [p["phase"] for p in data["phases"]] == ["plan", "implement", "verify"]
    assert phases["implement"] == {
        "phase": "implement",
        "a_ms": 150_000.0,
        "b_ms": 385_000.0,
        "delta_ms": 235_000.0,
        "change_pct": pytest.approx(156.667, abs=1e-3),
        "a_attempts": 2,
        "b_attempts": 2,
        "delta_attempts": 0,
        "in_a": True,
        "in_b": True,
        "slower": False,  # one run of history: too little to tell B's change from noise
    }
    assert phases["plan"]["delta_ms"] == 0
    assert data["unattributed"]["delta_ms"] == -5_000.0
    assert data["slower_phases"] == []
    assert data["regression"]["reason"] == "1 baseline run; a test needs at least 5"
    assert data["llm"]["calls"] == {"a": 4, "b": 10, "delta": 6, "change_pct": 150.0}
    assert data["llm"]["cost_usd"]["a"] == pytest.approx(0.022125)
    assert data["llm"]["cost_usd"]["b"] == pytest.approx(0.035)
    assert data["llm"]["cost_usd"]["delta"] == pytest.approx(0.012875)
    models = {m["model"]: m for m in data["llm"]["models"]}
    assert models[SONNET]["calls"]["delta"] == 3
    assert models[SONNET]["input_tokens"] == {
        "a": 3000,
        "b": 5000,
        "delta": 2000,
        "change_pct": pytest.approx(66.667, abs=1e-3),
    }
    assert models[HAIKU]["cost_usd"]["a"] == pytest.approx(0.00075)
    assert models[HAIKU]["cost_usd"]["b"] == pytest.approx(0.002)
    assert data["verification"]["failed"] == {"a": 1, "b": 2, "delta": 1, "change_pct": 100.0}
    assert data["outcome"] == {"a": "completed", "b": "failed", "changed": True}
    assert "threshold" not in data  # no fixed percentage decides what is slower
    # the vocabulary: integer ms (not 300000.0), and where each side's cost came from
    ms_values = [data["duration"][k] for k in ("a", "b", "delta")] + [data["unattributed"]["delta_ms"]]
    ms_values += [p[k] for p in data["phases"] for k in ("a_ms", "b_ms", "delta_ms")]
    assert all(type(v) is int for v in ms_values), ms_values
    assert (data["a"]["cost_source"], data["b"]["cost_source"]) == ("priced", "priced")  # no call reported a cost


def test_the_fixed_threshold_options_are_gone(two_runs: Store) -> None:
    result = invoke(two_runs.root, "compare", FIXED_RUN_ID, B_RUN_ID, "--threshold", "50")
    assert result.exit_code == 2
    assert "No such option '--threshold'" in result.output


def _flagging(phase: str) -> RegressionCheck:
    """A check whose baseline of 6 runs varies little in ``phase`` and a B far above it."""
    base = GroupValues([300_000.0] * 6, [0.02] * 6, [4000.0] * 6, {phase: [150_000.0 + i * 1000 for i in range(6)]})
    current = GroupValues([550_000.0], [0.035], [7000.0], {phase: [385_000.0]})
    group = RunGroup(spec="last:20 like A", runs=6, first_started_at=None, last_started_at=None)
    return check_values(base, current, group, group)


def test_slower_phases_are_the_ones_the_regression_check_flags(two_runs: Store) -> None:
    check = _flagging("implement")
    implement = next(m for m in check.metrics if m.phase == "implement")
    assert implement.worse  # t = 232.5 s / (1.87 s * 1.08): far beyond the baseline's variation
    a = kpi_of(two_runs, FIXED_RUN_ID)
    b = kpi_of(two_runs, B_RUN_ID)
    cmp = to_builtins(compare_kpis(a, b, regression=check))
    assert cmp["slower_phases"] == ["implement"]  # verify is 40% slower too, but not tested: no flag
    assert [p["slower"] for p in cmp["phases"]] == [False, True, False]
    lines = render(cmp)
    assert next(line for line in lines if line.startswith("implement")).endswith("▲")
    assert "▲ worse than the baseline's run-to-run variation (see Regressions beyond noise below)" in lines


def test_reversed_comparison_says_less(two_runs: Store) -> None:
    data = invoke_json(two_runs.root, "compare", B_RUN_ID, FIXED_RUN_ID)
    assert data["where_the_time_went"] == (
        "B took 4m 10s less than A: implement -3m 55s (94% of the difference), verify -20.0s; llm calls -6, cost -$0.01"
    )
    assert data["slower_phases"] == []  # unattributed time is not a tested metric


def test_same_run_compares_equal(two_runs: Store) -> None:
    data = invoke_json(two_runs.root, "compare", FIXED_RUN_ID, FIXED_RUN_ID)
    assert data["where_the_time_went"] == "A and B took the same time (5m 00s)"
    assert data["slower_phases"] == []


def test_slower_rows_are_coloured_only_when_asked(two_runs: Store) -> None:
    cmp = to_builtins(
        compare_kpis(kpi_of(two_runs, FIXED_RUN_ID), kpi_of(two_runs, B_RUN_ID), regression=_flagging("implement"))
    )
    plain = render(cmp)
    assert not any("\x1b[" in line for line in plain)
    coloured = render(cmp, Style(color=True))
    red = [line for line in coloured if line.startswith("\x1b[31;1m")]
    assert len(red) == 2  # the phase row, and the check's row of it
    assert red[0].startswith("\x1b[31;1mimplement")
    assert red[0].endswith("\x1b[0m")
    assert red[1].startswith("\x1b[31;1mphase implement")


def test_phases_only_in_one_run() -> None:
    def kpi(run_id: str, phases: dict[str, int], total: int) -> dict[str, object]:
        return {
            "run_id": run_id,
            "name": None,
            "started_at": "2026-01-05T09:00:00.000000Z",
            "outcome": "completed",
            "total_duration_ms": total,
            "tvc_ms": None,
            "unattributed_ms": total - sum(phases.values()),
            "phases": {n: {"duration_ms": ms, "attempts": 1} for n, ms in phases.items()},
            "models": {},
            "tokens": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "total_tokens": 0,
            },
            "llm_calls": 0,
            "verification": {"commands_run": 0, "passed": 0, "failed": 0, "retries": 0, "tiers_executed": []},
            "changes": {"files_touched": 0, "lines_added": 0, "lines_removed": 0},
            "scope_violations": 0,
            "milestones": {"planned": 0, "completed": 0},
            "cost_source": "priced",
        }

    cmp = compare_kpis(kpi("a", {"plan": 5000}, 5000), kpi("b", {"plan": 5000, "review": 3000}, 8000))
    review = cmp.phases[1]
    assert (review.phase, review.in_a, review.change_pct, review.slower) == ("review", False, None, False)
    assert cmp.where_the_time_went == "B took 3.0s longer than A: review +3.0s (100% of the difference)"
    assert "new" in next(line for line in render(to_builtins(cmp)) if line.startswith("review"))
    json.dumps(to_builtins(cmp))  # JSON-ready


def test_unknown_or_ambiguous_run_is_a_usage_error(two_runs: Store) -> None:
    result = invoke(two_runs.root, "compare", FIXED_RUN_ID, "nope")
    assert result.exit_code == 2
    assert "no run matches 'nope'" in result.output
    record_fixed_run(two_runs, run_id="f1xed000000000000000000000000009", start=T0 + timedelta(days=2))
    result = invoke(two_runs.root, "compare", "f1xed", B_RUN_ID)
    assert result.exit_code == 2
    assert "matches several runs" in result.output


def test_exact_counts_are_in_full_and_tokens_abbreviated() -> None:
    def kpi(run_id: str, calls: int, lines: int, tokens: int) -> dict[str, object]:
        return {
            "run_id": run_id,
            "name": None,
            "started_at": "2026-01-05T09:00:00.000000Z",
            "outcome": "completed",
            "total_duration_ms": 1000,
            "tvc_ms": None,
            "unattributed_ms": 1000,
            "phases": {},
            "models": {
                "m": {
                    "calls": calls,
                    "input_tokens": tokens,
                    "output_tokens": 0,
                    "cache_read_tokens": 0,
                    "cache_write_tokens": 0,
                }
            },
            "tokens": {
                "input_tokens": tokens,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "total_tokens": tokens,
            },
            "llm_calls": calls,
            "verification": {"commands_run": 0, "passed": 0, "failed": 0, "retries": 0, "tiers_executed": []},
            "changes": {"files_touched": 1, "lines_added": lines, "lines_removed": 0},
            "scope_violations": 0,
            "milestones": {"planned": 0, "completed": 0},
            "cost_source": "priced",
        }

    cmp = compare_kpis(kpi("a", 1200, 1500, 2_000_000), kpi("b", 3400, 4000, 3_500_000))
    lines = render(to_builtins(cmp))
    models = next(line for line in lines if line.startswith("all models"))
    assert "1,200 → 3,400 (+2,200)" in models
    assert "2.00M → 3.50M (+1.50M)" in models  # tokens stay abbreviated
    changes = next(line for line in lines if line.startswith("changes"))
    assert changes == "changes       files 1 · lines added 1,500 → 4,000 (+2,500) · lines removed 0"
