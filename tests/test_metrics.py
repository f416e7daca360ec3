"""``laptime metrics``: the Prometheus text format, parsed with prometheus-client's own parser,
against ``report summary --json`` and ``report usage --by model --json`` on the same store."""

from __future__ import annotations

import builtins
import sys
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cross_view_stores import STORES
from helpers import invoke, invoke_json
from laptime.analysis.metrics import PHASE_BUCKETS_S, RUN_BUCKETS_S
from laptime.store import Store

if TYPE_CHECKING:
    from pathlib import Path

CASES = [
    "sdk-normal",
    "sdk-crashed",
    "sdk-cache-1h",
    "sdk-phase-shapes",
    "sdk-reported-cost",
    "sdk-unpriced",
    "runr",
    "claude-code",
]


def _families(home: Path, *args: str) -> dict[str, Any]:
    result = invoke(home, "metrics", *args)
    assert result.exit_code == 0, result.output
    return {f.name: f for f in text_string_to_metric_families(result.stdout)}


def _samples(family: Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == name}


def _built(tmp_path: Path, name: str) -> Store:
    store = Store(tmp_path / name / ".laptime")
    STORES[name](store, tmp_path / name / "scratch")
    return store


@pytest.mark.parametrize("name", CASES)
def test_metrics_equal_summary_and_usage(tmp_path: Path, name: str) -> None:
    store = _built(tmp_path, name)
    fam = _families(store.root)
    summary = invoke_json(store.root, "report", "summary")
    usage = invoke_json(store.root, "report", "usage", "--by", "model")

    runs = _samples(fam["laptime_runs"], "laptime_runs")
    assert {dict(k)["outcome"]: v for k, v in runs.items()} == summary["outcomes"]

    run = fam["laptime_run_duration_seconds"]
    assert fam["laptime_run_duration_seconds"].type == "histogram"
    assert _samples(run, "laptime_run_duration_seconds_count")[()] == summary["runs"]
    assert _samples(run, "laptime_run_duration_seconds_sum")[()] == pytest.approx(
        summary["duration_ms"]["total"] / 1000
    )
    buckets = _samples(run, "laptime_run_duration_seconds_bucket")
    assert [dict(k)["le"] for k in buckets] == [*(str(float(b)) for b in RUN_BUCKETS_S), "+Inf"]
    counts = list(buckets.values())
    assert counts == sorted(counts)  # cumulative
    assert counts[-1] == summary["runs"]

    phase = fam["laptime_phase_duration_seconds"]
    by_phase = {p["phase"]: p for p in summary["phases"]}
    sums = {dict(k)["phase"]: v for k, v in _samples(phase, "laptime_phase_duration_seconds_sum").items()}
    n = {dict(k)["phase"]: v for k, v in _samples(phase, "laptime_phase_duration_seconds_count").items()}
    assert set(sums) == set(by_phase)
    for p, entry in by_phase.items():
        assert sums[p] == pytest.approx(entry["total"] / 1000)
        assert n[p] == entry["n"]

    tokens = {
        (dict(k)["model"], dict(k)["type"]): v
        for k, v in _samples(fam["laptime_tokens"], "laptime_tokens_total").items()
    }
    cost = {dict(k)["model"]: v for k, v in _samples(fam["laptime_cost_usd"], "laptime_cost_usd_total").items()}
    calls = {dict(k)["model"]: v for k, v in _samples(fam["laptime_llm_calls"], "laptime_llm_calls_total").items()}
    for m in summary["models"]:
        t = m["tokens"]
        assert tokens[m["model"], "input"] == t["input_tokens"]
        assert tokens[m["model"], "output"] == t["output_tokens"]
        assert tokens[m["model"], "cache_read"] == t["cache_read_tokens"]
        assert tokens[m["model"], "cache_write"] == t["cache_write_tokens"]
        assert calls[m["model"]] == m["calls"]
        if m["cost_usd"] is None:
            assert m["model"] not in cost  # unpriced: no sample, never $0
        else:
            assert cost[m["model"]] == pytest.approx(m["cost_usd"], rel=1e-12)
    # report usage (by call time, every call) agrees where both see every call
    for row in usage["rows"]:
        model = row["model"]
        assert sum(v for (mm, _), v in tokens.items() if mm == model) == row["total_tokens"]
        if row["cost_usd"] is not None and row["unpriced_calls"] == 0:
            assert cost[model] == pytest.approx(row["cost_usd"], rel=1e-9)


def test_hand_built_histogram(tmp_path: Path) -> None:
    """Known durations land in known buckets (a run of exactly a bound is in it)."""
    from datetime import UTC, datetime

    from helpers import make_recorder
    from laptime import SimulatedClock

    store = Store(tmp_path / ".laptime")
    clock = SimulatedClock(start=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with make_recorder(store, clock) as rec:
        for i, seconds in enumerate((30, 60, 3000, 20000)):
            with rec.run(f"t{i}", run_id=f"r{i}", runner="x" if i < 3 else "y") as run, run.phase("build"):
                clock.advance(seconds)
            clock.advance(10)
    fam = _families(store.root)
    got = _samples(fam["laptime_run_duration_seconds"], "laptime_run_duration_seconds_bucket")
    by_le = {dict(k)["le"]: v for k, v in got.items()}
    assert by_le["60.0"] == 2
    assert by_le["300.0"] == 2
    assert by_le["3600.0"] == 3
    assert by_le["28800.0"] == 4
    assert by_le["+Inf"] == 4
    phase = _samples(fam["laptime_phase_duration_seconds"], "laptime_phase_duration_seconds_bucket")
    assert {dict(k)["le"] for k in phase} == {*(str(float(b)) for b in PHASE_BUCKETS_S), "+Inf"}
    # the summary's filters apply
    filtered = _families(store.root, "--runner", "y")
    assert _samples(filtered["laptime_run_duration_seconds"], "laptime_run_duration_seconds_count")[()] == 1
    assert _samples(filtered["laptime_run_duration_seconds"], "laptime_run_duration_seconds_sum")[()] == 20000


def test_missing_extra_one_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _built(tmp_path, "sdk-normal")
    real_import = builtins.__import__

    def no_prometheus(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "prometheus_client" or name.startswith("prometheus_client."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "prometheus_client" or m.startswith("prometheus_client.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    result = invoke(store.root, "metrics")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: laptime metrics needs the prometheus-client package, which is not installed; "
        "run: pip install 'laptime[prometheus]'\n"
    )
