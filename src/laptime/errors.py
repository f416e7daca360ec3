"""laptime's errors: one tree, with one root.

Every error laptime raises on purpose is a ``LaptimeError``; its message says what went
wrong and what to do. The CLI turns them into a message and an exit code in one place
(``laptime.cli``): a ``UsageError`` exits 2, any other ``LaptimeError`` exits 1.

::

    LaptimeError
    ├── UsageError              the caller gave something laptime cannot use (exit 2)
    │   ├── ConfigError         laptime.config: a bad config file or key
    │   ├── StoreError          laptime.store: no store where one was asked for
    │   ├── RunLookupError      laptime.analysis.kpi: no run, or several, match an id
    │   ├── UsageQueryError     laptime.analysis.usage: a bad time zone, date or grouping
    │   └── UnknownFormatError  laptime.importers: no importer of that name
    ├── BudgetExceeded          laptime.recorder: a run you opted in (budget="raise") is over a limit
    ├── MissingExtraError       laptime.exporters.prometheus: an optional extra is not installed (exit 1)
    └── StoreFaultError              the store cannot do it right now (exit 1)
        ├── IndexOpenError      laptime.index: the index cannot be opened or updated
        ├── MaintenanceBusyError laptime.retention: another maintenance command holds the lock
        ├── CompactWriteError   laptime.retention: a segment could not be rewritten (it is unchanged)
        ├── StoreReadOnlyError  laptime.store: the store cannot be written (nothing was changed)
        └── StoreWriteError     laptime.store: a write to the store failed (a full disk)

The classes live beside the code that raises them; each also keeps the builtin base it
had (``LookupError``, ``ValueError``), so ``except LookupError`` still catches a run
lookup.
"""

from __future__ import annotations

from typing import Any

EXIT_FAULT = 1
EXIT_USAGE = 2


class LaptimeError(Exception):
    """The root of every error laptime raises on purpose."""

    exit_code = EXIT_FAULT


class UsageError(LaptimeError):
    """The caller gave something laptime cannot use: a bad option, file, config or id."""

    exit_code = EXIT_USAGE


class StoreFaultError(LaptimeError):
    """The store (its log, index or lock) cannot do what was asked right now."""

    exit_code = EXIT_FAULT


class BudgetExceeded(LaptimeError):  # noqa: N818 - a signal to stop, like StopIteration; the issue's name
    """A run that opted in (``laptime.run(..., budget="raise")`` or ``run.enforce_budgets()``)
    is over one of its ``[budgets]`` limits.

    Raised at the next phase or llm-call boundary (entering a span, or ``run.llm_call``),
    before the new span starts, so the pipeline can stop itself. ``crossed`` lists the
    limits it is over (``laptime.analysis.results.BudgetCrossing``: limit, value, budget,
    over_by, rule); ``run_id`` is the run's id.
    """

    def __init__(self, run_id: str, crossed: list[Any]) -> None:
        self.run_id = run_id
        self.crossed = crossed
        parts = ", ".join(f"{c.limit} {c.value:g} > {c.budget:g} ({c.rule})" for c in crossed)
        super().__init__(f"run {run_id} is over budget: {parts}")
