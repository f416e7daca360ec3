"""Shared builders for the index, KPI and report tests: hand-built runs on a simulated clock.

Every run here is recorded through the SDK (``Recorder`` + ``SimulatedClock``), with
fixed run ids, so timestamps, ids and KPIs are known in advance and computed by hand
in the tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from click.testing import CliRunner, Result

from laptime import SimulatedClock
from laptime.analysis.kpi import compute_kpi, resolve_run
from laptime.cli import cli
from laptime.index import Index
from laptime.recorder import Recorder

if TYPE_CHECKING:
    from laptime.store import Store

# Monday 2026-01-05 09:00:00 UTC: the start of every fixed run unless a test says otherwise.
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

FIXED_RUN_ID = "f1xed000000000000000000000000001"  # not hex on purpose: ids are opaque strings
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
GPT = "gpt-4o"


def make_recorder(store: Store, clock: SimulatedClock) -> Recorder:
    """A recorder that writes every event to the log at once (no buffering thread)."""
    return Recorder(home=store.root, clock=clock, flush_interval=0)


def record_fixed_run(store: Store, *, run_id: str = FIXED_RUN_ID, start: datetime = T0) -> None:
    """The run whose KPIs the tests know by heart (t in seconds from the run's start).

    t=0    run starts; milestones m1, m2, m3 planned
    0-60   plan: sonnet call by "director" (1000 in, 200 out, 5000 cache read, 100 cache write, 1.5 s)
    60-70  nothing: 10 s unattributed
    70-190 implement: sonnet by w1 (2000/500, 2.5 s), haiku by w2 (300/50, no latency);
           a.py modified +10 -2, b.py created +40
    190-220 verify: `pytest -q` fails (tier unit)
    220-250 implement again (retry_of=verify): haiku by w2 (100/20); a.py +3 -1
    250-270 verify: `pytest -q` passes (unit, a retry), `ruff check` passes (lint)
    270    checkpoint abc1234567890 (after a passing verification: TVc = 270 s)
           milestones m1 and m2 completed
    270-300 nothing: 30 s unattributed; run ends completed at t=300

    So: duration 300 s; plan 60 s (20%), implement 150 s (50%, 2 attempts), verify 50 s
    (17%, 2 attempts); unattributed 40 s; 4 llm calls, 3400 in, 770 out, cache 5000/100.
    """
    clock = SimulatedClock(start=start)
    with make_recorder(store, clock) as rec, rec.run("fix-login", run_id=run_id, runner="pipeline") as run:
        for name in ("m1", "m2", "m3"):
            run.milestone(name, "planned")
        with run.phase("plan", goal="login"):
            run.llm_call(
                SONNET,
                provider="anthropic",
                input_tokens=1000,
                output_tokens=200,
                cache_read_tokens=5000,
                cache_write_tokens=100,
                latency_ms=1500,
                worker="director",
            )
            clock.advance(60)
        clock.advance(10)
        with run.phase("implement"):
            run.llm_call(
                SONNET, provider="anthropic", input_tokens=2000, output_tokens=500, latency_ms=2500, worker="w1"
            )
            run.llm_call(HAIKU, provider="anthropic", input_tokens=300, output_tokens=50, worker="w2")
            run.file_change("a.py", "modified", lines_added=10, lines_removed=2)
            run.file_change("b.py", "created", lines_added=40)
            clock.advance(120)
        with run.phase("verify"):
            run.validation("pytest -q", passed=False, exit_code=1, duration_ms=30_000, tier="unit")
            clock.advance(30)
        with run.phase("implement", retry_of="verify"):
            run.llm_call(HAIKU, provider="anthropic", input_tokens=100, output_tokens=20, worker="w2")
            run.file_change("a.py", "modified", lines_added=3, lines_removed=1)
            clock.advance(30)
        with run.phase("verify"):
            run.validation("pytest -q", passed=True, exit_code=0, duration_ms=15_000, tier="unit")
            run.validation("ruff check", passed=True, exit_code=0, duration_ms=5_000, tier="lint")
            clock.advance(20)
        run.checkpoint("abc1234567890")
        run.milestone("m1", "completed")
        run.milestone("m2", "completed")
        clock.advance(30)


def record_simple_run(
    store: Store,
    run_id: str,
    *,
    start: datetime = T0,
    name: str = "simple",
    seconds: float = 60,
    calls: int = 1,
    outcome: str | None = None,
    runner: str | None = None,
) -> None:
    """A one-phase run of ``seconds`` with ``calls`` sonnet calls of 100 in / 10 out each."""
    clock = SimulatedClock(start=start)
    with make_recorder(store, clock) as rec, rec.run(name, run_id=run_id, runner=runner) as run:
        with run.phase("work"):
            for _ in range(calls):
                run.llm_call(SONNET, provider="anthropic", input_tokens=100, output_tokens=10)
            clock.advance(seconds)
        if outcome is not None:
            run.set_outcome(outcome)  # type: ignore[arg-type]


class MemorySink:
    """A recorder sink that keeps the encoded lines, to write a chosen part of them."""

    def __init__(self) -> None:
        self.lines: list[tuple[bytes, str]] = []

    def append(self, line: bytes, day: str) -> None:
        self.lines.append((line, day))

    def close(self) -> None:
        pass


def record_unfinished(store: Store, run_id: str, *, start: datetime, seconds: float = 120) -> None:
    """A run whose process died: its ``work`` phase and the run itself never end.

    t=0 run and phase ``work`` start, one sonnet call (50 in, 5 out); t=``seconds`` a
    metric, the last sign of life. Every span end is left out of the log.
    """
    clock = SimulatedClock(start=start)
    sink = MemorySink()
    with Recorder(clock=clock, sink=sink) as rec, rec.run("died", run_id=run_id) as run:
        with run.phase("work"):
            run.llm_call(SONNET, provider="anthropic", input_tokens=50, output_tokens=5)
            clock.advance(seconds)
            run.metric("heartbeat", 1.0)
            clock.advance(1)
        clock.advance(1)
    kept = [(line, day) for line, day in sink.lines if json.loads(line)["type"] != "span_end"]
    assert len(kept) == len(sink.lines) - 2
    write_lines(store, kept)


def write_lines(store: Store, lines: list[tuple[bytes, str]]) -> None:
    """Append raw lines to the segments of their days."""
    store.ensure()
    for line, day in lines:
        with store.segment_path(day).open("ab") as handle:
            handle.write(line)


def invoke(home: object, *args: str) -> Result:
    """``laptime --home HOME ARGS...`` in-process, exceptions caught as click does."""
    return CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="laptime")


def invoke_json(home: object, *args: str) -> Any:
    """Like ``invoke`` with ``--json``; asserts exit 0 and returns the parsed JSON."""
    result = invoke(home, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def kpi_of(
    store: Store, run_id: str | None = None, *, now_us: int | None = None, crashed_after_minutes: float = 30.0
) -> dict[str, Any]:
    """The library's KPIs of one run (the latest when ``run_id`` is None), index brought up to date.

    ``now_us`` defaults to the run's last event, so an unfinished run reads as running.
    """
    with Index(store) as index:
        index.update()
        row = resolve_run(index, run_id)
        kpi = compute_kpi(
            index,
            row,
            now_us=row.last_us if now_us is None else now_us,
            crashed_after_us=int(crashed_after_minutes * 60 * 1_000_000),
        )
        return msgspec.to_builtins(kpi)  # type: ignore[no-any-return]


def us(when: datetime) -> int:
    """Microseconds since the epoch."""
    return int(when.timestamp()) * 1_000_000 + when.microsecond
