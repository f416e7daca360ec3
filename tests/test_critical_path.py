"""Critical path, stragglers, utilisation and the continuous-dispatch what-if, on hand-built
runs whose answers are worked out in each test's docstring; and the section in ``report show``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0, invoke, invoke_json, us, write_lines
from laptime import events as ev
from laptime.analysis.critical_path import critical_path
from laptime.analysis.kpi import SpanRow
from laptime.analysis.results import CriticalPath, TimeSplit
from laptime.analysis.time_split import time_split_result
from laptime.report.critical_path_view import critical_path_lines, dispatch_line

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "cp-run"
S = 1_000_000  # µs per second
ORIGIN = us(T0)
NO_SPLIT = time_split_result(
    0, dict.fromkeys(("llm", "tool", "git", "validation", "sync_wait", "human_wait", "other"), 0), runs=1
)


def span(span_id: str, kind: str, start: float, end: float | None, parent: str | None = RUN, **attrs: Any) -> SpanRow:
    return SpanRow(
        span_id,
        parent,
        kind,
        span_id,
        ORIGIN + int(start * S),
        None if end is None else ORIGIN + int(end * S),
        "completed" if end is not None else "running",
        None,
        attrs,
    )


def analyse(spans: list[SpanRow], end: float, split: TimeSplit = NO_SPLIT) -> CriticalPath:
    return critical_path(spans, RUN, ORIGIN, ORIGIN + int(end * S), split)


def path_of(cp: CriticalPath) -> list[tuple[str, int]]:
    return [(s.name or "(idle)", s.duration_ms) for s in cp.segments]


def straggler_batch(*, workers: bool) -> list[SpanRow]:
    """Batch 1: A and B 0-60 s, C 0-300 s (the straggler); batch 2 after it: D 300-480, E
    300-470, F 300-360; on workers w1 (A, D), w2 (B, E), w3 (C, F) when ``workers``."""

    def w(name: str) -> dict[str, str]:
        return {"worker": name} if workers else {}

    return [
        span(RUN, "run", 0, 480, parent=None),
        span("work", "phase", 0, 480),
        span("A", "task", 0, 60, "work", **w("w1")),
        span("B", "task", 0, 60, "work", **w("w2")),
        span("C", "task", 0, 300, "work", **w("w3")),
        span("D", "task", 300, 480, "work", **w("w1")),
        span("E", "task", 300, 470, "work", **w("w2")),
        span("F", "task", 300, 360, "work", **w("w3")),
    ]


class TestStragglerBatch:
    def test_path_and_stragglers(self) -> None:
        """The path is C (300 of 480 s) then D (180 s); C held batch 1 up 240 s (A and B idle
        240 s each), D held batch 2 up 10 s (E 10 s, F 120 s)."""
        cp = analyse(straggler_batch(workers=True), 480)
        assert cp.parallel
        assert (cp.tasks, cp.max_concurrency, cp.workers) == (6, 3, 3)
        assert path_of(cp) == [("C", 300_000), ("D", 180_000)]
        assert [s.share for s in cp.segments] == [300 / 480, 180 / 480]
        assert (cp.path_task_ms, cp.path_idle_ms) == (480_000, 0)
        assert [(s.batch, s.name, s.worker, s.tasks, s.held_up_ms, s.idle_worker_ms) for s in cp.stragglers] == [
            ("work #1", "C", "w3", 3, 240_000, 480_000),
            ("work #2", "D", "w1", 3, 10_000, 130_000),
        ]

    def test_dispatch_with_workers(self) -> None:
        """Without the barrier each worker goes on with its next task: D 60-240, E 60-230 and
        F after C, 300-360. 360 s instead of 480: 120 s (25%) saved."""
        cp = analyse(straggler_batch(workers=True), 480)
        assert (cp.observed_makespan_ms, cp.dispatch_makespan_ms) == (480_000, 360_000)
        assert (cp.dispatch_saving_ms, cp.dispatch_saving_share) == (120_000, 0.25)
        assert dispatch_line(msgspec_dict(cp)) == (
            "continuous dispatch would have saved 2m 00s (25%): 8m 00s -> 6m 00s on 3 workers"
        )

    def test_dispatch_without_workers(self) -> None:
        """No worker attrs: batch 2 depends on nothing in batch 1, and 3 workers (the most
        tasks at once) take the ready tasks in observed order: A, B, C at 0, D 60-240,
        E 60-230, F 230-290; the makespan is C's 300 s, 180 s (37.5%) saved."""
        cp = analyse(straggler_batch(workers=False), 480)
        assert cp.worker_use == []
        assert (cp.workers, cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (3, 300_000, 180_000)
        assert cp.dispatch_saving_share == 0.375

    def test_utilisation(self) -> None:
        """Busy: w1 60+180, w2 60+170, w3 300+60 s, over 3 workers x 480 s."""
        cp = analyse(straggler_batch(workers=True), 480)
        assert [(w.worker, w.tasks, w.busy_ms) for w in cp.worker_use] == [
            ("w3", 2, 360_000),
            ("w1", 2, 240_000),
            ("w2", 2, 230_000),
        ]
        assert cp.worker_use[0].utilisation == 360 / 480
        assert cp.utilisation == (360 + 240 + 230) / (3 * 480)


def msgspec_dict(cp: CriticalPath) -> dict[str, Any]:
    import msgspec

    return msgspec.to_builtins(cp)  # type: ignore[no-any-return]


class TestNoParallelism:
    def test_serial_chain(self) -> None:
        """T1 0-10 s, a 2 s gap, T2 12-30, T3 30-50 on alternating workers, the run ends at 55:
        the path is every task with the gaps idle, and dispatch saves nothing."""
        spans = [
            span(RUN, "run", 0, 55, parent=None),
            span("build", "phase", 0, 55),
            span("T1", "task", 0, 10, "build", worker="w1"),
            span("T2", "task", 12, 30, "build", worker="w2"),
            span("T3", "task", 30, 50, "build", worker="w1"),
        ]
        cp = analyse(spans, 55)
        assert not cp.parallel
        assert path_of(cp) == [("T1", 10_000), ("(idle)", 2_000), ("T2", 18_000), ("T3", 20_000), ("(idle)", 5_000)]
        assert sum(s.share for s in cp.segments) == 1.0
        assert (cp.path_task_ms, cp.path_idle_ms) == (48_000, 7_000)
        assert cp.stragglers == []
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (55_000, 0)
        assert critical_path_lines(msgspec_dict(cp), 100) == [
            "no parallel tasks: 3 tasks ran one after another; continuous dispatch: no saving (observed 55.0s)"
        ]

    def test_phases_in_sequence_keep_their_order(self) -> None:
        """Two phases, one task each, with a lead-in and a gap: simulated exactly as observed."""
        spans = [
            span(RUN, "run", 0, 40, parent=None),
            span("plan", "phase", 1, 10),
            span("think", "llm", 3, 10, "plan"),
            span("do", "phase", 15, 40),
            span("edit", "tool", 16, 39, "do"),
        ]
        cp = analyse(spans, 40)
        assert [s.name for s in cp.segments] == [None, "think", None, "edit", None]
        assert (cp.tasks, cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (2, 40_000, 0)


class TestNestedTasks:
    def spans(self) -> list[SpanRow]:
        """Task X (lead) holds X1 0-40 and X2 0-100 (on w2); then Y 100-120 (w1)."""
        return [
            span(RUN, "run", 0, 120, parent=None),
            span("P", "phase", 0, 120),
            span("X", "task", 0, 100, "P", worker="lead"),
            span("X1", "task", 0, 40, "X"),
            span("X1-call", "llm", 1, 39, "X1"),
            span("X2", "task", 0, 100, "X", worker="w2"),
            span("Y", "task", 100, 120, "P", worker="w1"),
        ]

    def test_inner_tasks_are_the_tasks(self) -> None:
        """X is a container (it holds tasks); X1 inherits X's worker; X1's LLM call is part of X1."""
        cp = analyse(self.spans(), 120)
        assert cp.tasks == 3
        assert [(w.worker, w.tasks) for w in cp.worker_use] == [("w2", 1), ("lead", 1), ("w1", 1)]
        assert path_of(cp) == [("X2", 100_000), ("Y", 20_000)]

    def test_straggler_and_no_saving(self) -> None:
        """X2 held X's batch up 60 s; Y needs all of X, so dispatch saves nothing."""
        cp = analyse(self.spans(), 120)
        assert [(s.batch, s.name, s.held_up_ms) for s in cp.stragglers] == [("X #1", "X2", 60_000)]
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (120_000, 0)


class TestDependsOn:
    def spans(self, **d_attrs: Any) -> list[SpanRow]:
        """Batch A 0-10, B 0-50; batch C 50-60, D 50-100; no workers named."""
        return [
            span(RUN, "run", 0, 100, parent=None),
            span("P", "phase", 0, 100),
            span("A", "task", 0, 10, "P"),
            span("B", "task", 0, 50, "P"),
            span("C", "task", 50, 60, "P"),
            span("D", "task", 50, 100, "P", **d_attrs),
        ]

    def test_without_it_batches_are_independent(self) -> None:
        """2 workers: A 0-10, B 0-50, C 10-20, D 20-70: 30 s saved."""
        cp = analyse(self.spans(), 100)
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (70_000, 30_000)

    def test_by_id(self) -> None:
        """D depends on B: D 50-100 as observed, no saving."""
        cp = analyse(self.spans(depends_on=["B"]), 100)
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (100_000, 0)

    def test_by_name_as_a_string(self) -> None:
        """C depends on B (by its name), D on A (by id): A 0-10, B 0-50, D 10-60, C 50-60:
        40 s saved."""
        spans = self.spans(depends_on="A")
        spans[3].name = "b-task"
        spans[4].attrs["depends_on"] = "b-task"
        cp = analyse(spans, 100)
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (60_000, 40_000)

    def test_later_or_unknown_spans_are_ignored(self) -> None:
        """A dependency on a task that started later (D on itself, on nothing known) is not one."""
        cp = analyse(self.spans(depends_on=["D", "nope", 7, None]), 100)
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (70_000, 30_000)


class TestEdgeCases:
    def test_no_spans(self) -> None:
        cp = analyse([], 30)
        assert (cp.tasks, cp.parallel, cp.dispatch_saving_ms, cp.observed_makespan_ms) == (0, False, 0, 30_000)
        assert path_of(cp) == [("(idle)", 30_000)]
        assert cp.utilisation is None
        assert critical_path_lines(msgspec_dict(cp), 100) == ["no tasks recorded"]

    def test_zero_wall_time(self) -> None:
        cp = analyse([span(RUN, "run", 0, None, parent=None)], 0)
        assert (cp.tasks, cp.segments, cp.wall_ms, cp.dispatch_saving_share) == (0, [], 0, 0.0)

    def test_running_run(self) -> None:
        """The run and task A are open (they last until the run's last event, 60 s); B 0-30."""
        spans = [
            span(RUN, "run", 0, None, parent=None),
            span("A", "task", 0, None, worker="w1"),
            span("B", "task", 0, 30, worker="w2"),
        ]
        cp = analyse(spans, 60)
        assert cp.parallel
        assert path_of(cp) == [("A", 60_000)]
        assert [(s.name, s.held_up_ms) for s in cp.stragglers] == [("A", 30_000)]

    def test_equal_timestamps(self) -> None:
        """Three zero-length tasks at 10 s between T 0-10 and U 10-20: they chain in order."""
        spans = [
            span(RUN, "run", 0, 20, parent=None),
            span("T", "task", 0, 10),
            span("Z1", "tool", 10, 10),
            span("Z2", "tool", 10, 10),
            span("Z3", "tool", 10, 10),
            span("U", "task", 10, 20),
        ]
        cp = analyse(spans, 20)
        assert not cp.parallel
        assert path_of(cp) == [("T", 10_000), ("Z1", 0), ("Z2", 0), ("Z3", 0), ("U", 10_000)]
        assert (cp.dispatch_makespan_ms, cp.dispatch_saving_ms) == (20_000, 0)

    def test_wait_work_ratio_reads_the_time_split(self) -> None:
        parts = {
            "llm": 40 * S,
            "tool": 20 * S,
            "git": 0,
            "validation": 0,
            "sync_wait": 15 * S,
            "human_wait": 0,
            "other": 25 * S,
        }
        cp = analyse(straggler_batch(workers=True), 480, time_split_result(100 * S, parts, runs=1))
        assert (cp.working_ms, cp.waiting_ms, cp.wait_work_ratio) == (60_000, 15_000, 0.25)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 30), st.sampled_from([None, "w1", "w2", "w3"]), st.booleans()),
        max_size=25,
    )
)
def test_any_run_adds_up(tasks: list[tuple[int, int, str | None, bool]]) -> None:
    """Whatever the tasks: the segments tile the wall time, the saving is never negative,
    and a run whose tasks (in one container) never overlap is simulated exactly as observed."""
    spans = [span(RUN, "run", 0, 100, parent=None), span("P", "phase", 0, 100)]
    for i, (start, length, worker, nested) in enumerate(tasks):
        spans.append(span(f"t{i}", "task", start, start + length, "P" if nested else RUN, worker=worker))
    cp = analyse(spans, 100)
    assert sum(s.duration_ms for s in cp.segments) == cp.wall_ms == 100_000
    assert cp.dispatch_saving_ms >= 0
    if not cp.parallel and len({nested for *_, nested in tasks}) <= 1:
        assert cp.dispatch_makespan_ms == 100_000


# -- report show -------------------------------------------------------------------------------------


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write(store: Store, spans: list[SpanRow]) -> None:
    lines = []
    for s in spans:
        start = (s.start_us - ORIGIN) / S
        lines.append(
            ev.SpanStart(v=1, id=f"{s.span_id}-s", ts=_ts(start), run=RUN, parent=s.parent_id, span=s.span_id,
                         kind=s.kind, name=s.name, attrs=s.attrs)
        )  # fmt: skip
        if s.end_us is not None:
            lines.append(ev.SpanEnd(v=1, id=f"{s.span_id}-e", ts=_ts((s.end_us - ORIGIN) / S), run=RUN, span=s.span_id))
    write_lines(store, [(ev.encode(line), line.ts[:10]) for line in lines])


def test_report_show_json(store: Store) -> None:
    _write(store, straggler_batch(workers=True))
    cp = invoke_json(store.root, "report", "show", RUN)["critical_path"]
    assert [s["name"] for s in cp["segments"]] == ["C", "D"]
    assert (cp["dispatch_saving_ms"], cp["observed_makespan_ms"]) == (120_000, 480_000)
    assert cp["stragglers"][0]["held_up_ms"] == 240_000


def test_report_show_text(store: Store) -> None:
    _write(store, straggler_batch(workers=True))
    result = invoke(store.root, "report", "show", RUN)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    spans_at = next(i for i, line in enumerate(lines) if line.startswith("Spans ("))
    section = lines[lines.index("Critical path and dispatch") : spans_at]
    assert section[1] == "path: 8m 00s of tasks and 0ms idle over 8m 00s"
    assert [line.split()[0] for line in section[4:6]] == ["C", "D"]
    assert "work #1  C          w3          3   4m 00s       8m 00s" in section
    assert section[-2] == "continuous dispatch would have saved 2m 00s (25%): 8m 00s -> 6m 00s on 3 workers"
