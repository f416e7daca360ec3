"""Phase metrics (seed 003), from the index's ``run_phase_metrics`` view.

A project's runs are those whose ``project``, ``cwd`` or ``repo`` attribute contains the
project name, as in ``report usage --project``. Per phase, each run counts once: its
duration in that phase is the sum over its attempts (``laptime.definitions``' phase
duration, open attempts left out), its iterations the number of attempts; avg, p50 and
p90 are over those runs (``laptime.analysis.stats``).
"""

from __future__ import annotations

import json
from collections import defaultdict

from laptime import definitions as d
from laptime.analysis.phase_results import (
    PhaseMetricRow,
    PhaseMetricStats,
    ProjectRunMetrics,
    RecentRun,
    RunPhaseMetrics,
)
from laptime.analysis.stats import percentile
from laptime.clock import timestamp_from_us
from laptime.index import Index

RECENT_RUNS = 10
_PROJECT_SQL = (
    "(instr(COALESCE(attrs ->> '$.project', ''), ?) > 0 OR instr(COALESCE(attrs ->> '$.cwd', ''), ?) > 0"
    " OR instr(COALESCE(attrs ->> '$.repo', ''), ?) > 0)"
)


def run_phase_metrics(index: Index, run_id: str) -> RunPhaseMetrics:
    """Every phase attempt of one run, by start."""
    rows = index.query(
        """SELECT m.id, m.run_id, m.phase, m.iteration, m.started_at, m.ended_at, m.duration_seconds, m.outcome,
                  m.metadata, s.start_us, s.end_us
           FROM run_phase_metrics m JOIN spans s ON s.span_id = m.id
           WHERE m.run_id = ? ORDER BY s.start_us, m.id""",
        (run_id,),
    )
    metrics = [
        PhaseMetricRow(
            id=r[0],
            run_id=r[1],
            phase=r[2],
            iteration=int(r[3]),
            started_at=r[4],
            ended_at=r[5],
            duration_seconds=r[6],
            duration_ms=None if r[10] is None else d.ms(int(r[10]) - int(r[9])),
            outcome=r[7],
            metadata=json.loads(r[8]) if r[8] else {},
        )
        for r in rows
    ]
    return RunPhaseMetrics(run_id=run_id, metrics=metrics)


def project_run_metrics(index: Index, project: str, *, recent: int = RECENT_RUNS) -> ProjectRunMetrics:
    """Seed 003's summary of the runs of ``project``, for every phase."""
    params = [project, project, project]
    runs = index.query(
        f"""SELECT run_id, name, {d.run_start_sql("")}, {d.run_duration_sql("")} FROM runs
            WHERE {_PROJECT_SQL} ORDER BY {d.run_start_sql("")} DESC, run_id DESC""",
        params,
    )
    per_phase: dict[str, dict[str, list[int | None]]] = defaultdict(lambda: defaultdict(list))
    attempts_per_run: dict[str, int] = defaultdict(int)
    for run_id, phase, start_us, end_us in index.query(
        f"""SELECT m.run_id, m.phase, s.start_us, s.end_us FROM run_phase_metrics m JOIN spans s ON s.span_id = m.id
            WHERE m.run_id IN (SELECT run_id FROM runs WHERE {_PROJECT_SQL})""",
        params,
    ):
        attempts_per_run[run_id] += 1
        per_phase[phase][run_id].append(None if end_us is None else int(end_us) - int(start_us))
    phases = {}
    for phase in sorted(per_phase):
        by_run = per_phase[phase]
        totals = sorted(float(d.ms(sum(us for us in v if us is not None))) for v in by_run.values())
        counts = [len(v) for v in by_run.values()]
        phases[phase] = PhaseMetricStats(
            runs=len(by_run),
            avg_ms=sum(totals) / len(totals) if totals else None,
            p50_ms=percentile(totals, 50),
            p90_ms=percentile(totals, 90),
            avg_iterations=sum(counts) / len(counts) if counts else None,
        )
    recent_runs = [
        RecentRun(
            run_id=run_id,
            name=name,
            started_at=timestamp_from_us(int(start)),
            iterations=attempts_per_run.get(run_id, 0),
            total_ms=d.ms(int(duration)),
        )
        for run_id, name, start, duration in runs[:recent]
    ]
    with_phases = list(attempts_per_run.values())
    return ProjectRunMetrics(
        project=project,
        total_runs=len(runs),
        avg_iterations=sum(with_phases) / len(with_phases) if with_phases else None,
        phases=phases,
        recent_runs=recent_runs,
    )
