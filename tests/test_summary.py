"""``report summary``: exact numbers on hand-built runs, filters, cost sources, the view."""

from __future__ import annotations

import bisect
import math
import random
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from helpers import (
    FIXED_RUN_ID,
    GPT,
    HAIKU,
    SONNET,
    T0,
    invoke,
    invoke_json,
    make_recorder,
    record_fixed_run,
    record_simple_run,
    record_unfinished,
    us,
    write_lines,
)
from laptime import SimulatedClock
from laptime.analysis.results import to_builtins
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
        "input_tokens": 3_700,
        "output_tokens": 800,
        "cache_read_tokens": 5_000,
        "cache_write_tokens": 100,
        "total_tokens": 9_600,
        "estimated_tokens": 0,
        "estimated_share": 0.0,
    }
    # sonnet at the config's $3/$15/$0.3/$3.75: fixed run 0.007875 + 0.0135, r2 0.0009, r3 0.00045;
    # haiku from genai-prices ($1/$5): 0.00055 + 0.0002.
    cost = s["cost"]
    assert cost["cost_usd"] == pytest.approx(0.023475)
    assert cost["cost_source"] == "priced"  # no call reported its cost
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
    assert (sonnet["calls"], sonnet["tokens"]["total_tokens"], sonnet["price_sources"]) == (5, 9_130, ["config:sonnet"])
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
    assert s["cost"]["cost_usd"] == pytest.approx(sum(expected[r] for r in runs))


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
    assert s["cost"]["cost_usd"] == 0.25  # the reported cost, not genai-prices' $3
    assert s["cost"]["reported_usd"] == 0.25
    assert s["cost"]["cost_source"] == "priced"  # one call reported, one unpriced: neither all of one
    assert (s["cost"]["unpriced_calls"], s["cost"]["unpriced_models"]) == (1, ["mystery-model-9"])
    models = {m["model"]: m for m in s["models"]}
    assert (models[SONNET]["cost_usd"], models[SONNET]["price_sources"]) == (0.25, ["reported"])
    assert (models["mystery-model-9"]["cost_usd"], models["mystery-model-9"]["price_sources"]) == (None, ["unpriced"])
    assert (models[SONNET]["cost_source"], models["mystery-model-9"]["cost_source"]) == ("reported", "unpriced")
    assert s["tokens"]["estimated_tokens"] == 505
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
        "plan          ███░░░░░░░░░░░░░░░░░░░░░  12%",
        "work          █████████░░░░░░░░░░░░░░░  38%",
        "implement     ███████▌░░░░░░░░░░░░░░░░  31%",
        "verify        ██▌░░░░░░░░░░░░░░░░░░░░░  10%",
        "unattributed  ██░░░░░░░░░░░░░░░░░░░░░░   8%",
    ]
    assert "Top 3 most expensive tasks" in lines
    assert "Top 2 most modified files" in lines


def test_no_runs_and_bad_config(store: Store) -> None:
    store.ensure()
    s = invoke_json(store.root, "report", "summary")
    assert (s["runs"], s["success_rate"], s["cost"]["cost_usd"], s["phases"], s["models"]) == (0, None, 0.0, [], [])
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
    # 4 calls: 1000 + 200 + 5000 + 100, 2000 + 500, 300 + 50, 100 + 20 tokens
    assert incremental["run_facts"][0] == (FIXED_RUN_ID, 270_000_000, 1, 0, 0, 4, 9270)


# -- the unfiltered summary: store-wide aggregates kept by the index -------------------------------
#
# Without filters, compute_summary reads the index's agg_* tables, rank_buckets and ordered
# indexes, and cached costs, instead of the per-run tables. These tests hold it to the per-run
# path (which a filter that selects every run takes), on data with every shape the SQL meets.

CRASHED_AFTER_US = 30 * 60 * 1_000_000
_MODELS = ((SONNET, "anthropic"), (HAIKU, "anthropic"), (GPT, "openai"), ("mystery-model-9", ""))


def record_random_runs(store: Store, *, seed: int, runs: int, start: Any = T0) -> None:
    """Runs of random shape: phases from under 1 ms to hours (so percentiles cross many
    rank buckets), calls to four models (one unpriced) with and without latency, reported
    costs, long inputs (other tier buckets), estimated counts, shared file paths, retries,
    checkpoints, changes requested, every outcome, names shared by several runs."""
    rng = random.Random(seed)
    for i in range(runs):
        clock = SimulatedClock(start=start + timedelta(hours=5 * i, seconds=rng.uniform(0, 3600)))
        name = rng.choice(["alpha", "beta", "gamma", "fix-[x]-thing", "ünïcode"])
        with (
            make_recorder(store, clock) as rec,
            rec.run(name, run_id=f"rand{seed}-{i:03d}", runner=rng.choice(["a", "b"])) as run,
        ):
            for phase in rng.sample(["plan", "implement", "verify", "review"], rng.randint(1, 4)):
                attrs = {"source_outcome": "changes_requested"} if rng.random() < 0.1 else {}
                for _attempt in range(rng.choice((1, 1, 2))):
                    with run.phase(phase, **attrs):
                        for _ in range(rng.randint(0, 3)):
                            model, provider = rng.choice(_MODELS)
                            run.llm_call(
                                model,
                                provider=provider,
                                input_tokens=rng.randint(0, 300_000 if rng.random() < 0.1 else 5_000),
                                output_tokens=rng.randint(0, 2_000),
                                cache_read_tokens=rng.choice((0, rng.randint(0, 40_000))),
                                cache_write_tokens=rng.choice((0, rng.randint(0, 3_000))),
                                input_includes_cache=provider == "openai",
                                estimated=rng.random() < 0.1,
                                latency_ms=rng.choice((None, round(rng.uniform(1, 60_000), 1), rng.randint(1, 900))),
                                cost_usd=round(rng.uniform(0, 0.5), 4) if rng.random() < 0.1 else None,
                            )
                        for _ in range(rng.randint(0, 2)):
                            run.file_change(
                                f"src/f{rng.randint(0, 6)}.py",
                                lines_added=rng.randint(0, 50),
                                lines_removed=rng.randint(0, 20),
                            )
                        if phase == "verify":
                            run.validation("pytest -q", passed=rng.random() < 0.6)
                        clock.advance(
                            rng.choice((0.0004, rng.uniform(0.001, 2), rng.uniform(1, 900), rng.uniform(900, 9e4)))
                        )
            if rng.random() < 0.6:
                run.checkpoint("c0ffee", verified=rng.random() < 0.3)
            clock.advance(rng.uniform(0, 100))
            if rng.random() < 0.3:
                run.set_outcome(rng.choice(["failed", "blocked", "stopped"]))


def record_odd_runs(store: Store) -> None:
    """Two unfinished runs (running or crashed, depending on now) and a run with no run
    span at all (no name, no start): one llm call and one file change of its own."""
    from laptime import events as ev

    record_unfinished(store, "dead-1", start=T0 + timedelta(days=3))
    record_unfinished(store, "dead-2", start=T0 + timedelta(days=3, hours=1), seconds=4000)
    ts = "2026-01-08T10:00:00.000000Z"
    write_lines(
        store,
        [
            (ev.encode(ev.LlmUsage(v=1, id="orphan-call", ts=ts, run="orphan", model=SONNET, provider="anthropic",
                                   input_tokens=70, output_tokens=7, latency_ms=12.5)), ts[:10]),
            (ev.encode(ev.FileChange(v=1, id="orphan-file", ts=ts, run="orphan", path="src/f1.py", lines_added=1)),
             ts[:10]),
        ],
    )  # fmt: skip


def _summaries(store: Store, now_us: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(store-wide, per-run) summaries of every run; the second through a filter that selects them all."""
    from laptime.analysis.summary import SummaryFilters, compute_summary
    from laptime.config import load_config
    from laptime.index import Index
    from laptime.pricing import PriceBook

    book = PriceBook.from_config(load_config(store))
    with Index(store) as index:
        index.update()
        fast = to_builtins(compute_summary(index, book, now_us=now_us, crashed_after_us=CRASHED_AFTER_US))
        every = SummaryFilters(since_us=0)
        slow = to_builtins(compute_summary(index, book, every, now_us=now_us, crashed_after_us=CRASHED_AFTER_US))
    assert fast.pop("filters") != slow.pop("filters")
    return fast, slow


def _assert_same(fast: Any, slow: Any, path: str = "") -> None:
    """Equal, except that a float sum may differ in its last bits: the store-wide path sums
    exact integers (microseconds), SQLite's TOTAL() adds rounded floats."""
    if isinstance(fast, dict):
        assert isinstance(slow, dict), path
        assert list(fast) == list(slow), path
        for key in fast:
            _assert_same(fast[key], slow[key], f"{path}.{key}")
    elif isinstance(fast, list):
        assert isinstance(slow, list), path
        assert len(fast) == len(slow), path
        for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(fast, float) and isinstance(slow, float):
        # outside_phases_share is 1 minus the shares: last bits of 1.0, not of the result
        scale = 1.0 if path == ".outside_phases_share" else max(abs(fast), abs(slow))
        assert abs(fast - slow) <= 4 * math.ulp(scale), (path, fast, slow)
    else:
        assert (type(fast), fast) == (type(slow), slow), path


def _assert_same_percentiles(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    """Percentiles, minima and maxima: the same doubles, bit for bit."""
    keys = ("n", "p50", "p90", "p95", "min", "max")
    assert [fast["duration_ms"][k] for k in keys] == [slow["duration_ms"][k] for k in keys]
    assert fast["tvc_ms"] == slow["tvc_ms"]
    assert [[p[k] for k in ("phase", "attempts", *keys)] for p in fast["phases"]] == [
        [p[k] for k in ("phase", "attempts", *keys)] for p in slow["phases"]
    ]
    assert [m["p95_latency_ms"] for m in fast["models"]] == [m["p95_latency_ms"] for m in slow["models"]]


def test_store_wide_summary_equals_the_per_run_path(store: Store) -> None:
    store.ensure()
    store.config_path.write_text(CONFIG)
    record_random_runs(store, seed=1, runs=25)
    last = us(T0 + timedelta(days=6))
    fast, slow = _summaries(store, last)  # first ingest
    _assert_same(fast, slow)
    _assert_same_percentiles(fast, slow)
    assert fast["runs"] == 25
    assert len(fast["phases"]) == 4
    assert {m["model"] for m in fast["models"]} == {SONNET, HAIKU, GPT, "mystery-model-9"}
    assert fast["cost"]["unpriced_models"] == ["mystery-model-9"]

    # More runs, later and interleaved with the first ones (the same days), odd ones,
    # ingested incrementally; then the same with `now` past the crash threshold.
    record_random_runs(store, seed=2, runs=20, start=T0 + timedelta(hours=2))
    record_odd_runs(store)
    open_runs = []
    for now in (us(T0 + timedelta(days=3, hours=1, seconds=100)), us(T0 + timedelta(days=30))):
        fast, slow = _summaries(store, now)
        _assert_same(fast, slow)
        _assert_same_percentiles(fast, slow)
        assert fast["runs"] == 48
        open_runs.append((fast["outcomes"]["running"], fast["outcomes"]["crashed"]))
    assert open_runs == [(2, 1), (0, 3)]  # at first only dead-1 is silent for over 30 min
    assert fast["top_files"][0]["runs"] > 1


def test_store_wide_summary_of_a_single_run_and_of_none(store: Store) -> None:
    store.ensure()
    fast, slow = _summaries(store, us(T0))
    assert fast == slow
    assert fast["runs"] == 0
    record_simple_run(store, "only", seconds=0.0005, calls=2)  # a duration in rank bucket 0
    fast, slow = _summaries(store, us(T0 + timedelta(days=1)))
    assert fast == slow
    # 500 µs shows as 1 ms (integer ms, half up), in the run's own KPIs and in the summary alike
    assert (fast["duration_ms"]["n"], fast["duration_ms"]["p95"], fast["phases"][0]["p50"]) == (1, 1.0, 1.0)


def test_percentiles_are_sqlites_to_the_bit() -> None:
    """sqlite_percentile reads two values and interpolates exactly as SQLite's percentile()."""
    import apsw

    from laptime.analysis.summary import sqlite_percentile

    db = apsw.Connection(":memory:")
    db.execute("CREATE TABLE t (x)")
    rng = random.Random(3)
    for n in (1, 2, 3, 7, 10, 100, 1_001, 25_000):
        values = sorted(
            rng.choice((rng.randint(-5, 10**12) / 1000.0, float(rng.randint(0, 4)), round(rng.uniform(0, 9e4), 1)))
            for _ in range(n)
        )
        db.execute("DELETE FROM t")
        db.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
        for q in (0, 1, 33.3, 50, 90, 95, 99, 99.9, 100):
            (expected,) = db.execute("SELECT percentile(x, ?) FROM t", (q,)).fetchone()  # type: ignore[misc]
            assert sqlite_percentile(n, q, values.__getitem__) == expected, (n, q)
    assert sqlite_percentile(0, 50, values.__getitem__) is None


def test_rank_buckets_are_bisect_right_of_the_edges() -> None:
    import apsw

    from laptime.derived import RANK_EDGES, rank_bucket_sql

    values = [-(10**13), -1, 0, 1, 999, 10**13, *(e + d for e in RANK_EDGES for d in (-1, 0, 1))]
    db = apsw.Connection(":memory:")
    rows = db.execute(
        f"WITH v(x) AS (VALUES {', '.join(f'({x})' for x in values)}) SELECT x, {rank_bucket_sql('x')} FROM v"
    ).fetchall()
    assert [(x, bisect.bisect_right(RANK_EDGES, x)) for x in values] == rows
    assert len(set(RANK_EDGES)) == len(RANK_EDGES) == 241
    assert list(RANK_EDGES) == sorted(RANK_EDGES)


def _cache_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    from laptime.index import Index

    with Index(store) as index:
        return {
            "tasks": index.query("SELECT task, fingerprint, runs, cost_usd FROM task_cost_cache ORDER BY task"),
            "models": index.query("SELECT model, fingerprint FROM model_cost_cache ORDER BY model"),
        }


def _fingerprint(store: Store) -> str:
    from laptime.analysis.cost import price_fingerprint
    from laptime.config import load_config
    from laptime.pricing import PriceBook

    return price_fingerprint(PriceBook.from_config(load_config(store)))


def test_cached_costs_are_keyed_by_the_prices_and_dropped_by_ingest(store: Store, monkeypatch: Any) -> None:
    build(store)
    assert _cache_rows(store) == {"tasks": [], "models": []}
    s = invoke_json(store.root, "report", "summary")
    assert s["cost"]["cost_usd"] == pytest.approx(0.023475)
    cached = _cache_rows(store)
    fingerprint = _fingerprint(store)
    assert [(t, f, n) for t, f, n, _ in cached["tasks"]] == [
        ("fix-login", fingerprint, 1),
        ("other-task", fingerprint, 1),
        ("simple", fingerprint, 1),
    ]
    assert cached["models"] == [(HAIKU, fingerprint), (SONNET, fingerprint)]
    assert invoke_json(store.root, "report", "summary") == s  # served from the caches

    # The caches are used: a tampered row shows (under the same prices) ...
    from laptime.index import Index

    with Index(store) as index, index.db:
        index.db.execute("UPDATE task_cost_cache SET cost_usd = 1000 WHERE task = 'simple'")
    assert invoke_json(store.root, "report", "summary")["top_tasks"][0] == {
        "task": "simple",
        "runs": 1,
        "cost_usd": 1000,
        "unpriced_calls": 0,
    }

    # ... and never once a price changes: another config rule ...
    store.config_path.write_text(CONFIG.replace("input_per_1m = 3.0", "input_per_1m = 6.0"))
    s = invoke_json(store.root, "report", "summary")
    # sonnet's 3,300 uncached input tokens now cost $6 instead of $3 per 1M: +0.0099
    assert s["cost"]["cost_usd"] == pytest.approx(0.023475 + 0.0099)
    assert [t["cost_usd"] for t in s["top_tasks"]] == pytest.approx(
        [0.022125 + 0.009, 0.0009 + 0.0006, 0.00045 + 0.0003]
    )
    assert {f for _, f, _, _ in _cache_rows(store)["tasks"]} == {_fingerprint(store)} != {fingerprint}
    fast, slow = _summaries(store, us(T0 + timedelta(days=2)))
    _assert_same(fast, slow)

    # ... or another genai-prices (haiku is priced by it).
    import laptime.analysis.cost

    before = _fingerprint(store)
    monkeypatch.setattr(laptime.analysis.cost, "_library_stamp", lambda: "genai-prices 99.0 (a test)")
    assert _fingerprint(store) != before
    with Index(store) as index, index.db:
        index.db.execute("UPDATE model_cost_cache SET payload = replace(payload, 'genai-prices', 'stale')")
    again = invoke_json(store.root, "report", "summary")
    assert again == s
    assert {f for _, f in _cache_rows(store)["models"]} == {_fingerprint(store)}

    # An ingest drops the rows of the tasks and models its runs touch: a new run of a task.
    record_simple_run(store, "r4", start=T0 + timedelta(days=2), calls=3, name="other-task")
    s = invoke_json(store.root, "report", "summary")
    tasks = {t["task"]: t for t in s["top_tasks"]}
    assert tasks["other-task"] == {
        "task": "other-task",
        "runs": 2,
        "cost_usd": pytest.approx(0.00075 * 4),
        "unpriced_calls": 0,
    }
    assert s["models"][0]["calls"] == 8
    fast, slow = _summaries(store, us(T0 + timedelta(days=3)))
    _assert_same(fast, slow)


def test_costs_priced_from_a_stale_snapshot_are_not_cached(store: Store, monkeypatch: Any) -> None:
    """An ingest that commits while the summary prices the tasks: the summary answers for
    the snapshot it read, and saves nothing from it (its write fails: the snapshot is stale)."""
    from laptime.analysis.cost import CostCalculator
    from laptime.analysis.summary import compute_summary
    from laptime.config import load_config
    from laptime.index import Index
    from laptime.pricing import PriceBook

    build(store)
    book = PriceBook.from_config(load_config(store))
    price_tasks = CostCalculator._tasks

    def racing(self: CostCalculator) -> Any:
        priced = price_tasks(self)
        record_simple_run(store, "late", start=T0 + timedelta(days=2), calls=3, name="fix-login")
        with Index(store) as other:
            assert other.update().events > 0
        return priced

    with Index(store) as index:
        index.update()
        monkeypatch.setattr(CostCalculator, "_tasks", racing)
        first = compute_summary(index, book, now_us=us(T0 + timedelta(days=3)), crashed_after_us=CRASHED_AFTER_US)
        monkeypatch.undo()
        assert to_builtins(first.top_tasks[0]) == {"task": "fix-login", "runs": 1,
                                                   "cost_usd": pytest.approx(0.022125),
                                                   "unpriced_calls": 0}  # fmt: skip
        assert index.query("SELECT COUNT(*) FROM task_cost_cache") == [(0,)]
        second = compute_summary(index, book, now_us=us(T0 + timedelta(days=3)), crashed_after_us=CRASHED_AFTER_US)
    assert to_builtins(second.top_tasks[0]) == {"task": "fix-login", "runs": 2,
                                                "cost_usd": pytest.approx(0.022125 + 0.00135),
                                                "unpriced_calls": 0}  # fmt: skip


# -- average iterations (issue 7, AIDF: "report summary shows average iterations") ---------------

AIDF = Path(__file__).parent / "fixtures" / "aidf"


def _import_aidf(store: Store) -> None:
    """The AIDF fixtures with an iteration count: the project folder's run (2 iterations)
    and the MetricsCollector case (3)."""
    for path in (AIDF, AIDF / "cases" / "run-5d6e7f80.json"):
        result = invoke(store.root, "import", "aidf", str(path))
        assert result.exit_code == 0, result.output


def test_summary_averages_the_iterations_of_the_runs_that_record_them(store: Store) -> None:
    _import_aidf(store)
    record_simple_run(store, "sdk", start=T0, calls=1)  # records no iterations: not counted
    with make_recorder(store, SimulatedClock(start=T0 + timedelta(days=1))) as rec, rec.run("bad", iterations="many"):
        pass  # not a number: not counted either
    s = invoke_json(store.root, "report", "summary")
    assert s["runs"] == 4
    assert s["iterations"] == {"n": 2, "avg": 2.5}
    # the filtered path (per-run tables) gives the same, and filters apply to it
    assert invoke_json(store.root, "report", "summary", "--since", "2000-01-01")["iterations"] == s["iterations"]
    assert invoke_json(store.root, "report", "summary", "--runner", "aidf")["iterations"] == {"n": 2, "avg": 2.5}
    one = invoke_json(store.root, "report", "summary", "--task", "Add a search box*")
    assert (one["runs"], one["iterations"]) == (1, {"n": 1, "avg": 2.0})
    text = invoke(store.root, "report", "summary").output.splitlines()
    assert "iterations    avg 2.50 over 2 runs that record them" in text
    assert "iterations    avg 2.00 over 1 run that records it" in (
        invoke(store.root, "report", "summary", "--task", "Add a search box*").output.splitlines()
    )


def test_no_run_records_iterations(store: Store) -> None:
    build(store)
    s = invoke_json(store.root, "report", "summary")
    assert s["iterations"] == {"n": 0, "avg": None}
    assert invoke_json(store.root, "report", "summary", "--status", "failed")["iterations"] == {"n": 0, "avg": None}
    lines = invoke(store.root, "report", "summary").output.splitlines()
    assert not any(line.startswith("iterations") for line in lines)  # no line for what no run records
