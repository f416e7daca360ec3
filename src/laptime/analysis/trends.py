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
from typing import TYPE_CHECKING, Any

from laptime.analysis.results import Result, RunListRow
from laptime.analysis.stats import percentile

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

THRESHOLD_PCT = 5.0
PREVIOUS_RUNS = 5
UP, DOWN, FLAT = "↑", "↓", "→"
SUCCESS = "completed"
#: How many runs the summary page lists as the slowest and as the costliest.
TOP_RUNS = 10


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


# -- trends over time: one point per UTC day ------------------------------------------------------------


class TrendDay(Result):
    """One UTC day of runs (by start), for the summary page's trend charts.

    - ``duration_p50_ms``: the median run duration that day (``analysis.stats.percentile``);
    - ``cost_usd``: the day's priced cost, the sum over its runs whose cost is known;
      ``unpriced_runs`` counts those left out (null cost: an unpriced model);
    - ``success_rate``: completed runs over the day's runs that are no longer running
      (``analysis.summary``'s definition), null when every run is still running.
    """

    day: str  # YYYY-MM-DD, UTC
    runs: int
    duration_p50_ms: float | None
    cost_usd: float
    unpriced_runs: int
    success_rate: float | None


def daily_trends(runs: Sequence[RunListRow]) -> list[TrendDay]:
    """The runs' trend points, one per UTC day that has a run, oldest first."""
    days: dict[str, list[RunListRow]] = {}
    for r in runs:
        days.setdefault(r.started_at[:10], []).append(r)
    out = []
    for day in sorted(days):
        rows = days[day]
        finished = [r for r in rows if r.outcome != "running"]
        out.append(
            TrendDay(
                day=day,
                runs=len(rows),
                duration_p50_ms=percentile(sorted(r.total_duration_ms for r in rows), 50),
                cost_usd=sum(r.cost_usd for r in rows if r.cost_usd is not None),
                unpriced_runs=sum(1 for r in rows if r.cost_usd is None),
                success_rate=sum(1 for r in finished if r.outcome == SUCCESS) / len(finished) if finished else None,
            )
        )
    return out


def slowest_runs(runs: Sequence[RunListRow], n: int = TOP_RUNS) -> list[RunListRow]:
    """The ``n`` longest runs, longest first (ties: newest first as given)."""
    return sorted(runs, key=lambda r: -r.total_duration_ms)[:n]


def costliest_runs(runs: Sequence[RunListRow], n: int = TOP_RUNS) -> list[RunListRow]:
    """The ``n`` runs that cost most, of those whose cost is known."""
    return sorted((r for r in runs if r.cost_usd is not None), key=lambda r: -(r.cost_usd or 0.0))[:n]


class RunsOverTime(Result):
    """What the summary page draws beside ``Summary``: the daily trend points and the slowest and
    costliest runs of the selection."""

    days: list[TrendDay]
    slowest: list[RunListRow]
    costliest: list[RunListRow]


def runs_over_time(
    index: Index,
    book: PriceBook,
    *,
    since_us: int | None,
    until_us: int | None,
    now_us: int,
    crashed_after_us: int,
) -> RunsOverTime:
    """The daily trends and top runs of the runs started in [since, until) (``report list``'s rows)."""
    from laptime.analysis.kpi import list_runs, run_summaries

    runs = list_runs(index, since_us=since_us, until_us=until_us)
    rows = run_summaries(index, runs, now_us=now_us, crashed_after_us=crashed_after_us, book=book)
    return RunsOverTime(days=daily_trends(rows), slowest=slowest_runs(rows), costliest=costliest_runs(rows))
