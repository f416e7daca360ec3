"""Percentiles and summaries, one definition for every view.

Percentiles use linear interpolation between closest ranks: numpy's default, and
``statistics.quantiles(method="inclusive")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of already sorted values; None when there are none."""
    n = len(sorted_values)
    if n == 0:
        return None
    if not 0 <= q <= 100:
        msg = f"percentile must be between 0 and 100, got {q}"
        raise ValueError(msg)
    position = (n - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, n - 1)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, total, avg, p50, p90, p95, min and max of the values."""
    ordered = sorted(values)
    n = len(ordered)
    total = float(sum(ordered))
    return {
        "n": n,
        "total": total,
        "avg": total / n if n else None,
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "min": float(ordered[0]) if n else None,
        "max": float(ordered[-1]) if n else None,
    }
