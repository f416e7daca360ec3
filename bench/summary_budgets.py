"""``report summary`` with and without ``[budgets]``: the budget check's own cost, paired.

Uses a store made by ``bench/report_summary.py --keep DIR`` (100k runs, 4.9M events).

- In one process, ``compute_summary`` runs alternately without budget rules and with rules
  that set every limit (a default, a runner and a task glob), ``--repeat`` times each.
- With ``--process``, the whole command ``laptime report summary --json`` runs the same
  way, alternately with no config and with the same rules as a ``[budgets]`` config (the
  README's budget for a warm report summary is 0.5 s).

The medians of wall and CPU time (the child's, for ``--process``), their ratio and the
difference are printed. The first check with budgets prices every run once and keeps the
costs in the index (``run_cost_cache``) and the counts (``budget_count_cache``, for the
unfiltered summary); that one is reported apart, as "first". ``--task 'task-1*'`` times a
filtered summary instead (about a tenth of the runs), which reads the kept costs but
counts again.

    .venv/bin/python bench/summary_budgets.py DIR [--repeat 9] [--process]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from laptime.analysis.summary import SummaryFilters, compute_summary
from laptime.config import BudgetRule, load_config
from laptime.definitions import crashed_after_us
from laptime.index import open_index
from laptime.pricing import PriceBook
from laptime.store import Store

# Limits among the generated runs' figures (cost $0.34 a run on average, tokens 149k,
# duration p50 240 s and p90 414 s), so that some runs cross each limit and most do not.
CONFIG = """[budgets]
cost_usd = 0.5
duration = 420
tokens = 200000

[budgets.runner.aidf]
duration = 300

[budgets.task."task-1*"]
cost_usd = 0.3
"""

Timing = tuple[float, float]  # wall s, CPU s


def rules_of_config() -> tuple[BudgetRule, ...]:
    """CONFIG's rules, read by the config loader (the in-process runs use what the command reads)."""
    with tempfile.TemporaryDirectory(prefix="laptime-bench-budgets-") as tmp:
        store = Store(Path(tmp))
        store.config_path.write_text(CONFIG, encoding="utf-8")
        return load_config(store).budget_rules


def in_process(store: Store, repeat: int, task: str | None) -> tuple[dict[str, list[Timing]], Timing]:
    config = load_config(store)
    book = PriceBook.from_config(config)
    now, crashed = int(time.time() * 1e6), crashed_after_us(config.crashed_after_minutes)
    times: dict[str, list[Timing]] = {"without": [], "with": []}
    rules = rules_of_config()
    filters = SummaryFilters(task=task)
    with open_index(store) as index:
        index.execute("DELETE FROM run_cost_cache")  # the first check prices every run
        index.execute("DELETE FROM budget_count_cache")
        w0, c0 = time.perf_counter(), time.process_time()
        out = compute_summary(index, book, filters, now_us=now, crashed_after_us=crashed, budget_rules=rules)
        first = (time.perf_counter() - w0, time.process_time() - c0)
        for _ in range(repeat):
            for name, chosen in (("without", ()), ("with", rules)):
                w0, c0 = time.perf_counter(), time.process_time()
                out = compute_summary(index, book, filters, now_us=now, crashed_after_us=crashed, budget_rules=chosen)
                times[name].append((time.perf_counter() - w0, time.process_time() - c0))
        print("budgets:", out.budgets)
    return times, first


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_summary(env: dict[str, str]) -> Timing:
    cmd = [sys.executable, "-c", "from laptime.cli import main; main()", "report", "summary", "--json"]
    cmd += ["--task", env["BENCH_TASK"]] if env.get("BENCH_TASK") else []
    w0, c0 = time.perf_counter(), _child_cpu()  # the child's CPU: RUSAGE_CHILDREN grows by it
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - w0, _child_cpu() - c0


def whole_process(store: Store, repeat: int, task: str | None) -> tuple[dict[str, list[Timing]], Timing]:
    env = {**os.environ, "LAPTIME_HOME": str(store.root), "BENCH_TASK": task or ""}
    if store.config_path.exists():
        raise SystemExit(f"{store.config_path} exists: this bench writes and removes it; move it away first")
    times: dict[str, list[Timing]] = {"without": [], "with": []}
    try:
        with open_index(store) as index:
            index.execute("DELETE FROM run_cost_cache")
            index.execute("DELETE FROM budget_count_cache")
        store.config_path.write_text(CONFIG, encoding="utf-8")
        first = _run_summary(env)
        for _ in range(repeat):
            store.config_path.unlink()
            times["without"].append(_run_summary(env))
            store.config_path.write_text(CONFIG, encoding="utf-8")
            times["with"].append(_run_summary(env))
        cmd = [sys.executable, "-c", "from laptime.cli import main; main()", "report", "summary", "--json"]
        print("budgets:", json.loads(subprocess.run(cmd, env=env, capture_output=True, check=True).stdout)["budgets"])
    finally:
        store.config_path.unlink(missing_ok=True)
    return times, first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--process", action="store_true", help="time the whole `laptime report summary --json`")
    parser.add_argument("--task", help="a filtered summary: the runs of this task glob")
    args = parser.parse_args()
    store = Store(Path(args.dir) / ".laptime")
    times, first = (whole_process if args.process else in_process)(store, args.repeat, args.task)
    what = "laptime report summary --json" if args.process else "compute_summary"
    what += f" --task {args.task!r}" if args.task else ""
    print(f"{what}, paired, n={args.repeat}:")
    print(f"first with budgets (prices every run): wall {first[0] * 1000:7.1f} ms  CPU {first[1] * 1000:7.1f} ms")
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    for k, (w, c) in med.items():
        lo, hi = min(w for w, _ in times[k]), max(w for w, _ in times[k])
        print(f"{k:8} budgets: wall {w * 1000:7.1f} ms ({lo * 1000:.1f}..{hi * 1000:.1f})  CPU {c * 1000:7.1f} ms")
    (w0, c0), (w1, c1) = med["without"], med["with"]
    wall = f"wall {w1 / w0:.2f}x (+{(w1 - w0) * 1000:.1f} ms)"
    print(f"with/without: {wall}, CPU {c1 / c0:.2f}x (+{(c1 - c0) * 1000:.1f} ms)")
    if args.process:
        verdict = "PASS" if w1 <= 0.5 else "MISS"
        print(f"warm report summary with [budgets]: {w1:.3f} s against the 0.5 s budget: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
