"""The recorder SDK: runs and phases as context managers and decorators, sync and async,
across threads and tasks; exceptions as outcomes; the recorder's own failures as one
warning; point events; an injected clock; and ``laptime.testing.capture``."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

import laptime
from laptime import events as ev
from laptime import log as log_module
from laptime.clock import SimulatedClock
from laptime.recorder import Recorder, RecorderWarning, SpanScope
from laptime.store import find_store
from laptime.testing import CapturingRecorder, MemorySink, capture
from laptime.usage import Usage, estimate, from_anthropic

if TYPE_CHECKING:
    from laptime.store import Store


def starts(rec: CapturingRecorder) -> dict[str, ev.SpanStart]:
    """Span starts by name (names are unique in each test that uses this)."""
    out = {e.name: e for e in rec.events_of(ev.SpanStart)}
    assert len(out) == len(rec.events_of(ev.SpanStart)), "span names must be unique here"
    return out


def ends(rec: CapturingRecorder) -> dict[str, ev.SpanEnd]:
    return {e.span: e for e in rec.events_of(ev.SpanEnd)}


def read_log(store: Store) -> list[ev.Event]:
    return [ev.decode(line) for path in store.segments() for line in path.read_bytes().splitlines() if line.strip()]


def recorder_warnings(record: pytest.WarningsRecorder) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, RecorderWarning)]


# -- context managers -----------------------------------------------------------------------


def test_recorder_and_run_are_context_managers_and_leaving_them_flushes_the_log(store: Store) -> None:
    with Recorder(home=store.root) as rec:  # buffered: flush_interval=0.2
        with rec.run("fix-bug", runner="pipeline", ticket="T-1") as run:
            assert rec.current_run() is run
            with run.phase("plan"):
                pass
        assert rec.current_run() is None
    events = read_log(store)
    assert [type(e).__name__ for e in events] == ["SpanStart", "SpanStart", "SpanEnd", "SpanEnd"]
    run_start, plan_start, plan_end, run_end = events
    assert isinstance(run_start, ev.SpanStart)
    assert isinstance(plan_start, ev.SpanStart)
    assert (run_start.kind, run_start.name, run_start.parent) == ("run", "fix-bug", None)
    assert run_start.id == run_start.span == run_start.run == run.id
    assert run_start.attrs == {"runner": "pipeline", "ticket": "T-1"}
    assert (plan_start.kind, plan_start.parent, plan_start.run) == ("phase", run.id, run.id)
    assert isinstance(plan_end, ev.SpanEnd)
    assert isinstance(run_end, ev.SpanEnd)
    assert (plan_end.span, plan_end.outcome) == (plan_start.span, "completed")
    assert (run_end.span, run_end.outcome) == (run.id, "completed")


def test_module_level_run_and_phase_use_the_default_recorder_and_laptime_home() -> None:
    with laptime.run("task", run_id="r-1") as run:
        assert laptime.current_run() is run
        with laptime.phase("plan"):
            run.metric("files", 3)
    assert laptime.current_run() is None
    laptime.default_recorder().flush()
    store = find_store()  # $LAPTIME_HOME, set by the autouse fixture
    assert str(store.root).startswith(os.environ["HOME"])
    events = read_log(store)
    assert len(events) == 5
    assert {e.run for e in events} == {"r-1"}


def test_set_adds_attributes_to_the_start_before_opening_and_to_the_end_after() -> None:
    with capture() as rec, rec.run("r") as run:
        scope = run.phase("build", tool="make")
        scope.set(target="all")
        with scope as phase:
            phase.set(files=3)
            phase.set(warnings=1)
    start = starts(rec)["build"]
    assert start.attrs == {"tool": "make", "target": "all"}
    assert ends(rec)[start.span].attrs == {"files": 3, "warnings": 1}


def test_an_explicit_outcome_is_kept() -> None:
    with capture() as rec, rec.run("r") as run:
        with run.phase("wait") as phase:
            phase.outcome = "blocked"
        run.set_outcome("stopped")
    by_span = ends(rec)
    assert by_span[starts(rec)["wait"].span].outcome == "blocked"
    assert by_span[run.id].outcome == "stopped"


# -- nesting, decorators, async, threads ------------------------------------------------------


def assert_chain(rec: CapturingRecorder, run_id: str, names: list[str]) -> None:
    """Each named span is the child of the one before it; the first is the run's child."""
    by_name = starts(rec)
    parent = run_id
    for name in names:
        assert by_name[name].parent == parent, name
        assert by_name[name].run == run_id
        parent = by_name[name].span
    closed = ends(rec)
    assert all(closed[by_name[n].span].outcome == "completed" for n in names)


def test_phases_nest_ten_deep_as_context_managers() -> None:
    depth = 10
    with capture() as rec, rec.run("r") as run:

        def descend(level: int) -> None:
            if level < depth:
                with run.phase(f"level-{level}"):
                    descend(level + 1)

        descend(0)
    assert_chain(rec, run.id, [f"level-{i}" for i in range(depth)])
    # Ends come innermost first, each after its own start.
    span_ends = rec.events_of(ev.SpanEnd)
    assert [e.span for e in span_ends[:depth]] == [starts(rec)[f"level-{i}"].span for i in reversed(range(depth))]


def test_phase_as_a_decorator_nests_ten_deep_and_returns_the_result() -> None:
    seen: list[int] = []

    def make(level: int) -> Any:
        @laptime.phase(f"level-{level}", level=level)
        def step(x: int) -> int:
            seen.append(level)
            return x + 1 if level == 9 else steps[level + 1](x) + 1

        return step

    steps = [make(i) for i in range(10)]
    assert steps[3].__name__ == "step"  # functools.wraps
    with capture() as rec, laptime.run("r") as run:
        assert steps[0](0) == 10
        assert steps[0](0) == 10  # each call opens its own spans
    assert seen == list(range(10)) * 2
    assert len(rec.events_of(ev.SpanStart)) == 1 + 20
    first_call = rec.events_of(ev.SpanStart)[1:11]
    parent = run.id
    for level, start in enumerate(first_call):
        assert (start.name, start.parent, start.attrs) == (f"level-{level}", parent, {"level": level})
        parent = start.span


def test_mixed_nesting_of_run_spans_decorators_and_module_phase() -> None:
    with capture() as rec, laptime.run("r") as run:

        @run.phase("b")
        def b() -> None:
            with laptime.phase("c"), run.task("d"), run.tool("e"), run.git("f"), run.span("validation", "g"):
                run.checkpoint("abc")

        with rec.phase("a"):
            b()
    assert_chain(rec, run.id, ["a", "b", "c", "d", "e", "f", "g"])
    kinds = {name: s.kind for name, s in starts(rec).items()}
    assert kinds == {"r": "run", "a": "phase", "b": "phase", "c": "phase", "d": "task"} | {
        "e": "tool",
        "f": "git",
        "g": "validation",
    }
    (checkpoint,) = rec.events_of(ev.Checkpoint)
    assert checkpoint.parent == starts(rec)["g"].span


def test_async_phases_as_context_managers_and_decorators_nest() -> None:
    @laptime.phase("decorated")
    async def decorated(x: int) -> int:
        await asyncio.sleep(0)
        async with laptime.phase("inner"):
            await asyncio.sleep(0)
        return x * 2

    async def main() -> int:
        with laptime.run("r"):
            async with laptime.phase("outer"):
                return await decorated(21)

    with capture() as rec:
        assert asyncio.run(main()) == 42
    run_id = starts(rec)["r"].span
    assert_chain(rec, run_id, ["outer", "decorated", "inner"])


def test_gathered_tasks_each_get_their_own_parents() -> None:
    tasks = 8

    async def worker(run: laptime.Run, n: int) -> str:
        async with run.phase(f"task-{n}"):
            for step in range(3):
                await asyncio.sleep(0)  # let the other tasks interleave
                with run.phase(f"task-{n}-step-{step}"):
                    await asyncio.sleep(0)
                    run.metric(f"m-{n}-{step}", step)
        return f"done-{n}"

    async def main() -> list[str]:
        with laptime.run("r") as run, run.phase("fan-out"):
            return await asyncio.gather(*(worker(run, n) for n in range(tasks)))

    with capture() as rec:
        assert asyncio.run(main()) == [f"done-{n}" for n in range(tasks)]
    by_name = starts(rec)
    run_id = by_name["r"].span
    for n in range(tasks):
        assert by_name[f"task-{n}"].parent == by_name["fan-out"].span
        for step in range(3):
            assert by_name[f"task-{n}-step-{step}"].parent == by_name[f"task-{n}"].span
    metric_parents = {m.name: m.parent for m in rec.events_of(ev.Metric)}
    assert metric_parents == {f"m-{n}-{s}": by_name[f"task-{n}-step-{s}"].span for n in range(tasks) for s in range(3)}
    assert all(e.outcome == "completed" for e in rec.events_of(ev.SpanEnd))
    assert {e.run for e in rec.events} == {run_id}


def test_threads_started_inside_a_run_attach_to_it() -> None:
    # A capture that is NOT the default recorder: laptime.phase in a bare thread must
    # still find the one run in progress and write to that run's recorder.
    with capture(install=False) as rec, rec.run("r") as run, run.phase("fan-out"):

        def work(n: int) -> None:
            with laptime.phase(f"module-{n}"):
                run.metric(f"m-{n}", n)
            with rec.phase(f"recorder-{n}"), laptime.phase(f"nested-{n}"):
                pass

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    by_name = starts(rec)
    for n in range(4):
        # A plain thread does not inherit contextvars, so it attaches to the run itself.
        assert by_name[f"module-{n}"].parent == run.id
        assert by_name[f"recorder-{n}"].parent == run.id
        assert by_name[f"nested-{n}"].parent == by_name[f"recorder-{n}"].span
    assert {m.name: m.parent for m in rec.events_of(ev.Metric)} == {
        f"m-{n}": by_name[f"module-{n}"].span for n in range(4)
    }
    # Nothing went to the default recorder.
    assert not find_store().segments()


def test_to_thread_carries_the_context_into_the_thread() -> None:
    def blocking() -> None:
        with laptime.phase("in-thread"):
            pass

    async def main() -> None:
        with laptime.run("r"), laptime.phase("outer"):
            await asyncio.to_thread(blocking)

    with capture() as rec:
        asyncio.run(main())
    assert starts(rec)["in-thread"].parent == starts(rec)["outer"].span


def test_a_decorator_made_before_any_recorder_writes_to_the_recorder_of_the_run() -> None:
    @laptime.phase("import-time")
    def work() -> str:
        return "ok"

    clock = SimulatedClock()
    with capture(install=False, clock=clock) as rec, rec.run("r") as run:
        clock.advance(1.5)
        assert work() == "ok"
    start = starts(rec)["import-time"]
    assert (start.parent, start.ts) == (run.id, "2026-01-05T09:00:01.500000Z")
    assert not find_store().segments()


def test_a_phase_outside_any_run_warns_once_and_the_code_still_runs() -> None:
    def program() -> list[int]:
        @laptime.phase("orphan")
        def work(x: int) -> int:
            return x + 1

        with laptime.phase("orphan"):
            return [work(i) for i in range(5)]

    with capture() as rec:
        with pytest.warns(RecorderWarning, match="no run is active") as record:
            result = program()
        assert result == [1, 2, 3, 4, 5]
    assert len(recorder_warnings(record)) == 1
    assert rec.events == []


def test_two_runs_in_progress_leave_a_bare_thread_ambiguous() -> None:
    results: list[str] = []

    def in_a_thread() -> None:
        results.append(str(laptime.current_run()))
        with laptime.phase("x"):
            results.append("ran")

    def in_a_thread_and_back() -> None:
        thread = threading.Thread(target=in_a_thread)
        thread.start()
        thread.join()

    with capture() as rec, rec.run("a"), rec.run("b"), pytest.warns(RecorderWarning, match="no run is active"):
        in_a_thread_and_back()
    assert results == ["None", "ran"]
    assert "x" not in starts(rec)


# -- exceptions ---------------------------------------------------------------------------------


class BoomError(Exception):
    pass


def test_an_exception_is_recorded_as_the_outcome_and_reraised_unchanged() -> None:
    error = BoomError("disk on fire")
    with capture() as rec:
        with pytest.raises(BoomError) as caught, laptime.run("r"), laptime.phase("outer"), laptime.phase("inner"):
            raise error
        assert caught.value is error
        assert caught.value.__traceback__ is not None
    by_span = ends(rec)
    for name in ("r", "outer", "inner"):
        end = by_span[starts(rec)[name].span]
        assert (end.outcome, end.error) == ("failed", "BoomError: disk on fire")


def test_decorated_sync_and_async_functions_reraise_the_same_object() -> None:
    error = BoomError()

    @laptime.phase("sync")
    def sync() -> None:
        raise error

    @laptime.phase("async")
    async def async_() -> None:
        await asyncio.sleep(0)
        raise error

    with capture() as rec, laptime.run("r"):
        with pytest.raises(BoomError) as caught:
            sync()
        assert caught.value is error
        with pytest.raises(BoomError) as caught:
            asyncio.run(async_())
        assert caught.value is error
    by_span = ends(rec)
    for name in ("sync", "async"):
        assert (by_span[starts(rec)[name].span].outcome, by_span[starts(rec)[name].span].error) == (
            "failed",
            "BoomError",
        )


def test_keyboard_interrupt_and_cancellation_are_recorded_as_stopped() -> None:
    interrupt = KeyboardInterrupt()

    async def slow(run: laptime.Run, started: asyncio.Event) -> None:
        async with run.phase("cancelled"):
            started.set()
            await asyncio.sleep(3600)

    async def main(run: laptime.Run) -> None:
        started = asyncio.Event()
        task = asyncio.create_task(slow(run, started))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture() as rec, laptime.run("r") as run:
        with pytest.raises(KeyboardInterrupt) as caught, run.phase("interrupted"):
            raise interrupt
        assert caught.value is interrupt
        asyncio.run(main(run))
    by_span = ends(rec)
    assert by_span[starts(rec)["interrupted"].span].outcome == "stopped"
    assert by_span[starts(rec)["interrupted"].span].error == "KeyboardInterrupt"
    assert by_span[starts(rec)["cancelled"].span].outcome == "stopped"
    assert by_span[run.id].outcome == "completed"


# -- the injected clock -------------------------------------------------------------------------


def test_an_injected_clock_gives_exact_timestamps_and_latencies() -> None:
    clock = SimulatedClock(datetime(2026, 3, 1, 23, 59, 59, 250_000, tzinfo=UTC))
    with capture(clock=clock) as rec:
        with rec.run("r") as run:
            clock.advance(0.5)
            with run.phase("plan"):
                clock.advance(2.000001)
            with run.llm("claude-sonnet-4-5", provider="anthropic") as call:
                clock.advance(1.25)
                call.usage(Usage(input_tokens=10, output_tokens=5))
            run.milestone("m", "completed")
        assert rec.now() == (clock(), "2026-03-02T00:00:03.000001Z")
    stamps = [(type(e).__name__, getattr(e, "name", None), e.ts) for e in rec.events]
    assert stamps == [
        ("SpanStart", "r", "2026-03-01T23:59:59.250000Z"),
        ("SpanStart", "plan", "2026-03-01T23:59:59.750000Z"),
        ("SpanEnd", None, "2026-03-02T00:00:01.750001Z"),
        ("SpanStart", "claude-sonnet-4-5", "2026-03-02T00:00:01.750001Z"),
        ("LlmUsage", None, "2026-03-02T00:00:03.000001Z"),
        ("SpanEnd", None, "2026-03-02T00:00:03.000001Z"),
        ("Milestone", "m", "2026-03-02T00:00:03.000001Z"),
        ("SpanEnd", None, "2026-03-02T00:00:03.000001Z"),
    ]
    (usage,) = rec.events_of(ev.LlmUsage)
    assert usage.latency_ms == 1250.0
    # The day of each event picks its segment: the run crossed midnight.
    assert rec.sink.days == ["2026-03-01", "2026-03-01", *(["2026-03-02"] * 6)]


# -- llm calls and point events -----------------------------------------------------------------


def test_llm_scope_writes_the_usage_then_ends_the_span() -> None:
    response = {
        "model": "claude-opus-4-1",
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 4000},
    }
    with capture() as rec, rec.run("r", worker="w-1") as run, run.phase("implement"):
        with run.llm("claude", provider="anthropic", temperature=0) as call:
            call.usage(from_anthropic(response), cost_usd=0.012)
        with run.llm("gpt-4o", provider="openai"):
            pass  # no usage given: zero counts, still a timed call
    llm_start = next(s for s in rec.events_of(ev.SpanStart) if s.kind == "llm" and s.name == "claude")
    assert llm_start.parent == starts(rec)["implement"].span
    assert llm_start.attrs == {"temperature": 0}
    first, second = rec.events_of(ev.LlmUsage)
    assert (first.span, first.parent, first.model, first.provider) == (
        llm_start.span,
        llm_start.span,
        "claude-opus-4-1",
        "anthropic",
    )
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens) == (100, 20, 4000)
    assert (first.cost_usd, first.worker, first.input_includes_cache) == (0.012, "w-1", False)
    assert (second.model, second.provider, second.input_tokens) == ("gpt-4o", "openai", 0)


def test_llm_call_records_usage_from_counts_or_a_usage_object() -> None:
    with capture() as rec, rec.run("r") as run:
        with run.phase("plan"):
            run.llm_call("claude-haiku-4-5", provider="anthropic", input_tokens=1200, output_tokens=300, step=1)
        run.llm_call(usage=from_anthropic({"model": "claude-sonnet-4-5", "usage": {"input_tokens": 7}}))
        run.llm_call("local", usage=estimate("x" * 9, "y" * 4), latency_ms=12.5, worker="w-2")
        run.llm_call("gpt-4o", provider="openai", input_tokens=10, cache_read_tokens=8, input_includes_cache=True)
    a, b, c, d = rec.events_of(ev.LlmUsage)
    assert (a.model, a.provider, a.input_tokens, a.output_tokens, a.attrs) == (
        "claude-haiku-4-5",
        "anthropic",
        1200,
        300,
        {"step": 1},
    )
    assert a.parent == starts(rec)["plan"].span
    assert a.span is None
    assert (b.model, b.provider, b.input_tokens, b.parent) == ("claude-sonnet-4-5", "anthropic", 7, run.id)
    assert (c.model, c.input_tokens, c.output_tokens, c.estimated, c.latency_ms, c.worker) == (
        "local",
        3,
        1,
        True,
        12.5,
        "w-2",
    )
    assert (d.cache_read_tokens, d.input_includes_cache, d.estimated) == (8, True, False)


def test_llm_call_without_a_model_records_nothing_and_a_bad_count_is_recorded_as_zero() -> None:
    def program(run: laptime.Run) -> None:
        run.llm_call(input_tokens=5)
        run.llm_call("m", input_tokens=-5, output_tokens=7)

    with capture() as rec, rec.run("r") as run, pytest.warns(RecorderWarning) as record:
        program(run)
    messages = recorder_warnings(record)
    assert len(messages) == 2
    assert "needs a model name" in messages[0]
    assert "invalid input_tokens in llm_call" in messages[1]
    [call] = rec.events_of(ev.LlmUsage)
    assert (call.model, call.input_tokens, call.output_tokens) == ("m", 0, 7)
    assert call.attrs == {"invalid_input_tokens": -5}


def test_each_point_event_method_writes_its_event() -> None:
    with capture() as rec, rec.run("r") as run, run.phase("verify"):
        run.validation("pytest -q", passed=False, exit_code=1, duration_ms=830.5, tier="fast", suite="unit")
        run.file_change("src/app.py", "created", lines_added=40, lines_removed=2)
        run.queue(ready=3, active=2, waiting=1)
        run.milestone("login works", "completed", index=2)
        run.checkpoint("abc123", verified=True, branch="main")
        run.metric("coverage", 91.5, "%")
        run.scope_violation("/etc/passwd", reason="outside the repo")
        run.error("flaky network", error_type="TimeoutError")
    parent = starts(rec)["verify"].span
    points = [e for e in rec.events if not isinstance(e, ev.SpanStart | ev.SpanEnd)]
    assert all((e.run, e.parent, e.v) == (run.id, parent, 1) for e in points)
    assert len({e.id for e in rec.events}) == len(rec.events)
    fields = [
        {k: v for k, v in msgspec.structs.asdict(e).items() if k not in ("v", "id", "ts", "run", "parent")}
        for e in points
    ]
    assert [type(e) for e in points] == [
        ev.Validation,
        ev.FileChange,
        ev.QueueSample,
        ev.Milestone,
        ev.Checkpoint,
        ev.Metric,
        ev.ScopeViolation,
        ev.ErrorEvent,
    ]
    common = {"source": None}
    assert fields == [
        {"command": "pytest -q", "passed": False, "exit_code": 1, "duration_ms": 830.5, "tier": "fast"}
        | {"attrs": {"suite": "unit"}}
        | common,
        {"path": "src/app.py", "change": "created", "lines_added": 40, "lines_removed": 2, "attrs": {}} | common,
        {"ready": 3, "active": 2, "waiting": 1, "attrs": {}} | common,
        {"name": "login works", "status": "completed", "index": 2, "attrs": {}} | common,
        {"commit": "abc123", "verified": True, "attrs": {"branch": "main"}} | common,
        {"name": "coverage", "value": 91.5, "unit": "%", "attrs": {}} | common,
        {"path": "/etc/passwd", "reason": "outside the repo", "attrs": {}} | common,
        {"message": "flaky network", "error_type": "TimeoutError", "attrs": {}} | common,
    ]


def test_point_events_from_a_bare_thread_attach_to_the_run() -> None:
    with capture() as rec, rec.run("r") as run, run.phase("p"):
        thread = threading.Thread(target=lambda: run.checkpoint("c1"))
        thread.start()
        thread.join()
    (checkpoint,) = rec.events_of(ev.Checkpoint)
    assert checkpoint.parent == run.id


# -- the recorder's own failures ----------------------------------------------------------------


def user_program(rec: Recorder, events: int = 200) -> str:
    """A program that records many events and returns a result of its own."""
    with rec.run("r") as run:
        for i in range(events):
            with run.phase(f"p{i % 3}"):
                run.metric("i", i)
    return "user result"


def recorded_user_program(home: Path, events: int = 200, **recorder_kwargs: Any) -> str:
    """The user's program with its own recorder, which it closes (and so flushes) at the end."""
    with Recorder(home=home, **recorder_kwargs) as rec:
        result = user_program(rec, events)
        rec.flush()
    return result


def unwritable_home(tmp_path: Path, how: str) -> Path:
    if how == "under-a-file":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a regular file")
        return blocker / ".laptime"  # mkdir fails whoever we are, root included
    if os.geteuid() == 0:
        pytest.skip("root writes through chmod 0o500; the under-a-file case covers root")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / ".laptime"


@pytest.mark.parametrize("flush_interval", [0.2, 0])
@pytest.mark.parametrize("how", ["under-a-file", "chmod"])
def test_a_read_only_store_gives_one_warning_and_the_program_carries_on(
    tmp_path: Path, how: str, flush_interval: float
) -> None:
    home = unwritable_home(tmp_path, how)
    try:
        with pytest.warns(RecorderWarning) as record:
            result = recorded_user_program(home, flush_interval=flush_interval)
        assert result == "user result"
        messages = recorder_warnings(record)
        assert len(messages) == 1, messages
        assert "could not record events" in messages[0]
        assert "your program continues" in messages[0]
    finally:
        home.parent.chmod(0o700)


class FullDisk(types.SimpleNamespace):
    """``os`` as laptime.log sees it, with a disk that is full."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, _fd: int, _data: bytes) -> int:
        self.writes += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@pytest.mark.parametrize("flush_interval", [0.2, 0])
def test_a_full_disk_gives_one_warning_and_the_program_carries_on(
    store: Store, monkeypatch: pytest.MonkeyPatch, flush_interval: float
) -> None:
    full = FullDisk()
    monkeypatch.setattr(log_module, "os", full)
    with pytest.warns(RecorderWarning, match="No space left on device") as record:
        result = recorded_user_program(store.root, flush_interval=flush_interval)
    assert result == "user result"
    assert len(recorder_warnings(record)) == 1
    assert full.writes > 0  # the writes were attempted and refused


def dev_full_usable() -> bool:
    try:
        with Path("/dev/full").open("wb", buffering=0) as handle:
            handle.write(b"x")
    except OSError as exc:
        return exc.errno == errno.ENOSPC
    return False


@pytest.mark.skipif(not dev_full_usable(), reason="/dev/full is not available here")
@pytest.mark.parametrize("flush_interval", [0.2, 0])
def test_a_segment_on_dev_full_gives_one_warning(store: Store, flush_interval: float) -> None:
    clock = SimulatedClock()
    store.ensure()
    store.segment_path("2026-01-05").symlink_to("/dev/full")
    with pytest.warns(RecorderWarning, match="OSError") as record:
        result = recorded_user_program(store.root, clock=clock, flush_interval=flush_interval)
    assert result == "user result"
    assert len(recorder_warnings(record)) == 1


def test_a_store_path_that_is_a_file_gives_one_warning(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "store-file"
    not_a_folder.write_text("")
    with pytest.warns(RecorderWarning, match="is a file, not a folder") as record:
        result = recorded_user_program(not_a_folder, events=20)
    assert result == "user result"
    assert len(recorder_warnings(record)) == 1


def test_an_unencodable_attribute_is_dropped_and_its_event_kept() -> None:
    def program(run: laptime.Run) -> None:
        for _ in range(3):
            with run.phase("bad", handle=object(), kept=1):
                run.metric("still-recorded", 1)

    with capture() as rec, rec.run("r") as run, pytest.warns(RecorderWarning, match="cannot be encoded") as record:
        program(run)
    assert len(recorder_warnings(record)) == 1
    assert len(rec.events_of(ev.Metric)) == 3
    phases = [s for s in rec.events_of(ev.SpanStart) if s.name == "bad"]
    assert len(phases) == 3
    assert all(set(s.attrs) == {"kept", "invalid_attrs"} for s in phases)
    assert all(s.attrs["invalid_attrs"]["handle"].startswith("<object object") for s in phases)


def test_a_failing_sink_never_breaks_the_span_or_the_user_exception() -> None:
    class BrokenSink:
        def append(self, _line: bytes, _day: str) -> None:
            raise RuntimeError("sink exploded")

        def close(self) -> None:
            raise RuntimeError("close exploded too")

    error = BoomError("mine")
    rec = Recorder(sink=BrokenSink())

    def program() -> BaseException:
        with pytest.raises(BoomError) as caught, rec.run("r") as run, run.phase("p"):
            raise error
        rec.close()
        return caught.value

    with pytest.warns(RecorderWarning, match="sink exploded") as record:
        raised = program()
    assert raised is error
    assert len(recorder_warnings(record)) == 1  # RuntimeError is one kind of failure


# -- laptime.testing ----------------------------------------------------------------------------


def test_capture_stands_in_for_the_default_recorder_and_puts_it_back() -> None:
    before = laptime.default_recorder()
    with capture() as rec:
        assert laptime.default_recorder() is rec
        with laptime.run("captured"):
            pass
    assert laptime.default_recorder() is before
    assert isinstance(rec.sink, MemorySink)
    assert [ev.decode(line) for line in rec.lines] == rec.events
    assert [e.name for e in rec.events_of(ev.SpanStart)] == ["captured"]
    assert not find_store().segments()


def test_capture_without_install_leaves_the_default_alone() -> None:
    with capture(install=False) as rec:
        assert laptime.default_recorder() is not rec
        with rec.run("mine"):
            pass
    assert len(rec.events) == 2
    rec.sink.clear()
    assert (rec.events, rec.lines, rec.sink.days) == ([], [], [])


def test_memory_sink_validates_what_it_keeps() -> None:
    sink = MemorySink()
    with pytest.raises(ev.EventDecodeError, match=r"\$\.v"):
        sink.append(b'{"type":"metric","v":2,"id":"x","ts":"t","run":"r","name":"n","value":1}\n', "2026-01-01")
    assert sink.events == []
    assert isinstance(laptime.phase("x"), SpanScope)
