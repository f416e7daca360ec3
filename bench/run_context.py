"""What CI and git context costs a run start (issue 12, acceptance 2: "never slow a run
start by more than a few ms").

In one process, in the working directory given (default: this checkout; a git worktree,
whose ``.git`` is a file pointing at the main repository, the costliest layout: HEAD in
the worktree's folder, the ref in the common folder or its packed-refs), interleaved
rounds (order alternating) of:

- ``off``: ``--runs`` runs started and ended with the SDK (run start + end appended to a
  log in a temporary store), ``LAPTIME_RUN_CONTEXT=0``;
- ``on``: the same with the context read at every run start (GitHub Actions variables
  set, so the CI branch of ``run_context`` runs too, then git for nothing; and without
  them: git for branch and commit);
- ``run_context()`` alone.

Wall time (``perf_counter_ns``) and CPU time (``process_time_ns``) per run; medians over
``--repeat`` rounds (default 15; ``--quick`` 3), per-round paired differences and ratios.
Budget: the context adds at most 2 ms of wall time per run start (median).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _util import Budget, emit_json, machine_facts, median, parse_args, print_facts, spread, table
from laptime import Recorder
from laptime.ci_context import ENABLE_ENV, run_context

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_RUN_ID": "1234",
    "GITHUB_HEAD_REF": "fix/login",
}


def _runs(home: Path, n: int) -> tuple[float, float]:
    """Wall and CPU ns per run of ``n`` runs started and ended."""
    with Recorder(home=home) as rec:
        wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
        for i in range(n):
            with rec.run(f"r{i}"):
                pass
        return (time.perf_counter_ns() - wall0) / n, (time.process_time_ns() - cpu0) / n


def _alone(n: int) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
    for _ in range(n):
        run_context()
    return (time.perf_counter_ns() - wall0) / n, (time.process_time_ns() - cpu0) / n


def main() -> None:
    args = parse_args(
        __doc__ or "",
        lambda p: (
            p.add_argument("--runs", type=int, default=500),
            p.add_argument("--repeat", type=int, default=0),
            p.add_argument("--cwd", default=str(Path(__file__).resolve().parent.parent)),
        ),
    )
    repeat = args.repeat or (3 if args.quick else 15)
    runs = 100 if args.quick else args.runs
    os.chdir(args.cwd)
    for name in GITHUB:
        os.environ.pop(name, None)
    variants = ("off", "on (git)", "on (GitHub + git)")
    wall: dict[str, list[float]] = {v: [] for v in (*variants, "run_context() alone")}
    cpu: dict[str, list[float]] = {v: [] for v in wall}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(repeat):
            order = variants if round_no % 2 == 0 else variants[::-1]
            for variant in order:
                os.environ[ENABLE_ENV] = "0" if variant == "off" else "1"
                if "GitHub" in variant:
                    os.environ.update(GITHUB)
                w, c = _runs(Path(tmp) / f"{round_no}-{variant}" / ".laptime", runs)
                for name in GITHUB:
                    os.environ.pop(name, None)
                wall[variant].append(w)
                cpu[variant].append(c)
            os.environ[ENABLE_ENV] = "1"
            w, c = _alone(runs)
            wall["run_context() alone"].append(w)
            cpu["run_context() alone"].append(c)
    facts = machine_facts(quick=args.quick)
    added = [on - off for on, off in zip(wall["on (git)"], wall["off"], strict=True)]
    ratio = [on / off for on, off in zip(wall["on (git)"], wall["off"], strict=True)]
    budget = Budget("context added to a run start (wall, median)", median(added) / 1e6, 2.0, "ms")
    context = run_context()
    if args.json:
        emit_json(
            {
                "facts": facts,
                "runs": runs,
                "repeat": repeat,
                "wall_ns": wall,
                "cpu_ns": cpu,
                "context": context,
                "budget": budget.to_json(),
            }
        )
        return
    print_facts(facts)
    print(f"cwd {args.cwd}: context {context}")
    print(f"{runs} runs per round, {repeat} rounds, interleaved\n")
    rows = [
        [v, f"{median(wall[v]) / 1000:.1f}", spread([x / 1000 for x in wall[v]]), f"{median(cpu[v]) / 1000:.1f}"]
        for v in wall
    ]
    print(table(rows, ["variant", "wall us/run", "range", "cpu us/run"]))
    print(f"\npaired: on (git) - off = {median(added) / 1000:.1f} us/run (median), ratio {median(ratio):.2f}x")
    print(budget.line())
    sys.exit(0 if budget.passed else 1)


if __name__ == "__main__":
    main()
