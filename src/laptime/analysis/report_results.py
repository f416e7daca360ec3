"""The typed results of ``report summary``, ``compare``, ``report usage`` and ``report pipeline``.

The same vocabulary as ``laptime.analysis.results`` (DESIGN.md, "One vocabulary for every
output"): integer ``*_ms`` durations (statistics such as avg and percentiles of integer
ms may be fractional; totals, min and max are integers); ``input_tokens`` (uncached),
``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens``, ``total_tokens``,
``estimated_tokens``; ``cost_usd`` (null when unpriced) with ``cost_source``. Each
command's ``--json`` is the struct encoded, and its JSON Schema is ``msgspec.json.schema``
of the same struct (``OUTPUT_TYPES`` names them by command).
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, UnsetType

from laptime.analysis.regression import RegressionCheck
from laptime.analysis.results import CostSource, Result, TimeSplit

# -- report summary ------------------------------------------------------------------------------


class SummaryFilters(Result):
    since: str | None
    until: str | None
    status: str | None
    task: str | None
    runner: str | None
    model: str | None


class DurationStats(Result):
    """Statistics of integer-ms values: n, total, min and max are integers."""

    n: int
    total: int
    avg: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    min: int | None
    max: int | None


class TvcStats(Result):
    n: int
    p50: float | None
    p90: float | None


class Iterations(Result):
    """Over the selected runs whose run span records an ``iterations`` attribute (AIDF)."""

    n: int  # runs that record one
    avg: float | None  # null when no selected run records one


class ModelTokens(Result):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    estimated_tokens: int


class SummaryTokens(ModelTokens):
    estimated_share: float | None  # of total_tokens


class SummaryCost(Result):
    cost_usd: float | None
    cost_source: CostSource
    avg_per_run_usd: float | None
    reported_usd: float
    llm_calls: int
    unpriced_calls: int
    unpriced_models: list[str]


class PhaseSummary(DurationStats):
    phase: str
    attempts: int
    share: float | None  # of the selected runs' total duration


class ModelSummary(Result):
    model: str
    provider: str | None
    calls: int
    tokens: ModelTokens
    cost_usd: float | None
    cost_source: CostSource
    price_sources: list[str]
    unpriced_calls: int
    latency_n: int
    avg_latency_ms: int | None
    p95_latency_ms: int | None


class Rework(Result):
    runs_with_retries: int
    runs_with_changes_requested: int
    rework_runs: int
    rate: float | None


class TopTask(Result):
    task: str | None
    runs: int
    cost_usd: float | None
    unpriced_calls: int


class TopFile(Result):
    path: str
    runs: int
    changes: int
    lines_added: int
    lines_removed: int


class BudgetSummary(Result):
    """Runs over their ``[budgets]`` limits (``laptime.analysis.budgets``), of the selected runs."""

    runs_with_budget: int  # selected runs that some limit applies to
    runs_over_budget: int  # of those, runs over at least one limit
    share: float | None  # runs_over_budget over the selected runs
    by_limit: dict[str, int]  # cost_usd, duration_ms, tokens: runs over that limit


class BranchSummary(Result):
    """One branch of ``report summary --by branch`` (laptime.analysis.branches)."""

    branch: str | None  # null: the runs with no branch
    runs: int
    outcomes: dict[str, int]
    success_rate: float | None
    duration_ms: DurationStats
    total_tokens: int
    cost_usd: float | None
    cost_source: CostSource
    llm_calls: int
    unpriced_calls: int


class Summary(Result):
    """``laptime report summary --json``."""

    filters: SummaryFilters
    runs: int
    outcomes: dict[str, int]
    success_rate: float | None
    duration_ms: DurationStats
    tvc_ms: TvcStats
    iterations: Iterations
    tokens: SummaryTokens
    cost: SummaryCost
    phases: list[PhaseSummary]
    outside_phases_share: float | None
    time_split: TimeSplit  # the selected runs' wall time, added up, by activity
    models: list[ModelSummary]
    rework: Rework
    top_tasks: list[TopTask]
    top_files: list[TopFile]
    budgets: BudgetSummary | None = None  # null when the config sets no [budgets]
    branches: list[BranchSummary] | UnsetType = UNSET  # --by branch only
    # --baseline SPEC only: the selection against the baseline (analysis.regression)
    regression: RegressionCheck | UnsetType = UNSET


# -- compare ---------------------------------------------------------------------------------------


class IntTriple(Result):
    """A figure of A and B, B - A, and that over A in percent (null when A is 0 or absent)."""

    a: int | None
    b: int | None
    delta: int | None
    change_pct: float | None


class UsdTriple(Result):
    a: float | None
    b: float | None
    delta: float | None
    change_pct: float | None


class CompareSide(Result):
    run_id: str
    name: str | None
    runner: str | None
    started_at: str
    outcome: str
    total_duration_ms: int
    cost_usd: float | None
    cost_source: CostSource


class PhaseDelta(Result):
    phase: str
    a_ms: int
    b_ms: int
    delta_ms: int
    change_pct: float | None
    a_attempts: int
    b_attempts: int
    delta_attempts: int
    in_a: bool
    in_b: bool
    slower: bool  # the regression check flags the phase's duration as worse


class UnattributedDelta(Result):
    a_ms: int
    b_ms: int
    delta_ms: int
    change_pct: float | None


class ModelDelta(Result):
    model: str
    provider: str | None
    calls: IntTriple
    input_tokens: IntTriple
    output_tokens: IntTriple
    cache_read_tokens: IntTriple
    cache_write_tokens: IntTriple
    cost_usd: UsdTriple


class LlmDelta(Result):
    calls: IntTriple
    input_tokens: IntTriple
    output_tokens: IntTriple
    cache_read_tokens: IntTriple
    cache_write_tokens: IntTriple
    total_tokens: IntTriple
    cost_usd: UsdTriple
    models: list[ModelDelta]


class Tiers(Result):
    a: list[str]
    b: list[str]


class VerificationDelta(Result):
    commands_run: IntTriple
    passed: IntTriple
    failed: IntTriple
    retries: IntTriple
    tiers: Tiers


class OutcomeDelta(Result):
    a: str
    b: str
    changed: bool


class ChangesDelta(Result):
    files_touched: IntTriple
    lines_added: IntTriple
    lines_removed: IntTriple


class Comparison(Result):
    """``laptime compare A B --json`` (every delta is B - A)."""

    a: CompareSide
    b: CompareSide
    duration: IntTriple  # ms
    tvc: IntTriple  # ms
    phases: list[PhaseDelta]
    unattributed: UnattributedDelta
    downtime: IntTriple  # ms
    slower_phases: list[str]
    llm: LlmDelta
    verification: VerificationDelta
    outcome: OutcomeDelta
    changes: ChangesDelta
    scope_violations: IntTriple
    milestones_completed: IntTriple
    where_the_time_went: str
    # B against the run-to-run variation of its baseline (analysis.regression); set by the CLI
    regression: RegressionCheck | UnsetType = UNSET


# -- report usage ---------------------------------------------------------------------------------


class UsageTotals(Result):
    calls: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    total_tokens: int
    reasoning_tokens: int  # part of output_tokens, kept apart as ccusage shows it
    cost_usd: float | None
    cost_source: CostSource
    unpriced_calls: int
    unpriced_models: list[str]


class UsageModel(UsageTotals):
    model: str


class UsageRow(UsageTotals, kw_only=True):
    """One period, session or model. A field that its grouping does not give is left out
    (UNSET), not null: only the key of its grouping is there, by session also the run's
    name, runner, project and times, and ``by_model`` but by model."""

    period: str | UnsetType = UNSET  # --by day (YYYY-MM-DD), week (its Monday) or month (YYYY-MM)
    session: str | UnsetType = UNSET  # --by session: the run id
    model: str | UnsetType = UNSET  # --by model
    branch: str | UnsetType | None = UNSET  # --by branch: null for runs with no branch
    name: str | UnsetType | None = UNSET  # --by session: the run's
    runner: str | UnsetType | None = UNSET
    project: str | UnsetType | None = UNSET
    started_at: str | UnsetType | None = UNSET
    last_at: str | UnsetType | None = UNSET
    models: list[str]
    by_model: list[UsageModel] | UnsetType = UNSET  # every grouping but --by model


class UsageReport(Result):
    """``laptime report usage --json``."""

    by: Literal["day", "week", "month", "session", "model", "branch"]
    timezone: str
    since: str | None
    until: str | None
    project: str | None
    rows: list[UsageRow]
    totals: UsageTotals


# -- report pipeline ------------------------------------------------------------------------------


class PipelineFilters(Result):
    runner: str | None
    chain: str | None
    since: str | None
    until: str | None
    window: Literal["event_time"]


class CycleTime(Result):
    """Statistics of the completed tasks' cycle times, each in integer ms."""

    n: int
    avg: float | None
    p50: float | None
    p90: float | None
    nearest_rank_p50: float | None  # Choragen's own percentile, for comparison
    nearest_rank_p90: float | None


class PipelineTasks(Result):
    total: int
    completed: int
    attempts: int
    cycle_time_ms: CycleTime


class PipelineQuality(Result):
    total_reworks: int
    tasks_with_rework: int
    completed_with_rework: int
    rework_rate: float | None
    first_time_right_rate: float | None
    avg_rework_iterations: float | None


class PipelineChains(Result):
    total: int
    completed: int
    avg_tasks_per_chain: float | None
    avg_task_starts_per_chain: float | None


class PipelineRequests(Result):
    total: int
    closed: int


class PipelineModelTokens(Result):
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class PipelineTokens(Result):
    input_tokens: int
    output_tokens: int
    avg_per_completed_task: float | None  # input + output tokens per completed task
    by_model: list[PipelineModelTokens]


class PipelineModel(Result):
    model: str
    tasks_completed: int


class PipelineReport(Result):
    """``laptime report pipeline --json``."""

    filters: PipelineFilters
    tasks: PipelineTasks
    quality: PipelineQuality
    chains: PipelineChains
    requests: PipelineRequests
    tokens: PipelineTokens
    models: list[PipelineModel]


OUTPUT_TYPES: dict[str, type] = {
    "report summary": Summary,
    "compare": Comparison,
    "compare SPEC SPEC": RegressionCheck,  # groups of runs: only the regression check
    "report usage": UsageReport,
    "report pipeline": PipelineReport,
}
