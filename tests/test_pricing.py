# ruff: noqa: FBT003 - PriceBook.price takes the llm event's fields positionally, as documented
"""Pricing: genai-prices check values, config overrides and effective dates, reported
costs, unpriced models, and group (aggregate) pricing equal to per-call pricing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from helpers import GPT, HAIKU, SONNET, make_recorder
from laptime import SimulatedClock
from laptime.analysis.cost import CostCalculator, run_costs
from laptime.config import MAX_MODEL_CHARS, PriceRule
from laptime.index import Index
from laptime.pricing import TIER_THRESHOLDS, PriceBook, day_of_us, tier_bucket

if TYPE_CHECKING:
    from laptime.store import Store

AT = int(datetime(2026, 1, 5, 9, tzinfo=UTC).timestamp() * 1_000_000)


def rule(pattern: str, inp: float, out: float, *, regex: bool = False, since: date | None = None) -> PriceRule:
    return PriceRule(pattern, regex, inp, out, inp / 10, inp * 1.25, effective_from=since)


def test_genai_prices_check_values() -> None:
    """TOOLING.md: sonnet 10k input (5k cache read, 2k cache write, Anthropic counts them
    apart) + 1k output = $0.0330; gpt-4o 10k input (5k cached, OpenAI counts them in)
    + 1k output = $0.02875."""
    book = PriceBook()
    sonnet = book.price(SONNET, "anthropic", AT, 3_000, 1_000, 5_000, 2_000, input_includes_cache=False)
    assert sonnet.source == "genai-prices"
    assert sonnet.cost_usd == pytest.approx(0.0330, abs=1e-12)
    gpt = book.price(GPT, "openai", AT, 10_000, 1_000, 5_000, 0, input_includes_cache=True)
    assert gpt.cost_usd == pytest.approx(0.02875, abs=1e-12)
    # An unknown provider name falls back to finding the model by its name alone.
    assert book.price(SONNET, "some-proxy", AT, 3_000, 1_000, 5_000, 2_000, False).cost_usd == pytest.approx(0.0330)


def test_reported_cost_wins_and_unknown_model_is_unpriced() -> None:
    book = PriceBook([rule("sonnet", 1.0, 2.0)])
    reported = book.price(SONNET, "anthropic", AT, 1000, 100, 0, 0, False, reported_cost_usd=0.5)
    assert (reported.cost_usd, reported.source) == (0.5, "reported")
    unknown = book.price("mystery-model-9", "", AT, 1000, 100, 0, 0, False)
    assert (unknown.cost_usd, unknown.source) == (None, "unpriced")
    assert book.rates("mystery-model-9", "", "2026-01-05", 0) is None
    assert book.resolve("mystery-model-9", "", AT).source == "unpriced"
    # Without the library, a model no rule matches is unpriced too.
    no_lib = PriceBook([rule("sonnet", 1.0, 2.0)], library=False)
    assert no_lib.price(HAIKU, "anthropic", AT, 1000, 100, 0, 0, False).source == "unpriced"


def test_config_rule_prices_uncached_input_and_each_cache_kind() -> None:
    book = PriceBook([PriceRule("sonnet", False, 3.0, 15.0, 0.3, 3.75)])
    priced = book.price("Claude-SONNET-4-5", "anthropic", AT, 3_000, 1_000, 5_000, 2_000, False)
    assert priced.source == "config:sonnet"  # substring match ignores case
    assert priced.cost_usd == pytest.approx(0.0330)
    # OpenAI-style input (cache included) is reduced to the uncached part first.
    assert book.price("sonnet", "", AT, 10_000, 1_000, 5_000, 2_000, True).cost_usd == pytest.approx(0.0330)
    regex = PriceBook([rule("^gpt-4o$", 1.0, 1.0, regex=True)])
    assert regex.price("gpt-4o", "", AT, 1_000_000, 0, 0, 0, False).source == "config:^gpt-4o$"
    assert regex.price("gpt-4o-mini", "openai", AT, 1_000_000, 0, 0, 0, False).source == "genai-prices"


def test_regex_rule_skips_model_names_too_long_to_be_names() -> None:
    """A regex rule never matches a name over MAX_MODEL_CHARS (a backtracking pattern's
    work grows with the name); a substring rule still does, it is linear."""
    name = "a" * MAX_MODEL_CHARS
    book = PriceBook([rule("^a+$", 1.0, 1.0, regex=True)], library=False)
    assert book.price(name, "", AT, 1_000_000, 0, 0, 0, False).source == "config:^a+$"
    assert book.price(name + "a", "", AT, 1_000_000, 0, 0, 0, False).source == "unpriced"
    assert book.rates(name + "a", "", "2026-01-05", 0) is None
    substring = PriceBook([rule("aaa", 1.0, 1.0)], library=False)
    assert substring.price(name * 50, "", AT, 1_000_000, 0, 0, 0, False).source == "config:aaa"


def test_effective_dates_latest_rule_in_effect_wins() -> None:
    book = PriceBook([rule("sonnet", 1.0, 0.0), rule("sonnet", 2.0, 0.0, since=date(2026, 1, 10))])
    jan9 = int(datetime(2026, 1, 9, 23, 59, tzinfo=UTC).timestamp() * 1e6)
    jan10 = int(datetime(2026, 1, 10, 0, 0, tzinfo=UTC).timestamp() * 1e6)
    assert book.price(SONNET, "", jan9, 1_000_000, 0, 0, 0, False).cost_usd == pytest.approx(1.0)
    assert book.price(SONNET, "", jan10, 1_000_000, 0, 0, 0, False).cost_usd == pytest.approx(2.0)
    # Before a dated-only rule takes effect, the library prices the model.
    dated = PriceBook([rule("sonnet", 9.0, 0.0, since=date(2026, 1, 10))])
    assert dated.price(SONNET, "anthropic", jan9, 1_000_000, 0, 0, 0, False).source == "genai-prices"
    assert dated.price(SONNET, "anthropic", jan10, 1_000_000, 0, 0, 0, False).source == "config:sonnet"


def test_tier_buckets() -> None:
    assert tier_bucket(0) == 0
    assert tier_bucket(32_000) == 0
    assert tier_bucket(32_001) == 1
    assert tier_bucket(200_000) == TIER_THRESHOLDS.index(200_000)
    assert tier_bucket(200_001) == TIER_THRESHOLDS.index(200_000) + 1
    assert tier_bucket(10**9) == len(TIER_THRESHOLDS)
    assert day_of_us(AT) == "2026-01-05"


def test_long_context_tier_is_priced_per_call() -> None:
    """Sonnet 4.5 doubles its input price above 200k input tokens: a 300k call costs
    more per token than a 100k call, and the group rates know it."""
    book = PriceBook()
    small = book.price(SONNET, "anthropic", AT, 100_000, 0, 0, 0, False).cost_usd
    large = book.price(SONNET, "anthropic", AT, 300_000, 0, 0, 0, False).cost_usd
    assert small is not None
    assert large is not None
    assert large / 300_000 == pytest.approx(2 * small / 100_000)
    assert book.rates(SONNET, "anthropic", "2026-01-05", tier_bucket(300_000)).input == pytest.approx(6.0)  # type: ignore[union-attr]


def test_group_pricing_equals_per_call_pricing(store: Store) -> None:
    """Random calls over several days, some long-context, some with reported costs, and
    a config price that changes mid-period: the aggregate cost from the index equals the
    sum of per-call prices, per model and per run."""
    rng = random.Random(7)
    clock = SimulatedClock(start=datetime(2026, 1, 8, 22, tzinfo=UTC))
    book = PriceBook([rule("haiku", 1.0, 5.0), rule("haiku", 2.0, 6.0, since=date(2026, 1, 9))])
    expected_by_run: dict[str, float] = {}
    expected_by_model: dict[str, float] = {}
    with make_recorder(store, clock) as rec:
        for n in range(6):
            run_id = f"run{n}"
            with rec.run(f"task {n % 3}", run_id=run_id) as run:
                for _ in range(15):
                    model, provider = rng.choice([(SONNET, "anthropic"), (HAIKU, "anthropic"), (GPT, "openai")])
                    includes = provider == "openai"
                    cread = rng.choice([0, rng.randint(1, 150_000)])
                    cwrite = 0 if includes else rng.choice([0, rng.randint(1, 60_000)])
                    inp = rng.randint(1, 150_000) + (cread + cwrite if includes else 0)
                    out = rng.randint(1, 5_000)
                    reported = rng.choice([None, None, None, round(rng.random(), 4)])
                    ns = clock()
                    run.llm_call(
                        model,
                        provider=provider,
                        input_tokens=inp,
                        output_tokens=out,
                        cache_read_tokens=cread,
                        cache_write_tokens=cwrite,
                        input_includes_cache=includes,
                        cost_usd=reported,
                    )
                    priced = book.price(
                        model, provider, ns // 1000, inp, out, cread, cwrite, includes, reported_cost_usd=reported
                    )
                    assert priced.cost_usd is not None
                    expected_by_run[run_id] = expected_by_run.get(run_id, 0.0) + priced.cost_usd
                    expected_by_model[model] = expected_by_model.get(model, 0.0) + priced.cost_usd
                    clock.advance(rng.randint(60, 3600))
    with Index(store) as index:
        index.update()
        costs = CostCalculator(index, book)
        by_model = {m.model: m.cost_usd for m in costs.by_model()}
        assert by_model == pytest.approx(expected_by_model, rel=1e-12)
        by_run = {run_id: rc.cost_usd for run_id, rc in costs.by_run().items()}
        assert by_run == pytest.approx(expected_by_run, rel=1e-12)
        total = costs.total()
        assert total.cost_usd == pytest.approx(sum(expected_by_run.values()), rel=1e-12)
        assert total.unpriced_calls == 0
        assert {r: c.cost_usd for r, c in run_costs(index, book, ["run1", "run4"]).items()} == pytest.approx(
            {"run1": expected_by_run["run1"], "run4": expected_by_run["run4"]}, rel=1e-12
        )
        tasks = costs.by_task()
        assert sum(t.runs for t in tasks) == 6
        assert sum(t.cost_usd or 0 for t in tasks) == pytest.approx(sum(expected_by_run.values()), rel=1e-12)


def test_time_of_day_prices_fall_back_to_per_call(store: Store) -> None:
    """DeepSeek's off-peak prices change within a day: such models are priced call by
    call, and still add up."""
    book = PriceBook()
    if book.day_exact("deepseek-chat", "deepseek"):
        pytest.skip("the installed genai-prices has no time-of-day prices for deepseek-chat")
    clock = SimulatedClock(start=datetime(2026, 1, 5, 12, tzinfo=UTC))
    expected = 0.0
    with make_recorder(store, clock) as rec, rec.run("ds", run_id="ds1") as run:
        for _ in range(6):
            ns = clock()
            run.llm_call("deepseek-chat", provider="deepseek", input_tokens=100_000, output_tokens=1_000)
            cost = book.price("deepseek-chat", "deepseek", ns // 1000, 100_000, 1_000, 0, 0, False).cost_usd
            assert cost is not None
            expected += cost
            clock.advance(3 * 3600)
        run.llm_call("mystery-model-9", input_tokens=10)
    with Index(store) as index:
        index.update()
        costs = CostCalculator(index, book)
        assert {m.model: m.cost_usd for m in costs.by_model()} == {
            "deepseek-chat": pytest.approx(expected),
            "mystery-model-9": None,
        }
        rc = costs.by_run()["ds1"]
        assert (rc.cost_usd, rc.calls, rc.unpriced_calls) == (pytest.approx(expected), 7, 1)
        assert costs.total().unpriced_models == ["mystery-model-9"]
