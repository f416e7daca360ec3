"""The figures ``laptime metrics`` exports (Prometheus), from the one definition of each.

Over the runs the summary's filters select (``analysis.summary.SummaryFilters``):

- runs by outcome: ``laptime.definitions.outcome`` (as ``report summary``'s ``outcomes``);
- run durations: ``laptime.definitions.run_duration_us`` in integer ms (``ms``), counted
  into cumulative buckets (a run of exactly a bucket's bound is in it: Prometheus' ``le``);
- phase durations: each run's summed time in each top-level phase (the index's
  ``run_phases``, the summary's per-phase figure), per phase name;
- tokens and cost per (model, provider): the cost engine's ``CostCalculator.by_model``
  (input is uncached input; a model none of whose calls could be priced has no cost).

Bucket bounds are seconds, chosen for runs of minutes to hours (``RUN_BUCKETS_S``) and
phases of seconds to hours (``PHASE_BUCKETS_S``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from laptime import definitions as d
from laptime.analysis.cost import CostCalculator
from laptime.analysis.results import Result
from laptime.analysis.summary import SummaryFilters, run_selection
from laptime.events import OUTCOMES

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

#: Run duration bucket bounds in seconds: 1, 5, 10, 15, 30 min, 1, 2, 4, 8 h, 1 day.
RUN_BUCKETS_S: Final[tuple[float, ...]] = (60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
#: Phase duration bucket bounds in seconds: 1, 10, 30 s, 1, 5, 10, 30 min, 1, 2, 4 h.
PHASE_BUCKETS_S: Final[tuple[float, ...]] = (1, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400)


class DurationHistogram(Result):
    """Cumulative counts of durations at or below each bound (seconds), their count and sum."""

    bounds_s: list[float]
    cumulative: list[int]  # one per bound; the +Inf bucket is ``count``
    count: int
    sum_s: float


class PhaseHistogram(DurationHistogram):
    phase: str


class ModelTotals(Result):
    model: str
    provider: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None  # None: none of its calls could be priced


class MetricsSnapshot(Result):
    outcomes: dict[str, int]
    run_duration: DurationHistogram
    phase_durations: list[PhaseHistogram]
    models: list[ModelTotals]


def _histogram_sql(value_ms: str, bounds_s: tuple[float, ...]) -> str:
    sums = ", ".join(f"TOTAL({value_ms} <= {int(bound * 1000)})" for bound in bounds_s)
    return f"COUNT(*), TOTAL({value_ms}), {sums}"


def _histogram(row: tuple[Any, ...], bounds_s: tuple[float, ...]) -> dict[str, Any]:
    count, total_ms, *cumulative = row
    return {
        "bounds_s": list(bounds_s),
        "cumulative": [int(c) for c in cumulative],  # TOTAL() gives floats
        "count": count,
        "sum_s": float(total_ms) / 1000,
    }


def metrics_snapshot(
    index: Index, book: PriceBook, filters: SummaryFilters | None = None, *, now_us: int, crashed_after_us: int
) -> MetricsSnapshot:
    """The snapshot of the runs ``filters`` select (None: every run)."""
    import msgspec

    filters = filters or SummaryFilters()
    sel = run_selection(index, filters, now_us, crashed_after_us)
    where = f"WHERE r.run_id IN ({sel})" if sel else ""
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in index.query(
        f"SELECT {d.outcome_sql(now_us, crashed_after_us)}, COUNT(*) FROM runs r {where} GROUP BY 1"
    ):
        outcomes[outcome] = n
    run_ms = d.ms_sql(d.run_duration_sql("r"))
    run_row = index.query(f"SELECT {_histogram_sql(run_ms, RUN_BUCKETS_S)} FROM runs r {where}")[0]
    phase_ms = d.ms_sql("p.duration_us")
    phase_where = f"WHERE p.run_id IN ({sel})" if sel else ""
    phases = [
        {"phase": row[0], **_histogram(row[1:], PHASE_BUCKETS_S)}
        for row in index.query(
            f"SELECT p.phase, {_histogram_sql(phase_ms, PHASE_BUCKETS_S)} FROM run_phases p {phase_where} "
            "GROUP BY p.phase ORDER BY p.phase"
        )
    ]
    models = [
        {
            "model": m.model,
            "provider": m.provider,
            "calls": m.calls,
            "input_tokens": m.input,
            "output_tokens": m.output,
            "cache_read_tokens": m.cache_read,
            "cache_write_tokens": m.cache_write,
            "cost_usd": m.cost_usd,
        }
        for m in CostCalculator(index, book, runs_sql=sel).by_model()
    ]
    data = {
        "outcomes": outcomes,
        "run_duration": _histogram(run_row, RUN_BUCKETS_S),
        "phase_durations": phases,
        "models": models,
    }
    return msgspec.convert(data, MetricsSnapshot)
