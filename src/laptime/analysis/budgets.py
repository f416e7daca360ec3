"""Budgets: which ``[budgets]`` limits apply to a run, and which of them it crossed.

One definition, read by the SDK (``Run.over_budget``), ``report show``, ``report list
--over-budget`` and ``report summary``:

- **Which limits apply.** Each limit (``cost_usd``, ``duration_ms``, ``tokens``) comes from
  the most specific config table that matches the run and sets that limit: a
  ``[budgets.task.NAME]`` whose NAME is the run's name exactly, then task globs (``*``,
  ``?``, ``[abc]``; case-sensitive) with more literal characters first and, of equal ones,
  the first in the file; then ``[budgets.runner.NAME]`` for the run's runner (exactly);
  then ``[budgets]``. So a task table that sets only ``cost_usd`` keeps the runner's or the
  default's duration.
- **Crossing.** A run crosses a limit when its figure is above it (equal is within budget):
  its duration (``laptime.definitions``: end minus start, or the last event for a run that
  has not ended), its cost (``laptime.analysis.cost``; an unpriced run has no cost and
  crosses no cost limit, a partly priced one counts its priced part), and its tokens
  (input, output, cache read and cache write, as the KPIs count them).
- ``report summary`` runs the same check in SQL over the index's per-run tables
  (``over_budget_sql``), so 100k runs cost one pass; ``tests/test_budgets.py`` checks that
  both agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from laptime import definitions as d
from laptime.analysis.results import BudgetCrossing, BudgetLimit, BudgetLimitName, RunBudget

if TYPE_CHECKING:
    from laptime.config import BudgetRule
    from laptime.index import Index
    from laptime.pricing import PriceBook

LIMITS: Final[tuple[BudgetLimitName, ...]] = ("cost_usd", "duration_ms", "tokens")
EVENT_NAME: Final = "laptime.budget.exceeded"  # the metric event the recorder writes per crossing
UNITS: Final[dict[BudgetLimitName, str]] = {"cost_usd": "usd", "duration_ms": "ms", "tokens": "tokens"}
_WILDCARDS: Final = frozenset("*?[")


@dataclass(frozen=True)
class AppliedBudget:
    """The limits that apply to one run: (limit, budget, rule label), in ``LIMITS`` order."""

    limits: tuple[tuple[BudgetLimitName, float, str], ...]

    def get(self, limit: BudgetLimitName) -> float | None:
        for name, budget, _rule in self.limits:
            if name == limit:
                return budget
        return None


@dataclass(frozen=True)
class Figures:
    """A run's figures that limits are set on; cost None when nothing was priced."""

    cost_usd: float | None
    duration_ms: int
    tokens: int

    def of(self, limit: BudgetLimitName) -> float | None:
        if limit == "cost_usd":
            return self.cost_usd
        return float(self.duration_ms if limit == "duration_ms" else self.tokens)


def specificity(rule: BudgetRule) -> tuple[int, int, int]:
    """Sort key: the most specific rule first (see the module docstring)."""
    if rule.scope == "task":
        literal = sum(c not in _WILDCARDS for c in rule.pattern)
        exact = not (_WILDCARDS & set(rule.pattern))
        return (0 if exact else 1, -literal, rule.position)
    return (2 if rule.scope == "runner" else 3, 0, rule.position)


def ordered(rules: Iterable[BudgetRule]) -> list[BudgetRule]:
    """The rules from the most specific to the least."""
    return sorted(rules, key=specificity)


def rule_matches(rule: BudgetRule, name: str | None, runner: str | None) -> bool:
    if rule.scope == "default":
        return True
    if rule.scope == "runner":
        return runner == rule.pattern
    return name is not None and fnmatchcase(name, rule.pattern)


def budget_for(rules: Sequence[BudgetRule], name: str | None, runner: str | None) -> AppliedBudget | None:
    """The limits that apply to a run of this name (task) and runner; None when none does."""
    matching = [r for r in ordered(rules) if rule_matches(r, name, runner)]
    limits: list[tuple[BudgetLimitName, float, str]] = []
    for limit in LIMITS:
        for rule in matching:
            value = _rule_limit(rule, limit)
            if value is not None:
                limits.append((limit, float(value), rule.label))
                break
    return AppliedBudget(tuple(limits)) if limits else None


def _rule_limit(rule: BudgetRule, limit: BudgetLimitName) -> float | None:
    value: float | None = getattr(rule, limit)
    return value


def crossings(budget: AppliedBudget, figures: Figures) -> list[tuple[BudgetLimitName, float, float, str]]:
    """The limits ``figures`` are above: (limit, value, budget, rule), in ``LIMITS`` order.

    This is the function that says "over budget"; the recorder calls it at each phase and
    llm-call boundary, and a hook (a webhook on ``budget_exceeded``) can call it too."""
    out = []
    for limit, allowed, rule in budget.limits:
        value = figures.of(limit)
        if value is not None and value > allowed:
            out.append((limit, value, allowed, rule))
    return out


def run_budget(
    rules: Sequence[BudgetRule],
    name: str | None,
    runner: str | None,
    figures: Figures,
    crossed_at: dict[str, str] | None = None,
) -> RunBudget | None:
    """A run's budget for the reports; ``crossed_at``: limit -> when its event was recorded."""
    budget = budget_for(rules, name, runner)
    if budget is None:
        return None
    when = crossed_at or {}
    crossed = [
        BudgetCrossing(
            limit=limit, value=value, budget=allowed, over_by=value - allowed, rule=rule, crossed_at=when.get(limit)
        )
        for limit, value, allowed, rule in crossings(budget, figures)
    ]
    return RunBudget(
        limits=[BudgetLimit(limit=limit, budget=allowed, rule=rule) for limit, allowed, rule in budget.limits],
        crossed=crossed,
        over_budget=bool(crossed),
    )


def recorded_crossings(index: Index, run_id: str) -> dict[str, str]:
    """When the run's recorder first wrote a ``laptime.budget.exceeded`` event, per limit."""
    return {
        limit: ts
        for limit, ts in index.query(
            "SELECT attrs ->> '$.limit', MIN(ts) FROM metrics WHERE run = ? AND name = ? GROUP BY 1",
            [run_id, EVENT_NAME],
        )
        if isinstance(limit, str)
    }


# -- in SQL, over many runs -----------------------------------------------------------------------


def _limit_sql(rules: Sequence[BudgetRule], limit: BudgetLimitName, params: list[Any]) -> str | None:
    """SQL of the run's (alias ``r``) limit: a CASE over the rules that set it, most specific first."""
    cases = []
    for rule in ordered(rules):
        value = _rule_limit(rule, limit)
        if value is None:
            continue
        if rule.scope == "default":
            cases.append(f"ELSE {float(value)!r}")
            break
        column = "r.runner = ?" if rule.scope == "runner" else "r.name GLOB ?"
        cases.append(f"WHEN {column} THEN {float(value)!r}")
        params.append(rule.pattern)
    if not cases:
        return None
    if cases[0].startswith("ELSE"):
        return cases[0][5:]
    return f"(CASE {' '.join(cases)} END)"


def over_budget_sql(
    rules: Sequence[BudgetRule], cost_sql: str | None, runs_sql: str | None
) -> tuple[str, list[Any]] | None:
    """SQL of ``(run_id, has_budget, over_cost, over_duration, over_tokens)`` per selected run
    (``runs_sql``: a query of run ids; None for every run), with its parameters; None when the
    rules set no limit. ``cost_sql``: ``CostCalculator.run_cost_sql()`` (a query of
    ``(run_id, cost_usd)``), needed when a rule sets ``cost_usd``. The same check as
    ``crossings``, in one pass."""
    params: list[Any] = []
    limits = {limit: _limit_sql(rules, limit, params) for limit in LIMITS}
    if all(v is None for v in limits.values()):
        return None
    columns = [f"{v if v is not None else 'NULL'} AS lim_{k}" for k, v in limits.items()]
    columns.append(f"{d.ms_sql(d.run_duration_sql('r'))} AS v_duration_ms")
    joins = []
    if limits["tokens"] is not None:
        columns.append("COALESCE(t.tokens, 0) AS v_tokens")
        joins.append("LEFT JOIN run_facts t ON t.run_id = r.run_id")  # tokens: definitions.llm_tokens_sql
    else:
        columns.append("0 AS v_tokens")
    if limits["cost_usd"] is not None and cost_sql is not None:
        columns.append("c.cost_usd AS v_cost_usd")
        joins.append(f"LEFT JOIN ({cost_sql}) c ON c.run_id = r.run_id")
    else:
        columns.append("NULL AS v_cost_usd")
    where = f"WHERE r.run_id IN ({runs_sql})" if runs_sql else ""
    inner = f"SELECT r.run_id, {', '.join(columns)} FROM runs r {' '.join(joins)} {where}"
    sql = f"""SELECT run_id,
                     (lim_cost_usd IS NOT NULL OR lim_duration_ms IS NOT NULL OR lim_tokens IS NOT NULL) AS b,
                     COALESCE(v_cost_usd > lim_cost_usd, 0) AS c, COALESCE(v_duration_ms > lim_duration_ms, 0) AS du,
                     COALESCE(v_tokens > lim_tokens, 0) AS t
              FROM ({inner})"""
    return sql, params


def _cost_sql(index: Index, book: PriceBook, rules: Sequence[BudgetRule], runs_sql: str | None) -> str | None:
    if not any(r.cost_usd is not None for r in rules):
        return None
    from laptime.analysis.cost import CostCalculator

    return CostCalculator(index, book, runs_sql=runs_sql).run_cost_sql()


@dataclass(frozen=True)
class BudgetCounts:
    runs_with_budget: int
    runs_over_budget: int
    by_limit: dict[str, int]


# The counts of every run (an unfiltered `report summary`), kept per rules and price
# fingerprint: a warm summary over 100k runs would otherwise spend ~0.2 s joining each run
# with its tokens and cost. An ingest that touches any run drops them all (laptime.derived).
BUDGET_CACHE_SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS budget_count_cache (
        key TEXT PRIMARY KEY, with_budget INTEGER NOT NULL, over INTEGER NOT NULL, over_cost INTEGER NOT NULL,
        over_duration INTEGER NOT NULL, over_tokens INTEGER NOT NULL) WITHOUT ROWID""",
)
BUDGET_CACHE_INVALIDATION: Final[tuple[str, ...]] = (
    "DELETE FROM budget_count_cache WHERE EXISTS (SELECT 1 FROM {touched})",
)


def count_over_budget(
    index: Index, book: PriceBook, rules: Sequence[BudgetRule], runs_sql: str | None
) -> BudgetCounts | None:
    """How many selected runs have a budget, are over it, and over each limit (SQL, one pass;
    over every run, the counts kept in ``budget_count_cache`` when they are still valid)."""
    if runs_sql is not None:
        return _count_over_budget(index, book, rules, runs_sql)
    import apsw

    from laptime.analysis.cost import price_fingerprint

    key = "\n".join([price_fingerprint(book), *map(repr, rules)])
    with index.transaction():  # one snapshot: an ingest meanwhile fails the keep (see time_split)
        kept = index.query("SELECT with_budget, over, over_cost, over_duration, over_tokens "
                           "FROM budget_count_cache WHERE key = ?", (key,))  # fmt: skip
        if kept:
            with_budget, over, cost, duration, tokens = (int(v) for v in kept[0])
            return BudgetCounts(with_budget, over, {"cost_usd": cost, "duration_ms": duration, "tokens": tokens})
        counts = _count_over_budget(index, book, rules, None)
        if counts is not None:
            by = counts.by_limit
            row = (key, counts.runs_with_budget, counts.runs_over_budget, by["cost_usd"], by["duration_ms"],
                   by["tokens"])  # fmt: skip
            # a read-only store, a stale snapshot: not kept, counted again next time
            with contextlib.suppress(apsw.BusyError, apsw.ReadOnlyError, apsw.LockedError):
                index.execute("INSERT OR REPLACE INTO budget_count_cache VALUES (?, ?, ?, ?, ?, ?)", row)
    return counts


def _count_over_budget(
    index: Index, book: PriceBook, rules: Sequence[BudgetRule], runs_sql: str | None
) -> BudgetCounts | None:
    built = over_budget_sql(rules, _cost_sql(index, book, rules, runs_sql), runs_sql)
    if built is None:
        return None
    sql, params = built
    row = index.query(
        f"SELECT TOTAL(b), TOTAL(c OR du OR t), TOTAL(c), TOTAL(du), TOTAL(t) FROM ({sql})",
        params,
    )[0]
    with_budget, over, cost, duration, tokens = (int(v) for v in row)
    return BudgetCounts(with_budget, over, {"cost_usd": cost, "duration_ms": duration, "tokens": tokens})


def over_budget_run_ids(
    index: Index, book: PriceBook, rules: Sequence[BudgetRule], runs_sql: str | None = None
) -> set[str]:
    """The ids of the selected runs that are over at least one limit."""
    built = over_budget_sql(rules, _cost_sql(index, book, rules, runs_sql), runs_sql)
    if built is None:
        return set()
    sql, params = built
    return {run_id for (run_id,) in index.query(f"SELECT run_id FROM ({sql}) WHERE c OR du OR t", params)}
