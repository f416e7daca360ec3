"""``laptime status [--report]``: the store's health, and the last run with its trends."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from laptime.analysis.results import LastRun


@click.command()
@click.option("--report", "with_report", is_flag=True, help="Add the last run's summary, cost and trends.")
@json_option
@click.pass_context
def status(ctx: click.Context, with_report: bool, as_json: bool) -> None:
    """The store's health: where it is, its segments, events, runs, bad lines, and
    whether the index is current (brought up to date if not).

    With --report, adds the last run's summary and cost, and trend arrows for its
    duration, cost and success against the mean of the previous 5 finished runs:
    ↑ more than 5% above the mean, ↓ more than 5% below, → within ±5% (success: the
    run counts 100% if completed, else 0%, against the previous runs' success rate,
    in percentage points). Without --report the output is the same as it always was.
    On a terminal the arrows are green for better and red for worse (not with
    NO_COLOR or --no-color), and lines are cut with … to its width.

    \b
    Examples:
      laptime status
      laptime status --report
      laptime status --report --json
    """
    import msgspec

    from laptime.analysis.results import Health, Status, StatusReport
    from laptime.health import check_health
    from laptime.report.health_view import health_lines

    store = store_of(ctx)
    if not store.exists():
        health = Health(store=str(store.root), segments=[])
        text = [f"store      {store.root} (none yet: record a run with the SDK, or try `laptime demo`)"]
    else:
        health = check_health(store)
        text = health_lines(msgspec.to_builtins(health))
    data: Status = Status(**msgspec.structs.asdict(health), exists=store.exists())
    if with_report:
        last = _last_run(ctx) if store.exists() else None
        data = StatusReport(**msgspec.structs.asdict(data), last_run=last)
        if last is None:
            text += ["", "Last run", "run        - (no runs recorded yet)"]
        else:
            from laptime.report.status_view import render_report

            text += render_report(msgspec.to_builtins(last), style_of(ctx))
    if as_json:
        echo_json(data)
        return
    style = style_of(ctx)
    for line in text:
        click.echo(style.fit(line))


def _last_run(ctx: click.Context) -> LastRun | None:
    from laptime.analysis.last_run import last_run
    from laptime.pricing import PriceBook

    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    with open_index(ctx) as index:
        return last_run(index, book, now_us=now_us(), crashed_after_us=crashed_after_us(store))
