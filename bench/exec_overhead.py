"""``laptime exec`` start-up cost: a command alone, and the same through ``laptime exec``.

There is no budget for it in DESIGN.md; this measures what a shell step pays for being
recorded. Each command runs as a subprocess, 2 warm-ups then ``--runs`` timed runs
(default 20), interleaved so machine noise hits all alike:

  sh -c true                       the command alone
  python -c pass                   the interpreter's own start-up (the floor under any Python CLI)
  laptime --help                   the CLI's own start-up (budget 100 ms)
  laptime exec -- sh -c true       the command as a span of a new run (4 lines appended)

Wall time is per run (median, min..max); CPU time is user+system of the children
(``RUSAGE_CHILDREN``), per run. laptime's cost is ``laptime exec`` minus the command
alone, and its ratio to ``python -c pass``. The store is a temporary folder; the script
checks that every timed ``laptime exec`` left its run in the log.

    .venv/bin/python bench/exec_overhead.py [--quick] [--json] [--runs N]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere


def _time_once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--runs", type=int, help="timed runs per command (default 20, quick 5)")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    runs = args.runs or (5 if args.quick else 20)
    facts = _util.machine_facts(quick=args.quick)
    laptime = Path(sys.executable).with_name("laptime")
    commands = {
        "sh -c true": ["sh", "-c", "true"],
        "python -c pass": [sys.executable, "-c", "pass"],
        "laptime --help": [str(laptime), "--help"],
        "laptime exec -- sh -c true": [str(laptime), "exec", "--", "sh", "-c", "true"],
    }
    with tempfile.TemporaryDirectory(prefix="laptime-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LAPTIME_"))}
        env["LAPTIME_HOME"] = str(Path(tmp) / ".laptime")
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(2):
            for cmd in commands.values():
                _time_once(cmd, env, tmp)
        for _ in range(runs):
            for name, cmd in commands.items():
                w, c = _time_once(cmd, env, tmp)
                wall[name].append(w)
                cpu[name].append(c)
        logged = b"".join(p.read_bytes() for p in (Path(tmp) / ".laptime" / "log").glob("*.jsonl"))
        run_starts = logged.count(b'"kind":"run"')
        if run_starts != runs + 2:
            print(f"FAIL: {run_starts} runs in the log, expected {runs + 2}", file=sys.stderr)
            return 1

    med = {name: _util.median(values) for name, values in wall.items()}
    med_cpu = {name: _util.median(values) for name, values in cpu.items()}
    own_ms = med["laptime exec -- sh -c true"] - med["sh -c true"]
    ratio = med["laptime exec -- sh -c true"] / med["python -c pass"]
    over_help = med["laptime exec -- sh -c true"] - med["laptime --help"]
    if args.json:
        _util.emit_json(
            {
                "bench": "exec_overhead",
                "machine": facts,
                "runs": runs,
                "median_wall_ms": med,
                "median_cpu_ms": med_cpu,
                "samples_wall_ms": wall,
                "laptime_exec_own_ms": own_ms,
                "ratio_to_python_start": ratio,
                "over_laptime_help_ms": over_help,
            }
        )
        return 0
    print(f"== laptime exec: {runs} timed runs per command after 2 warm-ups, interleaved")
    _util.print_facts(facts)
    rows = [
        [name, f"{med[name]:.1f}", _util.spread(wall[name]), f"{med_cpu[name]:.1f}", str(len(wall[name]))]
        for name in commands
    ]
    print(_util.table(rows, ["command", "median wall ms", "min..max ms", "median CPU ms", "n"]))
    print(
        f"laptime exec's own cost: {own_ms:.1f} ms wall per step, "
        f"{ratio:.2f}x of the interpreter's start-up, {over_help:+.1f} ms over `laptime --help` "
        "(no budget in DESIGN.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
