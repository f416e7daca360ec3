"""Inputs for the HTML report's tests: the fixed run's RunDetail (tests/helpers.py), and the
same run with a batch of parallel tasks added, whose lanes and marks are known by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import msgspec

from helpers import FIXED_RUN_ID, T0, invoke_json, record_fixed_run
from laptime.analysis.results import RunDetail, SpanDetail
from laptime.clock import timestamp_from_us
from laptime.report.html import RunMarks, StragglerMark

if TYPE_CHECKING:
    from laptime.store import Store

#: The fixed run's phase spans, in start order (plan, implement, verify, implement, verify).
FIXED_PHASES = 5


def fixed_detail(store: Store) -> RunDetail:
    """``report show --json`` of the fixed run, read back into its result type."""
    record_fixed_run(store)
    return msgspec.convert(invoke_json(store.root, "report", "show", FIXED_RUN_ID), RunDetail)


def _task(span_id: str, parent: str, start_s: float, seconds: float, worker: str | None) -> SpanDetail:
    start = T0 + timedelta(seconds=start_s)
    us = int(start.timestamp()) * 1_000_000
    return SpanDetail(
        span_id=span_id,
        parent_id=parent,
        depth=2,
        kind="task",
        name=f"task {span_id}",
        started_at=timestamp_from_us(us),
        ended_at=timestamp_from_us(us + int(seconds * 1_000_000)),
        duration_ms=int(seconds * 1000),
        outcome="completed",
        error=None,
        attrs={"worker": worker} if worker else {},
    )


def with_batch(detail: RunDetail) -> tuple[RunDetail, RunMarks]:
    """The fixed run with a batch of three tasks in its first implement phase (t=70 s):
    t1 on w1 (70-100 s), t2 on w2 (70-180 s, the straggler), t3 naming no worker (75-90 s);
    the critical path runs through the plan phase and t2."""
    implement = next(s for s in detail.spans if s.kind == "phase" and s.name == "implement")
    plan = next(s for s in detail.spans if s.kind == "phase" and s.name == "plan")
    tasks = [
        _task("t1", implement.span_id, 70, 30, "w1"),
        _task("t2", implement.span_id, 70, 110, "w2"),
        _task("t3", implement.span_id, 75, 15, None),
    ]
    marks = RunMarks(
        critical=frozenset({plan.span_id, "t2"}),
        stragglers=(StragglerMark(span_id="t2", batch="implement step 1", held_up_ms=80_000),),
    )
    return msgspec.structs.replace(detail, spans=[*detail.spans, *tasks]), marks
