"""``report summary --by branch``: the summary's main figures per branch.

A run's branch is ``laptime.definitions.run_branch`` (its CI or git branch as recorded,
else the branch an importer read); runs with none make one row whose ``branch`` is null.
Per branch: runs, outcomes (``laptime.definitions.outcome``), the success rate (completed
over runs no longer running, as in the summary), run duration statistics in integer ms
(percentiles by SQLite's ``percentile()``, the summary's definition), total tokens and the
cost from the cost engine (``CostCalculator.by_run``, summed over the branch's runs).
Rows come busiest first (runs, then the branch name; no branch last).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laptime import definitions as d
from laptime.analysis.cost import CostCalculator, cost_source
from laptime.events import OUTCOMES

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

_DURATION_MS = d.ms_sql(d.run_duration_sql("r"))


def branch_rows(
    index: Index, book: PriceBook, runs_sql: str | None, *, now_us: int, crashed_after_us: int
) -> list[dict[str, Any]]:
    """One row per branch of the runs ``runs_sql`` selects (None: every run)."""
    where = f"WHERE r.run_id IN ({runs_sql})" if runs_sql else ""
    branch = d.run_branch_sql("r")
    rows: dict[str | None, dict[str, Any]] = {}
    for name, outcome, n in index.query(
        f"SELECT {branch} AS b, {d.outcome_sql(now_us, crashed_after_us)}, COUNT(*) FROM runs r {where} "
        "GROUP BY b, 2 ORDER BY b, 2"
    ):
        row = rows.setdefault(name, {"branch": name, "runs": 0, "outcomes": dict.fromkeys(OUTCOMES, 0)})
        row["runs"] += n
        row["outcomes"][outcome] = row["outcomes"].get(outcome, 0) + n
    for name, n, total, p50, p90, p95, low, high in index.query(
        f"SELECT {branch} AS b, COUNT(*), TOTAL({_DURATION_MS}), percentile({_DURATION_MS}, 50), "
        f"percentile({_DURATION_MS}, 90), percentile({_DURATION_MS}, 95), MIN({_DURATION_MS}), MAX({_DURATION_MS}) "
        f"FROM runs r {where} GROUP BY b"
    ):
        rows[name]["duration_ms"] = {
            "n": n,
            "total": int(total),
            "avg": total / n,
            "p50": p50,
            "p90": p90,
            "p95": p95,
            "min": low,
            "max": high,
        }
    tokens: dict[str | None, int] = dict(
        index.query(
            f"SELECT {branch} AS b, SUM(l.input + l.output + l.cache_read + l.cache_write) "
            f"FROM run_llm l JOIN runs r ON r.run_id = l.run_id {where} GROUP BY b"
        )
    )
    branch_of: dict[str, str | None] = dict(index.query(f"SELECT r.run_id, {branch} FROM runs r {where}"))
    costs: dict[str | None, list[Any]] = {}  # branch -> [cost, calls, reported calls, unpriced calls, priced?]
    for run_id, cost in CostCalculator(index, book, runs_sql=runs_sql).by_run().items():
        slot = costs.setdefault(branch_of.get(run_id), [0.0, 0, 0, 0, False])
        if cost.cost_usd is not None:
            slot[0] += cost.cost_usd
            slot[4] = True
        slot[1] += cost.calls
        slot[2] += cost.reported_calls
        slot[3] += cost.unpriced_calls
    out = []
    for name, row in rows.items():
        settled = row["runs"] - row["outcomes"]["running"]
        cost, calls, reported, unpriced, priced = costs.get(name, [0.0, 0, 0, 0, False])
        out.append(
            {
                **row,
                "success_rate": row["outcomes"]["completed"] / settled if settled else None,
                "total_tokens": int(tokens.get(name) or 0),
                "cost_usd": cost if priced or not calls else None,
                "cost_source": cost_source(calls, reported, unpriced),
                "llm_calls": calls,
                "unpriced_calls": unpriced,
            }
        )
    out.sort(key=lambda r: (-r["runs"], r["branch"] is None, r["branch"] or ""))
    return out
