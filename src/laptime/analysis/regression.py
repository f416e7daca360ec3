"""Regressions beyond noise: is a run, or a group of runs, worse than its baseline by more
than the baseline's own run-to-run variation?

Used by ``laptime compare A B`` and ``laptime report summary --baseline SPEC``
(docs/analysis.md, "Regressions"). For each metric (the run's duration, cost and total
tokens, and each phase's duration) the current runs are tested against the baseline runs,
one-sided (worse = larger):

- a group of 2 or more current runs: the Mann-Whitney U test (``stats.mann_whitney_greater``:
  exact without ties up to 2,500 pairs, else the normal approximation with tie correction);
- a single current run: the p-value of Student's t prediction interval of the baseline
  (``stats.prediction_p``), since a rank test of one run against k can never go below 1/(k+1).

The p-values of one check are Holm-adjusted across its metrics, and a metric is **worse**
when its adjusted p is at most ``ALPHA``; confidence is 1 - adjusted p. The effect size is
the Hodges-Lehmann shift (``stats.hodges_lehmann``: the median of the pairwise differences
current - baseline), also as a percentage of the baseline's median and in baseline
standard deviations.

Data: a run's duration is ``definitions.run_duration_us`` in integer ms; its cost is the cost
engine's (``analysis.cost``; a run without calls costs 0, a run with an unpriced call is left
out of the cost metric); its tokens are input + output + cache read + cache write over its
calls (0 without calls); a phase's duration is the run's summed time in it (``run_phases``),
over the runs that have the phase. A metric with fewer than ``MIN_BASELINE`` baseline values
(or no current value) is listed but not tested. Unless a status is asked for, only completed
runs enter either group.

SPEC (``parse_spec``): ``last:N`` (the N latest runs that started before the current runs),
``FROM..TO`` (runs started from FROM up to TO; dates or ISO datetimes, either side optional,
a date as TO includes that day), or ``runs:ID,ID,...`` (run ids or unique prefixes).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec.structs

from laptime import definitions as d
from laptime.analysis.cost import CostCalculator
from laptime.analysis.results import Result
from laptime.analysis.stats import hodges_lehmann, holm, mann_whitney_greater, percentile, prediction_p
from laptime.clock import timestamp_from_us
from laptime.errors import UsageError
from laptime.when import FIRST_US, LAST_US

if TYPE_CHECKING:
    from laptime.analysis.kpi import RunRow
    from laptime.analysis.summary import SummaryFilters
    from laptime.index import Index
    from laptime.pricing import PriceBook

ALPHA: Final = 0.05  # the family-wise false-alarm rate of one check (Holm)
MIN_BASELINE: Final = 5  # baseline values a metric needs to be tested
DEFAULT_HISTORY: Final = 20  # compare A B: the last runs like A that started before B
CORRECTION: Final = "holm"
METHOD: Final = (
    "one-sided, per metric: Mann-Whitney U for a group of current runs (exact without ties up to "
    "2,500 pairs, else normal approximation with tie correction), Student's t prediction interval "
    "for a single run; Holm-adjusted across the metrics; effect size: Hodges-Lehmann shift"
)

Metric = Literal["duration", "cost", "tokens", "phase"]
Test = Literal["mann-whitney exact", "mann-whitney normal", "prediction interval"]

_UNITS: Final[dict[str, str]] = {"duration": "ms", "cost": "usd", "tokens": "tokens", "phase": "ms"}


class RegressionSpecError(UsageError, ValueError):
    """A SPEC that cannot be read (names the option it came from)."""


# -- results ------------------------------------------------------------------------------------------


class RunGroup(Result):
    """One side of a check: which runs, and how they were chosen."""

    spec: str  # the SPEC, or "selection" (report summary's filters) or "run" (compare's B)
    runs: int
    first_started_at: str | None
    last_started_at: str | None


class RegressionMetric(Result):
    """One metric's test. ``shift`` and the medians are in ``unit``."""

    metric: Metric
    phase: str | None  # the phase's name, for metric "phase"
    unit: Literal["ms", "usd", "tokens"]
    baseline_n: int
    current_n: int
    baseline_median: float | None
    current_median: float | None
    baseline_sd: float | None  # sample standard deviation of the baseline values
    shift: float | None  # Hodges-Lehmann: median of current - baseline over every pair
    change_pct: float | None  # shift over the baseline median, in percent (null when that is 0)
    shift_sd: float | None  # shift over baseline_sd (null when that is 0)
    test: Test | None  # null: not tested (see reason)
    p_value: float | None
    adjusted_p: float | None  # Holm-adjusted across the tested metrics of this check
    confidence: float | None  # 1 - adjusted_p
    worse: bool  # adjusted_p <= alpha and the shift is above 0
    reason: str | None  # why the metric was not tested


class RegressionCheck(Result):
    """Are the current runs worse than the baseline, beyond its run-to-run variation?"""

    method: str
    alpha: float
    correction: str
    min_baseline: int
    baseline: RunGroup
    current: RunGroup
    metrics: list[RegressionMetric]
    worse: list[str]  # the metrics flagged: "duration", "cost", "tokens", "phase NAME"
    reason: str | None  # why nothing was tested


def metric_label(metric: str, phase: str | None) -> str:
    return f"phase {phase}" if metric == "phase" else metric


# -- SPEC -------------------------------------------------------------------------------------------------

_LAST = re.compile(r"^last:(\d+)$")
MAX_LAST_RUNS = 1 << 31  # (SQLite's LIMIT takes a 64-bit integer; more runs than any store holds)
SPEC_HELP: Final = (
    "last:N (the N latest runs before the current ones), FROM..TO (dates or ISO datetimes, either side "
    "optional), or runs:ID,ID"
)


@dataclass(frozen=True)
class Spec:
    """A parsed SPEC (see the module's docstring)."""

    text: str
    last: int | None = None
    since_us: int | None = None
    until_us: int | None = None
    run_ids: tuple[str, ...] = ()


def looks_like_spec(text: str) -> bool:
    """Whether ``compare`` should read an argument as a SPEC rather than a run id."""
    t = text.strip()
    return t.startswith(("last:", "runs:")) or ".." in t


def _when(value: str, *, option: str, spec: str, end: bool) -> int:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            parsed = datetime.combine(day, datetime.min.time(), UTC)
        else:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        msg = f"{option}: {value!r} in {spec!r} is not a date; use YYYY-MM-DD or an ISO datetime"
        raise RegressionSpecError(msg) from None
    except OverflowError:  # the day after 9999-12-31
        parsed = None
    at = None if parsed is None else int(parsed.timestamp() * 1_000_000)
    if at is None or not FIRST_US <= at <= LAST_US:
        msg = f"{option}: {value!r} in {spec!r} is out of range; give a time from the year 1 to 9999"
        raise RegressionSpecError(msg)
    return at


def parse_spec(text: str, *, option: str = "--baseline") -> Spec:
    """Read a SPEC; a bad one raises ``RegressionSpecError`` naming ``option``."""
    t = text.strip()
    match = _LAST.match(t)
    if match:
        n = int(match.group(1))
        if n < 1:
            msg = f"{option}: {text!r} needs N of at least 1"
            raise RegressionSpecError(msg)
        if n > MAX_LAST_RUNS:
            msg = f"{option}: {text!r} needs N of at most {MAX_LAST_RUNS:,}"
            raise RegressionSpecError(msg)
        return Spec(t, last=n)
    if t.startswith("runs:"):
        ids = tuple(i.strip() for i in t[5:].split(",") if i.strip())
        if not ids:
            msg = f"{option}: {text!r} names no run; use runs:ID,ID"
            raise RegressionSpecError(msg)
        return Spec(t, run_ids=ids)
    if t.count("..") == 1:
        start, stop = t.split("..")
        since = _when(start, option=option, spec=t, end=False) if start.strip() else None
        until = _when(stop, option=option, spec=t, end=True) if stop.strip() else None
        if since is not None and until is not None and until <= since:
            msg = f"{option}: {text!r} ends before it starts"
            raise RegressionSpecError(msg)
        return Spec(t, since_us=since, until_us=until)
    msg = f"{option}: {text!r} is not a SPEC; use {SPEC_HELP}"
    raise RegressionSpecError(msg)


# -- choosing the runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which runs may enter a group: ``report summary``'s filters (their time window left
    out: the SPEC or the selection gives it), or a run's exact task and runner."""

    filters: SummaryFilters | None = None
    name: str | None = None  # exact run name
    runner: str | None = None  # exact runner (with name: compare's "runs like A")
    match_runner: bool = False


def _scope_sql(scope: Scope, now_us: int, crashed_after_us: int) -> tuple[list[str], list[Any]]:
    from laptime.analysis.summary import SummaryFilters, filter_sql

    filters = scope.filters or SummaryFilters()
    where, params = filter_sql(filters, now_us, crashed_after_us, window=False)
    if filters.status is None:
        where.append(f"({d.outcome_sql(now_us, crashed_after_us)}) = 'completed'")
    if scope.name is not None:
        where.append("r.name = ?")
        params.append(scope.name)
    if scope.match_runner:
        where.append("r.runner IS ?")
        params.append(scope.runner)
    return where, params


@dataclass(frozen=True)
class Group:
    spec: str
    run_ids: list[str]  # by start
    starts: list[int]

    def info(self) -> RunGroup:
        first = timestamp_from_us(self.starts[0]) if self.starts else None
        last = timestamp_from_us(self.starts[-1]) if self.starts else None
        return RunGroup(spec=self.spec, runs=len(self.run_ids), first_started_at=first, last_started_at=last)

    @property
    def first_start(self) -> int | None:
        return self.starts[0] if self.starts else None


def select_group(
    index: Index,
    spec: Spec,
    scope: Scope,
    *,
    before_us: int | None,
    exclude: Sequence[str] = (),
    now_us: int,
    crashed_after_us: int,
) -> Group:
    """The runs a SPEC names, in scope, started before ``before_us`` (for ``last:N``; a date
    range is taken as given), without the ``exclude``d ones, ordered by start."""
    start = d.run_start_sql("r")
    skip = set(exclude)
    if spec.run_ids:
        from laptime.analysis.kpi import resolve_run

        named = [resolve_run(index, given) for given in spec.run_ids]
        found = sorted({(d.run_start_us(r.started_us, r.first_us), r.run_id) for r in named if r.run_id not in skip})
        return Group(spec.text, [r for _, r in found], [s for s, _ in found])
    where, params = _scope_sql(scope, now_us, crashed_after_us)
    if spec.last is not None:
        if before_us is not None:
            where.append(f"{start} < ?")
            params.append(before_us)
        cond = " AND ".join(where) or "true"
        rows = index.query(
            f"SELECT r.run_id, {start} FROM runs r WHERE {cond} ORDER BY 2 DESC, 1 DESC LIMIT ?",
            [*params, spec.last + len(skip)],
        )
        kept = [(s, r) for r, s in rows if r not in skip][: spec.last]
        kept.reverse()
    else:
        window, window_params = d.window_sql(spec.since_us, spec.until_us, "r")
        cond = " AND ".join(where + window) or "true"
        rows = index.query(f"SELECT r.run_id, {start} FROM runs r WHERE {cond} ORDER BY 2, 1", params + window_params)
        kept = [(s, r) for r, s in rows if r not in skip]
    return Group(spec.text, [r for _, r in kept], [s for s, _ in kept])


def selection_group(
    index: Index, filters: SummaryFilters, *, now_us: int, crashed_after_us: int, label: str = "selection"
) -> Group:
    """``report summary``'s selected runs (its filters and window) as the current group."""
    from laptime.analysis.summary import filter_sql

    where, params = filter_sql(filters, now_us, crashed_after_us)
    if filters.status is None:
        where.append(f"({d.outcome_sql(now_us, crashed_after_us)}) = 'completed'")
    start = d.run_start_sql("r")
    rows = index.query(f"SELECT r.run_id, {start} FROM runs r WHERE {' AND '.join(where)} ORDER BY 2, 1", params)
    return Group(label, [r for r, _ in rows], [s for _, s in rows])


# -- the figures of both groups, in a few queries ----------------------------------------------------------


@dataclass
class GroupValues:
    """One group's per-run values of every metric (a phase: over the runs that have it)."""

    duration: list[float]
    cost: list[float]
    tokens: list[float]
    phases: dict[str, list[float]]


def _load(index: Index, book: PriceBook, baseline: Group, current: Group) -> tuple[GroupValues, GroupValues]:
    """Each group's per-run values, read from the index's per-run tables."""
    index.execute("CREATE TEMP TABLE IF NOT EXISTS regress_runs (run_id TEXT PRIMARY KEY, grp INTEGER NOT NULL)")
    index.execute("DELETE FROM temp.regress_runs")
    # a run in both groups counts as current (the caller keeps them apart anyway)
    index.executemany("INSERT OR REPLACE INTO temp.regress_runs VALUES (?, 0)", [(r,) for r in baseline.run_ids])
    index.executemany("INSERT OR REPLACE INTO temp.regress_runs VALUES (?, 1)", [(r,) for r in current.run_ids])
    groups = (GroupValues([], [], [], {}), GroupValues([], [], [], {}))
    # One row per group (and phase), the values joined by commas: 30k rows as tuples cost
    # twice as much to hand to Python as a few long strings split here.
    q = index.query
    for grp, durations, tokens in q(
        f"""SELECT t.grp, group_concat({d.ms_sql(d.run_duration_sql("r"))}),
                   group_concat(COALESCE((SELECT SUM(l.input + l.output + l.cache_read + l.cache_write)
                                          FROM run_llm l WHERE l.run_id = t.run_id), 0))
            FROM temp.regress_runs t JOIN runs r ON r.run_id = t.run_id GROUP BY t.grp"""
    ):
        groups[grp].duration.extend(map(float, durations.split(",")))
        groups[grp].tokens.extend(map(float, tokens.split(",")))
    for grp, phase, durations in q(
        f"""SELECT t.grp, p.phase, group_concat({d.ms_sql("p.duration_us")}) FROM run_phases p
            JOIN temp.regress_runs t ON t.run_id = p.run_id GROUP BY t.grp, p.phase
            ORDER BY t.grp, AVG(p.start_offset_us), p.phase"""
    ):
        groups[grp].phases[phase] = list(map(float, durations.split(",")))
    costs = CostCalculator(index, book, runs_sql="SELECT run_id FROM temp.regress_runs").by_run()
    for grp, run_id in q("SELECT grp, run_id FROM temp.regress_runs JOIN runs USING (run_id)"):
        rc = costs.get(run_id)
        if rc is None:
            groups[grp].cost.append(0.0)  # no calls: costs 0 (analysis.cost)
        elif rc.unpriced_calls == 0 and rc.cost_usd is not None:
            groups[grp].cost.append(rc.cost_usd)
    return groups


# -- the check ----------------------------------------------------------------------------------------------


def _sd(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _values(n: int, word: str = "value") -> str:
    return f"{n} baseline {word}{'' if n == 1 else 's'}"


def _median(values: Sequence[float]) -> float | None:
    return percentile(sorted(values), 50)


def assess_metric(
    metric: Metric, phase: str | None, baseline: Sequence[float], current: Sequence[float]
) -> RegressionMetric:
    """One metric's unadjusted test (``adjusted_p``, ``confidence`` and ``worse`` are set by
    ``check``)."""
    base_median = _median(baseline)
    sd = _sd(baseline)
    shift = hodges_lehmann(baseline, current) if baseline and current else None
    reason = None
    test: Test | None = None
    p = None
    if len(baseline) < MIN_BASELINE:
        reason = f"{_values(len(baseline))}; a test needs at least {MIN_BASELINE}"
    elif not current:
        reason = "no current value"
    elif len(current) == 1:
        test, p = "prediction interval", prediction_p(baseline, current[0])
    else:
        p, how = mann_whitney_greater(baseline, current)
        test = "mann-whitney exact" if how == "exact" else "mann-whitney normal"
    return RegressionMetric(
        metric=metric,
        phase=phase,
        unit=_UNITS[metric],  # type: ignore[arg-type]  # the values of _UNITS are the Literal's
        baseline_n=len(baseline),
        current_n=len(current),
        baseline_median=base_median,
        current_median=_median(current),
        baseline_sd=sd,
        shift=shift,
        change_pct=shift / base_median * 100 if shift is not None and base_median else None,
        shift_sd=shift / sd if shift is not None and sd else None,
        test=test,
        p_value=p,
        adjusted_p=None,
        confidence=None,
        worse=False,
        reason=reason,
    )


def check_values(
    baseline: GroupValues,
    current: GroupValues,
    baseline_group: RunGroup,
    current_group: RunGroup,
    *,
    alpha: float = ALPHA,
) -> RegressionCheck:
    """Test every metric, Holm-adjust across the tested ones, flag the worse ones."""
    metrics = [
        assess_metric("duration", None, baseline.duration, current.duration),
        assess_metric("cost", None, baseline.cost, current.cost),
        assess_metric("tokens", None, baseline.tokens, current.tokens),
    ]
    names = list(baseline.phases) + [p for p in current.phases if p not in baseline.phases]
    metrics += [assess_metric("phase", n, baseline.phases.get(n, []), current.phases.get(n, [])) for n in names]
    tested = [i for i, m in enumerate(metrics) if m.p_value is not None]
    adjusted = holm([metrics[i].p_value for i in tested])  # type: ignore[misc]  # tested: p is set
    for i, adj in zip(tested, adjusted, strict=True):
        m = metrics[i]
        worse = adj <= alpha and m.shift is not None and m.shift > 0
        metrics[i] = msgspec.structs.replace(m, adjusted_p=adj, confidence=1 - adj, worse=worse)
    reason = None
    if not current_group.runs:
        reason = "no current runs"
    elif baseline_group.runs < MIN_BASELINE:
        reason = f"{_values(baseline_group.runs, 'run')}; a test needs at least {MIN_BASELINE}"
    elif not tested:
        reason = "no metric had enough values to test"
    return RegressionCheck(
        method=METHOD,
        alpha=alpha,
        correction=CORRECTION,
        min_baseline=MIN_BASELINE,
        baseline=baseline_group,
        current=current_group,
        metrics=metrics,
        worse=[metric_label(m.metric, m.phase) for m in metrics if m.worse],
        reason=reason,
    )


def check(index: Index, book: PriceBook, baseline: Group, current: Group, *, alpha: float = ALPHA) -> RegressionCheck:
    """The regression check of the current runs against the baseline runs."""
    base_values, current_values = _load(index, book, baseline, current)
    return check_values(base_values, current_values, baseline.info(), current.info(), alpha=alpha)


def summary_check(
    index: Index, book: PriceBook, filters: SummaryFilters, spec: Spec, *, now_us: int, crashed_after_us: int
) -> RegressionCheck:
    """``report summary --baseline SPEC``: the selection against the baseline SPEC names,
    under the same filters (time window aside); ``last:N`` counts back from the selection's
    first start, and runs of the selection never enter the baseline."""
    current = selection_group(index, filters, now_us=now_us, crashed_after_us=crashed_after_us)
    scope = Scope(filters=filters)
    baseline = select_group(
        index,
        spec,
        scope,
        before_us=current.first_start,
        exclude=current.run_ids,
        now_us=now_us,
        crashed_after_us=crashed_after_us,
    )
    result = check(index, book, baseline, current)
    if not baseline.run_ids and filters.since_us is None and filters.until_us is None:
        hint = "; the selection is every run: give it a window (--since) so that a baseline can come before it"
        result = msgspec.structs.replace(result, reason=f"{result.reason}{hint}")
    return result


def run_history_spec() -> Spec:
    return Spec(f"last:{DEFAULT_HISTORY}", last=DEFAULT_HISTORY)


def run_pair_check(
    index: Index,
    book: PriceBook,
    a: RunRow,
    b: RunRow,
    spec: Spec | None = None,
    *,
    now_us: int,
    crashed_after_us: int,
) -> RegressionCheck:
    """``compare A B``'s check: run B against the baseline ``spec`` (default: the last
    ``DEFAULT_HISTORY`` completed runs like A, same task and runner, that started before B)."""
    spec = spec or run_history_spec()
    scope = Scope(name=a.name, runner=a.runner, match_runner=True)  # runs like A (runs:ID as given)
    b_start = d.run_start_us(b.started_us, b.first_us)
    history = select_group(
        index, spec, scope, before_us=b_start, exclude=[b.run_id], now_us=now_us, crashed_after_us=crashed_after_us
    )
    if not spec.run_ids:
        history = Group(f"{spec.text} like A", history.run_ids, history.starts)
    return check(index, book, history, Group("run B", [b.run_id], [b_start]))
