"""Pipeline metrics (`laptime report pipeline`) against Choragen's own arithmetic.

The oracle below re-implements Choragen's ``MetricsCollector`` and ``metrics:summary``
(seed 004, ADR-009: ``getTaskMetrics``, ``getChainMetrics``, ``getReworkMetrics``,
tokens and models) straight from the JSONL, independently of laptime. laptime's numbers
come from the index after an import. They agree everywhere except where Choragen's
arithmetic is wrong, and there the difference is pinned here and explained in
docs/importers.md:

1. Choragen keys tasks by ``entityId`` alone, but task ids repeat across chains
   ("001-design-doc"), so unrelated tasks overwrite each other (one "cycle time" in the
   sample is negative: -6066 s). laptime keys a task by chain and task id.
2. Percentiles: Choragen takes the nearest rank, ``sorted[ceil(p/100*n) - 1]``;
   DESIGN.md says linear interpolation between closest ranks.
3. Tasks per chain: Choragen counts ``task:started`` records, so a restarted task
   counts twice; laptime counts tasks (and reports Choragen's figure beside it).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from laptime.analysis.pipeline import nearest_rank, pipeline_metrics
from laptime.analysis.results import to_builtins
from laptime.cli import cli
from laptime.index import Index
from laptime.store import Store

SAMPLE = Path(__file__).parent / "fixtures" / "choragen" / "events.jsonl"
SYNTHETIC = Path(__file__).parent / "fixtures" / "choragen" / "synthetic.jsonl"


# -- the oracle: Choragen's arithmetic, transcribed ------------------------------------------


def _ms(stamp: str) -> int:
    return round(datetime.fromisoformat(stamp).timestamp() * 1000)


def _choragen_percentile(sorted_values: list[int], p: int) -> int:
    if not sorted_values:
        return 0
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def choragen_summary(path: Path, task_key: Callable[[dict[str, Any]], Any] = lambda e: e["entityId"]) -> dict[str, Any]:
    """Choragen's metrics summary; ``task_key`` is ``entityId`` in Choragen itself."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tasks: dict[Any, dict[str, dict[str, Any]]] = {}
    for e in events:
        if e["entityType"] != "task":
            continue
        slot = tasks.setdefault(task_key(e), {})
        if e["eventType"] == "task:started":
            slot["started"] = e
        elif e["eventType"] == "task:completed":
            slot["completed"] = e
    cycle: list[int] = []
    completed = 0
    for slot in tasks.values():
        if "completed" in slot:
            completed += 1
            if "started" in slot:
                cycle.append(_ms(slot["completed"]["timestamp"]) - _ms(slot["started"]["timestamp"]))
    cycle.sort()

    chains: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["entityType"] == "chain":
            chain = chains.setdefault(e["entityId"], {"completed": False, "tasks": 0})
            if e["eventType"] == "chain:completed":
                chain["completed"] = True
        if e["entityType"] == "task" and e.get("chainId") and e["eventType"] == "task:started":
            chains.setdefault(e["chainId"], {"completed": False, "tasks": 0})["tasks"] += 1

    reworks: dict[Any, int] = {}
    completed_keys = set()
    for e in events:
        if e["entityType"] != "task":
            continue
        if e["eventType"] == "task:rework":
            reworks[task_key(e)] = reworks.get(task_key(e), 0) + 1
        elif e["eventType"] == "task:completed":
            completed_keys.add(task_key(e))
    n_done = len(completed_keys)

    tokens_by_model: dict[str, list[int]] = {}
    total_in = total_out = 0
    models: dict[str, int] = {}
    for e in events:
        agent = e.get("agent") or {}
        tokens = e.get("tokens") or agent.get("tokens")
        model = e.get("model") or agent.get("model")
        if tokens:
            total_in += tokens["input"]
            total_out += tokens["output"]
            pair = tokens_by_model.setdefault(model or "unknown", [0, 0])
            pair[0] += tokens["input"]
            pair[1] += tokens["output"]
        if model and e["eventType"] == "task:completed":
            models[model] = models.get(model, 0) + 1

    return {
        "total_tasks": len(tasks),
        "completed_tasks": completed,
        "cycle_ms": cycle,
        "avg_ms": sum(cycle) / len(cycle) if cycle else 0,
        "p50_ms": _choragen_percentile(cycle, 50),
        "p90_ms": _choragen_percentile(cycle, 90),
        "total_chains": len(chains),
        "completed_chains": sum(c["completed"] for c in chains.values()),
        "avg_tasks_per_chain": sum(c["tasks"] for c in chains.values()) / len(chains) if chains else 0,
        "rework_rate": len(reworks) / n_done if n_done else 0,
        "first_time_right_rate": (n_done - len(reworks)) / n_done if n_done else 0,
        "total_reworks": sum(reworks.values()),
        "closed_requests": sum(e["eventType"] == "request:closed" for e in events),
        "tokens_total": (total_in, total_out),
        "avg_tokens_per_task": round((total_in + total_out) / completed) if completed else 0,
        "tokens_by_model": {m: tuple(v) for m, v in tokens_by_model.items()},
        "models": models,
    }


def by_chain_and_task(e: dict[str, Any]) -> tuple[str | None, str]:
    return e.get("chainId"), e["entityId"]


# -- laptime's side ------------------------------------------------------------------------


def laptime_metrics(store: Store, path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--home", str(store.root), "import", "choragen", str(path)])
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(cli, ["--home", str(store.root), "report", "pipeline", "--json"])
    assert shown.exit_code == 0, shown.output
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def test_sample_matches_choragen_where_choragen_is_right(store: Store) -> None:
    ours = laptime_metrics(store, SAMPLE)
    choragen = choragen_summary(SAMPLE)
    fixed = choragen_summary(SAMPLE, by_chain_and_task)  # Choragen's arithmetic, tasks keyed per chain

    # What Choragen itself prints for the sample (its own arithmetic, verbatim).
    assert choragen["completed_tasks"] == 116
    assert choragen["avg_ms"] == pytest.approx(586_296.637931, abs=1e-3)
    assert (choragen["p50_ms"], choragen["p90_ms"]) == (193_265, 2_729_000)
    assert min(choragen["cycle_ms"]) == -6_066_000  # a negative cycle time: the entityId collision

    cycle = ours["tasks"]["cycle_time_ms"]
    # Same tasks, same completions, same cycle times as Choragen's method per chain.
    assert ours["tasks"]["total"] == fixed["total_tasks"] == 257
    assert ours["tasks"]["completed"] == fixed["completed_tasks"] == 122
    assert cycle["n"] == len(fixed["cycle_ms"]) == 122
    assert cycle["avg"] == pytest.approx(fixed["avg_ms"]) == 684_405.0
    # Choragen's nearest rank over our cycle times gives Choragen's numbers...
    assert (cycle["nearest_rank_p50"], cycle["nearest_rank_p90"]) == (fixed["p50_ms"], fixed["p90_ms"])
    assert (fixed["p50_ms"], fixed["p90_ms"]) == (217_565, 2_729_000)
    # ...and the reported p50/p90 follow DESIGN.md (numpy's default, statistics' inclusive).
    deciles = statistics.quantiles(fixed["cycle_ms"], n=10, method="inclusive")
    assert cycle["p50"] == pytest.approx(statistics.median(fixed["cycle_ms"])) == pytest.approx(220_453.5)
    assert cycle["p90"] == pytest.approx(deciles[8]) == pytest.approx(2_722_300.0)

    # Quality: no task:rework in the sample, so 0% rework and 100% first-time-right in both.
    assert ours["quality"]["rework_rate"] == choragen["rework_rate"] == 0
    assert ours["quality"]["first_time_right_rate"] == choragen["first_time_right_rate"] == 1
    # Chains and requests
    assert ours["chains"]["total"] == choragen["total_chains"] == 59
    assert ours["chains"]["completed"] == choragen["completed_chains"] == 0
    assert ours["chains"]["avg_task_starts_per_chain"] == pytest.approx(choragen["avg_tasks_per_chain"])
    assert choragen["avg_tasks_per_chain"] == pytest.approx(258 / 59)
    assert ours["chains"]["avg_tasks_per_chain"] == pytest.approx(257 / 59)  # the restarted task counts once
    assert ours["requests"]["closed"] == choragen["closed_requests"] == 23
    # Tokens: the sample tracks none.
    assert ours["tokens"]["by_model"] == [] == list(choragen["tokens_by_model"])
    assert (ours["tokens"]["input_tokens"], ours["tokens"]["output_tokens"]) == choragen["tokens_total"] == (0, 0)


def test_synthetic_log_matches_choragen_exactly(store: Store) -> None:
    """A log with unique task ids, rework, tokens in both forms and a completed chain:
    every figure equals Choragen's, and the percentiles differ only by definition."""
    ours = laptime_metrics(store, SYNTHETIC)
    choragen = choragen_summary(SYNTHETIC)
    cycle = ours["tasks"]["cycle_time_ms"]
    assert ours["tasks"]["total"] == choragen["total_tasks"] == 5
    assert ours["tasks"]["completed"] == choragen["completed_tasks"] == 4
    assert cycle["avg"] == pytest.approx(choragen["avg_ms"])
    assert (cycle["nearest_rank_p50"], cycle["nearest_rank_p90"]) == (choragen["p50_ms"], choragen["p90_ms"])
    # cycle times 10, 20, 30, 60 minutes
    assert choragen["cycle_ms"] == [600_000, 1_200_000, 1_800_000, 3_600_000]
    assert (choragen["p50_ms"], choragen["p90_ms"]) == (1_200_000, 3_600_000)
    assert (cycle["p50"], cycle["p90"]) == (pytest.approx(1_500_000), pytest.approx(3_060_000))

    assert ours["quality"]["total_reworks"] == choragen["total_reworks"] == 3
    assert ours["quality"]["rework_rate"] == pytest.approx(choragen["rework_rate"]) == 0.5
    assert ours["quality"]["first_time_right_rate"] == pytest.approx(choragen["first_time_right_rate"]) == 0.5
    assert ours["chains"]["total"] == choragen["total_chains"] == 2
    assert ours["chains"]["completed"] == choragen["completed_chains"] == 1
    assert ours["chains"]["avg_tasks_per_chain"] == pytest.approx(choragen["avg_tasks_per_chain"]) == 2.5
    assert ours["requests"]["closed"] == choragen["closed_requests"] == 1

    by_model = {m["model"]: (m["input_tokens"], m["output_tokens"]) for m in ours["tokens"]["by_model"]}
    assert by_model == choragen["tokens_by_model"] == {"claude-sonnet-4-5": (7000, 2500), "gpt-4o": (1000, 400)}
    assert (ours["tokens"]["input_tokens"], ours["tokens"]["output_tokens"]) == choragen["tokens_total"]
    assert round(ours["tokens"]["avg_per_completed_task"]) == choragen["avg_tokens_per_task"]
    assert {m["model"]: m["tasks_completed"] for m in ours["models"]} == choragen["models"]


def test_cli_text_output(store: Store) -> None:
    laptime_metrics(store, SYNTHETIC)
    result = CliRunner().invoke(cli, ["--home", str(store.root), "report", "pipeline", "--runner", "choragen"])
    assert result.exit_code == 0, result.output
    assert "completed         4 of 5" in result.stdout
    assert "rework rate       50%" in result.stdout
    assert "claude-sonnet-4-5" in result.stdout


def test_rework_on_a_task_that_never_completes_cannot_push_rates_past_one(store: Store, tmp_path: Path) -> None:
    """Choragen divides tasks-with-rework (completed or not) by completed tasks: 2 reworked
    open tasks and 1 clean completed one give a rework rate of 200% and first-time-right
    of -100%. laptime counts completed tasks only."""
    lines = [
        {
            "id": "1",
            "timestamp": "2025-01-01T00:00:00Z",
            "eventType": "task:started",
            "entityType": "task",
            "entityId": "a",
            "chainId": "C",
        },
        {
            "id": "2",
            "timestamp": "2025-01-01T00:01:00Z",
            "eventType": "task:completed",
            "entityType": "task",
            "entityId": "a",
            "chainId": "C",
        },
        {
            "id": "3",
            "timestamp": "2025-01-01T00:02:00Z",
            "eventType": "task:rework",
            "entityType": "task",
            "entityId": "b",
            "chainId": "C",
        },
        {
            "id": "4",
            "timestamp": "2025-01-01T00:03:00Z",
            "eventType": "task:rework",
            "entityType": "task",
            "entityId": "c",
            "chainId": "C",
        },
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    choragen = choragen_summary(path)
    assert (choragen["rework_rate"], choragen["first_time_right_rate"]) == (2.0, -1.0)
    ours = laptime_metrics(store, path)
    assert (ours["quality"]["rework_rate"], ours["quality"]["first_time_right_rate"]) == (0.0, 1.0)
    assert ours["quality"]["tasks_with_rework"] == 2


def test_nearest_rank_and_empty_index(store: Store) -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 90) == 4.0
    with Index(store) as index:
        data = to_builtins(pipeline_metrics(index))
    assert data["tasks"]["completed"] == 0
    assert data["tasks"]["cycle_time_ms"]["avg"] is None
    assert data["quality"]["rework_rate"] is None
