"""The typed results of the phase metrics (seed 003): per-run ``run_phase_metrics`` rows and a
project's summary over them, served by ``GET /runs/{run_id}/metrics`` and
``GET /projects/{project}/run-metrics/summary``."""

from __future__ import annotations

from typing import Any

from laptime.analysis.results import Result


class PhaseMetricRow(Result):
    """One attempt of one phase: a row of the index's ``run_phase_metrics`` view."""

    id: str  # the phase span's id
    run_id: str
    phase: str  # the phase span's name
    iteration: int  # 1 for the first attempt of this phase in this run, by start
    started_at: str
    ended_at: str | None  # null while the attempt is open
    duration_ms: int | None  # end minus start; null while open
    duration_seconds: int | None  # the same, whole seconds rounded down (seed 003's column)
    outcome: str  # laptime's outcome vocabulary; the source's own word stays in metadata
    metadata: dict[str, Any]  # the phase span's attributes


class RunPhaseMetrics(Result):
    run_id: str
    metrics: list[PhaseMetricRow]  # by start


class PhaseMetricStats(Result):
    """One phase over the project's runs that have it: n runs, the duration per run (summed
    over its attempts) and the attempts per run."""

    runs: int
    avg_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    avg_iterations: float | None


class RecentRun(Result):
    run_id: str
    name: str | None
    started_at: str
    iterations: int  # phase attempts in the run
    total_ms: int  # the run's duration (laptime.definitions)


class ProjectRunMetrics(Result):
    """Seed 003's ``run-metrics/summary``: ``avg_<phase>_seconds`` generalised to every phase."""

    project: str
    total_runs: int  # runs of the project
    avg_iterations: float | None  # phase attempts per run, over runs with any phase
    phases: dict[str, PhaseMetricStats]  # phase name -> statistics
    recent_runs: list[RecentRun]  # the latest runs, newest first
