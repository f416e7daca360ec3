"""``laptime report usage``: tokens and cost per day, week, month, session or model."""

from __future__ import annotations

from typing import Any

import click

from laptime.cli._common import (
    UsageProblem,
    config_of,
    echo_json,
    json_option,
    open_index,
    parse_when,
    store_of,
    style_of,
)

_GROUPS = ("day", "week", "month", "session", "model")


@click.command("usage")
@click.option("--by", "by", type=click.Choice(_GROUPS), default="day", show_default=True, help="How to group calls.")
@click.option("--since", help="Calls at or after: YYYY-MM-DD (a day in --timezone), ISO datetime, or an age like 7d.")
@click.option("--until", help="Calls up to: YYYY-MM-DD (that whole day, in --timezone), ISO datetime, or an age.")
@click.option("--project", help="Only runs whose project, cwd or repo contains this text.")
@click.option(
    "--timezone",
    "-z",
    "timezone",
    help="Time zone of days, weeks and months: an IANA name, UTC, or local (the default).",
)
@click.option("--no-cost", is_flag=True, help="Leave cost out (no price lookups).")
@json_option
@click.pass_context
def usage(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    timezone: str | None,
    no_cost: bool,
    as_json: bool,
) -> None:
    """Token usage and cost of every recorded or imported LLM call, grouped by day,
    week (ISO, from Monday), month, session (run) or model: the views ccusage users
    know, for every runner.

    Tokens are in Anthropic's meaning: input excludes cache reads and writes, so
    total = input + output + cache write + cache read. Cost is computed from the price
    table (a cost the source reported wins); calls of unknown models are listed as
    unpriced, never counted as $0.

    \b
    Example:
      laptime import claude-code
      laptime report usage --by day --since 2025-10-01 --timezone UTC
      laptime report usage --by model --project webapp --json
    """
    from laptime.analysis.usage import UsageQueryError, resolve_zone, usage_report

    store = store_of(ctx)
    try:
        zone = resolve_zone(timezone)
    except UsageQueryError as exc:
        raise UsageProblem(f"--timezone: {exc}") from None
    since_us = _when(since, "--since", zone, end=False)
    until_us = _when(until, "--until", zone, end=True)
    prices = None
    if not no_cost:
        from laptime.pricing import PriceBook

        prices = PriceBook.from_config(config_of(store))
    with open_index(ctx) as index:
        report = usage_report(
            index, by=by, since_us=since_us, until_us=until_us, project=project, zone=zone, prices=prices
        )
    if as_json:
        echo_json(report)
        return
    import msgspec

    from laptime.report.usage_view import render

    for line in render(msgspec.to_builtins(report), style_of(ctx)):
        click.echo(line)


def _when(value: str | None, option: str, zone: Any, *, end: bool) -> int | None:
    from laptime.analysis.usage import day_start_us

    if value is None:
        return None
    day = day_start_us(value, zone, next_day=end)
    if day is not None:
        return day
    return parse_when(value, option=option)
