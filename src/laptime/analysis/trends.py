"""Trend arrows: is the last run better or worse than the runs before it?

The last run is set against the **mean of the previous runs** (``PREVIOUS_RUNS`` = 5):
the finished runs (any outcome but ``running``) that started before it, newest first.

- Duration and cost: ``↑`` when the last run's value is more than ``THRESHOLD_PCT``
  (5%) above the mean, ``↓`` when more than 5% below it, ``→`` otherwise. A run
  without LLM calls costs 0; runs whose cost is unknown (unpriced models) are left out
  of the cost mean. With a mean of 0, any increase is ``↑``.
- Success: the last run counts 100% when it completed and 0% otherwise; the previous
  runs give a success rate. ``↑`` / ``↓`` when the two differ by more than 5
  percentage points, ``→`` otherwise.

No previous run (or no value to compare) gives no arrow: ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

THRESHOLD_PCT = 5.0
PREVIOUS_RUNS = 5
UP, DOWN, FLAT = "↑", "↓", "→"
SUCCESS = "completed"


def arrow(value: float | None, baseline: float | None, threshold_pct: float = THRESHOLD_PCT) -> str | None:
    """``↑``, ``↓`` or ``→`` for a value against a baseline, with a relative threshold."""
    if value is None or baseline is None:
        return None
    if baseline == 0:
        return UP if value > 0 else FLAT
    change = (value - baseline) / abs(baseline) * 100.0
    if change > threshold_pct:
        return UP
    if change < -threshold_pct:
        return DOWN
    return FLAT


def numeric_trend(value: float | None, previous: Sequence[float | None]) -> dict[str, Any]:
    """The value, the mean of the known previous values, the % change and the arrow."""
    known = [v for v in previous if v is not None]
    mean = sum(known) / len(known) if known else None
    change = None if value is None or mean is None or mean == 0 else (value - mean) / abs(mean) * 100.0
    return {"value": value, "mean": mean, "n": len(known), "change_pct": change, "arrow": arrow(value, mean)}


def success_trend(outcome: str, previous: Sequence[str]) -> dict[str, Any]:
    """The last run's success (1/0) against the previous runs' success rate."""
    value = 1.0 if outcome == SUCCESS else 0.0
    rate = sum(1 for o in previous if o == SUCCESS) / len(previous) if previous else None
    result: str | None = None
    if rate is not None:
        points = (value - rate) * 100.0
        result = UP if points > THRESHOLD_PCT else DOWN if points < -THRESHOLD_PCT else FLAT
    return {"value": value, "rate": rate, "n": len(previous), "arrow": result}


def run_trends(last: dict[str, Any], previous: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Trends of a run summary (``total_duration_ms``, ``cost_usd``, ``outcome``) against
    the previous runs' summaries (newest first; only the first ``PREVIOUS_RUNS`` count)."""
    prev = list(previous[:PREVIOUS_RUNS])
    return {
        "previous_runs": [p["run_id"] for p in prev],
        "threshold_pct": THRESHOLD_PCT,
        "duration_ms": numeric_trend(last["total_duration_ms"], [p["total_duration_ms"] for p in prev]),
        "cost_usd": numeric_trend(last["cost_usd"], [p["cost_usd"] for p in prev]),
        "success": success_trend(last["outcome"], [p["outcome"] for p in prev]),
    }
