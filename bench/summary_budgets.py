"""``report summary`` with and without ``[budgets]``: the budget check's own cost, paired.

Uses a store made by ``bench/report_summary.py --keep DIR`` (100k runs). In one process,
``compute_summary`` runs alternately without budget rules and with rules that set every
limit (a default, a runner and a task glob), ``--repeat`` times each; the medians of wall
and CPU time, their ratio and the difference are printed.

    .venv/bin/python bench/summary_budgets.py DIR [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from laptime.analysis.summary import compute_summary
from laptime.config import BudgetRule, load_config
from laptime.definitions import crashed_after_us
from laptime.index import open_index
from laptime.pricing import PriceBook
from laptime.store import Store

RULES = (
    BudgetRule("default", "", cost_usd=0.05, duration_ms=1_800_000, tokens=200_000),
    BudgetRule("runner", "aidf", duration_ms=600_000),
    BudgetRule("task", "task-1*", cost_usd=0.02),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = Store(Path(args.dir) / ".laptime")
    config = load_config(store)
    book = PriceBook.from_config(config)
    now, crashed = int(time.time() * 1e6), crashed_after_us(config.crashed_after_minutes)
    times: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    with open_index(store) as index:
        compute_summary(index, book, now_us=now, crashed_after_us=crashed, budget_rules=RULES)  # warm-up
        for _ in range(args.repeat):
            for name, rules in (("without", ()), ("with", RULES)):
                w0, c0 = time.perf_counter(), time.process_time()
                out = compute_summary(index, book, now_us=now, crashed_after_us=crashed, budget_rules=rules)
                times[name].append((time.perf_counter() - w0, time.process_time() - c0))
        print("budgets:", out.budgets)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    for k, (w, c) in med.items():
        print(f"{k:8} budgets: wall {w * 1000:7.1f} ms  CPU {c * 1000:7.1f} ms  (median of {args.repeat})")
    (w0, c0), (w1, c1) = med["without"], med["with"]
    wall = f"wall {w1 / w0:.2f}x (+{(w1 - w0) * 1000:.1f} ms)"
    print(f"with/without: {wall}, CPU {c1 / c0:.2f}x (+{(c1 - c0) * 1000:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
