"""What a webhook sends: the run's report JSON, as ``laptime report RUN --json`` prints it
(``report show RUN --json`` when ``include_spans``), from the same analysis functions."""

from __future__ import annotations

import time

import msgspec

from laptime.analysis.results import RunKpi
from laptime.config import Config
from laptime.store import Store


def run_report(store: Store, config: Config, run_id: str, *, include_spans: bool) -> RunKpi:
    """The run's KPIs (with its spans and the rest of ``report show`` when asked), read
    from the index brought up to date with the log."""
    from laptime.analysis.kpi import compute_kpi, resolve_run, run_detail
    from laptime.definitions import crashed_after_us
    from laptime.index import Index
    from laptime.pricing import PriceBook

    book = PriceBook.from_config(config)
    index = Index(store)
    try:
        index.update(wait=True)
        with index.snapshot():
            row = resolve_run(index, run_id)
            kpi = compute_kpi(
                index,
                row,
                now_us=time.time_ns() // 1000,
                crashed_after_us=crashed_after_us(config.crashed_after_minutes),
                book=book,
            )
            return run_detail(index, row, kpi) if include_spans else kpi
    finally:
        index.close()


def body_of(report: RunKpi) -> bytes:
    """The POST body: the report as compact JSON (the same fields as ``--json``)."""
    return msgspec.json.encode(report)


def events_of(report: RunKpi) -> list[str]:
    """The webhook events a finished run fires: its outcome. (A run still running or
    crashed fires none: it has not ended.)"""
    return [report.outcome] if report.outcome not in ("running", "crashed") else []
