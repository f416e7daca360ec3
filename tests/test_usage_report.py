"""``laptime report usage``: tokens and cost per day, week, month, session and model, for
any runner (here: runs recorded with the SDK; the importers' tests check Claude Code
against ccusage and Codex).

The runs (UTC):
- r1 "webapp", runner sdk: Mon 2026-01-05 23:30 sonnet 1000 in / 200 out / 5000 cache read /
  100 cache write; 23:45 gpt-4o 10000 in (OpenAI meaning, of which 4000 cached) / 500 out.
- r2 "infra", runner pipeline: Tue 2026-01-06 10:00 sonnet 300/50; Mon 2026-02-02 09:00 a
  model nobody prices, 10/10; 09:05 sonnet with a reported cost of $1.25, 1/1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from helpers import SONNET, invoke, make_recorder
from laptime import SimulatedClock

if TYPE_CHECKING:
    from laptime.store import Store

GPT = "gpt-4o"
UNKNOWN = "acme-model-1"


@pytest.fixture(name="recorded")
def fixture_recorded(store: Store) -> Store:
    clock = SimulatedClock(start=datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    with make_recorder(store, clock) as rec:
        with rec.run("webapp task", run_id="r1", runner="sdk", project="webapp", cwd="/src/webapp") as run:
            run.llm_call(
                SONNET,
                provider="anthropic",
                input_tokens=1000,
                output_tokens=200,
                cache_read_tokens=5000,
                cache_write_tokens=100,
            )
            clock.advance(15 * 60)
            run.llm_call(
                GPT,
                provider="openai",
                input_tokens=10_000,
                cache_read_tokens=4000,
                output_tokens=500,
                input_includes_cache=True,
            )
        clock.advance(10 * 3600 + 15 * 60)  # Tue 10:00
        with rec.run("infra task", run_id="r2", runner="pipeline", project="infra") as run:
            run.llm_call(SONNET, provider="anthropic", input_tokens=300, output_tokens=50)
            clock.advance(27 * 86400 - 3600)  # Mon 2026-02-02 09:00
            run.llm_call(UNKNOWN, provider="acme", input_tokens=10, output_tokens=10)
            clock.advance(300)
            run.llm_call(SONNET, provider="anthropic", input_tokens=1, output_tokens=1, cost_usd=1.25)
    return store


def usage(store: Store, *args: str) -> dict[str, Any]:
    result = invoke(store.root, "report", "usage", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def tokens(row: dict[str, Any]) -> tuple[int, int, int, int, int]:
    keys = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "total_tokens")
    return tuple(row[k] for k in keys)  # type: ignore[return-value]


class TestGrouping:
    def test_by_day_in_utc(self, recorded: Store) -> None:
        data = usage(recorded, "--timezone", "UTC")
        assert data["by"] == "day"
        assert data["timezone"] == "UTC"
        rows = {r["period"]: r for r in data["rows"]}
        assert list(rows) == ["2026-01-05", "2026-01-06", "2026-02-02"]
        # gpt-4o's 10000 input counted the 4000 cached tokens: 6000 uncached here
        assert tokens(rows["2026-01-05"]) == (7000, 700, 100, 9000, 16800)
        assert rows["2026-01-05"]["models"] == [SONNET, GPT] or rows["2026-01-05"]["models"] == sorted([SONNET, GPT])
        assert tokens(rows["2026-01-06"]) == (300, 50, 0, 0, 350)
        assert tokens(data["totals"]) == (7311, 761, 100, 9000, 17172)
        assert data["totals"]["calls"] == 5

    def test_a_time_zone_moves_calls_across_midnight(self, recorded: Store) -> None:
        rows = usage(recorded, "--timezone", "Europe/Berlin")["rows"]
        # 23:30 and 23:45 UTC are 00:30 and 00:45 in Berlin: Tuesday
        assert [r["period"] for r in rows] == ["2026-01-06", "2026-02-02"]
        assert rows[0]["calls"] == 3

    def test_by_week_and_month(self, recorded: Store) -> None:
        weeks = usage(recorded, "--by", "week", "-z", "UTC")["rows"]
        assert [(r["period"], r["calls"]) for r in weeks] == [("2026-01-05", 3), ("2026-02-02", 2)]
        months = usage(recorded, "--by", "month", "-z", "UTC")["rows"]
        assert [(r["period"], r["calls"]) for r in months] == [("2026-01", 3), ("2026-02", 2)]

    def test_by_session(self, recorded: Store) -> None:
        rows = usage(recorded, "--by", "session", "-z", "UTC")["rows"]
        assert [(r["session"], r["name"], r["runner"], r["project"], r["calls"]) for r in rows] == [
            ("r1", "webapp task", "sdk", "webapp", 2),
            ("r2", "infra task", "pipeline", "infra", 3),
        ]

    def test_by_model(self, recorded: Store) -> None:
        rows = usage(recorded, "--by", "model")["rows"]
        assert [r["model"] for r in rows] == [GPT, SONNET, UNKNOWN]  # by total tokens
        assert tokens(rows[1]) == (1301, 251, 100, 5000, 6652)


class TestFilters:
    def test_since_and_until_are_days_in_the_time_zone(self, recorded: Store) -> None:
        rows = usage(recorded, "-z", "UTC", "--since", "2026-01-06", "--until", "2026-01-31")["rows"]
        assert [r["period"] for r in rows] == ["2026-01-06"]
        rows = usage(recorded, "-z", "Europe/Berlin", "--until", "20260106")["rows"]
        assert [(r["period"], r["calls"]) for r in rows] == [("2026-01-06", 3)]

    def test_project_matches_project_or_cwd(self, recorded: Store) -> None:
        assert usage(recorded, "--project", "webapp")["totals"]["calls"] == 2
        assert usage(recorded, "--project", "/src/web")["totals"]["calls"] == 2
        assert usage(recorded, "--project", "infra")["totals"]["calls"] == 3
        assert usage(recorded, "--project", "nothing")["rows"] == []


class TestCost:
    def test_reported_cost_wins_and_unknown_models_are_unpriced(self, recorded: Store) -> None:
        pytest.importorskip("genai_prices")
        rows = {r["period"]: r for r in usage(recorded, "-z", "UTC")["rows"]}
        feb = rows["2026-02-02"]
        assert feb["unpriced_calls"] == 1
        assert feb["unpriced_models"] == [UNKNOWN]
        assert feb["cost_usd"] == pytest.approx(1.25)
        tuesday = rows["2026-01-06"]["cost_usd"]
        assert tuesday == pytest.approx((300 * 3 + 50 * 15) / 1e6)  # sonnet 4.5: $3 in, $15 out per 1M

    def test_cost_source_per_row_per_model_and_in_totals(self, recorded: Store) -> None:
        pytest.importorskip("genai_prices")
        data = usage(recorded, "-z", "UTC")
        rows = {r["period"]: r for r in data["rows"]}
        assert rows["2026-01-06"]["cost_source"] == "priced"  # laptime priced sonnet's call
        feb = rows["2026-02-02"]  # one call reported its cost, one of an unknown model
        assert feb["cost_source"] == "priced"
        assert {m["model"]: m["cost_source"] for m in feb["by_model"]} == {SONNET: "reported", UNKNOWN: "unpriced"}
        assert data["totals"]["cost_source"] == "priced"
        models = {r["model"]: r for r in usage(recorded, "--by", "model")["rows"]}
        assert (models[UNKNOWN]["cost_source"], models[UNKNOWN]["cost_usd"]) == ("unpriced", None)
        assert "by_model" not in models[UNKNOWN]  # --by model rows have no breakdown by model

    def test_no_cost_leaves_cost_out(self, recorded: Store) -> None:
        data = usage(recorded, "--no-cost")
        assert data["totals"]["cost_usd"] is None
        assert data["totals"]["cost_source"] == "unpriced"
        # a row with a reported cost keeps it; one without any is unpriced
        rows = {r["period"]: r for r in usage(recorded, "--no-cost", "-z", "UTC")["rows"]}
        assert (rows["2026-01-06"]["cost_usd"], rows["2026-01-06"]["cost_source"]) == (None, "unpriced")


class TestText:
    def test_a_table_with_totals(self, recorded: Store) -> None:
        result = invoke(recorded.root, "report", "usage", "-z", "UTC", "--no-cost")
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split()[:2] == ["Day", "Models"]
        # No call here reported reasoning tokens, so the table has no column for them.
        assert lines[0].split()[2:] == ["Input", "Output", "Cache", "write", "Cache", "read", "Total", "Cost"]
        assert lines[-2].startswith("Total")
        assert "17,172" in lines[-2]
        assert lines[-1] == "5 calls, time zone UTC"

    def test_bad_time_zone_and_date_are_usage_errors(self, recorded: Store) -> None:
        result = invoke(recorded.root, "report", "usage", "--timezone", "Mars/Olympus")
        assert result.exit_code == 2
        assert "unknown time zone" in result.output
        result = invoke(recorded.root, "report", "usage", "--since", "soon")
        assert result.exit_code == 2

    def test_help_has_an_example(self) -> None:
        result = invoke("unused", "report", "usage", "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout
        assert "--by [day|week|month|session|model|branch]" in result.stdout
