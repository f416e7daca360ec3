"""A realistic multi-agent run, recorded through the SDK on a simulated clock.

A director plans, three workers implement in parallel (one of them a slow straggler
that holds up the batch: seed 002's "superstep blocking"), a strategist reviews, the
first verification fails and the second passes, and a verified checkpoint is made.
About 17 simulated minutes are recorded in well under a second of real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from laptime.clock import SimulatedClock
from laptime.recorder import Recorder, Run
from laptime.store import Store, StoreWriteError
from laptime.usage import Usage, from_anthropic, from_openai

SIMULATED_MINUTES = 17

_SONNET = "claude-sonnet-4-5"
_HAIKU = "claude-haiku-4-5"
_GPT = "gpt-4o"


async def _llm(run: Run, clock: SimulatedClock, model: str, seconds: float, usage: Usage, **attrs: object) -> None:
    with run.llm(model, provider=usage.provider, **attrs) as call:
        await clock.sleep(seconds)
        call.usage(usage)


def _anthropic(model: str, inp: int, out: int, cache_read: int = 0, cache_write: int = 0) -> Usage:
    return from_anthropic(
        {
            "model": model,
            "usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
            },
        }
    )


def _openai(model: str, prompt: int, completion: int, cached: int = 0) -> Usage:
    return from_openai(
        {
            "model": model,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }
    )


async def _worker(
    run: Run, clock: SimulatedClock, n: int, *, title: str, minutes: float, files: list[tuple[str, str, int, int]]
) -> None:
    with run.task(f"worker-{n}: {title}", worker=f"worker-{n}"):
        steps = max(2, round(minutes / 1.5))
        for step in range(steps):
            await _llm(run, clock, _SONNET, 20 + 7 * step, _anthropic(_SONNET, 2_400 + 300 * step, 900, 14_000, 1_200))
            with run.tool("edit_file", worker=f"worker-{n}"):
                await clock.sleep(minutes * 60 / steps - 20 - 7 * step)
        for path, change, added, removed in files:
            run.file_change(path, change, lines_added=added, lines_removed=removed)  # type: ignore[arg-type]


async def _pipeline(run: Run, clock: SimulatedClock) -> None:
    goals = ["login form rejects valid emails", "session refresh race", "regression tests for both"]
    for i, goal in enumerate(goals):
        run.milestone(goal, "planned", index=i)

    with run.phase("plan"):
        with run.task("director", worker="director"):
            await clock.sleep(8)
            await _llm(run, clock, _SONNET, 42, _anthropic(_SONNET, 6_200, 2_100, 0, 18_000))
        with run.task("strategist: risk check", worker="strategist"):
            await _llm(run, clock, _GPT, 18, _openai(_GPT, 9_000, 800, 4_096))
        run.queue(ready=3, active=0, waiting=1)

    with run.phase("implement"):
        run.queue(ready=0, active=3, waiting=1)
        await asyncio.gather(
            _worker(
                run,
                clock,
                1,
                title="email validator",
                minutes=2.5,
                files=[("src/auth/validate.py", "modified", 38, 12)],
            ),
            _worker(
                run,
                clock,
                2,
                title="session refresh lock",
                minutes=3.0,
                files=[("src/auth/session.py", "modified", 61, 20)],
            ),
            _worker(
                run,
                clock,
                3,
                title="regression tests",
                minutes=8.5,  # the straggler: the next batch waits on it
                files=[("tests/test_login.py", "created", 142, 0), ("tests/conftest.py", "modified", 9, 2)],
            ),
        )
        run.queue(ready=0, active=0, waiting=0)
        run.milestone(goals[0], "completed", index=0)
        run.milestone(goals[1], "completed", index=1)

    with run.phase("verify"):
        with run.span("validation", "pytest -q", tier="unit"):
            await clock.sleep(48)
        run.validation("pytest -q", passed=False, exit_code=1, duration_ms=48_000, tier="unit")
    with run.phase("implement", retry_of="verify"), run.task("worker-3: fix flaky fixture", worker="worker-3"):
        await _llm(run, clock, _HAIKU, 9, _anthropic(_HAIKU, 3_100, 600, 9_500, 0))
        await clock.sleep(25)
        run.file_change("tests/conftest.py", "modified", lines_added=4, lines_removed=3)
    with run.phase("verify"):
        with run.span("validation", "pytest -q", tier="unit"):
            await clock.sleep(51)
        run.validation("pytest -q", passed=True, exit_code=0, duration_ms=51_000, tier="unit")
        with run.span("validation", "ruff check", tier="lint"):
            await clock.sleep(3)
        run.validation("ruff check", passed=True, exit_code=0, duration_ms=3_000, tier="lint")
        run.milestone(goals[2], "completed", index=2)

    with run.phase("review"):
        with run.task("strategist: review diff", worker="strategist"):
            await _llm(run, clock, _GPT, 35, _openai(_GPT, 14_500, 1_300, 8_192))
        with run.task("director: accept", worker="director"):
            await _llm(run, clock, _HAIKU, 6, _anthropic(_HAIKU, 1_800, 250, 6_000, 0))

    with run.phase("checkpoint"):
        with run.git("commit"):
            await clock.sleep(4)
        run.checkpoint("9f3c2e1a7b", verified=True)


async def _main(run: Run, clock: SimulatedClock) -> None:
    driver = asyncio.ensure_future(_pipeline(run, clock))
    runner = asyncio.ensure_future(clock.run_until_idle())
    await driver
    await runner


def record_demo(store: Store, *, now: datetime | None = None) -> str:
    """Record one demo run into ``store`` and return its run id.

    The simulated run ends about now, so a second demo is a second, later run.

    Raises ``StoreReadOnlyError`` for a store that cannot be written, and
    ``StoreWriteError`` when the run did not reach the log whole: the recorder only
    warns on a write error (it must never break the program it records), so the demo
    checks the log itself before it claims anything.
    """
    store.check_writable("`laptime demo`")
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=SIMULATED_MINUTES)
    clock = SimulatedClock(start=start)
    with Recorder(home=store.root, clock=clock, flush_interval=0) as recorder:
        run = recorder.run("fix login: email validation and session refresh", runner="laptime-demo", repo="acme/web")
        with run:
            asyncio.run(_main(run, clock))
    days = {start.date().isoformat(), datetime.fromtimestamp(clock() / 1e9, UTC).date().isoformat()}
    if not _run_ended_in_log(store, run.id, days):
        msg = (
            f"the demo run {run.id} did not reach the log in {store.log_dir} whole (a write failed: "
            "see the warning above); nothing usable was recorded"
        )
        raise StoreWriteError(msg)
    return run.id


def _run_ended_in_log(store: Store, run_id: str, days: set[str]) -> bool:
    """Whether the run's end (the last event the recorder writes) is in the log."""
    end = b'"span":"' + run_id.encode() + b'"'
    for day in sorted(days):
        try:
            data = store.segment_path(day).read_bytes()
        except OSError:
            continue
        if any(b'"type":"span_end"' in line and end in line for line in data.splitlines()):
            return True
    return False
