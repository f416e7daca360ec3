"""``laptime estimate``: p10, p50 and p90 of a new run's duration and cost, and their backtest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from laptime.cli._common import (
    UsageProblem,
    config_of,
    crashed_after_us,
    echo_json,
    json_option,
    now_us,
    open_index,
    store_of,
    window_options,
)
from laptime.humanize import duration, usd

if TYPE_CHECKING:
    from laptime.analysis.estimate import Backtest, Estimate


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            msg = f"--label: {value!r} is not KEY=VALUE (for example --label team=infra)"
            raise UsageProblem(msg)
        labels[key.strip()] = text
    return labels


@click.command()
@click.option("--task", help="The new run's task (its name): exact, or a glob (fix-*).")
@click.option("--runner", help="The new run's runner (exact).")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only past runs whose attributes hold KEY with this VALUE (as text; repeat for several).",
)
@window_options("Past runs started")
@click.option(
    "--backtest",
    is_flag=True,
    help="Replay history in time order, estimating each run from the runs that ended before it, and report "
    "how often the actual value fell inside p10-p90 and the median error.",
)
@json_option
@click.pass_context
def estimate(  # noqa: PLR0917 - click passes every option
    ctx: click.Context,
    task: str | None,
    runner: str | None,
    labels: tuple[str, ...],
    since: int | None,
    until: int | None,
    backtest: bool,
    as_json: bool,
) -> None:
    """p10, p50 and p90 of a new run's duration and cost, drawn from similar completed runs: the same
    task and runner, else the same task, else the same runner (the first with at least 9 runs), the last
    20 of them. p10 and p90 are widened for the number of runs so that 80% of new runs fall between them.
    With fewer than 9 similar runs it says so and gives no numbers (exit 0).

    --backtest checks that claim on your history: each past run estimated from the runs that ended
    before it started; it reports the share inside p10-p90 (target 80% ± 5%) and the median error.

    \b
    Examples:
      laptime estimate --task fix-login --runner claude-code
      laptime estimate --runner choragen --label team=infra --json
      laptime estimate --backtest
    """
    from laptime.analysis import estimate as est
    from laptime.pricing import PriceBook

    wanted = _labels(labels)
    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    crashed = crashed_after_us(store)
    with open_index(ctx) as index:
        runs = est.load_history(
            index, book, labels=wanted, since_us=since, until_us=until, now_us=now_us(), crashed_after_us=crashed
        )
    history = est.History(runs)
    filters = est.filters_of(task, runner, wanted, since, until)
    if backtest:
        result = est.backtest(history, filters, targets=est.target_filter(filters))
        if as_json:
            echo_json(result)
            return
        lines = backtest_lines(result)
    else:
        estimate_result = est.estimate(history, filters)
        if as_json:
            echo_json(estimate_result)
            return
        lines = estimate_lines(estimate_result)
    for line in lines:
        click.echo(line)


def _what(task: str | None, runner: str | None) -> str:
    parts = [f"task {task}" if task else "", f"runner {runner}" if runner else ""]
    return ", ".join(p for p in parts if p) or "any task and runner"


def _level(q: float) -> str:
    return f"{q:.1f}"


def estimate_lines(result: Estimate) -> list[str]:
    """The estimate as text: what it is for, the similar runs, the table, how p10/p90 were read."""
    from laptime.report.format import plural, table

    f = result.filters
    lines = [f"Estimate for a new run of {_what(f.task, f.runner)}"]
    if f.labels:
        lines.append("Past runs with " + ", ".join(f"{k}={v}" for k, v in f.labels.items()))
    sim = result.similarity
    figures = result.estimate
    if figures is None or sim.step is None:
        lines.append(f"No estimate: {result.reason}.")
        return lines
    lines.append(f"Similar runs: the last {sim.n} of {plural(sim.matched, 'completed run')} with {sim.criteria}")
    fewer = "; ".join(f"{s.criteria}: {s.runs}" for s in sim.steps[:-1])
    if fewer:
        lines.append(f"  (fell back: fewer than {result.method.min_runs} with {fewer})")
    dur = figures.duration
    rows = [["duration", duration(dur.p10_ms), duration(dur.p50_ms), duration(dur.p90_ms), str(dur.n)]]
    cost = figures.cost
    if cost is not None:
        rows.append(["cost", usd(cost.p10_usd), usd(cost.p50_usd), usd(cost.p90_usd), str(cost.n)])
    else:
        rows.append(["cost", "-", "-", "-", str(dur.n - figures.unpriced_runs)])
    lines += ["", *table(["", "p10", "p50", "p90", "n"], rows, "lrrrr"), ""]
    lines.append(
        f"p10 and p90: percentiles {_level(dur.p10_level)} and {_level(dur.p90_level)} of the {dur.n} durations "
        "(widened for n so that 80% of new runs fall between them)."
    )
    if cost is None:
        lines.append(f"No cost estimate: {figures.cost_reason}.")
    elif figures.unpriced_runs:
        lines.append(f"Cost leaves out {plural(figures.unpriced_runs, 'run')} with calls that could not be priced.")
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def backtest_lines(result: Backtest) -> list[str]:
    """The backtest as text: what was replayed, coverage and errors per figure, the target."""
    from laptime.report.format import integer, plural, table

    f = result.filters
    lines = [
        (
            f"Backtest of {_what(f.task, f.runner)}: {plural(result.runs, 'completed run')} replayed in time order, "
            "each estimated from the runs that ended before it started"
        )
    ]
    if result.reason is not None:
        lines.append(f"No estimate was possible: {result.reason}.")
        return lines
    lines.append(f"Estimated {integer(result.estimated)}; {integer(result.skipped)} had too little history")
    lines.append("Similarity: " + ", ".join(f"{step} {integer(n)}" for step, n in result.steps.items()))
    d, c = result.duration, result.cost
    rows = [
        [
            "duration",
            integer(d.n),
            _share(d.coverage),
            _share(d.below_p10),
            _share(d.above_p90),
            duration(d.median_abs_error_ms),
            _share(d.median_rel_error),
        ],
        [
            "cost",
            integer(c.n),
            _share(c.coverage),
            _share(c.below_p10),
            _share(c.above_p90),
            usd(c.median_abs_error_usd),
            _share(c.median_rel_error),
        ],
    ]
    headers = ["", "n", "in p10-p90", "below p10", "above p90", "median abs error", "median rel error"]
    lines += ["", *table(headers, rows, "lrrrrrr"), ""]
    target = f"{result.coverage_target * 100:.0f}% ± {result.coverage_tolerance * 100:.0f}%"
    verdicts = [
        f"{name} {'met' if acc.within_target else 'missed'}"
        for name, acc in (("duration", d), ("cost", c))
        if acc.within_target is not None
    ]
    lines.append(f"Target coverage {target}: " + ", ".join(verdicts) + ".")
    unwidened = [
        f"{name} {_share(acc.unwidened_coverage)}"
        for name, acc in (("duration", d), ("cost", c))
        if acc.unwidened_coverage is not None
    ]
    lines.append("Plain percentiles 10 and 90 of the same runs would have covered: " + ", ".join(unwidened) + ".")
    return lines
