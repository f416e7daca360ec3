"""DESIGN.md's definitions, tested once, on runs whose KPIs are computed here by hand.

Run duration, phase duration and attempts, unattributed time (with parallel phases),
TVc, tokens by model, worker and phase, verification retries, files and lines,
milestones, and the outcome vocabulary including running and crashed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import FIXED_RUN_ID, GPT, HAIKU, SONNET, T0, kpi_of, make_recorder, record_fixed_run, record_unfinished, us
from laptime import SimulatedClock, estimate, from_openai
from laptime.definitions import union_us
from laptime.report.terminal import scoreboard

if TYPE_CHECKING:
    from collections.abc import Sequence

    from laptime.recorder import Run, SpanScope
    from laptime.store import Store

MINUTE_US = 60 * 1_000_000


def _pick(actual: Any, expected: Any) -> Any:
    """The parts of ``actual`` that ``expected`` names, recursively (missing keys show as such)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: _pick(actual.get(key, "<missing>"), value) for key, value in expected.items()}
    return actual


def test_fixed_run_has_seed_000_kpi_fields_with_hand_computed_values(store: Store) -> None:
    record_fixed_run(store)
    kpi = kpi_of(store)
    seed_000: dict[str, Any] = {
        "run_id": FIXED_RUN_ID,
        "started_at": "2026-01-05T09:00:00.000000Z",
        "ended_at": "2026-01-05T09:05:00.000000Z",
        "total_duration_ms": 300_000.0,
        "outcome": "completed",
        "tvc_ms": 270_000.0,
        "unattributed_ms": 40_000.0,
        "phases": {
            "plan": {"duration_ms": 60_000.0, "attempts": 1},
            "implement": {"duration_ms": 150_000.0, "attempts": 2},
            "verify": {"duration_ms": 50_000.0, "attempts": 2},
        },
        "models": {
            SONNET: {
                "calls": 2,
                "input_tokens": 3000,
                "output_tokens": 700,
                "cache_read_tokens": 5000,
                "cache_write_tokens": 100,
                "avg_latency_ms": 2000.0,
                "by_phase": {
                    "plan": {"calls": 1, "input_tokens": 1000, "output_tokens": 200},
                    "implement": {"calls": 1, "input_tokens": 2000, "output_tokens": 500},
                },
            },
            HAIKU: {
                "calls": 2,
                "input_tokens": 400,
                "output_tokens": 70,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "avg_latency_ms": None,
                "by_phase": {"implement": {"calls": 2, "input_tokens": 400, "output_tokens": 70}},
            },
        },
        "verification": {"commands_run": 3, "retries": 1, "tiers_executed": ["unit", "lint"]},
        "changes": {"files_touched": 2, "lines_added": 53, "lines_removed": 3},
        "milestones": {"planned": 3, "completed": 2},
    }
    assert _pick(kpi, seed_000) == seed_000
    assert list(kpi["phases"]) == ["plan", "implement", "verify"]  # in order of first start
    assert set(kpi["models"]) == {SONNET, HAIKU}
    assert [kpi["phases"][p]["share"] for p in kpi["phases"]] == [0.2, 0.5, pytest.approx(50 / 300)]
    assert kpi["workers"] == {
        "director": {"calls": 1, "input_tokens": 1000, "output_tokens": 200, "models": {SONNET: 1}},
        "w1": {"calls": 1, "input_tokens": 2000, "output_tokens": 500, "models": {SONNET: 1}},
        "w2": {"calls": 2, "input_tokens": 400, "output_tokens": 70, "models": {HAIKU: 2}},
    }
    assert kpi["tokens"] == {
        "input_tokens": 3400,
        "output_tokens": 770,
        "cache_read_tokens": 5000,
        "cache_write_tokens": 100,
        "cache_write_1h_tokens": 0,
        "estimated_tokens": 0,
        "total_tokens": 9270,
    }
    assert kpi["llm_calls"] == 4
    assert kpi["verification"]["passed"] == 2
    assert kpi["verification"]["failed"] == 1
    assert kpi["changes"]["created"] == 1
    assert kpi["checkpoints"] == 1
    assert kpi["tvc_checkpoint"] == "abc1234567890"


def _raise_in(scope: SpanScope, clock: SimulatedClock, exc: BaseException) -> None:
    """Spend a second inside ``scope``, then raise ``exc`` out of it."""
    with scope:
        clock.advance(1)
        raise exc


# -- TVc -----------------------------------------------------------------------------------


def _tvc_run(store: Store, steps: Sequence[tuple[str, float]]) -> float | None:
    """Play ``steps`` (advance seconds / validation passed? / checkpoint verified?) in one run."""
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("tvc", run_id="tvc") as run:
        for step, arg in steps:
            if step == "advance":
                clock.advance(arg)
            elif step == "validation":
                run.validation("pytest", passed=bool(arg))
            else:
                run.checkpoint(f"c{clock()}", verified=bool(arg))
        clock.advance(5)
    tvc = kpi_of(store, "tvc")["tvc_ms"]
    assert tvc is None or isinstance(tvc, int)  # integer ms, like every *_ms figure
    return tvc


def test_tvc_is_null_not_zero_without_any_checkpoint(store: Store) -> None:
    assert _tvc_run(store, [("validation", True), ("advance", 10)]) is None


def test_tvc_is_null_when_checkpoints_only_follow_failing_verification(store: Store) -> None:
    steps: list[tuple[str, float]] = [
        ("advance", 10),
        ("checkpoint", False),
        ("validation", False),
        ("advance", 5),
        ("checkpoint", False),
    ]
    assert _tvc_run(store, steps) is None


def test_tvc_counts_the_first_checkpoint_after_a_passing_verification(store: Store) -> None:
    steps: list[tuple[str, float]] = [
        ("advance", 10),
        ("checkpoint", False),  # t=10: nothing has passed yet
        ("validation", False),
        ("advance", 10),
        ("validation", True),  # t=20
        ("advance", 10),
        ("checkpoint", False),  # t=30: the verified checkpoint
        ("advance", 10),
        ("checkpoint", False),  # t=40: later ones do not matter
    ]
    assert _tvc_run(store, steps) == 30_000.0


def test_tvc_trusts_a_checkpoint_the_source_marked_verified(store: Store) -> None:
    assert _tvc_run(store, [("advance", 12.5), ("checkpoint", True)]) == 12_500.0


# -- phases and unattributed time -----------------------------------------------------------


async def _parallel_phases(run: Run, clock: SimulatedClock) -> None:
    async def frontend() -> None:
        async with run.phase("frontend"):
            with run.phase("inner"):  # nested: not a top-level phase; its call counts for frontend
                run.llm_call(SONNET, input_tokens=10, output_tokens=1)
                await clock.sleep(10)
            await clock.sleep(90)

    async def backend() -> None:
        await clock.sleep(50)
        async with run.phase("backend"):
            await clock.sleep(100)

    await asyncio.gather(frontend(), backend())


async def _drive(run: Run, clock: SimulatedClock) -> None:
    driver = asyncio.ensure_future(_parallel_phases(run, clock))
    idle = asyncio.ensure_future(clock.run_until_idle())
    await driver
    await idle


def test_unattributed_is_duration_minus_the_union_of_overlapping_top_level_phases(store: Store) -> None:
    # frontend 0-100 s and backend 50-150 s run side by side; the run lasts 200 s.
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("parallel", run_id="par") as run:
        asyncio.run(_drive(run, clock))
        run.llm_call(GPT, input_tokens=1, output_tokens=1)  # directly in the run
        clock.advance(50)
    kpi = kpi_of(store, "par")
    assert kpi["total_duration_ms"] == 200_000.0
    assert kpi["phases"] == {
        "frontend": {"duration_ms": 100_000.0, "attempts": 1, "failed": 0, "share": 0.5},
        "backend": {"duration_ms": 100_000.0, "attempts": 1, "failed": 0, "share": 0.5},
    }
    assert kpi["unattributed_ms"] == 50_000.0  # 200 - |[0,100) + [50,150)| = 200 - 150 (the union)
    assert kpi["models"][SONNET]["by_phase"] == {"frontend": {"calls": 1, "input_tokens": 10, "output_tokens": 1}}
    assert kpi["models"][GPT]["by_phase"] == {"(no phase)": {"calls": 1, "input_tokens": 1, "output_tokens": 1}}


def test_unattributed_is_zero_when_phases_cover_the_run_and_never_negative(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("covered", run_id="cov") as run:
        with run.phase("one"):
            clock.advance(30)
        with run.phase("two"):
            clock.advance(30)
    kpi = kpi_of(store, "cov")
    assert kpi["unattributed_ms"] == 0.0
    assert sum(p["share"] for p in kpi["phases"].values()) == 1.0


def test_a_run_without_phases_is_all_unattributed(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("bare", run_id="bare"):
        clock.advance(42)
    kpi = kpi_of(store, "bare")
    assert kpi["phases"] == {}
    assert kpi["unattributed_ms"] == 42_000.0
    assert kpi["tvc_ms"] is None


def test_failed_phase_attempts_are_counted(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("retry", run_id="retry") as run:
        for _ in range(2):
            with pytest.raises(RuntimeError, match="red"):
                _raise_in(run.phase("verify"), clock, RuntimeError("red"))
        with run.phase("verify"):
            clock.advance(5)
    kpi = kpi_of(store, "retry")
    assert kpi["phases"]["verify"] == {"duration_ms": 7_000.0, "attempts": 3, "failed": 2, "share": 1.0}
    # No validation events: re-entering a verify phase is what counts as a retry.
    assert kpi["verification"]["retries"] == 2


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0.0),
        ([(0, 1000)], 1.0),
        ([(0, 1000), (500, 1500)], 1.5),
        ([(0, 1000), (1000, 2000)], 2.0),
        ([(0, 1000), (2000, 3000)], 2.0),
        ([(0, 10_000), (1000, 2000), (3000, 4000)], 10.0),
        ([(5000, 6000), (0, 1000)], 2.0),
    ],
)
def test_union_us(intervals: list[tuple[int, int]], expected: float) -> None:
    assert union_us(intervals) / 1000 == expected


# -- tokens -------------------------------------------------------------------------------


def test_tokens_by_model_worker_and_estimated_share(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    openai = from_openai(
        {
            "model": GPT,
            "usage": {
                "prompt_tokens": 9000,
                "completion_tokens": 800,
                "prompt_tokens_details": {"cached_tokens": 4096},
            },
        }
    )
    with make_recorder(store, clock) as rec, rec.run("tokens", run_id="tok") as run:
        with run.phase("plan"), run.task("strategist", worker="strategist"):
            with run.llm(GPT, provider="openai") as call:  # timed llm span: latency from the clock
                clock.advance(3)
                call.usage(openai)
            run.llm_call(usage=estimate("x" * 400, "y" * 40, model=HAIKU))  # 100 in, 10 out, estimated
        with run.phase("implement"):
            run.llm_call(SONNET, input_tokens=1000, output_tokens=100, cache_read_tokens=50, worker="w1")
    kpi = kpi_of(store, "tok")
    gpt = kpi["models"][GPT]
    # OpenAI's input counts its cache reads; tokens_in is the uncached part (Anthropic's meaning).
    assert (gpt["input_tokens"], gpt["output_tokens"], gpt["cache_read_tokens"]) == (4904, 800, 4096)
    assert gpt["avg_latency_ms"] == 3000.0
    assert gpt["provider"] == "openai"
    assert kpi["models"][HAIKU]["estimated_calls"] == 1
    assert kpi["workers"] == {
        "strategist": {"calls": 2, "input_tokens": 5004, "output_tokens": 810, "models": {GPT: 1, HAIKU: 1}},
        "w1": {"calls": 1, "input_tokens": 1000, "output_tokens": 100, "models": {SONNET: 1}},
    }
    assert kpi["tokens"] == {
        "input_tokens": 6004,
        "output_tokens": 910,
        "cache_read_tokens": 4146,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "estimated_tokens": 110,
        "total_tokens": 6004 + 910 + 4146,
    }
    lines = scoreboard(kpi)
    assert lines[4] == "llm           3 calls · 6.0k in · 910 out · cache 4.1k read / 0 write (1% estimated)"
    assert lines[6].startswith("cost          $")
    assert lines[6].endswith(" from estimated tokens)")  # the chars/4 call is part of the cost
    assert lines[7] == "by worker     strategist 2 · w1 1"


# -- verification, changes, milestones ------------------------------------------------------


def test_retries_count_reruns_of_a_command_that_failed(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("verify", run_id="ver") as run:
        run.validation("ruff check", passed=True, tier="lint")
        run.validation("pytest", passed=False, tier="unit")
        run.validation("pytest", passed=False, tier="unit")
        run.validation("mypy", passed=True, tier="types")
        run.validation("pytest", passed=True, tier="unit")
        run.validation("ruff check", passed=True, tier="lint")  # re-run of a command that never failed
    ver = kpi_of(store, "ver")["verification"]
    assert ver == {
        "commands_run": 6,
        "passed": 4,
        "failed": 2,
        "retries": 2,
        "tiers_executed": ["lint", "unit", "types"],
    }


def test_files_are_counted_once_and_lines_summed(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("files", run_id="files") as run:
        run.file_change("src/a.py", "modified", lines_added=1, lines_removed=1)
        run.file_change("src/a.py", "modified", lines_added=2)
        run.file_change("src/old.py", "deleted", lines_removed=30)
        run.file_change("src/new.py", "created", lines_added=7)
    ch = kpi_of(store, "files")["changes"]
    assert ch == {
        "files_touched": 3,
        "lines_added": 10,
        "lines_removed": 31,
        "created": 1,
        "modified": 1,
        "deleted": 1,
    }


def test_milestones_count_distinct_names(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("ms", run_id="ms") as run:
        run.milestone("m1", "planned", index=0)
        run.milestone("m2", "planned", index=1)
        run.milestone("m1", "planned", index=0)  # planned again: still one milestone
        run.milestone("m1", "completed")
        run.milestone("m3", "completed")  # completed without being planned: counts as both
    assert kpi_of(store, "ms")["milestones"] == {"planned": 3, "completed": 2}


# -- outcomes ---------------------------------------------------------------------------------


def test_outcomes_completed_failed_blocked_stopped(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec:
        with rec.run("ok", run_id="o-completed"):
            clock.advance(1)
        with pytest.raises(ValueError, match="boom"):
            _raise_in(rec.run("bad", run_id="o-failed"), clock, ValueError("boom"))
        with rec.run("waiting", run_id="o-blocked") as run:
            run.set_outcome("blocked")
        with pytest.raises(KeyboardInterrupt):
            _raise_in(rec.run("ctrl-c", run_id="o-stopped"), clock, KeyboardInterrupt())
    for outcome in ("completed", "failed", "blocked", "stopped"):
        assert kpi_of(store, f"o-{outcome}")["outcome"] == outcome
    failed = kpi_of(store, "o-failed")
    assert failed["error"] == "ValueError: boom"
    assert failed["total_duration_ms"] == 1000.0
    assert scoreboard(failed)[1] == "outcome       failed (ValueError: boom) in 1.0s"


def test_an_unfinished_run_is_running_then_crashed_after_the_threshold(store: Store) -> None:
    record_unfinished(store, "died", start=T0, seconds=120)
    last = us(T0) + 120 * 1_000_000
    running = kpi_of(store, "died", now_us=last + 29 * MINUTE_US)
    assert running["outcome"] == "running"
    assert running["ended_at"] is None
    assert running["total_duration_ms"] == 120_000.0  # to the last sign of life
    assert running["phases"]["work"]["duration_ms"] == 120_000.0  # the open phase runs to it too
    assert running["unattributed_ms"] == 0.0
    assert kpi_of(store, "died", now_us=last + 31 * MINUTE_US)["outcome"] == "crashed"
    # the threshold is a setting
    assert kpi_of(store, "died", now_us=last + 6 * MINUTE_US, crashed_after_minutes=5)["outcome"] == "crashed"
    assert kpi_of(store, "died", now_us=last + 4 * MINUTE_US, crashed_after_minutes=5)["outcome"] == "running"


def test_a_run_id_can_be_given_as_a_unique_prefix(store: Store) -> None:
    record_fixed_run(store)
    record_unfinished(store, "f2-other", start=T0 + timedelta(days=1))
    assert kpi_of(store, "f1x")["run_id"] == FIXED_RUN_ID
    assert kpi_of(store)["run_id"] == "f2-other"  # no id: the latest run
