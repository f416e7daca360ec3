"""Runs as flat rows, for CSV and JSON Lines exports.

Two shapes, both derived from the index (the log is the truth, exports are derived):

``run_rows``: one row per run, with ``RUN_COLUMNS``:

- ``timestamp``: the run's start (ISO 8601, UTC); ``task``: the run's name;
  ``status``: its outcome (completed, failed, blocked, stopped, running, crashed).
- ``iterations``: the run's ``iterations`` attribute when a source recorded one (AIDF);
  else the highest ``iteration`` attribute of its phases; else the loop rounds of its
  top-level phases, counted as the recorder's profiling output counts them: a new round
  starts when a phase whose name was already closed in the current round opens again.
  A run without phases has 0.
- ``input_tokens`` excludes cache tokens (Anthropic's meaning); ``total_tokens`` is
  input + output + cache read + cache write.
- ``cost_usd``: priced when read (``laptime.analysis.cost``); empty when no call could
  be priced; 0 for a run without LLM calls.
- ``files_modified``: distinct files the run touched (created, modified or deleted).
- ``provider`` / ``model``: the run's own attributes when a source recorded them; else
  every provider / model the run called, most calls first, joined with ``"; "``.
- ``validation_failures``: failed validation commands.

``phase_rows``: one row per top-level phase span (``--detailed``), with
``PHASE_COLUMNS``: its attempt (1 for the first span of that name in the run, 2 for
the second, ...), its iteration (as above), its times, outcome, and the LLM calls,
tokens and cost made inside it (nested spans included).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from laptime.analysis.kpi import RunRow, SpanRow
    from laptime.index import Index
    from laptime.pricing import PriceBook

RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "task",
    "status",
    "iterations",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "duration_seconds",
    "files_modified",
    "provider",
    "model",
    "scope_violations",
    "validation_failures",
)

PHASE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "span_id",
    "phase",
    "attempt",
    "iteration",
    "started_at",
    "ended_at",
    "duration_seconds",
    "outcome",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "worker",
)

COST_DIGITS = 6
SECONDS_DIGITS = 3


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def top_phases(spans: list[SpanRow], run_id: str) -> list[SpanRow]:
    """The run's top-level phase spans, in start order."""
    return sorted(
        (s for s in spans if s.kind == "phase" and s.parent_id == run_id), key=lambda s: (s.start_us, s.span_id)
    )


def phase_iterations(phases: list[SpanRow]) -> list[int]:
    """The iteration (from 1) of each top-level phase, by the profiling output's rule,
    or by the phases' own ``iteration`` attributes when every phase has one."""
    recorded = [p.attrs.get("iteration") for p in phases]
    if phases and all(isinstance(i, int) and not isinstance(i, bool) for i in recorded):
        return [int(i) for i in recorded]  # type: ignore[arg-type]
    out = []
    iteration = 1
    closed: set[str] = set()
    for p in phases:
        if p.name in closed:
            iteration += 1
            closed = set()
        closed.add(p.name)
        out.append(iteration)
    return out


def count_iterations(run: RunRow, phases: list[SpanRow]) -> int:
    """See the module's docstring: the run's attribute, else the phases' iterations."""
    attr = run.attrs.get("iterations")
    if isinstance(attr, int) and not isinstance(attr, bool):
        return attr
    numbers = phase_iterations(phases)
    return max(numbers) if numbers else 0


def _joined(values: list[str]) -> str:
    return "; ".join(v for v in dict.fromkeys(values) if v)


def run_rows(
    index: Index, book: PriceBook, runs: list[RunRow], *, now_us: int, crashed_after_us: int
) -> Iterator[dict[str, Any]]:
    """One flat row per run (``RUN_COLUMNS``), in the order of ``runs``."""
    from laptime.analysis.kpi import compute_kpi, load_spans

    for run in runs:
        kpi = compute_kpi(index, run, now_us=now_us, crashed_after_us=crashed_after_us, book=book)
        phases = top_phases(load_spans(index, run.run_id), run.run_id)
        by_calls = sorted(kpi.models.items(), key=lambda kv: (-kv[1].calls, kv[0]))
        provider = run.attrs.get("provider")
        model = run.attrs.get("model")
        yield {
            "run_id": run.run_id,
            "timestamp": kpi.started_at,
            "task": run.name,
            "status": kpi.outcome,
            "iterations": count_iterations(run, phases),
            "input_tokens": kpi.tokens.input_tokens,
            "output_tokens": kpi.tokens.output_tokens,
            "total_tokens": kpi.tokens.total_tokens,
            "cost_usd": _round(kpi.cost_usd, COST_DIGITS),
            "duration_seconds": _round(kpi.total_duration_ms / 1000, SECONDS_DIGITS),
            "files_modified": kpi.changes.files_touched,
            "provider": str(provider) if provider else _joined([m.provider or "" for _, m in by_calls]),
            "model": str(model) if model else _joined([name for name, _ in by_calls]),
            "scope_violations": kpi.scope_violations,
            "validation_failures": kpi.verification.failed,
        }


def _top_phase(span_id: str | None, phase_ids: set[str], by_id: dict[str, SpanRow]) -> str | None:
    """The id of the top-level phase a span sits in, if any."""
    seen = 0
    while span_id is not None and seen < 10_000:
        if span_id in phase_ids:
            return span_id
        span = by_id.get(span_id)
        span_id = span.parent_id if span is not None else None
        seen += 1
    return None


def phase_rows(
    index: Index, book: PriceBook, runs: list[RunRow], *, now_us: int, crashed_after_us: int
) -> Iterator[dict[str, Any]]:
    """One flat row per top-level phase span (``PHASE_COLUMNS``), run by run."""
    from laptime.analysis.kpi import load_spans
    from laptime.clock import timestamp_from_us
    from laptime.definitions import cache_write_1h_sql, span_duration_us, uncached_input
    from laptime.definitions import ts_us_sql as ts_us

    for run in runs:
        spans = load_spans(index, run.run_id)
        by_id = {s.span_id: s for s in spans}
        phases = top_phases(spans, run.run_id)
        phase_ids = {p.span_id for p in phases}
        outcome = run.outcome(now_us, crashed_after_us)

        llm: dict[str, list[Any]] = {}
        for model, provider, at, inp, out, cread, cwrite, includes, reported, parent, c1h in index.query(
            f"""SELECT model, provider, {ts_us("ts")}, input_tokens, output_tokens, cache_read_tokens,
                       cache_write_tokens, input_includes_cache, cost_usd, parent, {cache_write_1h_sql()}
                FROM llm_calls WHERE run = ? ORDER BY ts, id""",
            (run.run_id,),
        ):
            top = _top_phase(parent, phase_ids, by_id)
            if top is None:
                continue
            priced = book.call_cost(
                model, provider or "", at, inp, out, cread, cwrite, bool(includes), c1h, reported_cost_usd=reported
            )
            acc = llm.setdefault(top, [0, 0, 0, 0.0, 0])  # calls, in, out, cost, unpriced
            acc[0] += 1
            acc[1] += uncached_input(inp, cread, cwrite, includes)
            acc[2] += out
            if priced.cost_usd is None:
                acc[4] += 1
            else:
                acc[3] += priced.cost_usd
        attempts: dict[str, int] = {}
        run_end = run.end_us()
        for phase, iteration in zip(phases, phase_iterations(phases), strict=True):
            attempts[phase.name] = attempts.get(phase.name, 0) + 1
            calls, tin, tout, cost, unpriced = llm.get(phase.span_id, [0, 0, 0, 0.0, 0])
            worker = phase.attrs.get("worker")
            yield {
                "run_id": run.run_id,
                "span_id": phase.span_id,
                "phase": phase.name,
                "attempt": attempts[phase.name],
                "iteration": iteration,
                "started_at": timestamp_from_us(phase.start_us),
                "ended_at": timestamp_from_us(phase.end_us) if phase.end_us is not None else None,
                "duration_seconds": _round(
                    span_duration_us(phase.start_us, phase.end_us, run_end) / 1e6, SECONDS_DIGITS
                ),
                "outcome": phase.outcome if phase.end_us is not None else outcome,
                "llm_calls": calls,
                "input_tokens": tin,
                "output_tokens": tout,
                "cost_usd": None if calls and unpriced == calls else _round(cost, COST_DIGITS),
                "worker": str(worker) if worker is not None else None,
            }
