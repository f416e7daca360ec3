"""Shared helpers for the benchmark scripts: machine facts, statistics, output.

Every script prints the same header (CPU, cores, Python, a calibration figure) so
figures from different machines can be compared: divide by ``loop_ns_per_iter`` to
get a rough machine-independent cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Iterations of the calibration loop; a few hundred milliseconds on a slow machine.
CALIBRATION_ITERS = 2_000_000


def calibrate(iters: int = CALIBRATION_ITERS, repeats: int = 5) -> float:
    """Median nanoseconds per iteration of an empty ``for`` loop over ``range``."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(iters):
            pass
        samples.append((time.perf_counter_ns() - t0) / iters)
    return statistics.median(samples)


def cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def code_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes (read-only git calls)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes in {len(dirty)} src/ file(s)" if dirty else head


def machine_facts(*, quick: bool = False) -> dict[str, Any]:
    """What readers need to compare these figures with their own machine."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "load_avg": load_average(),
        "code": code_state(),
        "loop_ns_per_iter": round(calibrate(repeats=3 if quick else 5), 1),
    }


def print_facts(facts: dict[str, Any]) -> None:
    print(
        f"machine: {facts['cpu']} | {facts['cores']} cores | {facts['python']} | {facts['platform']}\n"
        f"         calibration: empty Python for-loop {facts['loop_ns_per_iter']} ns/iter "
        f"(10M iters = {facts['loop_ns_per_iter'] / 100:.2f} s) | load avg {facts['load_avg']}\n"
        f"         code {facts['code']} | {facts['date']}"
    )


@dataclass
class Budget:
    """One budget line: ``value`` compared with ``limit`` (lower or higher is better)."""

    name: str
    value: float
    limit: float
    unit: str
    higher_is_better: bool = False
    note: str = ""
    passed: bool = field(init=False)
    margin: float = field(init=False)  # >1 means headroom, <1 means missed by that factor

    def __post_init__(self) -> None:
        if self.higher_is_better:
            self.passed = self.value >= self.limit
            self.margin = self.value / self.limit if self.limit else float("inf")
        else:
            self.passed = self.value <= self.limit
            self.margin = self.limit / self.value if self.value else float("inf")

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def line(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        if self.passed:
            how = f"headroom {self.margin:.2f}x"
        else:
            how = f"missed by {1 / self.margin:.2f}x" if self.margin else "missed"
        note = f"  ({self.note})" if self.note else ""
        figure = f"{fmt(self.value)} {self.unit} (budget {op} {fmt(self.limit)})"
        return f"{self.verdict}  {self.name}: {figure}{note}; {how}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data


def fmt(value: float) -> str:
    """Three significant figures, thousands separated when large."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min..max, to show how noisy a figure was."""
    return f"{fmt(min(values))}..{fmt(max(values))}"


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small n: a smoke run for CI, figures are rough")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def emit_json(payload: dict[str, Any]) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain left/right aligned text table (numbers right-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def render(row: Sequence[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            text = str(cell)
            numeric = i > 0 and text.lstrip("+-")[:1].isdigit()
            cells.append(text.rjust(widths[i]) if numeric else text.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    lines = [render(header), "  ".join("-" * w for w in widths)]
    lines.extend(render(r) for r in rows)
    return "\n".join(lines)
