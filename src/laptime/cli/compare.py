"""``laptime compare A B``: two runs side by side, and where the time went."""

from __future__ import annotations

import click

from laptime.cli._common import (
    config_of,
    crashed_after_us,
    echo_json,
    json_option,
    now_us,
    open_index,
    store_of,
    style_of,
)


@click.command()
@click.argument("run_a", metavar="A")
@click.argument("run_b", metavar="B")
@click.option(
    "--threshold",
    "threshold_pct",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="PCT",
    help="Mark a phase slower (▲) when B spent at least PCT percent more time in it than A.",
)
@click.option(
    "--min-seconds",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="...and at least this many seconds more, so that tiny phases are not flagged.",
)
@json_option
@click.pass_context
def compare(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context, run_a: str, run_b: str, threshold_pct: float, min_seconds: float, as_json: bool
) -> None:
    """Two runs side by side: per phase the duration, attempts, delta and % change; LLM
    calls, tokens and cost per model; verification and outcome; and one line saying
    where the time went. Deltas are B minus A. A and B are run ids or unique prefixes.
    Slower phases are marked ▲ (and red on a terminal, faster ones' delta green, unless
    NO_COLOR or --no-color).

    \b
    Example:
      laptime compare 01a2b3 01c4d5
      laptime compare 01a2b3 01c4d5 --threshold 25 --json
    """
    from laptime.analysis.compare import compare_kpis
    from laptime.analysis.kpi import compute_kpi, resolve_run
    from laptime.analysis.results import to_builtins
    from laptime.pricing import PriceBook
    from laptime.report.compare_view import render

    store = store_of(ctx)
    crashed = crashed_after_us(store)
    book = PriceBook.from_config(config_of(store))
    now = now_us()
    with open_index(ctx) as index:
        kpis = []
        costs = []
        for given in (run_a, run_b):
            row = resolve_run(index, given)
            kpi = compute_kpi(index, row, now_us=now, crashed_after_us=crashed, book=book)
            kpis.append(kpi)
            costs.append((kpi.cost.by_model, kpi.cost_usd))
    result = compare_kpis(
        to_builtins(kpis[0]),
        to_builtins(kpis[1]),
        a_costs=costs[0],
        b_costs=costs[1],
        threshold_pct=threshold_pct,
        min_seconds=min_seconds,
    )
    if as_json:
        echo_json(result)
        return
    for line in render(to_builtins(result), style_of(ctx)):
        click.echo(line)
