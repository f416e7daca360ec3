"""``laptime report pipeline --chain/--since/--until`` (issue 7): the window is event time.

``tests/fixtures/choragen/window.jsonl`` is built so that the two possible meanings of
``--since 2025-12-08 --until 2025-12-08T05:30Z`` disagree:

- CHAIN-010-early starts the day before. Task 001-before lies wholly before the window,
  002-straddles starts before it and completes inside, 003-inside starts, is reworked and
  completes inside it.
- CHAIN-011-late starts inside the window. 001-quick is wholly inside, 002-overruns
  starts inside and completes after ``--until``. The chain completes inside.
- CHAIN-012-after lies wholly after the window; the request is created before and
  closed inside it.

By event time (Choragen's meaning) 4 tasks count, 3 complete (002-straddles with no
cycle time, since its start is outside), and both early and late chains count. By chain
start only CHAIN-011-late would count, with both its tasks completed. The oracle is
Choragen's own arithmetic (``test_pipeline_metrics.choragen_summary``) over the events
whose timestamp lies in the window, which is what Choragen's aggregator replays.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from importers import FIXTURES, run_cli
from test_pipeline_metrics import choragen_summary

if TYPE_CHECKING:
    from laptime.store import Store

WINDOW = FIXTURES / "choragen" / "window.jsonl"
SINCE, UNTIL = "2025-12-08", "2025-12-08T05:30:00Z"


def _filtered(tmp_path: Path, keep: Any) -> Path:
    """The fixture's lines for which ``keep(record)`` holds, as a file for the oracle."""
    lines = [line for line in WINDOW.read_text().splitlines() if line.strip() and keep(json.loads(line))]
    out = tmp_path / "filtered.jsonl"
    out.write_text("".join(line + "\n" for line in lines))
    return out


def _ts(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _in_window(record: dict[str, Any]) -> bool:
    return datetime(2025, 12, 8, tzinfo=UTC) <= _ts(record["timestamp"]) < datetime(2025, 12, 8, 5, 30, tzinfo=UTC)


def _pipeline(store: Store, *args: str) -> dict[str, Any]:
    result = run_cli(store, "report", "pipeline", *args, "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def imported(store: Store) -> Store:
    result = run_cli(store, "import", "choragen", str(WINDOW))
    assert result.exit_code == 0, result.output
    return store


def test_since_until_count_events_by_their_own_time_as_choragen_does(imported: Store, tmp_path: Path) -> None:
    ours = _pipeline(imported, "--since", SINCE, "--until", UNTIL)
    choragen = choragen_summary(_filtered(tmp_path, _in_window))
    cycle = ours["tasks"]["cycle_time_ms"]
    assert ours["filters"] == {
        "runner": None,
        "chain": None,
        "since": "2025-12-08T00:00:00.000000Z",
        "until": "2025-12-08T05:30:00.000000Z",
        "window": "event_time",
    }
    assert ours["tasks"]["total"] == choragen["total_tasks"] == 4
    assert ours["tasks"]["completed"] == choragen["completed_tasks"] == 3
    # 003-inside (30 min) and 001-quick (20 min): 002-straddles started before the window
    assert choragen["cycle_ms"] == [1_200_000, 1_800_000]
    assert cycle["n"] == 2
    assert cycle["avg"] == choragen["avg_ms"] == 1_500_000
    assert (cycle["nearest_rank_p50"], cycle["nearest_rank_p90"]) == (choragen["p50_ms"], choragen["p90_ms"])
    assert (cycle["p50"], cycle["p90"]) == (1_500_000, pytest.approx(1_740_000))
    assert ours["quality"]["total_reworks"] == choragen["total_reworks"] == 1
    assert ours["quality"]["rework_rate"] == pytest.approx(choragen["rework_rate"]) == pytest.approx(1 / 3)
    assert ours["chains"]["total"] == choragen["total_chains"] == 2
    assert ours["chains"]["completed"] == choragen["completed_chains"] == 1
    assert ours["chains"]["avg_task_starts_per_chain"] == choragen["avg_tasks_per_chain"] == 1.5
    assert ours["requests"] == {"total": 1, "closed": choragen["closed_requests"]} == {"total": 1, "closed": 1}
    by_model = {m["model"]: (m["input_tokens"], m["output_tokens"]) for m in ours["tokens"]["by_model"]}
    assert by_model == choragen["tokens_by_model"] == {"claude-sonnet-4-5": (1000, 200), "gpt-4o": (500, 100)}
    assert {m["model"]: m["tasks_completed"] for m in ours["models"]} == choragen["models"]


def test_the_fixture_tells_event_time_from_chain_start(imported: Store, tmp_path: Path) -> None:
    """Had the window selected chains by their start, the answer would differ: only
    CHAIN-011-late, with both of its tasks completed (one after --until)."""
    started = {
        e["entityId"]: _ts(e["timestamp"])
        for e in map(json.loads, WINDOW.read_text().splitlines())
        if e["eventType"] == "chain:created"
    }
    chains_in = {c for c, t in started.items() if _in_window({"timestamp": t.isoformat()})}
    assert chains_in == {"CHAIN-011-late"}
    by_start = choragen_summary(_filtered(tmp_path, lambda e: (e.get("chainId") or e["entityId"]) in chains_in))
    ours = _pipeline(imported, "--since", SINCE, "--until", UNTIL)
    assert (by_start["total_tasks"], by_start["completed_tasks"]) == (2, 2)
    assert (ours["tasks"]["total"], ours["tasks"]["completed"]) == (4, 3)  # event time: not (2, 2)
    # The same chain over all time: both tasks completed, as the chain-start reading says.
    whole = _pipeline(imported, "--chain", "CHAIN-011-late")
    assert (whole["tasks"]["total"], whole["tasks"]["completed"]) == (2, 2)


def test_text_output_with_a_window(imported: Store) -> None:
    result = run_cli(imported, "report", "pipeline", "--since", SINCE, "--until", UNTIL)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Selection: events from 2025-12-08T00:00:00.000000Z to 2025-12-08T05:30:00.000000Z (event time)",
        "Tasks",
        "  completed         3 of 4",
        "  cycle time        avg 25m 00s · p50 25m 00s · p90 29m 00s (n=2)",
        "Quality",
        "  rework rate       33% (1/3)",
        "  first-time-right  67%",
        "Chains",
        "  completed         1 of 2",
        "  tasks per chain   2.00",
        "Requests",
        "  closed            1 of 1",
        "Tokens by model",
        "  claude-sonnet-4-5  in 1.0k · out 200 · 1 call",
        "  gpt-4o             in 500 · out 100 · 1 call",
    ]


def test_chain_keeps_that_chains_tasks_and_its_request(imported: Store, tmp_path: Path) -> None:
    ours = _pipeline(imported, "--chain", "CHAIN-010-early")
    choragen = choragen_summary(
        _filtered(tmp_path, lambda e: e.get("chainId") == "CHAIN-010-early" or e["entityId"] == "CHAIN-010-early")
    )
    assert ours["filters"]["chain"] == "CHAIN-010-early"
    assert ours["tasks"]["total"] == choragen["total_tasks"] == 3
    assert ours["tasks"]["completed"] == choragen["completed_tasks"] == 3
    assert ours["tasks"]["cycle_time_ms"]["avg"] == choragen["avg_ms"] == (3_600_000 + 7_200_000 + 1_800_000) / 3
    assert ours["chains"] == {
        "total": 1,
        "completed": 0,
        "avg_tasks_per_chain": 3.0,
        "avg_task_starts_per_chain": 3.0,
    }
    assert ours["requests"] == {"total": 1, "closed": 1}  # CR-20251207-009, which the chain links to
    by_model = {m["model"]: (m["input_tokens"], m["output_tokens"]) for m in ours["tokens"]["by_model"]}
    assert by_model == choragen["tokens_by_model"] == {"claude-sonnet-4-5": (10_000, 1_100)}


def test_chain_and_window_combine(imported: Store) -> None:
    ours = _pipeline(imported, "--chain", "CHAIN-011-late", "--since", SINCE, "--until", UNTIL)
    assert (ours["tasks"]["total"], ours["tasks"]["completed"]) == (2, 1)  # 002-overruns completes after --until
    assert ours["tasks"]["cycle_time_ms"]["avg"] == 1_200_000
    assert ours["chains"]["total"] == ours["chains"]["completed"] == 1
    text = run_cli(imported, "report", "pipeline", "--chain", "CHAIN-011-late", "--since", SINCE, "--until", UNTIL)
    assert text.stdout.splitlines()[0] == (
        "Selection: chain CHAIN-011-late · events from 2025-12-08T00:00:00.000000Z"
        " to 2025-12-08T05:30:00.000000Z (event time)"
    )


def test_an_unknown_chain_is_a_usage_error_naming_it(imported: Store) -> None:
    result = run_cli(imported, "report", "pipeline", "--chain", "CHAIN-999-nope")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: --chain: no Choragen chain 'CHAIN-999-nope' in the store; "
        "import its events.jsonl first (laptime import choragen PATH)\n"
    )
    other_runner = run_cli(imported, "report", "pipeline", "--chain", "CHAIN-010-early", "--runner", "runr")
    assert other_runner.exit_code == 2
    assert "no Choragen chain 'CHAIN-010-early' of runner 'runr' in the store" in other_runner.stderr


def test_help_says_the_window_is_event_time(store: Store) -> None:
    result = run_cli(store, "report", "pipeline", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--chain ID Only tasks of this Choragen chain (its chainId)." in text
    assert "--since/--until select by event time, as Choragen does" in text
    # once in each option's help, beside its own bound
    assert text.count("Event time, as Choragen's metrics:summary counts, not chain start.") == 2
    assert "--since TEXT Count events whose own timestamp is at or after this:" in text
    assert "--until TEXT Count events whose own timestamp is before this:" in text
