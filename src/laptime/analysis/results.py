"""The typed results of laptime's analysis, in one JSON vocabulary (DESIGN.md).

Every command's ``--json`` is ``msgspec.json.encode`` of one of these structs, and its
JSON Schema (shipped in ``laptime/schema/output/``, documented in ``docs/output.md``) is
``msgspec.json.schema`` of the same struct, so output and schema cannot drift apart.

The vocabulary: ``run_id``; ``started_at`` / ``ended_at`` (canonical ISO UTC); integer
``*_ms`` durations; ``input_tokens`` (uncached), ``output_tokens``, ``cache_read_tokens``,
``cache_write_tokens`` (``cache_write_1h_tokens``: the part of them kept an hour);
``cost_usd`` (null when unpriced) with ``cost_source`` (reported, priced or unpriced). A
list always comes inside an object (``{"runs": [...]}``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

CostSource = Literal["reported", "priced", "unpriced"]


class Result(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every result: keyword-only fields, and no field that the struct does not name."""


# -- one run -----------------------------------------------------------------------------------------


class Tokens(Result):
    input_tokens: int  # uncached input (Anthropic's meaning)
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int  # every cache write
    cache_write_1h_tokens: int  # the part of cache_write_tokens kept for an hour
    estimated_tokens: int  # the part of total_tokens that was estimated, not reported
    total_tokens: int  # input + output + cache read + cache write


class PhaseKpi(Result):
    duration_ms: int  # summed over the phase's attempts
    attempts: int
    failed: int  # attempts that did not complete
    share: float | None  # of the run's duration


class PhaseUsage(Result):
    calls: int
    input_tokens: int
    output_tokens: int


class ModelKpi(Result):
    provider: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    estimated_calls: int
    avg_latency_ms: int | None
    cost_usd: float | None
    by_phase: dict[str, PhaseUsage]


class WorkerKpi(Result):
    calls: int
    input_tokens: int
    output_tokens: int
    models: dict[str, int]  # calls per model


class CostBreakdown(Result):
    reported_usd: float  # the part the sources reported
    estimated_usd: float  # the part priced from estimated token counts
    unpriced_calls: int
    unpriced_models: list[str]
    by_model: dict[str, float | None]
    by_phase: dict[str, float | None]


class Verification(Result):
    commands_run: int
    passed: int
    failed: int
    retries: int
    tiers_executed: list[str]


class Changes(Result):
    files_touched: int
    lines_added: int
    lines_removed: int
    created: int
    modified: int
    deleted: int


class Milestones(Result):
    planned: int
    completed: int


class Queue(Result):
    samples: int
    max_ready: int | None
    max_active: int | None
    max_waiting: int | None
    avg_active: float | None


class RunKpi(Result):
    """One run's KPIs: ``laptime report RUN --json`` and ``laptime kpi RUN``."""

    run_id: str
    name: str | None
    runner: str | None
    started_at: str
    ended_at: str | None
    total_duration_ms: int
    outcome: str
    error: str | None
    tvc_ms: int | None
    tvc_checkpoint: str | None
    unattributed_ms: int
    downtime_ms: int
    phases: dict[str, PhaseKpi]
    models: dict[str, ModelKpi]
    workers: dict[str, WorkerKpi]
    tokens: Tokens
    cost_usd: float | None
    cost_source: CostSource
    cost: CostBreakdown
    llm_calls: int
    verification: Verification
    changes: Changes
    milestones: Milestones
    checkpoints: int
    scope_violations: int
    errors: int
    queue: Queue


class SpanDetail(Result):
    span_id: str
    parent_id: str | None
    depth: int
    kind: str
    name: str
    started_at: str
    ended_at: str | None
    duration_ms: int
    outcome: str
    error: str | None
    attrs: dict[str, Any]


class ValidationDetail(Result):
    at: str
    command: str
    passed: bool
    exit_code: int | None
    duration_ms: int | None
    tier: str | None


class FileDetail(Result):
    path: str
    change: str | None
    lines_added: int | None
    lines_removed: int | None


class CheckpointDetail(Result):
    at: str
    commit: str | None
    verified: bool


class TimeSplit(Result):
    """Where the wall time went (``laptime.definitions``, "Where the time goes"): one run's, or
    several runs' added up. The ``*_ms`` parts add up to ``wall_ms``; ``shares`` are each
    activity's part of the wall time (0 to 1, adding up to 1), keyed like the parts."""

    runs: int
    wall_ms: int
    llm_ms: int
    tool_ms: int
    git_ms: int
    validation_ms: int
    sync_wait_ms: int
    human_wait_ms: int
    other_ms: int
    shares: dict[str, float]


BudgetLimitName = Literal["cost_usd", "duration_ms", "tokens"]


class BudgetLimit(Result):
    """One limit that applies to a run, and the config table it comes from."""

    limit: BudgetLimitName
    budget: float  # USD for cost_usd, ms for duration_ms, a count for tokens
    rule: str  # the config table: budgets, budgets.runner.ci, budgets.task."fix-*"


class BudgetCrossing(Result):
    """A limit the run went over (its figure above the limit)."""

    limit: BudgetLimitName
    value: float  # the run's figure: cost_usd, duration_ms or tokens
    budget: float
    over_by: float  # value - budget
    rule: str
    crossed_at: str | None  # when the recorder's laptime.budget.exceeded event says; null for imported runs


class RunBudget(Result):
    """The budget of one run (``laptime.analysis.budgets``): its limits, and those it crossed."""

    limits: list[BudgetLimit]
    crossed: list[BudgetCrossing]
    over_budget: bool


class PathSegment(Result):
    """One segment of the critical path: a task, or idle time when no task on the path ran."""

    kind: Literal["task", "idle"]
    span_id: str | None  # the task's span (null: idle)
    name: str | None
    worker: str | None
    started_at: str
    duration_ms: int
    share: float  # of the wall time; the segments' shares add up to 1


class Straggler(Result):
    """The task of a batch (tasks that ran together) that finished last and held the rest up."""

    batch: str  # the batch's attr (batch, superstep), else its container's name and step number
    tasks: int  # in the batch
    span_id: str
    name: str
    worker: str | None
    ended_at: str
    held_up_ms: int  # its end minus the end of the batch's next-to-last task
    idle_worker_ms: int  # the other tasks' wait for it: the sum of (its end - their end)


class WorkerUse(Result):
    worker: str  # "(main)": tasks that name no worker
    tasks: int
    busy_ms: int  # the union of its tasks' time
    utilisation: float  # busy over the wall time


class CriticalPath(Result):
    """Critical path, stragglers, utilisation and the continuous-dispatch what-if of one run
    (``laptime.analysis.critical_path``; docs/analysis.md, "Critical path and dispatch")."""

    parallel: bool  # whether two tasks ever ran at once
    tasks: int
    max_concurrency: int
    workers: int  # the pool the dispatch simulation uses
    wall_ms: int
    path_task_ms: int  # the path's task time; path_task_ms + path_idle_ms = wall_ms
    path_idle_ms: int
    segments: list[PathSegment]
    stragglers: list[Straggler]
    worker_use: list[WorkerUse]  # empty when no task names a worker
    utilisation: float | None  # the tasks' busy time over workers x wall time
    working_ms: int  # the time split's LLM, tool, git and validation time
    waiting_ms: int  # the time split's sync and human waits
    wait_work_ratio: float | None  # waiting_ms / working_ms (null: no working time)
    observed_makespan_ms: int
    dispatch_makespan_ms: int
    dispatch_saving_ms: int  # observed minus dispatch, 0 when not positive ("no saving")
    dispatch_saving_share: float  # of the observed makespan


class RunDetail(RunKpi):
    """``laptime report show RUN --json``: the KPIs and every span, validation, file, checkpoint."""

    time_split: TimeSplit
    critical_path: CriticalPath
    spans: list[SpanDetail]
    validations: list[ValidationDetail]
    files: list[FileDetail]
    checkpoint_list: list[CheckpointDetail]
    budget: RunBudget | None = None  # null when no [budgets] limit applies to the run


class RunListRow(Result):
    run_id: str
    short_id: str  # the shortest prefix (12 characters or more) no other stored run's id starts with
    name: str | None
    runner: str | None
    started_at: str
    ended_at: str | None
    total_duration_ms: int
    outcome: str
    llm_calls: int
    total_tokens: int
    cost_usd: float | None
    cost_source: CostSource


class RunList(Result):
    """``laptime report list --json``."""

    runs: list[RunListRow]


def to_builtins(result: msgspec.Struct) -> Any:
    """A result as plain dicts and lists (what the terminal views format)."""
    return msgspec.to_builtins(result)


def encode(result: msgspec.Struct) -> str:
    """A result as pretty-printed JSON: what ``--json`` prints."""
    return msgspec.json.format(msgspec.json.encode(result), indent=2).decode()


# -- the store and its maintenance ------------------------------------------------------------------------


class SegmentHealth(Result):
    name: str
    bytes: int
    indexed_bytes: int | None = None  # None when the index could not be opened
    lines: int | None = None


class BadLineInfo(Result):
    file: str
    line: int
    offset: int
    reason: str


class TornTail(Result):
    file: str
    bytes: int  # after the last newline


class UnreadableSegment(Result):
    file: str
    reason: str


class Health(Result):
    """``laptime doctor --json``: the log's and the index's health."""

    store: str
    segments: list[SegmentHealth]
    events: int | None = None  # None when the index could not be opened
    runs: int | None = None
    index_was_current: bool | None = None
    index_behind_bytes: dict[str, int] = {}
    index_segments_removed: list[str] = []
    index_error: str | None = None
    bad_lines_total: int = 0
    bad_lines: list[BadLineInfo] = []
    torn_tails: list[TornTail] = []
    #: Segments (or the log folder) that exist but cannot be read; reports skip them.
    unreadable_segments: list[UnreadableSegment] = []


class NumericTrend(Result):
    value: float | None
    mean: float | None
    n: int
    change_pct: float | None
    arrow: str | None


class SuccessTrend(Result):
    value: float
    rate: float | None
    n: int
    arrow: str | None


class Trends(Result):
    previous_runs: list[str]
    threshold_pct: float
    duration_ms: NumericTrend
    cost_usd: NumericTrend
    success: SuccessTrend


class LastRun(Result):
    run_id: str
    name: str | None
    runner: str | None
    started_at: str
    outcome: str
    total_duration_ms: int
    llm_calls: int
    tokens: Tokens
    cost_usd: float | None
    cost_source: CostSource
    unpriced_calls: int
    trends: Trends


class Status(Health):
    """``laptime status --json``."""

    exists: bool = True


class StatusReport(Status):
    """``laptime status --report --json``: ``last_run`` is null when no run is recorded."""

    last_run: LastRun | None = None


class ModelPrice(Result):
    model: str
    provider: str | None
    calls: int
    reported_cost_calls: int
    source: str  # config:<pattern>, genai-prices or unpriced
    price_at: str  # the UTC day of the model's last call
    input_per_1m: float | None
    output_per_1m: float | None
    cache_read_per_1m: float | None
    cache_write_per_1m: float | None
    cache_write_1h_per_1m: float | None
    long_context_tiers: bool
    library_model: str | None
    note: str | None


class PriceTableInfo(Result):
    """The compiled genai-prices table that library prices are read from (laptime.price_table)."""

    path: str | None  # its file in the cache folder; null: the folder could not be written (compiled in memory)
    genai_prices_version: str  # the genai-prices it was compiled from
    rebuilt: bool  # compiled by this command (genai-prices was imported)
    problem: str | None  # why the cache folder could not be used, when it could not


class Pricing(Result):
    """``laptime pricing --json``."""

    models: list[ModelPrice]
    price_table: PriceTableInfo | None  # null: genai-prices is not installed


class ImportProblemInfo(Result):
    file: str
    line: int | None
    message: str


class ImportSummary(Result):
    format: str
    files_seen: int
    files_read: int
    files_unchanged: int
    bytes_read: int
    records: int
    events_new: int
    events_already_stored: int
    skipped_records: int
    runs: int
    problems: list[ImportProblemInfo]


class Imports(Result):
    """``laptime import ... --json``: one entry per format imported."""

    imports: list[ImportSummary]


class Compaction(Result):
    """``laptime compact --json``."""

    segments_rewritten: int
    bytes_before: int
    bytes_after: int
    lines_before: int
    lines_after: int
    torn_lines_dropped: int  # always 0: compact quarantines torn lines, it drops none
    spans_merged: int
    skipped_recent: list[str]
    kept_newer_version: int  # lines of a newer schema version, kept byte for byte
    kept_unknown_type: int  # v1 lines of an event type this laptime does not know, kept byte for byte
    lines_quarantined: int  # torn or garbage lines moved to the quarantine (none is deleted)
    quarantine_dir: str  # the folder of the quarantine files, one per segment
    quarantine_files: list[str]  # the quarantine files this run wrote to or found its lines in


class Cleaning(Result):
    """``laptime report clean --json``."""

    before: str
    segments: list[str]
    bytes: int
    events: int
    runs_touched: int
    runs_removed_whole: int
    removed: bool


class Refresh(Result):
    """``laptime refresh --json``."""

    index: str
    segments: int
    events: int
    bad_lines: int
    seconds: float
    events_per_second: float


class Demo(Result):
    """``laptime demo --json``: the run it recorded, and its KPIs."""

    run_id: str
    store: str
    kpi: RunKpi
