"""A run's branch (laptime.definitions.run_branch), and ``report usage --by branch`` /
``report summary --by branch`` over it.

The runs (UTC, 2026-01-05), each with one sonnet call:
- r1 recorded in CI on main (``vcs.branch``), 10 min, completed, 1000 in / 100 out;
- r2 recorded on main too, 20 min, failed, 2000 in / 200 out;
- r3 as Claude Code's importer writes it (``git_branch: feat``), 5 min, 300 in / 30 out;
- r4 with no branch, 1 min, 40 in / 4 out, and a reported cost of $0.50.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from helpers import SONNET, invoke, invoke_json, make_recorder
from laptime import SimulatedClock
from laptime.definitions import run_branch

if TYPE_CHECKING:
    from laptime.store import Store

RUNS: list[tuple[str, dict[str, Any], int, str | None, int, int, float | None]] = [
    ("r1", {"vcs.branch": "main", "ci.provider": "github"}, 600, None, 1000, 100, None),
    ("r2", {"vcs.branch": "main", "git_branch": "ignored"}, 1200, "failed", 2000, 200, None),
    ("r3", {"git_branch": "feat"}, 300, None, 300, 30, None),
    ("r4", {}, 60, None, 40, 4, 0.5),
]


@pytest.fixture(name="recorded")
def fixture_recorded(store: Store) -> Store:
    clock = SimulatedClock(start=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with make_recorder(store, clock) as rec:
        for run_id, attrs, seconds, outcome, inp, out, cost in RUNS:
            with rec.run(f"task {run_id}", run_id=run_id, runner="sdk", **attrs) as run:
                run.llm_call(SONNET, provider="anthropic", input_tokens=inp, output_tokens=out, cost_usd=cost)
                clock.advance(seconds)
                if outcome:
                    run.set_outcome(outcome)
            clock.advance(60)
    return store


class TestRunBranch:
    @pytest.mark.parametrize(
        ("attrs", "expected"),
        [
            ({"vcs.branch": "main", "git_branch": "x", "branch": "y"}, "main"),
            ({"git_branch": "feat", "branch": "y"}, "feat"),
            ({"branch": "y"}, "y"),
            ({"vcs.branch": "", "branch": 3}, None),
            ({}, None),
        ],
    )
    def test_first_attribute_set(self, attrs: dict[str, object], expected: str | None) -> None:
        assert run_branch(attrs) == expected


class TestUsageByBranch:
    def test_json(self, recorded: Store) -> None:
        data = invoke_json(recorded.root, "report", "usage", "--by", "branch", "--no-cost")
        assert data["by"] == "branch"
        got = [(r["branch"], r["calls"], r["input_tokens"], r["output_tokens"]) for r in data["rows"]]
        assert got == [("main", 2, 3000, 300), ("feat", 1, 300, 30), (None, 1, 40, 4)]
        assert data["totals"]["total_tokens"] == sum(inp + out for *_, inp, out, _c in RUNS)

    def test_text(self, recorded: Store) -> None:
        result = invoke(recorded.root, "report", "usage", "--by", "branch", "--no-cost")
        assert result.exit_code == 0, result.output
        labels = [line.split()[0] for line in result.output.splitlines()[2:5]]
        assert labels == ["main", "feat", "(no"]


class TestSummaryByBranch:
    def test_json(self, recorded: Store) -> None:
        data = invoke_json(recorded.root, "report", "summary", "--by", "branch")
        rows = {b["branch"]: b for b in data["branches"]}
        assert [b["branch"] for b in data["branches"]] == ["main", "feat", None]  # by runs, then name
        main = rows["main"]
        assert (main["runs"], main["outcomes"]["completed"], main["outcomes"]["failed"]) == (2, 1, 1)
        assert main["success_rate"] == 0.5
        assert main["duration_ms"]["total"] == 1_800_000
        assert main["duration_ms"]["p50"] == 900_000.0  # halfway between 10 and 20 min
        assert main["total_tokens"] == 3300
        assert rows["feat"]["total_tokens"] == 330
        assert rows[None]["cost_usd"] == 0.5
        assert rows[None]["cost_source"] == "reported"
        # the branches add up to the summary's own totals
        assert sum(b["runs"] for b in data["branches"]) == data["runs"]
        assert sum(b["total_tokens"] for b in data["branches"]) == data["tokens"]["total_tokens"]
        assert sum(b["cost_usd"] for b in data["branches"]) == pytest.approx(data["cost"]["cost_usd"])

    def test_without_by_no_section(self, recorded: Store) -> None:
        assert "branches" not in invoke_json(recorded.root, "report", "summary")

    def test_text(self, recorded: Store) -> None:
        result = invoke(recorded.root, "report", "summary", "--by", "branch")
        assert result.exit_code == 0, result.output
        tail = result.output.splitlines()
        start = tail.index("By branch (3 branches)")
        assert [line.split()[0] for line in tail[start + 3 : start + 6]] == ["main", "feat", "(no"]
