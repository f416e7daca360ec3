"""The critical path and the continuous-dispatch simulation of one 5,000-span run.

Budget (issue 10, "Speed"): at most 50 ms for ``laptime.analysis.critical_path.critical_path``
on a run of 5,000 spans.

The run is generated in memory, shaped like a multi-agent run: five phases, each of 25
batches of 8 tasks on 8 workers (task durations lognormal, one straggler in most
batches, every tenth batch with an explicit ``depends_on`` on the batch before), each
task holding an LLM call, a tool call, a second LLM call and a second tool call. That is
1 run + 5 phases + 1,000 tasks x 5 spans = 5,006 spans. The spans are the rows
``report show`` hands it (``SpanRow``), so the figure is the analysis alone, without the
index query. It is timed ``--repeat`` times (default 15, at least 9) after two warm-ups;
the median wall time and the median CPU time (process time) are the figures, and the
ratio is the median wall time over the budget.

    .venv/bin/python bench/critical_path.py [--quick] [--json] [--repeat N]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere
from laptime.analysis.critical_path import critical_path
from laptime.analysis.kpi import SpanRow
from laptime.analysis.time_split import time_split_result
from laptime.definitions import ACTIVITIES

BUDGET_MS = 50.0
RUN = "bench-run"
PHASES = 5
BATCHES_PER_PHASE = 25
WORKERS = 8
CHILDREN = ("llm", "tool", "llm", "tool")
S = 1_000_000


def generate(seed: int = 7) -> tuple[list[SpanRow], int, int]:
    """The spans of one run, and its start and end (µs)."""
    rng = random.Random(seed)
    origin = 1_767_225_600_000_000
    spans: list[SpanRow] = []
    at = origin
    previous_batch: list[str] = []
    for p in range(PHASES):
        phase_id = f"phase-{p}"
        phase_start = at
        phase_spans: list[SpanRow] = []
        for b in range(BATCHES_PER_PHASE):
            batch_start = at + rng.randint(0, 2 * S)
            batch_ids: list[str] = []
            ends = []
            for w in range(WORKERS):
                task_id = f"task-{p}-{b}-{w}"
                length = int(rng.lognormvariate(3.0, 0.6) * S)  # about 20 s
                if w == b % WORKERS:
                    length *= 3  # the batch's straggler
                start = batch_start + rng.randint(0, S // 2)
                end = start + length
                attrs: dict[str, Any] = {"worker": f"w{w}", "batch": f"{p}-{b}"}
                if b % 10 == 9 and previous_batch:
                    attrs["depends_on"] = [previous_batch[w]]
                phase_spans.append(SpanRow(task_id, phase_id, "task", task_id, start, end, "completed", None, attrs))
                cursor = start
                step = length // len(CHILDREN)
                for c, kind in enumerate(CHILDREN):
                    phase_spans.append(
                        SpanRow(f"{task_id}-{c}", task_id, kind, kind, cursor, cursor + step, "completed", None, {})
                    )
                    cursor += step
                batch_ids.append(task_id)
                ends.append(end)
            previous_batch = batch_ids
            at = max(ends)
        spans.append(SpanRow(phase_id, RUN, "phase", phase_id, phase_start, at, "completed", None, {}))
        spans.extend(phase_spans)
        at += rng.randint(S, 5 * S)
    spans.insert(0, SpanRow(RUN, None, "run", "bench", origin, at, "completed", None, {}))
    return spans, origin, at


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--repeat", type=int, default=15, help="timed runs (at least 9; default 15)")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    repeat = 9 if args.quick else max(9, args.repeat)
    facts = _util.machine_facts(quick=args.quick)
    spans, start, end = generate()
    split = time_split_result(end - start, {a: (end - start if a == "other" else 0) for a in ACTIVITIES}, runs=1)
    for _ in range(2):
        result = critical_path(spans, RUN, start, end, split)
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = critical_path(spans, RUN, start, end, split)
        cpus.append((time.process_time() - c0) * 1000)
        walls.append((time.perf_counter() - w0) * 1000)
    wall_ms, cpu_ms = _util.median(walls), _util.median(cpus)
    budget = _util.Budget(
        f"critical_path on {len(spans):,} spans (median wall)", wall_ms, BUDGET_MS, "ms", note=f"CPU {cpu_ms:.1f} ms"
    )
    ok = result.tasks == PHASES * BATCHES_PER_PHASE * WORKERS and len(result.stragglers) == PHASES * BATCHES_PER_PHASE
    if args.json:
        _util.emit_json(
            {
                "bench": "critical_path",
                "machine": facts,
                "spans": len(spans),
                "tasks": result.tasks,
                "repeat": repeat,
                "median_wall_ms": wall_ms,
                "median_cpu_ms": cpu_ms,
                "samples_wall_ms": walls,
                "ratio_to_budget": wall_ms / BUDGET_MS,
                "dispatch_saving_share": result.dispatch_saving_share,
                "budget": budget.to_json(),
            }
        )
        return 0 if ok else 1
    print(f"== critical path + dispatch simulation: {len(spans):,} spans, {result.tasks:,} tasks, n={repeat}")
    _util.print_facts(facts)
    print(f"median wall {wall_ms:.1f} ms ({_util.spread(walls)}), median CPU {cpu_ms:.1f} ms")
    print(f"ratio to the {BUDGET_MS:.0f} ms budget: {wall_ms / BUDGET_MS:.2f}")
    print(f"(the run: {len(result.stragglers)} batches; dispatch would save {result.dispatch_saving_share:.0%})")
    print(budget.line())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
