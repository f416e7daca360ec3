"""Estimates of a new run's duration and cost from similar past runs, and their backtest.

Definitions (docs/analysis.md, "Estimates"):

- **History**: completed runs (``laptime.definitions.outcome`` is ``completed``), each with
  its duration (``definitions.run_duration_us``, in integer ms as every view shows it) and
  its cost (``analysis.cost``: a run without LLM calls costs 0; a run with any call that
  could not be priced has no complete cost and is left out of the cost sample). ``--label
  k=v`` keeps the runs whose run-span attributes (the end's overriding the start's) hold
  ``k`` with the value ``v`` (as text); ``--since`` / ``--until`` keep the runs that
  started in the window (``definitions.in_window``).
- **Similarity**: the first of these steps that matches at least ``MIN_RUNS`` runs of the
  history: task and runner; task only; runner only (steps need what the new run gives: with
  neither task nor runner, the one step is every run). A task is a run's name, matched
  exactly, or as a glob when it holds ``* ? [``; a runner matches exactly. Of the matching
  runs the estimate uses the last ``WINDOW`` to end, so that it follows drift.
- **Quantiles**: ``analysis.stats.percentile`` (linear interpolation between the closest
  ranks). p50 is the percentile at 50. p10 and p90 are percentiles at levels widened for
  the sample size n (``interval_levels``): a new value from the same distribution falls
  below the k-th smallest of n with probability k/(n+1), so the bounds sit at the ranks
  0.1(n+1) and 0.9(n+1), i.e. at levels 100 (0.1(n+1) - 1)/(n - 1) and its mirror. Plain
  percentiles 10 and 90 of 20 runs cover only about 72%. The widened interval needs
  0.1(n+1) >= 1: that is why ``MIN_RUNS`` is 9.
- **Backtest**: every completed run in time order (start, then id), estimated as above from
  the runs that ended before it started (never itself or a later run); coverage is the
  share of actual values inside [p10, p90], errors are |actual - p50| (relative: over the
  actual value, for actual values above 0); medians by ``analysis.stats.percentile``.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from laptime import definitions as d
from laptime.analysis.cost import CostCalculator
from laptime.analysis.results import Result
from laptime.analysis.stats import percentile
from laptime.clock import timestamp_from_us

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

MIN_RUNS: Final = 9  # the least n for which the widened p10 exists (0.1 (n + 1) >= 1)
WINDOW: Final = 20  # the last runs of a step that an estimate uses
LOW_SHARE: Final = 0.1  # p10: the interval is the central 80%
COVERAGE_TARGET: Final = 0.8
COVERAGE_TOLERANCE: Final = 0.05
GLOB_CHARS: Final = "*?["

SIMILARITY_RULE: Final = (
    "the first step with at least {min_runs} completed runs: task and runner; task only; runner only "
    "(every run when neither is given); of those, the last {window} to end"
)
QUANTILE_METHOD: Final = "laptime.analysis.stats.percentile: linear interpolation between the closest ranks"
WIDENING_METHOD: Final = (
    "order statistics: p10 and p90 at the ranks 0.1(n+1) and 0.9(n+1) of the n runs, i.e. percentile levels "
    "100(0.1(n+1)-1)/(n-1) and 100 minus that"
)


# -- results -----------------------------------------------------------------------------------------


class EstimateFilters(Result):
    """What the new run is (task, runner) and which history counts (labels, time window)."""

    task: str | None  # the run's name, exact or a glob
    runner: str | None
    labels: dict[str, str]  # run attributes every past run must hold, as text
    since: str | None  # past runs started at or after (ISO UTC)
    until: str | None  # past runs started before


class EstimateMethod(Result):
    """How the figures are made (docs/analysis.md, "Estimates")."""

    similarity: str  # the similarity rule, in words
    min_runs: int  # fewer similar runs than this: no estimate
    window: int  # the last runs of the chosen step that the estimate uses
    quantiles: str  # the percentile definition
    widening: str  # how p10 and p90 are widened for small samples


class SimilarityStep(Result):
    step: str  # task+runner, task, runner or any
    criteria: str  # e.g. "task = fix-login and runner = pipeline"
    runs: int  # completed runs of the history that match


class Similarity(Result):
    """Which past runs the estimate is drawn from, and how they were chosen."""

    step: str | None  # the step chosen; null when no step had enough runs
    criteria: str | None
    matched: int  # completed runs the chosen step matches
    n: int  # of which the estimate uses (the last ``window`` to end)
    steps: list[SimilarityStep]  # the steps tried, in order, up to the chosen one


class DurationEstimate(Result):
    n: int
    p10_ms: int
    p50_ms: int
    p90_ms: int
    p10_level: float  # the percentile level p10 is read at (widened for n)
    p90_level: float


class CostEstimate(Result):
    n: int  # the runs of the sample whose cost is complete
    p10_usd: float
    p50_usd: float
    p90_usd: float
    p10_level: float
    p90_level: float


class EstimateFigures(Result):
    duration: DurationEstimate
    cost: CostEstimate | None  # null when too few of the runs have a complete cost
    cost_reason: str | None  # why cost is null
    unpriced_runs: int  # runs of the sample left out of the cost: some call could not be priced


class Estimate(Result):
    """``laptime estimate --json``: p10, p50 and p90 of a new run's duration and cost."""

    filters: EstimateFilters
    method: EstimateMethod
    similarity: Similarity
    estimate: EstimateFigures | None  # null when the history is too short
    reason: str | None  # why estimate is null


class DurationAccuracy(Result):
    n: int  # runs estimated and compared
    coverage: float | None  # share of actual durations inside [p10, p90]
    below_p10: float | None
    above_p90: float | None
    unwidened_coverage: float | None  # the same with plain percentiles 10 and 90 of the same runs
    within_target: bool | None  # coverage within target ± tolerance
    median_abs_error_ms: int | None  # median of |actual - p50|
    median_rel_error: float | None  # median of |actual - p50| / actual, over actual > 0
    rel_n: int  # runs in median_rel_error


class CostAccuracy(Result):
    n: int  # runs with a cost estimate and a complete actual cost
    coverage: float | None
    below_p10: float | None
    above_p90: float | None
    unwidened_coverage: float | None
    within_target: bool | None
    median_abs_error_usd: float | None
    median_rel_error: float | None
    rel_n: int  # runs whose actual cost is above 0


class Backtest(Result):
    """``laptime estimate --backtest --json``: how well the estimates did on past runs."""

    filters: EstimateFilters
    method: EstimateMethod
    coverage_target: float
    coverage_tolerance: float
    runs: int  # completed runs replayed
    estimated: int  # of which had enough history for an estimate
    skipped: int  # of which had too little
    steps: dict[str, int]  # estimates per similarity step
    duration: DurationAccuracy
    cost: CostAccuracy
    reason: str | None  # why nothing was estimated


# -- history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastRun:
    run_id: str
    name: str | None
    runner: str | None
    start_us: int
    end_us: int
    duration_ms: int
    cost_usd: float | None  # None: some call could not be priced


def label_text(value: Any) -> str:
    """A run attribute as ``--label`` compares it: strings as they are, true/false, JSON else."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def matches_labels(attrs: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    return all(key in attrs and label_text(attrs[key]) == value for key, value in labels.items())


def load_history(
    index: Index,
    book: PriceBook,
    *,
    labels: Mapping[str, str],
    since_us: int | None,
    until_us: int | None,
    now_us: int,
    crashed_after_us: int,
) -> list[PastRun]:
    """The completed runs with the labels, started in the window, oldest end first."""
    where = [f"({d.outcome_sql(now_us, crashed_after_us)}) = 'completed'"]
    window, params = d.window_sql(since_us, until_us, "r")
    where += window
    condition = " AND ".join(where)
    rows = index.query(
        f"""SELECT r.run_id, r.name, r.runner, {d.run_start_sql("r")}, {d.run_end_sql("r")},
                   {d.run_duration_sql("r")}, r.attrs, r.end_attrs
            FROM runs r WHERE {condition}""",
        params,
    )
    costs = CostCalculator(index, book, runs_sql=f"SELECT r.run_id FROM runs r WHERE {condition}", params=params)
    per_run = costs.by_run()
    runs = []
    for run_id, name, runner, start, end, duration_us, attrs, end_attrs in rows:
        if labels:
            merged = {**(json.loads(attrs) if attrs else {}), **(json.loads(end_attrs) if end_attrs else {})}
            if not matches_labels(merged, labels):
                continue
        rc = per_run.get(run_id)
        # no calls: costs 0 (analysis.cost); a call left unpriced: the cost is incomplete
        cost = 0.0 if rc is None else (rc.cost_usd if rc.unpriced_calls == 0 else None)
        runs.append(PastRun(run_id, name, runner, start, end, d.ms(duration_us), cost))
    runs.sort(key=lambda r: (r.end_us, r.start_us, r.run_id))
    return runs


class _Pool:
    """Runs of one similarity key, oldest end first, found by the time they ended."""

    def __init__(self, runs: list[PastRun]) -> None:
        self.runs = runs
        self.ends = [r.end_us for r in runs]

    def before(self, before_us: int | None) -> list[PastRun]:
        """The runs that ended before ``before_us`` (every run when None)."""
        if before_us is None:
            return self.runs
        return self.runs[: bisect_left(self.ends, before_us)]


@dataclass(frozen=True)
class _Step:
    step: str
    criteria: str
    pool: _Pool


class History:
    """The past runs, grouped by task and runner for the similarity steps."""

    def __init__(self, runs: Iterable[PastRun]) -> None:
        self.runs = sorted(runs, key=lambda r: (r.end_us, r.start_us, r.run_id))
        groups: dict[tuple[str, Any], list[PastRun]] = defaultdict(list)
        for run in self.runs:  # in order, so that every group is sorted too
            if run.name is not None and run.runner is not None:
                groups["task+runner", (run.name, run.runner)].append(run)
            if run.name is not None:
                groups["task", run.name].append(run)
            if run.runner is not None:
                groups["runner", run.runner].append(run)
        self._pools = {key: _Pool(runs) for key, runs in groups.items()}
        self._all = _Pool(self.runs)
        self._empty = _Pool([])

    def _pool(self, step: str, key: Any, match: Callable[[PastRun], bool] | None) -> _Pool:
        if match is not None:  # a glob: no group holds it
            return _Pool([r for r in self.runs if match(r)])
        return self._pools.get((step, key), self._empty)

    def steps(self, task: str | None, runner: str | None) -> list[_Step]:
        """The similarity steps for a new run of ``task`` and ``runner``, in order."""
        glob = task is not None and any(c in task for c in GLOB_CHARS)

        def name_is(run: PastRun) -> bool:
            return run.name is not None and task is not None and fnmatchcase(run.name, task)

        steps = []
        if task is not None and runner is not None:
            both = None
            if glob:

                def both(run: PastRun) -> bool:
                    return run.runner == runner and name_is(run)

            pool = self._pool("task+runner", (task, runner), both)
            steps.append(_Step("task+runner", f"task {_op(glob)} {task} and runner = {runner}", pool))
        if task is not None:
            steps.append(_Step("task", f"task {_op(glob)} {task}", self._pool("task", task, name_is if glob else None)))
        if runner is not None:
            steps.append(_Step("runner", f"runner = {runner}", self._pool("runner", runner, None)))
        if not steps:
            steps.append(_Step("any", "every run", self._all))
        return steps


def _op(glob: bool) -> str:
    return "matches" if glob else "="


# -- one estimate --------------------------------------------------------------------------------------


def interval_levels(n: int) -> tuple[float, float]:
    """The percentile levels of p10 and p90 for n runs, widened for n (see the module's docstring).

    ``percentile(q)`` of n sorted values sits at the 1-based rank 1 + (n - 1) q / 100; the
    bounds belong at ranks 0.1 (n + 1) and 0.9 (n + 1)."""
    if n < MIN_RUNS:
        msg = f"an interval needs at least {MIN_RUNS} runs, got {n}"
        raise ValueError(msg)
    low = 100 * (LOW_SHARE * (n + 1) - 1) / (n - 1)
    return low, 100 - low


def _quantiles(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """p10, p50, p90 (widened) and the levels of p10 and p90, of the values."""
    ordered = sorted(values)
    low, high = interval_levels(len(ordered))
    p10, p50, p90 = (percentile(ordered, q) for q in (low, 50, high))
    assert p10 is not None and p50 is not None and p90 is not None  # noqa: PT018 - n >= MIN_RUNS
    return p10, p50, p90, low, high


@dataclass(frozen=True)
class _Drawn:
    """What one estimate drew: the similarity, and the runs (None: too few)."""

    similarity: Similarity
    sample: list[PastRun] | None
    reason: str | None


def _draw(history: History, task: str | None, runner: str | None, before_us: int | None, window: int) -> _Drawn:
    tried: list[SimilarityStep] = []
    for step in history.steps(task, runner):
        matched = step.pool.before(before_us)
        tried.append(SimilarityStep(step=step.step, criteria=step.criteria, runs=len(matched)))
        if len(matched) >= MIN_RUNS:
            sample = matched[-window:]
            similarity = Similarity(
                step=step.step, criteria=step.criteria, matched=len(matched), n=len(sample), steps=tried
            )
            return _Drawn(similarity, sample, None)
    counts = ", ".join(f"{s.criteria}: {s.runs}" for s in tried)
    reason = (
        f"too little history: at best {max(s.runs for s in tried)} similar completed runs ({counts}); "
        f"an estimate needs at least {MIN_RUNS}"
    )
    return _Drawn(Similarity(step=None, criteria=None, matched=0, n=0, steps=tried), None, reason)


def _figures(sample: Sequence[PastRun]) -> EstimateFigures:
    p10, p50, p90, low, high = _quantiles([r.duration_ms for r in sample])
    duration = DurationEstimate(
        n=len(sample),
        p10_ms=d.round_ms(p10),
        p50_ms=d.round_ms(p50),
        p90_ms=d.round_ms(p90),
        p10_level=low,
        p90_level=high,
    )
    costs = [r.cost_usd for r in sample if r.cost_usd is not None]
    unpriced = len(sample) - len(costs)
    if len(costs) < MIN_RUNS:
        reason = (
            f"{len(costs)} of the {len(sample)} runs have a complete cost ({unpriced} with unpriced calls); "
            f"a cost estimate needs at least {MIN_RUNS}"
        )
        return EstimateFigures(duration=duration, cost=None, cost_reason=reason, unpriced_runs=unpriced)
    c10, c50, c90, c_low, c_high = _quantiles(costs)
    cost = CostEstimate(n=len(costs), p10_usd=c10, p50_usd=c50, p90_usd=c90, p10_level=c_low, p90_level=c_high)
    return EstimateFigures(duration=duration, cost=cost, cost_reason=None, unpriced_runs=unpriced)


def method(window: int = WINDOW) -> EstimateMethod:
    return EstimateMethod(
        similarity=SIMILARITY_RULE.format(min_runs=MIN_RUNS, window=window),
        min_runs=MIN_RUNS,
        window=window,
        quantiles=QUANTILE_METHOD,
        widening=WIDENING_METHOD,
    )


def filters_of(
    task: str | None, runner: str | None, labels: Mapping[str, str], since_us: int | None, until_us: int | None
) -> EstimateFilters:
    return EstimateFilters(
        task=task,
        runner=runner,
        labels=dict(labels),
        since=timestamp_from_us(since_us) if since_us is not None else None,
        until=timestamp_from_us(until_us) if until_us is not None else None,
    )


def estimate(
    history: History, filters: EstimateFilters, *, before_us: int | None = None, window: int = WINDOW
) -> Estimate:
    """p10, p50 and p90 of a new run of ``filters.task`` / ``filters.runner``, from the
    history (the runs that ended before ``before_us``, when given)."""
    drawn = _draw(history, filters.task, filters.runner, before_us, window)
    figures = _figures(drawn.sample) if drawn.sample is not None else None
    return Estimate(
        filters=filters, method=method(window), similarity=drawn.similarity, estimate=figures, reason=drawn.reason
    )


# -- backtest ----------------------------------------------------------------------------------------


class _Tally:
    """Coverage and errors of one figure over the backtest."""

    def __init__(self) -> None:
        self.n = self.inside = self.below = self.above = self.inside_unwidened = 0
        self.abs_errors: list[float] = []
        self.rel_errors: list[float] = []

    def add(self, actual: float, values: Sequence[float], p10: float, p50: float, p90: float) -> None:
        self.n += 1
        self.inside += p10 <= actual <= p90
        self.below += actual < p10
        self.above += actual > p90
        ordered = sorted(values)
        low, high = percentile(ordered, 100 * LOW_SHARE), percentile(ordered, 100 * (1 - LOW_SHARE))
        assert low is not None and high is not None  # noqa: PT018 - values is the non-empty sample
        self.inside_unwidened += low <= actual <= high
        error = abs(actual - p50)
        self.abs_errors.append(error)
        if actual > 0:
            self.rel_errors.append(error / actual)

    def share(self, k: int) -> float | None:
        return k / self.n if self.n else None

    def within(self) -> bool | None:
        coverage = self.share(self.inside)
        return None if coverage is None else abs(coverage - COVERAGE_TARGET) <= COVERAGE_TOLERANCE

    def parts(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "coverage": self.share(self.inside),
            "below_p10": self.share(self.below),
            "above_p90": self.share(self.above),
            "unwidened_coverage": self.share(self.inside_unwidened),
            "within_target": self.within(),
            "median_rel_error": _median(self.rel_errors),
            "rel_n": len(self.rel_errors),
        }


def _median(values: list[float]) -> float | None:
    return percentile(sorted(values), 50)


def backtest(
    history: History,
    filters: EstimateFilters,
    *,
    targets: Callable[[PastRun], bool] | None = None,
    window: int = WINDOW,
) -> Backtest:
    """Replay the history in time order: each run (that ``targets`` keeps) estimated from the
    runs that ended before it started, with its own task and runner as the new run's."""
    replayed = sorted((r for r in history.runs if targets is None or targets(r)), key=lambda r: (r.start_us, r.run_id))
    durations, costs = _Tally(), _Tally()
    steps: dict[str, int] = {}
    for run in replayed:
        drawn = _draw(history, run.name, run.runner, run.start_us, window)
        if drawn.sample is None:
            continue
        step = drawn.similarity.step or ""
        steps[step] = steps.get(step, 0) + 1
        figures = _figures(drawn.sample)
        dur = figures.duration
        durations.add(run.duration_ms, [r.duration_ms for r in drawn.sample], dur.p10_ms, dur.p50_ms, dur.p90_ms)
        if figures.cost is not None and run.cost_usd is not None:
            c = figures.cost
            sample_costs = [r.cost_usd for r in drawn.sample if r.cost_usd is not None]
            costs.add(run.cost_usd, sample_costs, c.p10_usd, c.p50_usd, c.p90_usd)
    duration_abs = _median(durations.abs_errors)
    estimated = durations.n
    reason = None
    if not estimated:
        reason = (
            f"too little history: no run of the {len(replayed)} had {MIN_RUNS} similar completed runs "
            "that ended before it started"
        )
    return Backtest(
        filters=filters,
        method=method(window),
        coverage_target=COVERAGE_TARGET,
        coverage_tolerance=COVERAGE_TOLERANCE,
        runs=len(replayed),
        estimated=estimated,
        skipped=len(replayed) - estimated,
        steps=steps,
        duration=DurationAccuracy(
            **durations.parts(), median_abs_error_ms=None if duration_abs is None else d.round_ms(duration_abs)
        ),
        cost=CostAccuracy(**costs.parts(), median_abs_error_usd=_median(costs.abs_errors)),
        reason=reason,
    )


def target_filter(filters: EstimateFilters) -> Callable[[PastRun], bool]:
    """The runs a backtest replays: those of the task (exact or glob) and runner asked for."""
    task, runner = filters.task, filters.runner

    def keep(run: PastRun) -> bool:
        if runner is not None and run.runner != runner:
            return False
        return task is None or (run.name is not None and fnmatchcase(run.name, task))

    return keep


OUTPUT_TYPES: Final[dict[str, type[Result]]] = {"estimate": Estimate, "estimate --backtest": Backtest}
