"""The summary page: duration, cost and success-rate trends by day, the phase distribution,
and the slowest and costliest runs, each linked to its run page. Figures come from
``analysis.summary.Summary`` and ``analysis.trends`` (daily points, top runs); this module
only lays them out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from laptime.analysis.report_results import Summary
from laptime.analysis.results import RunListRow
from laptime.analysis.trends import RunsOverTime, TrendDay
from laptime.report.format import count, integer, percent
from laptime.report.html.page import BarRow, SeriesPoint, esc, frame, hbar_chart, series_chart, table
from laptime.report.html.units import duration, usd


def run_file_href(run_id: str) -> str:
    """Where a summary file links a run: ``run-<id>.html`` beside it (``laptime report html --summary``)."""
    return f"run-{run_id}.html"


def _facts(summary: Summary) -> str:
    d = summary.duration_ms
    cost = summary.cost
    facts = [
        ("runs", integer(summary.runs)),
        ("success rate", percent(summary.success_rate) + " of finished runs"),
        ("duration p50 / p90", f"{duration(d.p50)} / {duration(d.p90)}"),
        ("total time", duration(d.total)),
        ("cost", (usd(cost.cost_usd) if cost.cost_usd is not None else "unknown") + f" ({cost.cost_source})"),
        (
            "LLM calls",
            integer(cost.llm_calls) + (f" ({integer(cost.unpriced_calls)} unpriced)" if cost.unpriced_calls else ""),
        ),
        ("tokens", count(summary.tokens.total_tokens) + " tokens"),
    ]
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"


def _trends(days: Sequence[TrendDay]) -> str:
    if not days:
        return "<p>No runs to show a trend of.</p>"
    durations = [
        SeriesPoint(t.day, None if t.duration_p50_ms is None else t.duration_p50_ms / 1000, duration(t.duration_p50_ms))
        for t in days
    ]
    costs = [
        SeriesPoint(
            t.day, t.cost_usd, usd(t.cost_usd) + (f" ({t.unpriced_runs} runs unpriced)" if t.unpriced_runs else "")
        )
        for t in days
    ]
    success = [SeriesPoint(t.day, t.success_rate, percent(t.success_rate)) for t in days]
    return (
        "<h3>Median run duration by day (seconds)</h3>"
        + series_chart(
            "trend-duration", "Median run duration by day", durations, value_header="median duration", axis_unit="s"
        )
        + "<h3>Cost by day (USD)</h3>"
        + series_chart("trend-cost", "Priced cost by day", costs, value_header="cost (USD)", axis_unit="$")
        + "<h3>Success rate by day (% of finished runs)</h3>"
        + series_chart("trend-success", "Success rate by day", success, value_header="success rate", axis_unit="%")
    )


def _phases(summary: Summary) -> str:
    rows = [
        BarRow(p.phase, float(p.total), f"{duration(p.total)} ({percent(p.share)}, {integer(p.n)} runs)")
        for p in sorted(summary.phases, key=lambda p: -p.total)
    ]
    chart = hbar_chart("phase-distribution", "Time by phase, over the selected runs", rows, value_header="time (share)")
    if summary.phases and summary.outside_phases_share is not None:
        chart += f"<p>Outside every phase: {esc(percent(summary.outside_phases_share))} of the runs' time.</p>"
    table_rows = [
        [
            esc(p.phase),
            esc(integer(p.n)),
            esc(duration(p.p50)),
            esc(duration(p.p90)),
            esc(duration(p.total)),
            esc(percent(p.share)),
        ]
        for p in summary.phases
    ]
    if table_rows:
        chart += table(["phase", "runs", "p50", "p90", "total", "share"], table_rows, numeric=[1, 2, 3, 4, 5])
    return chart


def _run_table(runs: Sequence[RunListRow], href: Callable[[str], str]) -> str:
    if not runs:
        return "<p>None.</p>"
    rows = [
        [
            f'<a href="{esc(href(r.run_id))}">{esc(r.name or r.short_id)}</a>',
            esc(r.short_id),
            esc(r.started_at),
            f'<span class="badge o-{esc(r.outcome)}">{esc(r.outcome)}</span>',
            esc(duration(r.total_duration_ms)),
            esc(usd(r.cost_usd) if r.cost_usd is not None else "unpriced"),
        ]
        for r in runs
    ]
    return table(["run", "id", "started (UTC)", "outcome", "duration", "cost"], rows, numeric=[4, 5])


def render_summary_page(
    summary: Summary,
    over_time: RunsOverTime,
    *,
    run_href: Callable[[str], str] = run_file_href,
) -> str:
    """The summary page (``Summary``, and ``analysis.trends.runs_over_time``) as a self-contained
    HTML document. ``run_href`` turns a run id into the link of its page: ``run-<id>.html`` for
    files (the default), a route for the server."""
    body = (
        f"<h1>laptime: {esc(integer(summary.runs))} runs</h1>{_facts(summary)}"
        f"<h2>Trends over time</h2>{_trends(over_time.days)}"
        f"<h2>Phase distribution</h2>{_phases(summary)}"
        f'<h2 id="slowest">Slowest runs</h2>{_run_table(over_time.slowest, run_href)}'
        f'<h2 id="costliest">Costliest runs</h2>{_run_table(over_time.costliest, run_href)}'
    )
    return frame("laptime: summary", body)
