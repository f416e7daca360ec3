"""Run every benchmark and print one summary table against DESIGN.md's budgets.

Each benchmark runs as its own subprocess (a fresh interpreter, as a user would run
it) with ``--json``; ``--quick`` is passed through. Exit status is 1 if a benchmark
failed to run or exited non-zero (the core three do so only when their self-check, of
event and row counts, fails); budget misses are reported, not fatal, so CI can
smoke-test with ``--quick`` on any machine.

    .venv/bin/python bench/run_all.py [--quick] [--json] [--only NAME ...] [--save FILE]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

HERE = Path(__file__).resolve().parent
BENCHES = ("recorder_overhead", "index_ingest", "cli_help", "critical_path", "summary_baseline")
CLICK = "python -c 'import click'"


def _run(name: str, quick: bool) -> tuple[dict[str, Any] | None, str, float]:
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", *(["--quick"] if quick else [])]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None, f"exit {done.returncode}: {done.stderr[-2000:]}", elapsed
    if done.returncode != 0:
        data["failed"] = f"exit {done.returncode}: the script reported a failure"
    return data, "", elapsed


def _rows(name: str, data: dict[str, Any]) -> list[list[str]]:
    def budget_row(label: str, figure: str, budget: dict[str, Any]) -> list[str]:
        op = ">=" if budget["higher_is_better"] else "<="
        margin = budget["margin"]
        how = f"{margin:.2f}x headroom" if budget["passed"] else f"missed by {1 / margin:.2f}x"
        return [name, label, figure, f"{op} {_util.fmt(budget['limit'])} {budget['unit']}", budget["verdict"], how]

    if name == "recorder_overhead":
        med = data["median_us_per_span"]
        n = data["rounds"] * data["spans_per_round"]
        return [
            [name, "laptime phase, buffered (us)", _util.fmt(med["laptime-buffered"]), f"n={n:,}", "", ""],
            [name, "laptime phase, write-through (us)", _util.fmt(med["laptime-writethrough"]), "", "", ""],
            [name, "OTel span, Simple+no-op (us)", _util.fmt(med["otel-simple"]), "reference", "", ""],
            [name, "OTel span, Batch+no-op (us)", _util.fmt(med["otel-batch"]), "", "", ""],
            *(
                budget_row(
                    f"ratio buffered/OTel simple, {b['name'].split(', ')[-1]} ({b['name'].split(':')[0]})",
                    f"{b['value']:.3f}",
                    b,
                )
                for b in data.get("budgets", [data["budget"]])
            ),
        ]
    if name == "index_ingest":
        b_rebuild, b_inc = data["budgets"]
        rebuild = _util.fmt(data["rebuild_events_per_s"])
        increment = _util.fmt(data["increment_events_per_s"])
        return [
            budget_row(f"rebuild {data['events']:,} events (ev/s)", rebuild, b_rebuild),
            [name, "  same on CPU time (ev/s)", _util.fmt(data["rebuild_cpu_events_per_s"]), "", "", ""],
            budget_row(f"incremental +{data['added_events']:,} (ev/s)", increment, b_inc),
            [name, "  same on CPU time (ev/s)", _util.fmt(data["increment_cpu_events_per_s"]), "", "", ""],
            [name, "no-op update (ms)", f"{data['noop_update_ms']:.2f}", "", "", ""],
        ]
    if name == "cli_help":
        med = data["median_ms"]
        return [
            [name, "python -c pass (ms)", f"{med['python -c pass']:.1f}", "floor", "", ""],
            [name, "python -c 'import click' (ms)", f"{med[CLICK]:.1f}", "", "", ""],
            budget_row("laptime --help (ms)", f"{med['laptime --help']:.1f}", data["budget"]),
        ]
    if name == "critical_path":
        return [
            budget_row(f"critical path, {data['spans']:,} spans (ms)", f"{data['median_wall_ms']:.1f}", data["budget"]),
            [name, "  same on CPU time (ms)", f"{data['median_cpu_ms']:.1f}", f"n={data['repeat']}", "", ""],
        ]
    if name == "summary_baseline":
        med, ratio = data["median_s"], data["ratio_to_plain"]
        n = f"n={data['n']}"
        return [
            [name, "plain report summary --since D (s)", f"{med['plain']['wall']:.3f}", n, "", ""],
            budget_row("--baseline ..D, every other run (s)", f"{med['range']['wall']:.3f}", data["budget"]),
            [name, "  same on CPU time (s)", f"{med['range']['cpu']:.3f}", "", "", ""],
            [name, "  x plain, wall / CPU", f"{ratio['range']['wall']:.2f} / {ratio['range']['cpu']:.2f}", "", "", ""],
            [name, "--baseline last:200 (s)", f"{med['last']['wall']:.3f}", "", "", ""],
        ]
    # Any other benchmark script: its budget line(s), if it reports them the same way.
    budgets = data.get("budgets") or ([data["budget"]] if "budget" in data else [])
    return [budget_row(b["name"], _util.fmt(b["value"]) + f" {b['unit']}", b) for b in budgets]


def _discovered() -> list[str]:
    """Every benchmark script in bench/ (the default ones first)."""
    others = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all")
    return [*BENCHES, *(name for name in others if name not in BENCHES)]


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument(
            "--only",
            nargs="+",
            choices=_discovered(),
            help=f"run only these benchmarks (default: {', '.join(BENCHES)})",
        )
        parser.add_argument("--save", type=Path, help="also write all results as JSON to this file")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    names = args.only or list(BENCHES)
    facts = _util.machine_facts(quick=args.quick)
    if not args.json:
        print(f"== laptime benchmarks{' (--quick: rough figures)' if args.quick else ''}")
        _util.print_facts(facts)
    results: dict[str, Any] = {"machine": facts, "quick": args.quick}
    rows: list[list[str]] = []
    status = 0
    for name in names:
        if not args.json:
            print(f"running {name} ...", flush=True)
        data, error, elapsed = _run(name, args.quick)
        if data is None:
            status = 1
            results[name] = {"error": error}
            rows.append([name, "FAILED TO RUN", "", "", "ERROR", error.strip().splitlines()[-1][:60] if error else ""])
            continue
        data["elapsed_s"] = elapsed
        results[name] = data
        rows.extend(_rows(name, data))
        if "failed" in data:
            status = 1
            rows.append([name, "exit status", "", "", "ERROR", data["failed"]])
    if args.save:
        args.save.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    if args.json:
        _util.emit_json(results)
        return status
    print()
    print(_util.table(rows, ["bench", "figure", "value", "budget", "verdict", "margin"]))
    return status


if __name__ == "__main__":
    sys.exit(main())
