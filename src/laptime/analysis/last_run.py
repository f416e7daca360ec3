"""``laptime status --report``: the latest run, and its trends against the runs before it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from laptime.analysis.kpi import compute_kpi, list_runs, run_summaries
from laptime.analysis.results import LastRun, to_builtins
from laptime.analysis.trends import PREVIOUS_RUNS, run_trends

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

# How many runs before the latest are read to find the previous finished ones.
LOOKBACK = 64


def last_run(index: Index, book: PriceBook, *, now_us: int, crashed_after_us: int) -> LastRun | None:
    """The latest run's summary and trends (``laptime.analysis.trends``); None with no runs."""
    runs = list_runs(index, limit=LOOKBACK)
    if not runs:
        return None
    latest, earlier = runs[0], runs[1:]
    previous = [r for r in earlier if r.outcome(now_us, crashed_after_us) != "running"][:PREVIOUS_RUNS]
    kpi = compute_kpi(index, latest, now_us=now_us, crashed_after_us=crashed_after_us, book=book)
    summaries = run_summaries(index, previous, now_us=now_us, crashed_after_us=crashed_after_us, book=book)
    last = {
        "run_id": kpi.run_id,
        "name": kpi.name,
        "runner": kpi.runner,
        "started_at": kpi.started_at,
        "outcome": kpi.outcome,
        "total_duration_ms": kpi.total_duration_ms,
        "llm_calls": kpi.llm_calls,
        "tokens": to_builtins(kpi.tokens),
        "cost_usd": kpi.cost_usd,
        "cost_source": kpi.cost_source,
        "unpriced_calls": kpi.cost.unpriced_calls,
    }
    last["trends"] = run_trends(last, [to_builtins(s) for s in summaries])
    return msgspec.convert(last, LastRun)
