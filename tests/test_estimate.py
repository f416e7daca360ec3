"""``laptime estimate``: p10/p50/p90 from similar past runs, calibrated by a backtest.

Histories are written as raw events (one ``span`` line per run, one ``llm`` line for its cost)
into a temporary store, or built as ``PastRun`` records for the many-seed coverage checks.
Durations are log-normal with a known median and spread, with drift: a slow trend and a
step change.
"""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import T0, invoke, invoke_json, record_simple_run, us, write_lines
from laptime import events as ev
from laptime.analysis.estimate import (
    MIN_RUNS,
    WINDOW,
    History,
    PastRun,
    backtest,
    estimate,
    filters_of,
    interval_levels,
)
from laptime.analysis.stats import percentile
from laptime.clock import timestamp_from_us

if TYPE_CHECKING:
    from laptime.store import Store

START = us(T0)
HOUR = 3_600_000_000
SECOND = 1_000_000


def _hex(*parts: int) -> str:
    return "".join(f"{p:08x}" for p in parts).ljust(32, "0")


def run_lines(
    run_id: str,
    *,
    start_us: int,
    duration_us: int,
    name: str | None = "task",
    runner: str | None = "ci",
    cost_usd: float | None = None,
    model: str = "claude-sonnet-4-5",
    outcome: str = "completed",
    attrs: dict[str, Any] | None = None,
    end_attrs: dict[str, Any] | None = None,
) -> list[tuple[bytes, str]]:
    """One run as raw log lines: a whole run span, and one LLM call whose source reported
    ``cost_usd`` (no call when None; ``model="house-model-7"`` and no cost: an unpriced call)."""
    start_attrs = dict(attrs or {})
    if runner is not None:
        start_attrs["runner"] = runner
    day = timestamp_from_us(start_us)[:10]
    span = ev.Span(
        v=1,
        id=run_id,
        ts=timestamp_from_us(start_us),
        run=run_id,
        span=run_id,
        kind="run",
        name=name if name is not None else "",
        end_id=run_id[:-1] + "e",
        end_ts=timestamp_from_us(start_us + duration_us),
        outcome=outcome,  # type: ignore[arg-type]
        attrs=start_attrs,
        end_attrs=end_attrs or {},
    )
    lines = [(ev.encode(span), day)]
    if cost_usd is not None or model != "claude-sonnet-4-5":
        call = ev.LlmUsage(
            v=1,
            id=run_id[:-1] + "c",
            ts=timestamp_from_us(start_us + 1),
            run=run_id,
            parent=run_id,
            provider="anthropic",
            model=model,
            input_tokens=100,
            output_tokens=10,
            cost_usd=cost_usd,
        )
        lines.append((ev.encode(call), day))
    return lines


def _json(store: Store, *args: str) -> Any:
    return invoke_json(store.root, "estimate", *args)


# -- the widening ------------------------------------------------------------------------------------


class TestIntervalLevels:
    def test_the_bounds_sit_at_ranks_a_tenth_of_n_plus_one_from_each_end(self) -> None:
        for n in (9, 10, 15, 20, 50):
            low, high = interval_levels(n)
            # percentile(q) of n sorted values is at the 1-based rank 1 + (n - 1) q / 100
            assert 1 + (n - 1) * low / 100 == pytest.approx(0.1 * (n + 1))
            assert 1 + (n - 1) * high / 100 == pytest.approx(0.9 * (n + 1))

    def test_nine_runs_give_min_and_max_and_twenty_give_5_8_and_94_2(self) -> None:
        assert interval_levels(9) == (0.0, 100.0)
        low, high = interval_levels(20)
        assert round(low, 2) == 5.79
        assert round(high, 2) == 94.21

    def test_fewer_than_the_minimum_have_no_interval(self) -> None:
        assert MIN_RUNS == 9
        with pytest.raises(ValueError, match="at least 9"):
            interval_levels(8)


# -- coverage on synthetic histories with a known distribution ---------------------------------------------


def _synthetic(
    seed: int,
    *,
    runs: int = 200,
    median_s: float = 600.0,
    sigma: float = 0.5,
    trend: float = 0.0,
    step: float = 0.0,
    step_at: int = 120,
    name: str = "task",
) -> list[PastRun]:
    """Runs one after another (an hour apart): log-normal durations and costs whose log-median
    rises by ``trend`` per run and jumps by ``step`` at run ``step_at``."""
    rng = random.Random(seed)
    out = []
    for i in range(runs):
        shift = trend * i + (step if i >= step_at else 0.0)
        duration_ms = round(1000 * math.exp(rng.gauss(math.log(median_s) + shift, sigma)))
        cost = math.exp(rng.gauss(math.log(0.5) + shift, 0.6))
        start = START + i * HOUR
        out.append(PastRun(_hex(seed, i), name, "ci", start, start + duration_ms * 1000, duration_ms, cost))
    return out


SCENARIOS = {
    "stationary": {},
    "slow trend": {"trend": 0.003},
    "step change": {"step": math.log(1.5)},
    "trend and step": {"trend": 0.003, "step": math.log(1.5)},
}


class TestCoverage:
    @pytest.mark.parametrize("scenario", SCENARIOS)
    def test_backtest_coverage_is_80_percent_within_5_over_20_seeds(self, scenario: str) -> None:
        hits = {"duration": 0, "cost": 0}
        naive = {"duration": 0, "cost": 0}
        n = {"duration": 0, "cost": 0}
        for seed in range(20):
            result = backtest(History(_synthetic(seed, **SCENARIOS[scenario])), filters_of(None, None, {}, None, None))
            assert result.skipped == MIN_RUNS  # the first 9 runs have too little history
            for key, acc in (("duration", result.duration), ("cost", result.cost)):
                assert acc.coverage is not None
                assert acc.unwidened_coverage is not None
                hits[key] += round(acc.coverage * acc.n)
                naive[key] += round(acc.unwidened_coverage * acc.n)
                n[key] += acc.n
        for key, inside in hits.items():
            assert n[key] == 20 * (200 - MIN_RUNS)
            coverage = inside / n[key]
            assert 0.75 <= coverage <= 0.85, (scenario, key, coverage)
            # plain percentiles 10 and 90 of the same 20 runs cover about 72%: the widening matters
            assert naive[key] / n[key] < 0.75, (scenario, key, naive[key] / n[key])

    def test_a_wide_step_change_is_followed_within_the_window(self) -> None:
        """After durations double, the estimates use only runs after the step once 20 have ended."""
        history = History(_synthetic(1, step=math.log(2.0), step_at=100, sigma=0.3))
        after = [r for r in history.runs if r.start_us >= START + 100 * HOUR]
        result = estimate(history, filters_of(None, None, {}, None, None), before_us=after[WINDOW].start_us)
        assert result.estimate is not None
        assert result.similarity.n == WINDOW
        durations = sorted(r.duration_ms for r in after[:WINDOW])
        assert result.estimate.duration.p50_ms == round(percentile(durations, 50) or 0)

    def test_through_the_store_and_the_cli_over_eight_interleaved_tasks(self, store: Store) -> None:
        """Eight tasks (eight seeds, medians 3 to 24 min), 150 runs each, interleaved in time, with
        trend and step; their costs go through the cost engine (reported by the source)."""
        lines = []
        for task in range(8):
            rng = random.Random(100 + task)
            for i in range(150):
                shift = 0.003 * i + (math.log(1.5) if i >= 100 else 0.0)
                seconds = math.exp(rng.gauss(math.log(180 * (task + 1)) + shift, 0.5))
                cost = math.exp(rng.gauss(math.log(0.2 * (task + 1)) + shift, 0.6))
                lines += run_lines(
                    _hex(task, i),
                    start_us=START + (i * 8 + task) * HOUR // 2,
                    duration_us=round(seconds * SECOND),
                    name=f"task-{task}",
                    cost_usd=cost,
                )
        write_lines(store, lines)
        result = _json(store, "--backtest")
        assert result["runs"] == 1200
        assert result["estimated"] > 1100
        assert result["steps"]["task+runner"] > 1000
        for key in ("duration", "cost"):
            acc = result[key]
            assert 0.75 <= acc["coverage"] <= 0.85, (key, acc)
            assert acc["within_target"] is True
            assert acc["unwidened_coverage"] < 0.75, (key, acc)
            assert acc["below_p10"] + acc["coverage"] + acc["above_p90"] == pytest.approx(1.0)


# -- too little history --------------------------------------------------------------------------------


def _sequential(store: Store, count: int, **kwargs: Any) -> None:
    lines = []
    for i in range(count):
        lines += run_lines(_hex(1, i), start_us=START + i * HOUR, duration_us=(i + 1) * 60 * SECOND, **kwargs)
    write_lines(store, lines)


class TestTooLittleHistory:
    def test_eight_completed_runs_give_no_numbers_and_say_why(self, store: Store) -> None:
        _sequential(store, 8, name="fix-login", cost_usd=0.1)
        # runs that did not complete are no history
        write_lines(
            store, run_lines(_hex(2, 0), start_us=START, duration_us=SECOND, name="fix-login", outcome="failed")
        )
        result = invoke(store.root, "estimate", "--task", "fix-login")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "Estimate for a new run of task fix-login\n"
            "No estimate: too little history: at best 8 similar completed runs (task = fix-login: 8); "
            "an estimate needs at least 9.\n"
        )
        data = _json(store, "--task", "fix-login")
        assert data["estimate"] is None
        assert data["reason"].startswith("too little history: at best 8 similar completed runs")
        assert data["similarity"]["step"] is None
        assert data["similarity"]["steps"] == [{"step": "task", "criteria": "task = fix-login", "runs": 8}]

    def test_the_ninth_run_gives_an_estimate(self, store: Store) -> None:
        _sequential(store, 9, name="fix-login", cost_usd=0.1)
        data = _json(store, "--task", "fix-login")
        assert data["reason"] is None
        assert data["estimate"]["duration"] == {
            "n": 9,
            "p10_ms": 60_000,  # with 9 runs the interval is min..max
            "p50_ms": 300_000,
            "p90_ms": 540_000,
            "p10_level": 0.0,
            "p90_level": 100.0,
        }

    def test_an_empty_store_backtest_says_so(self, store: Store) -> None:
        _sequential(store, 5)
        result = invoke(store.root, "estimate", "--backtest")
        assert result.exit_code == 0, result.output
        assert "No estimate was possible: too little history: no run of the 5 had 9 similar" in result.stdout
        data = _json(store, "--backtest")
        assert data["estimated"] == 0
        assert data["duration"]["coverage"] is None
        assert data["reason"] is not None

    def test_too_few_priced_runs_give_a_duration_but_no_cost(self, store: Store) -> None:
        lines = []
        for i in range(12):
            unpriced = i % 3 == 0  # 4 of 12 runs made a call nobody can price
            lines += run_lines(
                _hex(3, i),
                start_us=START + i * HOUR,
                duration_us=60 * SECOND,
                cost_usd=None if unpriced else 0.5,
                model="house-model-7" if unpriced else "claude-sonnet-4-5",
            )
        write_lines(store, lines)
        data = _json(store)["estimate"]
        assert data["duration"]["n"] == 12
        assert data["cost"] is None
        assert data["unpriced_runs"] == 4
        assert data["cost_reason"] == (
            "8 of the 12 runs have a complete cost (4 with unpriced calls); a cost estimate needs at least 9"
        )


# -- similarity ----------------------------------------------------------------------------------------


class TestSimilarity:
    @pytest.fixture
    def mixed(self, store: Store) -> Store:
        """Task A on runner X: 3 runs; A on Y: 10; B on X: 12 (in that order, an hour apart)."""
        lines = []
        i = 0
        for name, runner, count in (("A", "X", 3), ("A", "Y", 10), ("B", "X", 12)):
            for _ in range(count):
                lines += run_lines(
                    _hex(4, i), start_us=START + i * HOUR, duration_us=(i + 1) * SECOND, name=name, runner=runner
                )
                i += 1
        write_lines(store, lines)
        return store

    def _similarity(self, store: Store, *args: str) -> dict[str, Any]:
        return _json(store, *args)["similarity"]  # type: ignore[no-any-return]

    def test_task_and_runner_first(self, mixed: Store) -> None:
        sim = self._similarity(mixed, "--task", "A", "--runner", "Y")
        assert (sim["step"], sim["matched"], sim["n"]) == ("task+runner", 10, 10)

    def test_falls_back_to_the_task(self, mixed: Store) -> None:
        sim = self._similarity(mixed, "--task", "A", "--runner", "X")
        assert (sim["step"], sim["criteria"], sim["matched"]) == ("task", "task = A", 13)
        assert [s["runs"] for s in sim["steps"]] == [3, 13]
        text = invoke(mixed.root, "estimate", "--task", "A", "--runner", "X").stdout.splitlines()
        assert text[1:3] == [
            "Similar runs: the last 13 of 13 completed runs with task = A",
            "  (fell back: fewer than 9 with task = A and runner = X: 3)",
        ]

    def test_falls_back_to_the_runner(self, mixed: Store) -> None:
        sim = self._similarity(mixed, "--task", "C", "--runner", "X")
        assert (sim["step"], sim["matched"], sim["n"]) == ("runner", 15, 15)
        assert [s["step"] for s in sim["steps"]] == ["task+runner", "task", "runner"]

    def test_no_step_with_enough_runs_gives_no_estimate(self, mixed: Store) -> None:
        data = _json(mixed, "--task", "C", "--runner", "Z")
        assert data["estimate"] is None
        assert [s["runs"] for s in data["similarity"]["steps"]] == [0, 0, 0]

    def test_neither_task_nor_runner_uses_the_last_20_of_every_run(self, mixed: Store) -> None:
        data = _json(mixed)
        assert (data["similarity"]["step"], data["similarity"]["matched"], data["similarity"]["n"]) == ("any", 25, 20)
        # durations are 1..25 s in order of end: the last 20 are 6..25 s; p50 is 15.5 s
        assert data["estimate"]["duration"]["p50_ms"] == 15_500
        low = 6000 + (20 - 1) * interval_levels(20)[0] / 100 * 1000
        assert data["estimate"]["duration"]["p10_ms"] == round(low)

    def test_a_task_glob(self, mixed: Store) -> None:
        sim = self._similarity(mixed, "--task", "[AB]", "--runner", "X")
        assert (sim["step"], sim["criteria"], sim["matched"]) == ("task+runner", "task matches [AB] and runner = X", 15)

    def test_the_backtest_estimates_each_run_from_its_own_task_and_runner(self, mixed: Store) -> None:
        data = _json(mixed, "--backtest")
        # A/X runs never have 9 before them; A/Y from its 10th run on... see the steps
        assert data["runs"] == 25
        assert sum(data["steps"].values()) == data["estimated"]
        assert set(data["steps"]) <= {"task+runner", "task", "runner"}
        only_b = _json(mixed, "--backtest", "--task", "B")
        assert only_b["runs"] == 12


# -- label filters ----------------------------------------------------------------------------------------


def _matched(data: dict[str, Any]) -> int:
    """The runs the last similarity step tried matches (with no task and runner: every run)."""
    return int(data["similarity"]["steps"][-1]["runs"])


class TestLabels:
    @pytest.fixture
    def labelled(self, store: Store) -> Store:
        """20 runs: even ones team=a (30 s), odd ones team=b (90 s); every third has gpu=true and
        shard=3; runs 0..9 are relabelled team=c by their end attributes."""
        lines = []
        for i in range(20):
            attrs: dict[str, Any] = {"team": "a" if i % 2 == 0 else "b"}
            if i % 3 == 0:
                attrs |= {"gpu": True, "shard": 3}
            lines += run_lines(
                _hex(5, i),
                start_us=START + i * HOUR,
                duration_us=(30 if i % 2 == 0 else 90) * SECOND,
                attrs=attrs,
                end_attrs={"team": "c"} if i < 10 else None,
            )
        write_lines(store, lines)
        return store

    def test_only_runs_with_the_label_count(self, labelled: Store) -> None:
        a = _json(labelled, "--label", "team=a")
        assert _matched(a) == 5
        assert a["estimate"] is None  # 5 runs: too few
        b = _json(labelled, "--label", "team=b")
        assert _matched(b) == 5
        c = _json(labelled, "--label", "team=c")
        assert _matched(c) == 10
        assert c["filters"]["labels"] == {"team": "c"}

    def test_labels_combine_and_compare_json_values_as_text(self, labelled: Store) -> None:
        assert _matched(_json(labelled, "--label", "gpu=true")) == 7
        assert _matched(_json(labelled, "--label", "gpu=true", "--label", "shard=3")) == 7
        assert _matched(_json(labelled, "--label", "gpu=true", "--label", "team=b")) == 1
        assert _matched(_json(labelled, "--label", "shard=4")) == 0

    def test_a_label_without_a_value_is_a_usage_error(self, labelled: Store) -> None:
        result = invoke(labelled.root, "estimate", "--label", "team")
        assert result.exit_code == 2
        assert "--label: 'team' is not KEY=VALUE" in result.output

    def test_the_time_window_limits_the_history(self, labelled: Store) -> None:
        since = timestamp_from_us(START + 10 * HOUR)
        data = _json(labelled, "--since", since)
        assert data["similarity"]["matched"] == 10
        assert data["estimate"]["duration"]["p50_ms"] == 60_000


# -- costs come from the cost engine ----------------------------------------------------------------------


def test_the_cost_is_each_runs_cost_as_every_view_shows_it(store: Store) -> None:
    for i in range(10):
        record_simple_run(store, _hex(6, i), start=T0 + timedelta(hours=i), calls=i % 3 + 1)
    # a run without calls costs 0, and counts
    record_simple_run(store, _hex(6, 10), start=T0 + timedelta(hours=10), calls=0)
    costs = sorted(
        invoke_json(store.root, "report", _hex(6, i))["cost_usd"] for i in range(11)
    )  # the scoreboard's cost of each run
    assert costs[0] == 0
    cost = _json(store)["estimate"]["cost"]
    low, high = interval_levels(11)
    assert cost["n"] == 11
    # the same cost engine, summed per run in SQL or per model: equal up to float rounding
    assert cost["p50_usd"] == pytest.approx(percentile(costs, 50), rel=1e-12)
    assert cost["p10_usd"] == pytest.approx(percentile(costs, low), rel=1e-12)
    assert cost["p90_usd"] == pytest.approx(percentile(costs, high), rel=1e-12)


# -- the backtest looks only at the past ------------------------------------------------------------------


def test_a_run_still_going_when_the_next_starts_is_not_its_history(store: Store) -> None:
    """Nine 60 s runs; X (10,000 s) starts; Y starts 100 s later and lasts 5,000 s. Had X counted
    for Y, Y would fall inside p10-p90 (percentile 98.9 of ten runs is about 9,000 s)."""
    lines = []
    for i in range(9):
        lines += run_lines(_hex(7, i), start_us=START + i * HOUR, duration_us=60 * SECOND)
    x_start = START + 9 * HOUR
    lines += run_lines(_hex(7, 9), start_us=x_start, duration_us=10_000 * SECOND)
    lines += run_lines(_hex(7, 10), start_us=x_start + 100 * SECOND, duration_us=5_000 * SECOND)
    write_lines(store, lines)
    data = _json(store, "--backtest")
    assert data["estimated"] == 2
    assert data["duration"]["above_p90"] == 1.0  # both X and Y were above the nine 60 s runs
    assert data["duration"]["coverage"] == 0.0


# -- exact output for a small known history ----------------------------------------------------------------


class TestExactOutput:
    def test_estimate(self, store: Store) -> None:
        """Ten runs of 1..10 min costing $0.10..$1.00. n = 10: p10 and p90 at percentiles 1.1 and
        98.9, i.e. 0-based positions 0.1 and 8.9: 66 s and 594 s, $0.11 and $0.99; p50 5.5 min."""
        lines = []
        for i in range(10):
            lines += run_lines(
                _hex(8, i),
                start_us=START + i * HOUR,
                duration_us=(i + 1) * 60 * SECOND,
                name="fix-login",
                cost_usd=round(0.1 * (i + 1), 2),
            )
        write_lines(store, lines)
        result = invoke(store.root, "estimate", "--task", "fix-login", "--runner", "ci")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "Estimate for a new run of task fix-login, runner ci\n"
            "Similar runs: the last 10 of 10 completed runs with task = fix-login and runner = ci\n"
            "\n"
            "             p10     p50     p90   n\n"
            "--------  ------  ------  ------  --\n"
            "duration  1m 06s  5m 30s  9m 54s  10\n"
            "cost       $0.11   $0.55   $0.99  10\n"
            "\n"
            "p10 and p90: percentiles 1.1 and 98.9 of the 10 durations "
            "(widened for n so that 80% of new runs fall between them).\n"
        )
        data = _json(store, "--task", "fix-login", "--runner", "ci")["estimate"]
        assert (data["duration"]["p10_ms"], data["duration"]["p50_ms"], data["duration"]["p90_ms"]) == (
            66_000,
            330_000,
            594_000,
        )
        assert data["cost"]["p10_usd"] == pytest.approx(0.11)
        assert data["cost"]["p90_usd"] == pytest.approx(0.99)

    def test_backtest(self, store: Store) -> None:
        """Runs 1..9 last 1..9 min and cost $0.10..$0.90; run 10: 5 min, $0.50 (inside); run 11:
        20 min (above), $0.05 (below); run 12: 30 s (below), $2.00 (above).

        Durations: run 10 from runs 1-9: [1 min, 9 min], p50 5 min: inside, error 0. Run 11 from
        1-10 (n = 10, positions 0.1, 4.5, 8.9): [66 s, 534 s], p50 300 s: above, error 900 s
        (75%). Run 12 from 1-11 (n = 11, percentiles 2 and 98, positions 0.2, 5, 9.8): [72 s,
        1,068 s], p50 300 s: below, error 270 s (900%). Median errors 270 s and 75%.
        Costs: run 10 inside (error 0); run 11 [0.11, 0.89], p50 0.50: below, error 0.45 (900%);
        run 12 [0.06, 0.88], p50 0.50: above, error 1.50 (75%). Median errors $0.45 and 75%.
        Plain percentiles 10 and 90 keep only run 10 inside, for both."""
        spec = [(m * 60, round(0.1 * m, 2)) for m in range(1, 10)] + [(300, 0.5), (1200, 0.05), (30, 2.0)]
        lines = []
        for i, (seconds, cost) in enumerate(spec):
            lines += run_lines(
                _hex(9, i), start_us=START + i * HOUR, duration_us=seconds * SECOND, name="fix-login", cost_usd=cost
            )
        write_lines(store, lines)
        result = invoke(store.root, "estimate", "--backtest")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "Backtest of any task and runner: 12 completed runs replayed in time order, each estimated from the "
            "runs that ended before it started\n"
            "Estimated 3; 9 had too little history\n"
            "Similarity: task+runner 3\n"
            "\n"
            "          n  in p10-p90  below p10  above p90  median abs error  median rel error\n"
            "--------  -  ----------  ---------  ---------  ----------------  ----------------\n"
            "duration  3       33.3%      33.3%      33.3%            4m 30s             75.0%\n"
            "cost      3       33.3%      33.3%      33.3%             $0.45             75.0%\n"
            "\n"
            "Target coverage 80% ± 5%: duration missed, cost missed.\n"
            "Plain percentiles 10 and 90 of the same runs would have covered: duration 33.3%, cost 33.3%.\n"
        )
        data = _json(store, "--backtest")
        assert data["duration"]["median_abs_error_ms"] == 270_000
        assert data["duration"]["median_rel_error"] == 0.75
        assert data["cost"]["median_abs_error_usd"] == pytest.approx(0.45)
        assert data["cost"]["median_rel_error"] == pytest.approx(0.75)
        assert data["steps"] == {"task+runner": 3}
        assert json.loads(json.dumps(data["method"]))["min_runs"] == MIN_RUNS
