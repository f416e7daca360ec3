"""Budgets in the terminal: a run's limits (``report show``) and the runs over them (``report summary``)."""

from __future__ import annotations

from typing import Any

from laptime.report.format import count, duration, integer, percent, table, timestamp, usd

_NAMES = {"cost_usd": "cost", "duration_ms": "duration", "tokens": "tokens"}


def _figure(limit: str, value: float) -> str:
    if limit == "cost_usd":
        return usd(value)
    if limit == "duration_ms":
        return duration(value)
    return count(value)


def run_budget_lines(budget: dict[str, Any] | None, width: int | None = None) -> list[str]:
    """``report show``'s Budget section: each limit, and by how much the run went over it."""
    if budget is None:
        return []
    crossed = {c["limit"]: c for c in budget["crossed"]}
    n = len(crossed)
    head = f"Budget: over {n} of {len(budget['limits'])} limits" if n else "Budget: within every limit"
    rows = []
    for lim in budget["limits"]:
        limit = lim["limit"]
        c = crossed.get(limit)
        if c is None:
            status = "within"
        else:
            when = f" at {timestamp(c['crossed_at'])}" if c["crossed_at"] else ""
            status = f"over: {_figure(limit, c['value'])} (+{_figure(limit, c['over_by'])}){when}"
        rows.append([_NAMES[limit], _figure(limit, lim["budget"]), lim["rule"], status])
    return ["", head, *table(["limit", "budget", "rule", "status"], rows, "lrll", width=width)]


def summary_budget_line(budgets: dict[str, Any] | None) -> list[str]:
    """``report summary``'s budgets line: runs over budget, and over each limit."""
    if budgets is None:
        return []
    by = budgets["by_limit"]
    parts = " · ".join(f"{_NAMES[k]} {integer(v)}" for k, v in by.items())
    line = (
        f"budgets       {integer(budgets['runs_over_budget'])} runs over budget ({percent(budgets['share'])})"
        f" of {integer(budgets['runs_with_budget'])} with a budget · over {parts}"
    )
    return [line]
