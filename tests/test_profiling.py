"""Profiling output: ``[profile] ...`` per iteration, and ``report show``'s phase bars.

Recorder(profile=True), or LAPTIME_PROFILE=1 in the environment, prints one line per
iteration of the run's top-level phases; an iteration ends when a phase name that was
already closed in it opens again, and at the end of the run. A time under 1 s gets two
decimals, others one. The clock is simulated, so the output is exact.

Run used below (t in seconds), AIDF's phases over two iterations::

    iteration 1: ai_execution 12.3, validation 1.2, scope_check 0.05, git 0.8   (14.35 s)
    iteration 2: ai_execution 8.0,  validation 1.0, scope_check 0.05, git 0.95  (10.0 s)

The run lasts 24.35 s: ai_execution 20.3 s (83%), validation 2.2 s (9%), scope_check
0.1 s (0%), git 1.75 s (7%), nothing unattributed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from helpers import MemorySink, invoke
from laptime import Recorder, SimulatedClock

if TYPE_CHECKING:
    from laptime.store import Store

RUN_ID = "pr0f1100000000000000000000000001"
ITERATIONS = [
    [("ai_execution", 12.3), ("validation", 1.2), ("scope_check", 0.05), ("git", 0.8)],
    [("ai_execution", 8.0), ("validation", 1.0), ("scope_check", 0.05), ("git", 0.95)],
]
EXPECTED = (
    "[profile] ai_execution 12.3s | validation 1.2s | scope_check 0.05s | git 0.80s\n"
    "[profile] ai_execution 8.0s | validation 1.0s | scope_check 0.05s | git 0.95s\n"
)


def play(rec: Recorder, clock: SimulatedClock) -> None:
    with rec.run("aidf-task", run_id=RUN_ID) as run:
        for iteration in ITERATIONS:
            for name, seconds in iteration:
                with run.phase(name):
                    clock.advance(seconds)


def test_recorder_option_prints_each_iteration() -> None:
    clock, out = SimulatedClock(), io.StringIO()
    with Recorder(clock=clock, sink=MemorySink(), profile=True, profile_stream=out) as rec:
        play(rec, clock)
    assert out.getvalue() == EXPECTED


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_environment_variable_turns_it_on(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAPTIME_PROFILE", value)
    clock = SimulatedClock()
    with Recorder(clock=clock, sink=MemorySink()) as rec:  # default stream: stderr
        play(rec, clock)
    captured = capsys.readouterr()
    assert captured.err == EXPECTED
    assert captured.out == ""


@pytest.mark.parametrize("value", ["", "0", "false", "no", "FALSE"])
def test_off_by_default_and_when_the_variable_says_no(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if value:
        monkeypatch.setenv("LAPTIME_PROFILE", value)
    clock = SimulatedClock()
    with Recorder(clock=clock, sink=MemorySink()) as rec:
        play(rec, clock)
    assert capsys.readouterr() == ("", "")


def test_the_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPTIME_PROFILE", "1")
    clock, out = SimulatedClock(), io.StringIO()
    with Recorder(clock=clock, sink=MemorySink(), profile=False, profile_stream=out) as rec:
        play(rec, clock)
    assert out.getvalue() == ""


def test_a_failing_phase_is_timed_and_its_error_passes_through() -> None:
    clock, out = SimulatedClock(), io.StringIO()

    def failing(rec: Recorder) -> None:
        with rec.run("r", run_id=RUN_ID) as run:
            with run.phase("ai_execution"):
                clock.advance(3)
            with run.phase("validation"):
                clock.advance(0.25)
                raise RuntimeError("tests failed")

    with (
        Recorder(clock=clock, sink=MemorySink(), profile=True, profile_stream=out) as rec,
        pytest.raises(RuntimeError, match="tests failed"),
    ):
        failing(rec)
    assert out.getvalue() == "[profile] ai_execution 3.0s | validation 0.25s\n"


def test_a_closed_stream_never_breaks_the_run() -> None:
    clock, out = SimulatedClock(), io.StringIO()
    out.close()
    with (
        Recorder(clock=clock, sink=MemorySink(), profile=True, profile_stream=out) as rec,
        pytest.warns(UserWarning, match="laptime could not record"),
    ):
        play(rec, clock)


PHASE_BREAKDOWN = """\
Phase breakdown
ai_execution  ████████████████████░░░░  83%  20.3s
validation    ██▏░░░░░░░░░░░░░░░░░░░░░   9%  2.2s
scope_check   ▏░░░░░░░░░░░░░░░░░░░░░░░   0%  100ms
git           █▊░░░░░░░░░░░░░░░░░░░░░░   7%  1.8s
unattributed  ░░░░░░░░░░░░░░░░░░░░░░░░   0%  0ms
"""


def test_report_show_draws_the_phase_breakdown(store: Store) -> None:
    clock, out = SimulatedClock(), io.StringIO()
    with Recorder(home=store.root, clock=clock, flush_interval=0, profile=True, profile_stream=out) as rec:
        play(rec, clock)
    assert out.getvalue() == EXPECTED
    result = invoke(store.root, "report", "show", RUN_ID[:6])
    assert result.exit_code == 0, result.output
    section = result.stdout.split("\n\n")[1] + "\n"
    assert section == PHASE_BREAKDOWN


def test_nested_phases_are_not_profiled_as_iterations() -> None:
    clock, out = SimulatedClock(), io.StringIO()
    with (
        Recorder(clock=clock, sink=MemorySink(), profile=True, profile_stream=out) as rec,
        rec.run("r", run_id=RUN_ID) as run,
    ):
        for _ in range(2):
            with run.phase("implement"):
                clock.advance(2)
                with run.phase("compile"):  # nested: part of implement's 3 s
                    clock.advance(1)
            with run.phase("compile"):
                clock.advance(0.5)
    assert out.getvalue() == "[profile] implement 3.0s | compile 0.50s\n" * 2
