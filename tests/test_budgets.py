"""Budgets (issue 10 line 5): ``[budgets]`` config, which limits apply, the SDK's checks and
events, and the reports (show, list --over-budget, summary), for SDK and imported runs.

Runs come from ``record_simple_run``: one phase of ``seconds``, ``calls`` sonnet calls of
100 input and 10 output tokens each, so 110 tokens and $0.00045 a call ($3 in, $15 out per 1M).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import SONNET, T0, MemorySink, invoke, invoke_json, make_recorder, record_simple_run, write_lines
from laptime import SimulatedClock
from laptime.analysis.budgets import Figures, budget_for, count_over_budget, crossings, over_budget_run_ids
from laptime.config import ConfigError, load_config
from laptime.errors import BudgetExceeded
from laptime.index import open_index
from laptime.pricing import PriceBook
from laptime.recorder import Recorder

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

CALL_USD = 100 * 3 / 1e6 + 10 * 15 / 1e6  # one sonnet call of record_simple_run


def write_config(store: Store, text: str) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    store.config_path.write_text(text, encoding="utf-8")


def log_events(store: Store) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(store.root.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def budget_events(store: Store) -> list[dict[str, Any]]:
    return [e for e in log_events(store) if e["type"] == "metric" and e["name"] == "laptime.budget.exceeded"]


# -- config -------------------------------------------------------------------------------------


class TestConfig:
    def test_every_table_is_read(self, store: Store) -> None:
        write_config(
            store,
            """
[budgets]
cost_usd = 5
duration = 1800.5
tokens = 2000000

[budgets.runner.ci]
duration = 600

[budgets.task."fix-*"]
cost_usd = 0.5
tokens = 1000
""",
        )
        rules = load_config(store).budget_rules
        assert [(r.label, r.cost_usd, r.duration_ms, r.tokens) for r in rules] == [
            ("budgets", 5.0, 1_800_500, 2_000_000),
            ("budgets.runner.ci", None, 600_000, None),
            ('budgets.task."fix-*"', 0.5, None, 1000),
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[budgets]\ncost_usd = -1", "budgets.cost_usd must be a number of USD above 0, at most 1000000, got -1"),
            (
                "[budgets]\nduration = nan",
                "budgets.duration must be a number of seconds above 0, at most 31536000, got nan",
            ),
            (
                "[budgets]\ntokens = 1.5",
                "budgets.tokens must be a whole number of tokens above 0, at most 1000000000000000, got 1.5",
            ),
            ("[budgets]\ntokens = true", "budgets.tokens must be a whole number of tokens above 0"),
            ('[budgets]\nduration = "30m"', "budgets.duration must be a number of seconds above 0"),
            ("[budgets]\nmoney = 3", "unknown key 'budgets.money' (known keys: budgets.cost_usd, budgets.duration"),
            ("[budgets.runner.ci]\nseconds = 3", "unknown key 'budgets.runner.ci.seconds'"),
            ('[budgets.task."fix-*"]\ncost_usd = inf', 'budgets.task."fix-*".cost_usd must be a number of USD above 0'),
            ("[budgets.task.x]", "budgets.task.x sets no limit"),
            ("[budgets]\ntask = 3", "budgets.task must be a table of tables"),
            ("budgets = 3", "budgets must be a table ([budgets]), got 3"),
        ],
    )
    def test_a_bad_value_names_the_file_and_key(self, store: Store, text: str, message: str) -> None:
        write_config(store, text)
        with pytest.raises(ConfigError) as caught:
            load_config(store)
        assert str(caught.value).startswith(f"{store.config_path}: ")
        assert message in str(caught.value)

    def test_the_cli_exits_2_without_a_traceback(self, store: Store) -> None:
        write_config(store, "[budgets]\ncost_usd = -1\n")
        result = invoke(store.root, "report", "summary")
        assert result.exit_code == 2
        assert "budgets.cost_usd must be a number of USD above 0" in result.output
        assert "Traceback" not in result.output


# -- which limits apply ----------------------------------------------------------------------------


PRECEDENCE = """
[budgets]
cost_usd = 10
duration = 3600
tokens = 100000

[budgets.runner.ci]
duration = 600
tokens = 5000

[budgets.task."fix-*"]
cost_usd = 2

[budgets.task."fix-login*"]
cost_usd = 1

[budgets.task."f*"]
tokens = 7

[budgets.task.fix-login]
tokens = 300
"""


class TestPrecedence:
    @pytest.fixture(name="rules")
    def _rules(self, store: Store) -> Any:
        write_config(store, PRECEDENCE)
        return load_config(store).budget_rules

    def test_task_over_runner_over_default_per_limit(self, rules: Any) -> None:
        budget = budget_for(rules, "fix-db", "ci")
        assert budget is not None
        assert budget.limits == (
            ("cost_usd", 2.0, 'budgets.task."fix-*"'),  # the task glob
            ("duration_ms", 600_000.0, "budgets.runner.ci"),  # no task sets it: the runner's
            ("tokens", 7.0, 'budgets.task."f*"'),  # a task glob beats the runner
        )

    def test_exact_name_then_the_most_literal_glob(self, rules: Any) -> None:
        budget = budget_for(rules, "fix-login", None)
        assert budget is not None
        assert budget.limits == (
            ("cost_usd", 1.0, 'budgets.task."fix-login*"'),  # 9 literal characters beat "fix-*"'s 4
            ("duration_ms", 3_600_000.0, "budgets"),
            ("tokens", 300.0, "budgets.task.fix-login"),  # the exact name beats every glob
        )

    def test_no_match_takes_the_default_and_no_rule_no_budget(self, rules: Any) -> None:
        budget = budget_for(rules, "docs", "local")
        assert budget is not None
        assert [(limit, value) for limit, value, _ in budget.limits] == [
            ("cost_usd", 10.0),
            ("duration_ms", 3_600_000.0),
            ("tokens", 100_000.0),
        ]
        assert budget_for([r for r in rules if r.scope == "task"], "docs", None) is None

    def test_a_figure_equal_to_its_limit_is_within(self, rules: Any) -> None:
        budget = budget_for(rules, "docs", None)
        assert budget is not None
        assert crossings(budget, Figures(cost_usd=10.0, duration_ms=3_600_000, tokens=100_000)) == []
        assert crossings(budget, Figures(cost_usd=None, duration_ms=3_600_001, tokens=100_001)) == [
            ("duration_ms", 3_600_001.0, 3_600_000.0, "budgets"),
            ("tokens", 100_001.0, 100_000.0, "budgets"),
        ]  # an unpriced run (cost None) crosses no cost limit


# -- the SDK -------------------------------------------------------------------------------------


class TestSdk:
    def test_over_budget_lists_the_crossings_and_records_one_event_per_limit(self, store: Store) -> None:
        write_config(store, "[budgets]\ntokens = 200\nduration = 60\ncost_usd = 0.0008\n")
        clock = SimulatedClock(start=T0)
        with make_recorder(store, clock) as rec, rec.run("task", run_id="r1") as run:
            run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
            assert run.over_budget() == []  # 110 tokens, $0.00045, 0 s
            run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
            crossed = run.over_budget()
            assert [(c.limit, c.value, c.budget, c.rule) for c in crossed] == [
                ("cost_usd", pytest.approx(2 * CALL_USD), 0.0008, "budgets"),
                ("tokens", 220.0, 200.0, "budgets"),
            ]
            clock.advance(61)
            with run.phase("again"):  # a boundary: the duration crossing is recorded here
                pass
            assert [c.limit for c in run.over_budget()] == ["cost_usd", "duration_ms", "tokens"]
            run.over_budget()
        events = budget_events(store)
        assert [(e["attrs"]["limit"], e["value"], e["unit"], e["attrs"]["budget"]) for e in events] == [
            ("cost_usd", pytest.approx(2 * CALL_USD), "usd", 0.0008),
            ("tokens", 220.0, "tokens", 200.0),
            ("duration_ms", 61_000.0, "ms", 60_000.0),
        ]  # once per limit, however often it is checked

    def test_budget_raise_stops_the_run_at_the_next_phase(self, store: Store) -> None:
        write_config(store, "[budgets]\nduration = 60\n")
        clock = SimulatedClock(start=T0)
        entered = []
        with make_recorder(store, clock) as rec, rec.run("task", run_id="r1", budget="raise") as run:
            with run.phase("plan"):
                clock.advance(90)
            with pytest.raises(BudgetExceeded) as caught, run.phase("implement"):
                entered.append("implement")
        assert entered == []  # raised before the phase opened
        assert caught.value.run_id == "r1"
        assert str(caught.value) == "run r1 is over budget: duration_ms 90000 > 60000 (budgets)"
        names = [e.get("name") for e in log_events(store) if e["type"] == "span_start"]
        assert names == ["task", "plan"]
        assert len(budget_events(store)) == 1

    def test_enforce_budgets_raises_at_the_llm_call_that_crosses(self, store: Store) -> None:
        write_config(store, '[budgets.task."fix-*"]\ntokens = 150\n')
        with make_recorder(store, SimulatedClock(start=T0)) as rec, rec.run("fix-a", run_id="r1") as run:
            run.enforce_budgets()
            run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
            with pytest.raises(BudgetExceeded):
                run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
        assert sum(e["type"] == "llm" for e in log_events(store)) == 2  # the call is recorded, then it stops

    def test_llm_span_usage_counts(self, store: Store) -> None:
        write_config(store, "[budgets]\ntokens = 100\n")
        with make_recorder(store, SimulatedClock(start=T0)) as rec, rec.run("t", run_id="r1") as run:
            with run.llm(SONNET, provider="anthropic") as call:
                call.usage({"input_tokens": 80, "output_tokens": 30})  # type: ignore[arg-type]
            assert [c.value for c in run.over_budget()] == [110.0]

    def test_a_run_no_limit_applies_to_has_no_watch(self, store: Store) -> None:
        write_config(store, "[budgets.runner.ci]\ntokens = 1\n")
        with make_recorder(store, SimulatedClock(start=T0)) as rec, rec.run("t", run_id="r1", runner="local") as run:
            run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
            assert run._budget is None
            assert run.over_budget() == []
        assert budget_events(store) == []


# -- reports ------------------------------------------------------------------------------------


def three_runs(store: Store) -> None:
    """Recorded before any [budgets] existed, like imported runs: no budget events."""
    record_simple_run(store, "aaaa0001", name="fix-a", seconds=30, calls=1)
    record_simple_run(store, "aaaa0002", name="fix-b", seconds=300, calls=3, start=T0 + timedelta(hours=1))
    record_simple_run(store, "aaaa0003", name="docs", seconds=60, calls=2, runner="ci", start=T0 + timedelta(hours=2))


BUDGETS = """
[budgets]
duration = 120

[budgets.task."fix-*"]
tokens = 300

[budgets.runner.ci]
cost_usd = 0.0005
"""


class TestReports:
    @pytest.fixture(name="home")
    def _home(self, store: Store) -> Path:
        three_runs(store)
        write_config(store, BUDGETS)
        return store.root

    def test_show_json_for_a_run_without_events(self, home: Path) -> None:
        budget = invoke_json(home, "report", "show", "aaaa0002")["budget"]
        assert budget == {
            "limits": [
                {"limit": "duration_ms", "budget": 120_000.0, "rule": "budgets"},
                {"limit": "tokens", "budget": 300.0, "rule": 'budgets.task."fix-*"'},
            ],
            "crossed": [
                {"limit": "duration_ms", "value": 300_000.0, "budget": 120_000.0, "over_by": 180_000.0,
                 "rule": "budgets", "crossed_at": None},
                {"limit": "tokens", "value": 330.0, "budget": 300.0, "over_by": 30.0,
                 "rule": 'budgets.task."fix-*"', "crossed_at": None},
            ],
            "over_budget": True,
        }  # fmt: skip

    def test_show_text(self, home: Path) -> None:
        out = invoke(home, "report", "show", "aaaa0003").stdout
        lines = out[out.index("Budget:") :].splitlines()[:5]
        assert lines[0] == "Budget: over 1 of 2 limits"
        assert lines[3].split() == ["cost", "$0.0005", "budgets.runner.ci", "over:", "$0.0009", "(+$0.0004)"]
        assert lines[4].split() == ["duration", "2m", "00s", "budgets", "within"]

    def test_show_says_when_the_recorder_saw_the_crossing(self, store: Store) -> None:
        write_config(store, "[budgets]\nduration = 60\n")
        clock = SimulatedClock(start=T0)
        with make_recorder(store, clock) as rec, rec.run("t", run_id="r1") as run:
            clock.advance(75)
            with run.phase("late"):
                clock.advance(5)
        crossed = invoke_json(store.root, "report", "show", "r1")["budget"]["crossed"]
        assert crossed == [
            {"limit": "duration_ms", "value": 80_000.0, "budget": 60_000.0, "over_by": 20_000.0, "rule": "budgets",
             "crossed_at": "2026-01-05T09:01:15.000000Z"},
        ]  # fmt: skip  # the report's figure is the whole run's; the time is the first crossing's

    def test_list_over_budget_exact_output(self, home: Path) -> None:
        result = invoke(home, "report", "list", "--over-budget")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "run       started               duration  outcome    llm  tokens     cost  name   runner\n"
            "--------  --------------------  --------  ---------  ---  ------  -------  -----  ------\n"
            "aaaa0003  2026-01-05 11:00:00Z    1m 00s  completed    2     220  $0.0009  docs   ci\n"
            "aaaa0002  2026-01-05 10:00:00Z    5m 00s  completed    3     330  $0.0014  fix-b\n"
        )
        ids = [r["run_id"] for r in invoke_json(home, "report", "list", "--over-budget")["runs"]]
        assert ids == ["aaaa0003", "aaaa0002"]

    def test_list_over_budget_without_budgets_is_a_usage_error(self, store: Store) -> None:
        three_runs(store)
        result = invoke(store.root, "report", "list", "--over-budget")
        assert result.exit_code == 2
        assert result.output == "Error: --over-budget: the config sets no [budgets] limits; see docs/config.md\n"

    def test_summary_counts(self, home: Path) -> None:
        summary = invoke_json(home, "report", "summary")
        assert summary["budgets"] == {
            "runs_with_budget": 3,
            "runs_over_budget": 2,
            "share": pytest.approx(2 / 3),
            "by_limit": {"cost_usd": 1, "duration_ms": 1, "tokens": 1},
        }
        filtered = invoke_json(home, "report", "summary", "--task", "fix-*")["budgets"]
        assert filtered["runs_over_budget"] == 1
        assert filtered["share"] == 0.5
        text = invoke(home, "report", "summary").stdout
        line = "budgets       2 runs over budget (67%) of 3 with a budget · over cost 1 · duration 1 · tokens 1\n"
        assert line in text

    def test_summary_without_budgets_is_null(self, store: Store) -> None:
        three_runs(store)
        assert invoke_json(store.root, "report", "summary")["budgets"] is None

    def test_sql_agrees_with_the_python_definition(self, store: Store) -> None:
        for n in range(12):
            record_simple_run(
                store, f"run{n:04d}", name=("fix-" if n % 2 else "docs-") + str(n), seconds=20 * n, calls=n % 4,
                runner="ci" if n % 3 == 0 else None, start=T0 + timedelta(minutes=10 * n),
            )  # fmt: skip
        write_config(store, BUDGETS)
        rules = load_config(store).budget_rules
        book = PriceBook.from_config(load_config(store))
        with open_index(store) as index:
            sql_ids = over_budget_run_ids(index, book, rules)
            counts = count_over_budget(index, book, rules, None)
        expected = set()
        for row in invoke_json(store.root, "report", "list", "--limit", "100")["runs"]:
            budget = budget_for(rules, row["name"], row["runner"])
            assert budget is not None
            figures = Figures(row["cost_usd"], int(row["total_duration_ms"]), row["total_tokens"])
            if crossings(budget, figures):
                expected.add(row["run_id"])
        assert sql_ids == expected
        assert 0 < len(expected) < 12
        assert counts is not None
        assert counts.runs_over_budget == len(expected)
        assert math.isclose(counts.runs_with_budget, 12)


# -- cost limits over many runs: the cached run costs ------------------------------------------


def over_everywhere(home: Path) -> dict[str, Any]:
    """Which runs each view says are over budget: summary's count, list --over-budget and
    show's flag for every run."""
    listed = {r["run_id"] for r in invoke_json(home, "report", "list", "--over-budget")["runs"]}
    every = [r["run_id"] for r in invoke_json(home, "report", "list", "--limit", "1000")["runs"]]
    shown = {run_id for run_id in every if invoke_json(home, "report", "show", run_id)["budget"]["over_budget"]}
    budgets = invoke_json(home, "report", "summary")["budgets"]
    return {"list": listed, "show": shown, "summary": budgets["runs_over_budget"], "by_limit": budgets["by_limit"]}


COST_ONLY = {"cost_usd": 1, "duration_ms": 0, "tokens": 0}  # one run over, on cost


class TestCostLimits:
    def test_a_model_priced_call_by_call_counts_in_every_view(self, store: Store) -> None:
        """DeepSeek's time-of-day prices are priced call by call, not in SQL; the summary and
        the list once counted such a run as unpriced (within every cost limit) while show
        priced it (over)."""
        if PriceBook().day_exact("deepseek-chat", "deepseek"):
            pytest.skip("the installed genai-prices has no time-of-day prices for deepseek-chat")
        clock = SimulatedClock(start=T0)
        with make_recorder(store, clock) as rec, rec.run("ds", run_id="ds01") as run:
            for _ in range(3):
                run.llm_call("deepseek-chat", provider="deepseek", input_tokens=100_000, output_tokens=1_000)
                clock.advance(60)
        record_simple_run(store, "cheap001", name="cheap", calls=1, start=T0 + timedelta(hours=1))
        write_config(store, "[budgets]\ncost_usd = 0.01\n")
        ds_cost = invoke_json(store.root, "report", "show", "ds01")["cost_usd"]
        assert ds_cost > 0.01  # 300k input tokens at any DeepSeek price
        seen = over_everywhere(store.root)
        assert seen == {"list": {"ds01"}, "show": {"ds01"}, "summary": 1, "by_limit": COST_ONLY}

    def test_new_calls_of_a_run_reprice_it(self, store: Store) -> None:
        """A run's cost is kept once priced; an ingest that brings it new calls drops what
        was kept, so the limit is checked on the whole run."""
        clock = SimulatedClock(start=T0)
        sink = MemorySink()
        with Recorder(clock=clock, sink=sink) as rec, rec.run("grow", run_id="grow0001") as run:
            for _ in range(3):
                run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
                clock.advance(10)
        calls = [i for i, (line, _) in enumerate(sink.lines) if json.loads(line)["type"] == "llm"]
        write_config(store, f"[budgets]\ncost_usd = {2.5 * CALL_USD}\n")
        write_lines(store, sink.lines[: calls[1]])  # the start and the first call
        assert invoke_json(store.root, "report", "summary")["budgets"]["runs_over_budget"] == 0
        write_lines(store, sink.lines[calls[1] :])
        assert over_everywhere(store.root) == {
            "list": {"grow0001"}, "show": {"grow0001"}, "summary": 1, "by_limit": COST_ONLY,
        }  # fmt: skip

    def test_a_price_override_reprices_kept_costs(self, store: Store) -> None:
        three_runs(store)
        write_config(store, "[budgets]\ncost_usd = 0.001\n")
        assert over_everywhere(store.root)["list"] == {"aaaa0002"}  # 3 calls: $0.00135
        write_config(
            store,
            '[budgets]\ncost_usd = 0.001\n\n[[pricing.models]]\nmatch = "sonnet"\n'
            "input_per_1m = 30.0\noutput_per_1m = 150.0\n",
        )  # ten times the price: every run is over
        seen = over_everywhere(store.root)
        assert seen["list"] == seen["show"] == {"aaaa0001", "aaaa0002", "aaaa0003"}
        assert seen["summary"] == 3
        write_config(store, "[budgets]\ncost_usd = 0.001\n")  # and back: the first prices again
        assert over_everywhere(store.root)["list"] == {"aaaa0002"}

    def test_costs_are_kept_in_the_index(self, store: Store) -> None:
        three_runs(store)
        write_config(store, "[budgets]\ncost_usd = 0.001\n")
        invoke_json(store.root, "report", "summary")
        with open_index(store) as index:
            kept = index.query("SELECT run_id, cost_usd FROM run_cost_cache ORDER BY run_id")
            counts = index.query("SELECT with_budget, over, over_cost FROM budget_count_cache")
        assert [(run_id, round(cost / CALL_USD, 9)) for run_id, cost in kept] == [
            ("aaaa0001", 1), ("aaaa0002", 3), ("aaaa0003", 2),
        ]  # fmt: skip  # by_run's cost of 1, 3 and 2 calls
        assert [tuple(row) for row in counts] == [(3, 1, 1)]  # the unfiltered summary's counts, kept
        record_simple_run(store, "aaaa0004", name="more", calls=5, start=T0 + timedelta(hours=3))
        assert invoke_json(store.root, "report", "summary")["budgets"]["runs_over_budget"] == 2  # not the kept 1
