"""The stores of the cross-view consistency test (``test_cross_view.py``).

Each builder fills one empty store with runs of one kind, so that a disagreement
between views shows up in the store that holds the run causing it, and store-wide
totals of the other stores stay clean. SDK runs are recorded on a simulated clock in
January 2026, long before any test runs, so a run without an end reads as crashed
(silent for longer than the default 30 minutes); the one run meant to read as running
is recorded minutes before the store is built.

The imported stores read the fixtures in ``tests/fixtures`` (runr, AIDF, Choragen,
Codex, OTLP, LangGraph), and for Claude Code a small generated tree
(``fixtures/claude-code/generate.py``) plus hand-written sessions with one-hour cache
writes, a reported cost (``costUSD``), a model no price table knows and a call on each
side of UTC midnight (``fixtures/cross-view/claude-code``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner

from helpers import (
    GPT,
    HAIKU,
    SONNET,
    T0,
    MemorySink,
    make_recorder,
    record_fixed_run,
    record_simple_run,
    record_unfinished,
    write_lines,
)
from laptime import SimulatedClock
from laptime.cli import cli
from laptime.demo import record_demo
from laptime.recorder import Recorder

if TYPE_CHECKING:
    from collections.abc import Callable

    from laptime.recorder import Run
    from laptime.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OPUS = "claude-opus-4-1"
UNPRICED_MODEL = "acme-coder-7b"  # no price table knows it: its cost must read as unknown, never $0

# run ids of the SDK stores: fixed, so that a failure message names a run one can find
NORMAL_RUN = "c0ffee00000000000000000000000001"
SIMPLE_RUN = "c0ffee00000000000000000000000002"
RETRY_RUN = "c0ffee00000000000000000000000003"
OVERLAP_RUN = "c0ffee00000000000000000000000004"
NO_START_RUN = "c0ffee00000000000000000000000005"
CRASHED_RUN = "c0ffee00000000000000000000000006"
CACHE_1H_RUN = "c0ffee00000000000000000000000007"
REPORTED_RUN = "c0ffee00000000000000000000000008"
MIXED_REPORTED_RUN = "c0ffee00000000000000000000000009"
UNPRICED_RUN = "c0ffee0000000000000000000000000a"
MIXED_UNPRICED_RUN = "c0ffee0000000000000000000000000b"
NO_CALLS_RUN = "c0ffee0000000000000000000000000c"
RUNNING_RUN = "c0ffee0000000000000000000000000d"
NESTED_RUN = "c0ffee0000000000000000000000000e"
UNENDED_PHASE_RUN = "c0ffee0000000000000000000000000f"
VERIFIED_FLAG_RUN = "c0ffee00000000000000000000000010"
LATE_VALIDATION_RUN = "c0ffee00000000000000000000000011"
PHASE_RETRY_RUN = "c0ffee00000000000000000000000012"
MIDNIGHT_RUN = "c0ffee00000000000000000000000013"
LONG_CONTEXT_RUN = "c0ffee00000000000000000000000014"


def _import(store: Store, fmt: str, *paths: Path) -> None:
    """``laptime import FMT PATHS``, which must succeed."""
    result = CliRunner().invoke(cli, ["--home", str(store.root), "import", fmt, *map(str, paths), "--json"])
    assert result.exit_code == 0, (fmt, result.output)


# -- SDK stores ------------------------------------------------------------------------------


def record_retry_run(store: Store) -> None:
    """Validation retries on two commands, and a verify phase entered three times.

    t=0-40 implement (sonnet 500/80); 40-70 verify: pytest fails, ruff fails;
    70-100 implement again; 100-130 verify: pytest fails again, ruff passes;
    130-150 implement; 150-180 verify: pytest passes; checkpoint at 185; end 190.
    pytest ran 3 times (2 retries), ruff twice (1 retry): 3 retries in all.
    """
    clock = SimulatedClock(start=T0 + timedelta(hours=2))
    with make_recorder(store, clock) as rec, rec.run("retry-loop", run_id=RETRY_RUN, runner="pipeline") as run:
        for attempt, (pytest_ok, ruff_ok) in enumerate(((False, False), (False, True), (True, None))):
            with run.phase("implement", attempt=attempt + 1):
                run.llm_call(SONNET, provider="anthropic", input_tokens=500, output_tokens=80, worker="w1")
                clock.advance(40 if attempt == 0 else 30 if attempt == 1 else 20)
            with run.phase("verify"):
                run.validation("pytest -q", passed=pytest_ok, exit_code=0 if pytest_ok else 1, tier="unit")
                if ruff_ok is not None:
                    run.validation("ruff check", passed=ruff_ok, exit_code=0 if ruff_ok else 1, tier="lint")
                clock.advance(30)
        clock.advance(5)
        run.checkpoint("feedc0de")
        clock.advance(5)


async def _overlapping(run: Run, clock: SimulatedClock) -> None:
    """Two top-level phases at once (a frontend and a backend worker), then a verify."""

    async def worker(name: str, seconds: float, model: str, tokens: int) -> None:
        with run.phase(name, worker=name):
            run.llm_call(model, provider="anthropic", input_tokens=tokens, output_tokens=tokens // 10, worker=name)
            await clock.sleep(seconds)

    await clock.sleep(5)  # 5 s before any phase: unattributed
    await asyncio.gather(worker("frontend", 90, SONNET, 1200), worker("backend", 150, HAIKU, 800))
    await clock.sleep(10)  # 10 s between the phases and verify: unattributed
    with run.phase("verify"):
        await clock.sleep(20)
        run.validation("pytest -q", passed=True, exit_code=0, duration_ms=20_000)
    run.checkpoint("0ve71a9")


def record_overlap_run(store: Store) -> None:
    """Overlapping top-level phases: frontend 5-95 s and backend 5-155 s at once; verify
    165-185 s. Phase time adds up to 260 s of a 185 s run; unattributed is 15 s."""
    clock = SimulatedClock(start=T0 + timedelta(hours=3))

    async def main(run: Run) -> None:
        driver = asyncio.ensure_future(_overlapping(run, clock))
        idle = asyncio.ensure_future(clock.run_until_idle())
        await driver
        await idle

    with make_recorder(store, clock) as rec, rec.run("parallel-phases", run_id=OVERLAP_RUN, runner="pipeline") as run:
        asyncio.run(main(run))


def build_sdk_normal(store: Store, _scratch: Path) -> None:
    """Finished SDK runs: the helpers' fixed run (phases, retries, a verified checkpoint),
    a one-phase run, a run with validation retries, a run with overlapping phases, the
    demo's multi-agent run (parallel worker tasks; OpenAI calls whose input includes
    the cache) and a run without any LLM call."""
    record_fixed_run(store, run_id=NORMAL_RUN, start=T0)
    record_simple_run(store, SIMPLE_RUN, start=T0 + timedelta(hours=1), name="one-phase", seconds=75, calls=3)
    record_retry_run(store)
    record_overlap_run(store)
    record_demo(store, now=T0 + timedelta(hours=5))
    record_simple_run(store, NO_CALLS_RUN, start=T0 + timedelta(hours=6), name="no-calls", seconds=12, calls=0)


def record_no_start_run(store: Store) -> None:
    """A run whose ``span_start`` never reached the log (its writer appended the run's
    end and its phases, but the first line was lost): it starts at 10:00:00, plan
    10:00:30-10:02:00, implement 10:02:00-10:04:30, run end at 10:05:30. Two opus calls
    (no other run of its store calls opus); a passing test and a checkpoint."""
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    sink = MemorySink()
    with Recorder(clock=clock, sink=sink) as rec, rec.run("lost-start", run_id=NO_START_RUN, runner="pipeline") as run:
        clock.advance(30)  # the run starts 30 s before its first phase
        with run.phase("plan"):
            run.llm_call(OPUS, provider="anthropic", input_tokens=700, output_tokens=90, cache_read_tokens=2000)
            clock.advance(90)
        with run.phase("implement"):
            run.llm_call(OPUS, provider="anthropic", input_tokens=1500, output_tokens=400)
            clock.advance(150)
            run.validation("pytest -q", passed=True, exit_code=0)
            run.checkpoint("5ta27105")
        clock.advance(60)
    kept = []
    for line, day in sink.lines:
        event = json.loads(line)
        if event["type"] == "span_start" and event.get("kind") == "run":
            continue
        kept.append((line, day))
    assert len(kept) == len(sink.lines) - 1
    write_lines(store, kept)


def build_sdk_no_start(store: Store, _scratch: Path) -> None:
    """A run whose start span is missing from the log, between two finished runs (so
    that it is one of the runs ``status --report`` sets the last one against)."""
    record_simple_run(store, SIMPLE_RUN, start=T0, name="one-phase", seconds=60, calls=2)
    record_no_start_run(store)
    record_simple_run(store, RETRY_RUN, start=T0 + timedelta(hours=2), name="after", seconds=90, calls=1)


def build_sdk_crashed(store: Store, _scratch: Path) -> None:
    """A run that died (no span ends; last event 121 s after its start, in January
    2026: silent far longer than 30 minutes, so crashed) between two finished runs, and
    a run still going: started 3 minutes before the store is built, its last event a
    minute later (the test reads it within seconds, long before it could be crashed)."""
    record_simple_run(store, SIMPLE_RUN, start=T0, name="one-phase", seconds=60, calls=1)
    record_unfinished(store, CRASHED_RUN, start=T0 + timedelta(hours=1), seconds=120)
    record_simple_run(store, RETRY_RUN, start=T0 + timedelta(hours=2), name="after", seconds=90, calls=1)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    record_unfinished(store, RUNNING_RUN, start=started, seconds=60)


def build_sdk_phase_shapes(store: Store, _scratch: Path) -> None:
    """Phases that are not plain top-level spans: a phase inside a phase, a phase inside
    a task, and a finished run whose phase never ended (its end line was lost)."""
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("nested", run_id=NESTED_RUN, runner="pipeline") as run:
        with run.phase("implement"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=900, output_tokens=120)
            clock.advance(20)
            with run.phase("lint"):  # a phase in a phase: part of implement's time
                run.llm_call(HAIKU, provider="anthropic", input_tokens=200, output_tokens=20)
                clock.advance(10)
            clock.advance(30)
        with run.task("reviewer", worker="reviewer"), run.phase("review"):  # a phase in a task
            run.llm_call(SONNET, provider="anthropic", input_tokens=400, output_tokens=60, worker="reviewer")
            clock.advance(25)
        clock.advance(5)
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    sink = MemorySink()
    with Recorder(clock=clock, sink=sink) as rec, rec.run("lost-phase-end", run_id=UNENDED_PHASE_RUN) as run:
        with run.phase("plan"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=300, output_tokens=40)
            clock.advance(40)
        with run.phase("implement"):  # its span_end is the lost line
            run.llm_call(SONNET, provider="anthropic", input_tokens=600, output_tokens=90)
            clock.advance(50)
        clock.advance(10)
    implement = next(
        json.loads(line)["span"]
        for line, _ in sink.lines
        if json.loads(line)["type"] == "span_start" and json.loads(line)["name"] == "implement"
    )
    kept = [
        (line, day)
        for line, day in sink.lines
        if not (json.loads(line)["type"] == "span_end" and json.loads(line)["span"] == implement)
    ]
    assert len(kept) == len(sink.lines) - 1
    write_lines(store, kept)


def build_sdk_verification(store: Store, _scratch: Path) -> None:
    """TVc and retries told in the other ways the spec allows: a checkpoint marked
    ``verified`` with no validation event; a checkpoint before the first passing
    validation (not verified) and one after it; and a verify phase entered three times
    with no validation events at all (retries counted from the phase)."""
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("flagged", run_id=VERIFIED_FLAG_RUN, runner="ci") as run:
        with run.phase("implement"):
            clock.advance(70)
        run.checkpoint("f1a99ed", verified=True)
        clock.advance(10)
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    with make_recorder(store, clock) as rec, rec.run("late-check", run_id=LATE_VALIDATION_RUN, runner="ci") as run:
        with run.phase("implement"):
            clock.advance(30)
        run.checkpoint("ea21e51")  # nothing has passed yet: not verified
        with run.phase("verify"):
            clock.advance(15)
            run.validation("pytest -q", passed=True, exit_code=0, duration_ms=15_000)
        clock.advance(5)
        run.checkpoint("1a7e0c2")  # after the passing run: TVc = 50 s
        clock.advance(5)
    clock = SimulatedClock(start=T0 + timedelta(hours=2))
    with make_recorder(store, clock) as rec, rec.run("phase-retries", run_id=PHASE_RETRY_RUN, runner="ci") as run:
        for seconds in (20, 15, 10):
            with run.phase("implement"):
                clock.advance(seconds)
            with run.phase("verify"):
                clock.advance(12)


def build_sdk_midnight(store: Store, _scratch: Path) -> None:
    """A run across UTC midnight (two log segments, two usage days), with a call of over
    200k input tokens (the long-context price tier) on each side of it."""
    clock = SimulatedClock(start=T0.replace(hour=23, minute=50))
    with make_recorder(store, clock) as rec, rec.run("overnight", run_id=MIDNIGHT_RUN, runner="pipeline") as run:
        with run.phase("implement"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=230_000, output_tokens=2_000,
                         cache_read_tokens=10_000)  # fmt: skip
            clock.advance(9 * 60)
            run.llm_call(SONNET, provider="anthropic", input_tokens=1_000, output_tokens=300)
            clock.advance(2 * 60)  # 00:01
            run.llm_call(SONNET, provider="anthropic", input_tokens=1_000, output_tokens=300)
            run.llm_call(SONNET, provider="anthropic", input_tokens=40_000, output_tokens=900,
                         cache_read_tokens=190_000, cache_write_tokens=5_000)  # fmt: skip
            clock.advance(60)
        with run.phase("verify"):
            run.validation("pytest -q", passed=True, exit_code=0)
            clock.advance(30)
        run.checkpoint("d1a6e00")
    clock = SimulatedClock(start=T0 + timedelta(days=1, hours=1))
    with make_recorder(store, clock) as rec, rec.run("long-context", run_id=LONG_CONTEXT_RUN) as run:
        run.llm_call(SONNET, provider="anthropic", input_tokens=150_000, output_tokens=1_000,
                     cache_read_tokens=60_000, cache_write_tokens=1_000, cache_write_1h_tokens=0)  # fmt: skip
        clock.advance(20)


def build_sdk_cache_1h(store: Store, _scratch: Path) -> None:
    """Anthropic calls with one-hour cache writes (``attrs.cache_write_1h_tokens``, as
    the Claude Code importer writes them), next to a call with 5-minute writes only."""
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("cache-1h", run_id=CACHE_1H_RUN, runner="pipeline") as run:
        with run.phase("plan"):
            run.llm_call(
                SONNET,
                provider="anthropic",
                input_tokens=40,
                output_tokens=900,
                cache_read_tokens=12_000,
                cache_write_tokens=50_000,
                cache_write_1h_tokens=50_000,  # every write of this call lives an hour
            )
            clock.advance(30)
        with run.phase("implement"):
            run.llm_call(
                SONNET,
                provider="anthropic",
                input_tokens=25,
                output_tokens=1_500,
                cache_read_tokens=62_000,
                cache_write_tokens=8_000,
                cache_write_1h_tokens=3_000,  # 3k of the 8k writes for an hour, 5k for 5 minutes
            )
            run.llm_call(HAIKU, provider="anthropic", input_tokens=300, output_tokens=60, cache_write_tokens=2_000)
            clock.advance(45)


def build_sdk_reported_cost(store: Store, _scratch: Path) -> None:
    """A run whose every call came with a cost from its source (a proxy's bill), and a
    run where one call has a reported cost and the other is priced from the table."""
    clock = SimulatedClock(start=T0)
    with (
        make_recorder(store, clock) as rec,
        rec.run("billed", run_id=REPORTED_RUN, runner="proxy") as run,
        run.phase("work"),
    ):
        run.llm_call(SONNET, provider="anthropic", input_tokens=1000, output_tokens=100, cost_usd=0.0123)
        run.llm_call(GPT, provider="openai", input_tokens=5000, output_tokens=300, input_includes_cache=True,
                     cache_read_tokens=1024, cost_usd=0.0045)  # fmt: skip
        clock.advance(40)
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    with (
        make_recorder(store, clock) as rec,
        rec.run("half-billed", run_id=MIXED_REPORTED_RUN, runner="proxy") as run,
        run.phase("work"),
    ):
        run.llm_call(SONNET, provider="anthropic", input_tokens=2000, output_tokens=250, cost_usd=0.5)
        run.llm_call(SONNET, provider="anthropic", input_tokens=2000, output_tokens=250)
        clock.advance(40)


def build_sdk_unpriced(store: Store, _scratch: Path) -> None:
    """A run that only called a model without a price, and one that called it and a
    priced model: the first costs null (unpriced), the second the priced part."""
    clock = SimulatedClock(start=T0)
    with (
        make_recorder(store, clock) as rec,
        rec.run("local-model", run_id=UNPRICED_RUN, runner="pipeline") as run,
        run.phase("work"),
    ):
        run.llm_call(UNPRICED_MODEL, provider="acme", input_tokens=4000, output_tokens=700, estimated=True)
        run.llm_call(UNPRICED_MODEL, provider="acme", input_tokens=3000, output_tokens=500)
        clock.advance(50)
    clock = SimulatedClock(start=T0 + timedelta(hours=1))
    with (
        make_recorder(store, clock) as rec,
        rec.run("mixed-models", run_id=MIXED_UNPRICED_RUN, runner="pipeline") as run,
    ):
        with run.phase("plan"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=1200, output_tokens=200)
            clock.advance(20)
        with run.phase("implement"):
            run.llm_call(UNPRICED_MODEL, provider="acme", input_tokens=2500, output_tokens=400)
            clock.advance(30)


# -- imported stores -------------------------------------------------------------------------


def build_runr(store: Store, _scratch: Path) -> None:
    _import(store, "runr", FIXTURES / "runr" / "runs")


def build_aidf(store: Store, _scratch: Path) -> None:
    _import(store, "aidf", FIXTURES / "aidf")
    _import(store, "aidf", FIXTURES / "aidf" / "extra" / "run-7c41d2e0.json")


def build_choragen(store: Store, _scratch: Path) -> None:
    _import(store, "choragen", FIXTURES / "choragen" / "events.jsonl")
    _import(store, "choragen", FIXTURES / "choragen" / "synthetic.jsonl")


def _claude_generator() -> Callable[..., dict[str, int]]:
    spec = importlib.util.spec_from_file_location("cc_generate", FIXTURES / "claude-code" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generate: Callable[..., dict[str, int]] = module.generate
    return generate


def build_codex(store: Store, _scratch: Path) -> None:
    _import(store, "codex", FIXTURES / "codex")


def build_otlp(store: Store, _scratch: Path) -> None:
    _import(store, "otlp", FIXTURES / "otlp" / "trace.json", FIXTURES / "otlp" / "batches.jsonl")


def build_langgraph(store: Store, _scratch: Path) -> None:
    _import(store, "langgraph-logs", FIXTURES / "langgraph-logs" / "llm_logs")


def build_claude_code(store: Store, scratch: Path) -> None:
    """A small generated tree (sessions, subagents, a resumed session, three models,
    5m and 1h cache writes), plus the hand-written sessions of ``fixtures/cross-view``."""
    config = scratch / "claude"
    counts = _claude_generator()(config, target_bytes=60_000, seed=7, filler_scale=0.05, turns=(2, 4), gap_hours=(2, 9))
    assert counts["sessions"] >= 2
    shutil.copytree(FIXTURES / "cross-view" / "claude-code" / "projects", config / "projects", dirs_exist_ok=True)
    _import(store, "claude-code", config)


STORES: dict[str, Callable[[Store, Path], None]] = {
    "sdk-normal": build_sdk_normal,
    "sdk-no-start": build_sdk_no_start,
    "sdk-crashed": build_sdk_crashed,
    "sdk-cache-1h": build_sdk_cache_1h,
    "sdk-reported-cost": build_sdk_reported_cost,
    "sdk-unpriced": build_sdk_unpriced,
    "sdk-phase-shapes": build_sdk_phase_shapes,
    "sdk-verification": build_sdk_verification,
    "sdk-midnight": build_sdk_midnight,
    "runr": build_runr,
    "aidf": build_aidf,
    "choragen": build_choragen,
    "claude-code": build_claude_code,
    "codex": build_codex,
    "otlp": build_otlp,
    "langgraph": build_langgraph,
}
