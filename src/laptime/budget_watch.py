"""The SDK's side of budgets: a run's running totals, checked against its ``[budgets]`` limits.

A ``Run`` builds one only when a limit applies to it (so a run without budgets pays one
``is None`` per span). Its figures are those of ``laptime.analysis.budgets`` and the
reports: duration so far (now minus the run's start), tokens (input, output, cache read
and cache write, as the KPIs count them) and cost (each call priced by the cost engine's
``laptime.pricing.PriceBook``, built only when a cost limit applies; a reported cost wins).
The first crossing of each limit writes one ``laptime.budget.exceeded`` metric event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laptime import definitions as d
from laptime.analysis.budgets import EVENT_NAME, UNITS, AppliedBudget, Figures, crossings
from laptime.analysis.results import BudgetCrossing
from laptime.clock import format_timestamp, parse_timestamp_us

if TYPE_CHECKING:
    from laptime import events as ev
    from laptime.config import Config
    from laptime.pricing import PriceBook
    from laptime.recorder import Run

_NS_PER_MS = 1_000_000


class BudgetWatch:
    """One run's totals and the limits it has crossed (each recorded once)."""

    __slots__ = ("_book", "_config", "budget", "cost_usd", "crossed", "enforce", "priced_calls", "tokens")

    def __init__(self, budget: AppliedBudget, config: Config, *, enforce: bool) -> None:
        self.budget = budget
        self.enforce = enforce  # raise BudgetExceeded at the next boundary
        self._config = config
        self._book: PriceBook | None = None
        self.tokens = 0
        self.cost_usd = 0.0
        self.priced_calls = 0  # no priced call: no cost (None), as in the reports
        self.crossed: dict[str, BudgetCrossing] = {}

    def add_call(self, event: ev.LlmUsage) -> None:
        """Count a recorded llm call."""
        self.tokens += (
            d.total_input(
                event.input_tokens, event.cache_read_tokens, event.cache_write_tokens, event.input_includes_cache
            )
            + event.output_tokens
        )
        if self.budget.get("cost_usd") is None:
            return
        if self._book is None:
            from laptime.pricing import PriceBook

            self._book = PriceBook.from_config(self._config)
        priced = self._book.price(
            event.model,
            event.provider,
            parse_timestamp_us(event.ts),
            event.input_tokens,
            event.output_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
            event.input_includes_cache,
            reported_cost_usd=event.cost_usd,
        )
        if priced.cost_usd is not None:
            self.cost_usd += priced.cost_usd
            self.priced_calls += 1

    def figures(self, run: Run, now_ns: int) -> Figures:
        duration_ms = max(0, now_ns - run._start_ns) // _NS_PER_MS  # noqa: SLF001 - Run owns its watch
        return Figures(self.cost_usd if self.priced_calls else None, duration_ms, self.tokens)

    def check(self, run: Run) -> list[BudgetCrossing]:
        """The limits the run is over now; the first crossing of each writes its event."""
        now_ns = run._rec.clock()  # noqa: SLF001 - Run owns its watch
        out = []
        for limit, value, allowed, rule in crossings(self.budget, self.figures(run, now_ns)):
            seen = self.crossed.get(limit)
            if seen is None:
                seen = BudgetCrossing(
                    limit=limit,
                    value=value,
                    budget=allowed,
                    over_by=value - allowed,
                    rule=rule,
                    crossed_at=format_timestamp(now_ns),
                )
                self.crossed[limit] = seen
                run.metric(EVENT_NAME, value, UNITS[limit], limit=limit, budget=allowed, rule=rule)
            else:  # still over: the figure now, the time of the first crossing
                seen = BudgetCrossing(
                    limit=limit,
                    value=value,
                    budget=allowed,
                    over_by=value - allowed,
                    rule=rule,
                    crossed_at=seen.crossed_at,
                )
            out.append(seen)
        return out
