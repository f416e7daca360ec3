"""``laptime report summary``: KPIs over many runs."""

from __future__ import annotations

import click

from laptime.cli._common import (
    config_of,
    crashed_after_us,
    echo_json,
    json_option,
    now_us,
    open_index,
    parse_when,
    store_of,
    style_of,
)
from laptime.events import OUTCOMES


@click.command("summary")
@click.option("--since", help="Runs started at or after: YYYY-MM-DD, ISO datetime, or an age like 7d.")
@click.option("--until", help="Runs started before: YYYY-MM-DD, ISO datetime, or an age like 1d.")
@click.option("--status", type=click.Choice(OUTCOMES), help="Only runs with this outcome.")
@click.option("--task", help="Runs whose name contains this, or matches it as a glob (fix-*).")
@click.option("--runner", help="Runs of this runner (exact).")
@click.option("--model", help="Runs that called a model whose name contains this.")
@json_option
@click.pass_context
def summary(  # noqa: PLR0917 - click passes every option
    ctx: click.Context,
    since: str | None,
    until: str | None,
    status: str | None,
    task: str | None,
    runner: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Totals over many runs: outcomes, durations, TVc, tokens, cost, phases, models,
    rework, the costliest tasks and the most modified files.

    \b
    Examples:
      laptime report summary --since 7d
      laptime report summary --status failed --runner claude-code --json
      laptime report summary --task 'fix-*' --model sonnet
    """
    from laptime.analysis.summary import SummaryFilters, compute_summary
    from laptime.pricing import PriceBook

    filters = SummaryFilters(
        since_us=parse_when(since, option="--since") if since else None,
        until_us=parse_when(until, option="--until") if until else None,
        status=status,
        task=task,
        runner=runner,
        model=model,
    )
    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    crashed = crashed_after_us(store)
    with open_index(ctx) as index:
        data = compute_summary(index, book, filters, now_us=now_us(), crashed_after_us=crashed)
    if as_json:
        echo_json(data)
        return
    import msgspec

    from laptime.report.summary_view import summary_lines

    for line in summary_lines(msgspec.to_builtins(data), style_of(ctx)):
        click.echo(line)
