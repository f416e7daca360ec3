"""Critical path, stragglers, worker utilisation and the continuous-dispatch what-if of one run.

Every rule is stated in docs/analysis.md ("Critical path and dispatch"); in short:

- **Tasks.** Runs and phases, and every span with a ``task`` span below it, are containers.
  A task is a span that is not a container but whose parent is one: the outermost work
  (a leaf task, or an LLM call, tool, validation or git span outside every task). What
  runs inside a task is part of it.
- **Steps.** A container's items (its tasks and child containers) fall into steps: items
  that carry the same ``batch`` (or ``superstep``) attr, else items that overlap in time.
  A step of two or more items is a batch.
- **Dependencies** (for the dispatch simulation): an item's explicit ``depends_on`` (span
  ids or names of items that started before it), else the step before it in its container:
  all of it when either step is a single item (a sequence, fan-out or fan-in), only the
  item of the same ``worker`` when both are batches (the barrier between two batches is
  what continuous dispatch removes). The first step depends on what its container does.
- **Critical path**: from the task that ended last, back through, at each task, the task
  that ended last at or before it started; the gaps are idle.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from laptime import definitions as d
from laptime.analysis.results import CriticalPath, PathSegment, Straggler, TimeSplit, WorkerUse
from laptime.clock import timestamp_from_us

if TYPE_CHECKING:
    from laptime.analysis.kpi import SpanRow

#: The worker of tasks that name none.
MAIN_WORKER: Final = "(main)"
_CONTAINER_KINDS: Final = frozenset({"run", "phase"})
_WORKING: Final = ("llm", "tool", "git", "validation")
_WAITING: Final = ("sync_wait", "human_wait")


@dataclass(eq=False, slots=True)
class _Item:
    """A task or a container, clipped to the run."""

    span_id: str
    name: str
    start: int
    end: int
    worker: str | None
    batch: str | None
    depends_on: list[str]
    parent: _Item | None
    is_task: bool
    children: list[_Item] = field(default_factory=list)
    steps: list[list[_Item]] = field(default_factory=list)  # a container's (``_steps``)
    gate: int = -1  # the simulation's node that starts it (a task: its own node)
    done: int = -1  # the node that ends it


def _text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _depends_on(value: object) -> list[str]:
    if isinstance(value, list):
        return [t for t in map(_text, value) if t is not None]
    one = _text(value)
    return [one] if one is not None else []


def _build_tree(spans: Sequence[SpanRow], run_id: str, run_start: int, run_end: int) -> tuple[_Item, list[_Item]]:
    """The run's container tree and its tasks (in start order)."""
    by_id = {s.span_id: s for s in spans}

    def parent_of(span: SpanRow) -> str:
        parent = span.parent_id
        return parent if parent is not None and parent in by_id and parent != span.span_id else run_id

    # The spans with a task below them: every task's ancestors (a cycle stops at a seen one).
    task_below: set[str] = set()
    for span in spans:
        if span.kind == "task" and span.span_id != run_id:
            at = parent_of(span)
            while at != run_id and at not in task_below:
                task_below.add(at)
                at = parent_of(by_id[at])
    containers = task_below | {s.span_id for s in spans if s.kind in _CONTAINER_KINDS} | {run_id}
    # Only the containers' children are needed: what runs inside a task is part of it. A
    # span whose parent is unknown (or itself) sits directly in the run.
    children: dict[str, list[SpanRow]] = defaultdict(list)
    for span in spans:
        parent = span.parent_id
        if parent == span.span_id or parent not in by_id:
            if span.span_id != run_id:
                children[run_id].append(span)
        elif parent in containers:
            children[parent].append(span)

    def clip(start: int, end: int | None) -> tuple[int, int]:
        lo = min(max(start, run_start), run_end)
        return lo, min(max(end if end is not None else run_end, lo), run_end)

    run_span = by_id.get(run_id)
    root = _Item(
        run_id,
        run_span.name if run_span is not None else run_id,
        run_start,
        run_end,
        _text(run_span.attrs.get("worker")) if run_span is not None else None,
        None,
        [],
        None,
        is_task=False,
    )
    tasks: list[_Item] = []
    walk = [root]
    placed = {run_id}
    while walk:
        container = walk.pop()
        for span in children.get(container.span_id, ()):
            if span.span_id in placed:
                continue
            placed.add(span.span_id)
            start, end = clip(span.start_us, span.end_us)
            attrs = span.attrs
            item = _Item(
                span.span_id,
                span.name,
                start,
                end,
                _text(attrs.get("worker")) or container.worker,
                _text(attrs.get("batch", attrs.get("superstep"))),
                _depends_on(attrs.get("depends_on")),
                container,
                is_task=not (span.kind in _CONTAINER_KINDS or span.span_id in task_below),
            )
            container.children.append(item)
            if item.is_task:
                tasks.append(item)
            else:
                walk.append(item)
    tasks.sort(key=lambda t: (t.start, t.end, t.span_id))
    _fit_to_tasks(root)
    return root, tasks


def _fit_to_tasks(root: _Item) -> None:
    """Each container's time becomes that of the tasks inside it (so a container overlaps
    what its tasks overlap), a container with no task inside is dropped, and each
    container's items are put in steps."""
    order: list[_Item] = []
    walk = [root]
    while walk:
        item = walk.pop()
        order.append(item)
        walk.extend(c for c in item.children if not c.is_task)
    for container in reversed(order):
        container.children = [c for c in container.children if c.is_task or c.children]
        if container.children:
            container.start = min(c.start for c in container.children)
            container.end = max(c.end for c in container.children)
        container.steps = _steps(container)


def _steps(container: _Item) -> list[list[_Item]]:
    """The container's items in steps (see the module's docstring)."""
    steps: list[list[_Item]] = []
    step_end = 0
    step_batch: str | None = None
    for item in sorted(container.children, key=lambda i: (i.start, i.end, i.span_id)):
        joins = bool(steps) and (
            (item.batch is not None and item.batch == step_batch)
            or (item.batch is None and step_batch is None and item.start < step_end)
        )
        if joins:
            steps[-1].append(item)
            step_end = max(step_end, item.end)
        else:
            steps.append([item])
            step_end, step_batch = item.end, item.batch
    return steps


def _is_within(item: _Item, ancestor: _Item) -> bool:
    at: _Item | None = item
    while at is not None:
        if at is ancestor:
            return True
        at = at.parent
    return False


class _Graph:
    """The dispatch simulation's dependency graph: a node per task, and a zero-length gate
    and done node per container, so a step that waits on a whole container takes one edge."""

    def __init__(self) -> None:
        self.start: list[int] = []
        self.duration: list[int] = []
        self.is_task: list[bool] = []
        self.succ: list[list[int]] = []
        self.indegree: list[int] = []

    def node(self, start: int, duration: int, *, is_task: bool) -> int:
        self.start.append(start)
        self.duration.append(duration)
        self.is_task.append(is_task)
        self.succ.append([])
        self.indegree.append(0)
        return len(self.start) - 1

    def edge(self, before: int, after: int) -> None:
        self.succ[before].append(after)
        self.indegree[after] += 1


def _dependency_graph(root: _Item, tasks: list[_Item]) -> _Graph:
    graph = _Graph()
    for task in tasks:  # first and in start order: a node's number breaks a tie in the simulation
        task.gate = task.done = graph.node(task.start, task.end - task.start, is_task=True)
    containers: list[_Item] = []
    by_key: dict[str, list[_Item]] = defaultdict(list)
    walk = [root]
    while walk:
        item = walk.pop()
        by_key[item.span_id].append(item)
        if item.name != item.span_id:
            by_key[item.name].append(item)
        if not item.is_task:
            item.gate = graph.node(item.start, 0, is_task=False)
            item.done = graph.node(item.end, 0, is_task=False)
            containers.append(item)
            walk.extend(item.children)
    for container in containers:
        previous: list[_Item] = []
        for step in container.steps:
            last_by_worker: dict[str, _Item] = {}
            for item in previous:
                if item.worker is not None:
                    held = last_by_worker.get(item.worker)
                    if held is None or item.end > held.end:
                        last_by_worker[item.worker] = item
            for item in step:
                graph.edge(item.done, container.done)
                explicit = [
                    dep
                    for key in item.depends_on
                    for dep in by_key.get(key, ())
                    if dep.start < item.start or (dep.start == item.start and dep.end <= item.start)
                ]
                explicit = [dep for dep in explicit if not _is_within(item, dep) and not _is_within(dep, item)]
                if explicit:
                    befores = [dep.done for dep in explicit] + [container.gate]
                elif not previous:
                    befores = [container.gate]
                elif len(previous) == 1 or len(step) == 1:
                    befores = [dep.done for dep in previous]
                else:
                    same = last_by_worker.get(item.worker) if item.worker is not None else None
                    befores = [container.gate] + ([same.done] if same is not None else [])
                for before in dict.fromkeys(befores):
                    graph.edge(before, item.gate)
            previous = step
    return graph


def _predecessors(tasks: list[_Item]) -> list[int]:
    """For each task (by index), the task that ended last at or before it started (-1: none);
    ties go to the later start, then the later task. Zero-length tasks at one instant chain in
    task order, so the relation has no cycle."""
    order = sorted(range(len(tasks)), key=lambda i: (tasks[i].end, tasks[i].start, i))
    keys = [(tasks[i].end, tasks[i].start, i) for i in order]
    preds = []
    for i, task in enumerate(tasks):
        bound = i if task.end == task.start else len(tasks)
        at = bisect_left(keys, (task.start, task.start, bound)) - 1
        preds.append(order[at] if at >= 0 else -1)
    return preds


def _max_concurrency(tasks: list[_Item]) -> int:
    edges = sorted([(t.start, 1) for t in tasks if t.end > t.start] + [(t.end, -1) for t in tasks if t.end > t.start])
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return max(peak, 1 if tasks else 0)


def _simulate(graph: _Graph, lag: dict[int, int], workers: int, origin: int) -> int:
    """The latest task end under list scheduling with ``workers`` workers: a task is ready
    its observed lag after its dependencies end, and the ready task that started first in
    the run gets the next free worker. A dependency cycle (from depends_on) is broken at the
    waiting node that started first."""
    n = len(graph.start)
    remaining = graph.indegree[:]
    ready_at = [origin] * n
    released = [False] * n
    pending: list[tuple[int, int, int]] = []  # (ready time, observed start, node)
    available: list[tuple[int, int]] = []  # (observed start, node)
    running: list[tuple[int, int]] = []  # (end, node)
    latest = origin
    by_start = sorted(range(n), key=lambda i: (graph.start[i], i))
    next_unstuck = 0

    def release(first: int) -> None:
        stack = [first]
        while stack:
            node = stack.pop()
            if released[node]:
                continue
            released[node] = True
            if graph.is_task[node]:
                heapq.heappush(pending, (ready_at[node] + lag[node], graph.start[node], node))
                continue
            for after in graph.succ[node]:  # a gate or done node ends as soon as it is ready
                ready_at[after] = max(ready_at[after], ready_at[node])
                remaining[after] -= 1
                if remaining[after] == 0:
                    stack.append(after)

    for node in range(n):
        if remaining[node] == 0 and not released[node]:
            release(node)
    free, now = workers, origin
    while True:
        while pending and pending[0][0] <= now:
            _, start, node = heapq.heappop(pending)
            heapq.heappush(available, (start, node))
        while free and available:
            _, node = heapq.heappop(available)
            heapq.heappush(running, (now + graph.duration[node], node))
            free -= 1
        upcoming = [running[0][0]] if running else []
        if pending and free:
            upcoming.append(pending[0][0])
        if not upcoming:
            while next_unstuck < n and released[by_start[next_unstuck]]:
                next_unstuck += 1
            if next_unstuck == n:
                return latest
            stuck = by_start[next_unstuck]
            remaining[stuck] = 0
            release(stuck)
            continue
        now = max(now, min(upcoming))
        while running and running[0][0] <= now:
            end, node = heapq.heappop(running)
            free += 1
            latest = max(latest, end)
            for after in graph.succ[node]:
                ready_at[after] = max(ready_at[after], end)
                remaining[after] -= 1
                if remaining[after] == 0 and not released[after]:
                    release(after)


def _stragglers(root: _Item) -> list[Straggler]:
    out: list[Straggler] = []
    walk = [root]
    while walk:
        container = walk.pop()
        walk.extend(c for c in reversed(container.children) if not c.is_task)
        for number, step in enumerate(container.steps, start=1):
            if len(step) < 2:
                continue
            last = max(step, key=lambda i: (i.end, i.start, i.span_id))
            others = [i.end for i in step if i is not last]
            label = step[0].batch if step[0].batch is not None else f"{container.name} #{number}"
            out.append(
                Straggler(
                    batch=label,
                    tasks=len(step),
                    span_id=last.span_id,
                    name=last.name,
                    worker=last.worker,
                    ended_at=timestamp_from_us(last.end),
                    held_up_ms=d.ms(last.end - max(others)),
                    idle_worker_ms=d.ms(sum(last.end - end for end in others)),
                )
            )
    return out


def critical_path(
    spans: Sequence[SpanRow], run_id: str, run_start_us: int, run_end_us: int, split: TimeSplit
) -> CriticalPath:
    """The run's critical path, batches' stragglers, utilisation and dispatch what-if."""
    run_end_us = max(run_end_us, run_start_us)
    wall = run_end_us - run_start_us
    root, tasks = _build_tree(spans, run_id, run_start_us, run_end_us)

    # -- the critical path, back from the task that ended last -------------------------------
    preds = _predecessors(tasks)
    path: list[int] = []
    if tasks:
        at = max(range(len(tasks)), key=lambda i: (tasks[i].end, tasks[i].start, i))
        while at >= 0:
            path.append(at)
            at = preds[at]
        path.reverse()
    segments: list[PathSegment] = []

    def segment(start: int, end: int, task: _Item | None) -> None:
        if end <= start and task is None:
            return
        segments.append(
            PathSegment(
                kind="task" if task is not None else "idle",
                span_id=task.span_id if task is not None else None,
                name=task.name if task is not None else None,
                worker=task.worker if task is not None else None,
                started_at=timestamp_from_us(start),
                duration_ms=d.ms(end - start),
                share=(end - start) / wall if wall else 0.0,
            )
        )

    cursor = run_start_us
    task_us = 0
    for i in path:
        task = tasks[i]
        segment(cursor, task.start, None)
        segment(task.start, task.end, task)
        task_us += task.end - task.start
        cursor = task.end
    segment(cursor, run_end_us, None)

    # -- workers and utilisation -------------------------------------------------------------
    concurrency = _max_concurrency(tasks)
    named = any(t.worker is not None for t in tasks)
    by_worker: dict[str, list[_Item]] = defaultdict(list)
    for task in tasks:
        by_worker[task.worker or MAIN_WORKER].append(task)
    busy = {w: d.union_us((t.start, t.end) for t in ts) for w, ts in by_worker.items()}
    worker_use = (
        [
            WorkerUse(worker=w, tasks=len(by_worker[w]), busy_ms=d.ms(b), utilisation=b / wall if wall else 0.0)
            for w, b in sorted(busy.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        if named
        else []
    )
    pool = max(len(by_worker) if named else 0, concurrency, 1)
    task_time = sum(t.end - t.start for t in tasks)
    working = sum(getattr(split, f"{a}_ms") for a in _WORKING)
    waiting = sum(getattr(split, f"{a}_ms") for a in _WAITING)

    # -- continuous dispatch -----------------------------------------------------------------
    graph = _dependency_graph(root, tasks)
    lag = {
        task.gate: task.start - (tasks[preds[i]].end if preds[i] >= 0 else run_start_us) for i, task in enumerate(tasks)
    }
    tail = run_end_us - max((t.end for t in tasks), default=run_start_us)
    simulated = _simulate(graph, lag, pool, run_start_us) + tail - run_start_us if tasks else wall
    saving = max(0, wall - simulated)
    return CriticalPath(
        parallel=concurrency >= 2,
        tasks=len(tasks),
        max_concurrency=concurrency,
        workers=pool,
        wall_ms=d.ms(wall),
        path_task_ms=d.ms(task_us),
        path_idle_ms=d.ms(wall) - d.ms(task_us),
        segments=segments,
        stragglers=_stragglers(root),
        worker_use=worker_use,
        utilisation=(sum(busy.values()) if named else task_time) / (pool * wall) if wall and tasks else None,
        working_ms=working,
        waiting_ms=waiting,
        wait_work_ratio=waiting / working if working else None,
        observed_makespan_ms=d.ms(wall),
        dispatch_makespan_ms=d.ms(simulated),
        dispatch_saving_ms=d.ms(saving),
        dispatch_saving_share=saving / wall if wall else 0.0,
    )
