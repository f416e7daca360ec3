"""What a webhook sends: the run's report JSON, as ``laptime report RUN --json`` prints it
(``report show RUN --json`` when ``include_spans``), from the same analysis functions."""

from __future__ import annotations

import time

import msgspec

from laptime.analysis.results import RunKpi
from laptime.config import Config
from laptime.store import Store


def run_report(
    store: Store, config: Config, run_id: str, *, include_spans: bool, findings: tuple[str, ...] = ()
) -> tuple[RunKpi, list[str]]:
    """The run's KPIs (with its spans and the rest of ``report show`` when asked), read
    from the index brought up to date with the log, and the events the run fires: its
    outcome, and of ``findings`` those that hold (``budget_exceeded``: the run crossed a
    ``[budgets]`` limit, as ``report show`` says; ``regression``: compared with the last
    runs like it, something got worse beyond noise, as ``compare`` tests it)."""
    from laptime.analysis.kpi import compute_kpi, resolve_run, run_detail
    from laptime.definitions import crashed_after_us
    from laptime.index import Index
    from laptime.pricing import PriceBook

    book = PriceBook.from_config(config)
    now, crashed = time.time_ns() // 1000, crashed_after_us(config.crashed_after_minutes)
    index = Index(store)
    try:
        index.update(wait=True)
        with index.snapshot():
            row = resolve_run(index, run_id)
            kpi = compute_kpi(index, row, now_us=now, crashed_after_us=crashed, book=book)
            detail = run_detail(index, row, kpi, config.budget_rules)
            events = events_of(kpi)
            if events and "budget_exceeded" in findings and detail.budget is not None and detail.budget.over_budget:
                events.append("budget_exceeded")
            if events and "regression" in findings:
                from laptime.analysis.regression import run_pair_check

                if run_pair_check(index, book, row, row, now_us=now, crashed_after_us=crashed).worse:
                    events.append("regression")
            return (detail if include_spans else kpi), events
    finally:
        index.close()


def body_of(report: RunKpi) -> bytes:
    """The POST body: the report as compact JSON (the same fields as ``--json``)."""
    return msgspec.json.encode(report)


def events_of(report: RunKpi) -> list[str]:
    """The webhook events a finished run fires: its outcome. (A run still running or
    crashed fires none: it has not ended.)"""
    return [report.outcome] if report.outcome not in ("running", "crashed") else []
