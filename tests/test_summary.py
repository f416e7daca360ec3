"""``report summary``: exact numbers on hand-built runs, filters, cost sources, the view."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import FIXED_RUN_ID, SONNET, T0, invoke, invoke_json, make_recorder, record_fixed_run, record_simple_run
from laptime import SimulatedClock
from laptime.analysis.stats import percentile

if TYPE_CHECKING:
    from laptime.store import Store

CONFIG = """
[[pricing.models]]
match = "sonnet"
input_per_1m = 3.0
output_per_1m = 15.0
cache_read_per_1m = 0.3
cache_write_per_1m = 3.75
"""


def build(store: Store) -> None:
    """The fixed run (300 s, completed, TVc 270 s, one retry) plus two simple runs:
    r2 at T0+1h, 60 s, failed, 2 sonnet calls (100 in / 10 out each), runner "other";
    r3 at T0+1d, 120 s, completed, 1 sonnet call, named "other-task"."""
    record_fixed_run(store)
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), seconds=60, calls=2, outcome="failed", runner="other")
    record_simple_run(store, "r3", start=T0 + timedelta(days=1), seconds=120, calls=1, name="other-task")
    store.config_path.write_text(CONFIG)


def test_summary_exact_numbers(store: Store) -> None:
    build(store)
    s = invoke_json(store.root, "report", "summary")
    assert s["runs"] == 3
    assert s["outcomes"] == {"completed": 2, "failed": 1, "blocked": 0, "stopped": 0, "running": 0, "crashed": 0}
    assert s["success_rate"] == pytest.approx(2 / 3)
    assert s["duration_ms"] == {
        "n": 3,
        "total": 480_000.0,
        "avg": 160_000.0,
        "p50": 120_000.0,
        "p90": pytest.approx(264_000.0),
        "p95": pytest.approx(282_000.0),
        "min": 60_000.0,
        "max": 300_000.0,
    }
    # SQLite's percentile() is the same definition as laptime.analysis.stats.
    assert s["duration_ms"]["p90"] == pytest.approx(percentile([60_000, 120_000, 300_000], 90))
    assert s["tvc_ms"] == {"n": 1, "p50": 270_000.0, "p90": 270_000.0}
    assert s["tokens"] == {
        "input": 3_700,
        "output": 800,
        "cache_read": 5_000,
        "cache_write": 100,
        "total": 9_600,
        "estimated": 0,
        "estimated_share": 0.0,
    }
    # sonnet at the config's $3/$15/$0.3/$3.75: fixed run 0.007875 + 0.0135, r2 0.0009, r3 0.00045;
    # haiku from genai-prices ($1/$5): 0.00055 + 0.0002.
    cost = s["cost"]
    assert cost["total_usd"] == pytest.approx(0.023475)
    assert cost["avg_per_run_usd"] == pytest.approx(0.023475 / 3)
    assert (cost["reported_usd"], cost["llm_calls"], cost["unpriced_calls"], cost["unpriced_models"]) == (0, 7, 0, [])

    phases = {p["phase"]: p for p in s["phases"]}
    assert [p["phase"] for p in s["phases"]] == ["plan", "work", "implement", "verify"]  # by average start
    assert phases["implement"] == {
        "phase": "implement",
        "attempts": 2,
        "n": 1,
        "total": 150_000.0,
        "avg": 150_000.0,
        "p50": 150_000.0,
        "p90": 150_000.0,
        "p95": 150_000.0,
        "min": 150_000.0,
        "max": 150_000.0,
        "share": pytest.approx(150 / 480),
    }
    work = phases["work"]
    assert (work["n"], work["total"], work["avg"], work["p50"]) == (2, 180_000.0, 90_000.0, 90_000.0)
    assert (work["p90"], work["p95"], work["min"], work["max"]) == (
        pytest.approx(114_000.0),
        pytest.approx(117_000.0),
        60_000.0,
        120_000.0,
    )
    assert phases["verify"]["share"] == pytest.approx(50 / 480)
    assert s["outside_phases_share"] == pytest.approx(40 / 480)  # the fixed run's 40 s unattributed

    models = {m["model"]: m for m in s["models"]}
    assert [m["model"] for m in s["models"]] == [SONNET, "claude-haiku-4-5"]  # costliest first
    sonnet = models[SONNET]
    assert (sonnet["calls"], sonnet["tokens"]["total"], sonnet["price_sources"]) == (5, 9_130, ["config:sonnet"])
    assert sonnet["cost_usd"] == pytest.approx(0.022725)
    assert (sonnet["avg_latency_ms"], sonnet["p95_latency_ms"], sonnet["latency_n"]) == (2000.0, 2450.0, 2)
    haiku = models["claude-haiku-4-5"]
    assert haiku["cost_usd"] == pytest.approx(0.00075)
    assert haiku["price_sources"] == ["genai-prices"]
    assert (haiku["avg_latency_ms"], haiku["p95_latency_ms"]) == (None, None)

    assert s["rework"] == {"runs_with_retries": 1, "runs_with_changes_requested": 0, "rework_runs": 1, "rate": 1 / 3}
    assert [(t["task"], t["runs"]) for t in s["top_tasks"]] == [("fix-login", 1), ("simple", 1), ("other-task", 1)]
    assert [t["cost_usd"] for t in s["top_tasks"]] == pytest.approx([0.022125, 0.0009, 0.00045])
    assert s["top_files"] == [
        {"path": "a.py", "runs": 1, "changes": 2, "lines_added": 13, "lines_removed": 3},
        {"path": "b.py", "runs": 1, "changes": 1, "lines_added": 40, "lines_removed": 0},
    ]


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        (["--status", "failed"], ["r2"]),
        (["--runner", "pipeline"], [FIXED_RUN_ID]),
        (["--task", "other"], ["r3"]),
        (["--task", "fix-*"], [FIXED_RUN_ID]),
        (["--model", "HAIKU"], [FIXED_RUN_ID]),
        (["--since", "2026-01-06"], ["r3"]),
        (["--until", "2026-01-05T10:00:00Z"], [FIXED_RUN_ID]),
        (["--since", "2026-01-05", "--until", "2026-01-06", "--status", "completed"], [FIXED_RUN_ID]),
    ],
)
def test_summary_filters(store: Store, args: list[str], runs: list[str]) -> None:
    build(store)
    s = invoke_json(store.root, "report", "summary", *args)
    assert s["runs"] == len(runs)
    expected = {FIXED_RUN_ID: 0.022125, "r2": 0.0009, "r3": 0.00045}
    assert s["cost"]["total_usd"] == pytest.approx(sum(expected[r] for r in runs))


def test_reported_cost_wins_unknown_model_is_unpriced_and_changes_requested(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with (
        make_recorder(store, clock) as rec,
        rec.run("mixed", run_id="m1") as run,
        run.phase("review", source_outcome="changes_requested"),
    ):
        run.llm_call(SONNET, provider="anthropic", input_tokens=1_000_000, cost_usd=0.25)
        run.llm_call("mystery-model-9", input_tokens=500, output_tokens=5, estimated=True)
        clock.advance(10)
    s = invoke_json(store.root, "report", "summary")
    assert s["cost"]["total_usd"] == 0.25  # the reported cost, not genai-prices' $3
    assert s["cost"]["reported_usd"] == 0.25
    assert (s["cost"]["unpriced_calls"], s["cost"]["unpriced_models"]) == (1, ["mystery-model-9"])
    models = {m["model"]: m for m in s["models"]}
    assert (models[SONNET]["cost_usd"], models[SONNET]["price_sources"]) == (0.25, ["reported"])
    assert (models["mystery-model-9"]["cost_usd"], models["mystery-model-9"]["price_sources"]) == (None, ["unpriced"])
    assert s["tokens"]["estimated"] == 505
    assert s["tokens"]["estimated_share"] == pytest.approx(505 / 1_000_505)
    assert s["rework"]["runs_with_changes_requested"] == 1
    text = invoke(store.root, "report", "summary")
    assert text.exit_code == 0, text.output
    assert "cost          $0.25 (+1 unpriced) · avg $0.25 per run · unpriced: mystery-model-9" in text.output
    assert "mystery-model-9    -              1     505  unpriced            -            -" in text.output


def test_summary_text_view(store: Store) -> None:
    build(store)
    result = invoke(store.root, "report", "summary")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:8] == [
        "Summary of 3 runs",
        "outcomes      completed 2 · failed 1 · success rate 67%",
        "duration      avg 2m 40s · p50 2m 00s · p90 4m 24s · p95 4m 42s (n=3)",
        "TVc           p50 4m 30s · p90 4m 30s (n=1)",
        "tokens        9.6k · 3.7k in · 800 out · cache 5.0k read / 100 write · 0% estimated",
        "cost          $0.02 · avg $0.0078 per run",
        "rework        33% of runs (1 with retries, 0 with changes requested)",
        "",
    ]
    start = lines.index("Average phase distribution")
    assert lines[start + 1 : start + 6] == [
        "plan              ███░░░░░░░░░░░░░░░░░░░░░  12%",
        "work              █████████░░░░░░░░░░░░░░░  38%",
        "implement         ███████▌░░░░░░░░░░░░░░░░  31%",
        "verify            ██▌░░░░░░░░░░░░░░░░░░░░░  10%",
        "(outside phases)  ██░░░░░░░░░░░░░░░░░░░░░░   8%",
    ]
    assert "Top 3 most expensive tasks" in lines
    assert "Top 2 most modified files" in lines


def test_no_runs_and_bad_config(store: Store) -> None:
    store.ensure()
    s = invoke_json(store.root, "report", "summary")
    assert (s["runs"], s["success_rate"], s["cost"]["total_usd"], s["phases"], s["models"]) == (0, None, 0.0, [], [])
    assert invoke(store.root, "report", "summary").output.splitlines() == ["Summary of 0 runs", "no runs match"]
    store.config_path.write_text('[[pricing.models]]\nmatch = "x"\ninput_per_1m = -1\noutput_per_1m = 1\n')
    result = invoke(store.root, "report", "summary")
    assert result.exit_code == 2
    assert "pricing.models[0].input_per_1m must be a non-negative number" in result.output


def test_derived_tables_rebuilt_equal_incremental(store: Store) -> None:
    """run_llm, run_phases and run_facts after ingests in several steps equal a rebuild."""
    from laptime.index import Index

    tables = ("runs", "run_llm", "run_phases", "run_facts")

    def dump(index: Index) -> dict[str, list[tuple[object, ...]]]:
        return {t: index.query(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4") for t in tables}

    record_fixed_run(store)
    with Index(store) as index:
        index.update()
        record_simple_run(store, "r2", start=T0 + timedelta(hours=1), calls=3, outcome="failed")
        index.update()
        record_simple_run(store, "r3", start=T0 + timedelta(days=1))
        index.update()
        incremental = dump(index)
        index.rebuild()
        assert dump(index) == incremental
    assert len(incremental["run_facts"]) == 3
    assert incremental["run_facts"][0] == (FIXED_RUN_ID, 270_000_000, 1, 0)
