"""One cost engine: every view prices a run the same way, one-hour cache writes included.

Issue 7: `report usage` priced one-hour cache writes at their own rate while `report
summary`, `status --report`, `compare` and the CSV export priced them at the 5-minute rate,
so one session showed $0.30 in one view and $0.23 in another.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from helpers import T0, invoke, invoke_json, make_recorder
from laptime import SimulatedClock
from laptime.pricing import Rates

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

SONNET = "claude-sonnet-4-5"
# genai-prices, claude-sonnet-4-5 (short context): $3 input, $15 output, $3.75 per 1M cache
# writes kept 5 minutes, $6 per 1M kept an hour (TOOLING.md's check values agree).
BY_HAND_USD = (1000 * 3 + 100 * 15 + 2000 * 3.75 + 8000 * 6) / 1e6  # $0.06
AT_5M_RATE_USD = (1000 * 3 + 100 * 15 + 10000 * 3.75) / 1e6  # what the old views said: $0.042


def _record(store: Store, run_id: str, *, model: str = SONNET, cost_usd: float | None = None) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("cc", run_id=run_id) as run, run.phase("work"):
        run.llm_call(
            model,
            provider="anthropic",
            input_tokens=1000,
            output_tokens=100,
            cache_write_tokens=10_000,
            cache_write_1h_tokens=8_000,
            cost_usd=cost_usd,
        )
        clock.advance(5)


def _csv(store: Store, *args: str) -> list[dict[str, str]]:
    result = invoke(store.root, "report", "export", "--csv", "-", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def _costs_in_every_view(store: Store, run_a: str, run_b: str) -> dict[str, Any]:
    """run_b's cost as each view shows it (run_a is there to compare against)."""
    usage = {r["session"]: r for r in invoke_json(store.root, "report", "usage", "--by", "session")["rows"]}
    compare = invoke_json(store.root, "compare", run_a, run_b)
    return {
        "status --report": invoke_json(store.root, "status", "--report")["last_run"]["cost_usd"],
        "compare": compare["b"]["cost_usd"],
        "report usage --by session": usage[run_b]["cost_usd"],
        "report summary --task": invoke_json(store.root, "report", "summary", "--task", run_b)["cost"]["cost_usd"],
        "export csv": float(next(r for r in _csv(store) if r["run_id"] == run_b)["cost_usd"]),
        "export csv --detailed": float(next(r for r in _csv(store, "--detailed") if r["run_id"] == run_b)["cost_usd"]),
    }


class TestOneHourCacheWrites:
    def test_rates_price_the_one_hour_part_at_its_own_rate(self) -> None:
        rates = Rates(3.0, 15.0, 0.3, 3.75, 6.0, 0.0, "test")
        assert rates.cost(1, 1000, 100, 0, 10_000, 8_000) == pytest.approx(BY_HAND_USD, abs=1e-12)
        assert rates.cost(1, 1000, 100, 0, 10_000) == pytest.approx(AT_5M_RATE_USD, abs=1e-12)
        # a one-hour count above the writes (a bad source) is clamped to them, never negative
        assert rates.cost(1, 0, 0, 0, 100, 500) == pytest.approx(100 * 6.0 / 1e6)
        assert rates.cost(1, 0, 0, 0, 100, -5) == pytest.approx(100 * 3.75 / 1e6)

    def test_every_view_shows_the_same_cost(self, store: Store) -> None:
        _record(store, "aaaa")
        _record(store, "bbbb")
        # the summary's --task filter matches run names; name the runs apart by id
        views = _costs_in_every_view(store, "aaaa", "bbbb") | {
            "report summary": invoke_json(store.root, "report", "summary")["cost"]["cost_usd"] / 2,
        }
        views.pop("report summary --task")
        for view, cost in views.items():
            assert cost == pytest.approx(BY_HAND_USD, abs=1e-9), view

    def test_config_prices_apply_the_one_hour_rate_too(self, store: Store) -> None:
        store.root.mkdir(parents=True, exist_ok=True)
        store.config_path.write_text(
            '[[pricing.models]]\nmatch = "sonnet"\ninput_per_1m = 1.0\noutput_per_1m = 2.0\n'
            "cache_write_per_1m = 4.0\ncache_write_1h_per_1m = 10.0\n",
            encoding="utf-8",
        )
        _record(store, "aaaa")
        _record(store, "bbbb")
        expected = (1000 * 1.0 + 100 * 2.0 + 2000 * 4.0 + 8000 * 10.0) / 1e6
        views = _costs_in_every_view(store, "aaaa", "bbbb")
        views.pop("report summary --task")
        for view, cost in views.items():
            assert cost == pytest.approx(expected, abs=1e-9), view


class TestReportedAndUnpriced:
    def test_a_reported_cost_wins_everywhere(self, store: Store) -> None:
        _record(store, "aaaa")
        _record(store, "bbbb", cost_usd=0.5)
        views = _costs_in_every_view(store, "aaaa", "bbbb")
        views.pop("report summary --task")
        for view, cost in views.items():
            assert cost == pytest.approx(0.5, abs=1e-12), view

    def test_an_unpriced_model_is_null_never_zero(self, store: Store) -> None:
        _record(store, "aaaa")
        _record(store, "bbbb", model="house-model-7")
        usage = {r["session"]: r for r in invoke_json(store.root, "report", "usage", "--by", "session")["rows"]}
        assert usage["bbbb"]["cost_usd"] is None
        assert usage["bbbb"]["unpriced_calls"] == 1
        assert usage["bbbb"]["unpriced_models"] == ["house-model-7"]
        assert invoke_json(store.root, "status", "--report")["last_run"]["cost_usd"] is None
        assert invoke_json(store.root, "compare", "aaaa", "bbbb")["b"]["cost_usd"] is None
        assert next(r for r in _csv(store) if r["run_id"] == "bbbb")["cost_usd"] == ""
        summary = invoke_json(store.root, "report", "summary")["cost"]
        assert summary["unpriced_models"] == ["house-model-7"]
        assert summary["unpriced_calls"] == 1


class TestRunCostDetail:
    def test_the_fixed_run_costs_what_the_hand_sum_says(self, store: Store) -> None:
        from helpers import FIXED_RUN_ID, record_fixed_run

        record_fixed_run(store)
        kpi = invoke_json(store.root, "report", FIXED_RUN_ID)
        # sonnet ($3 in, $15 out, $0.30 cache read, $3.75 cache write per 1M); haiku ($1 in, $5 out)
        plan = (1000 * 3 + 200 * 15 + 5000 * 0.30 + 100 * 3.75) / 1e6
        implement = (2000 * 3 + 500 * 15) / 1e6 + (300 * 1 + 50 * 5) / 1e6 + (100 * 1 + 20 * 5) / 1e6
        assert kpi["cost_usd"] == pytest.approx(plan + implement, abs=1e-12)
        assert kpi["cost_source"] == "priced"
        assert kpi["cost"]["by_phase"] == {
            "plan": pytest.approx(plan, abs=1e-12),
            "implement": pytest.approx(implement, abs=1e-12),
        }
        assert kpi["cost"]["by_model"] == {
            "claude-sonnet-4-5": pytest.approx(plan + (2000 * 3 + 500 * 15) / 1e6, abs=1e-12),
            "claude-haiku-4-5": pytest.approx((300 + 250 + 100 + 100) / 1e6, abs=1e-12),
        }
        assert sum(kpi["cost"]["by_model"].values()) == pytest.approx(kpi["cost_usd"], abs=1e-12)
        listed = invoke_json(store.root, "report", "list")["runs"][0]
        assert listed["cost_usd"] == pytest.approx(kpi["cost_usd"], abs=1e-12)
        shown = invoke_json(store.root, "report", "show", FIXED_RUN_ID)
        assert shown["cost_usd"] == kpi["cost_usd"]


class TestWarmPath:
    def test_a_warm_scoreboard_prices_from_the_cached_rates_without_importing_genai_prices(
        self, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Its cost by phase prices each call at its group's rates (PriceBook.call_cost), read
        from the compiled price table: the 0.15 s genai-prices import stays off a warm `laptime report`."""
        import subprocess
        import sys

        monkeypatch.setenv("LAPTIME_CACHE_DIR", str(tmp_path / "price-cache"))  # no table compiled yet
        _record(store, "aaaa")
        command = [sys.executable, "-X", "importtime", "-m", "laptime", "--home", str(store.root), "report", "--json"]
        first = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
        assert "genai_prices" in first.stderr  # cold: the price table was compiled once, then cached
        warm = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
        assert "genai_prices" not in warm.stderr
        assert json.loads(warm.stdout)["cost_usd"] == pytest.approx(BY_HAND_USD, abs=1e-12)
        assert json.loads(warm.stdout)["cost"]["by_phase"] == {"work": pytest.approx(BY_HAND_USD, abs=1e-12)}
