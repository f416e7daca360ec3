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
    store_of,
    style_of,
    summary_filter_options,
)


@click.command("summary")
@summary_filter_options
@click.option(
    "--by",
    "by",
    type=click.Choice(("branch",)),
    help="Also break the figures down by this: branch (CI or git branch; Claude Code's git_branch).",
)
@click.option(
    "--baseline",
    metavar="SPEC",
    help=(
        "Also test the selection against these runs (same filters, time window aside) and flag what got worse "
        "beyond noise: last:N (before the selection), FROM..TO (dates, either side optional), or runs:ID,ID."
    ),
)
@json_option
@click.pass_context
def summary(  # noqa: PLR0917 - click passes every option
    ctx: click.Context,
    since: int | None,
    until: int | None,
    status: str | None,
    task: str | None,
    runner: str | None,
    model: str | None,
    by: str | None,
    baseline: str | None,
    as_json: bool,
) -> None:
    """Totals over many runs: outcomes, durations, TVc, tokens, cost, phases, models,
    rework, the costliest tasks and the most modified files.

    With --baseline SPEC, the selection's completed runs (or those of --status) are
    tested against the baseline's: duration, cost, tokens and each phase are flagged
    worse only beyond the baseline's run-to-run variation (one-sided Mann-Whitney,
    Holm-adjusted, alpha 0.05; docs/analysis.md, "Regressions").

    \b
    Examples:
      laptime report summary --since 7d
      laptime report summary --since 2026-11-16 --baseline 2026-11-01..2026-11-15
      laptime report summary --since 2d --task fix-login --baseline last:20
      laptime report summary --status failed --runner claude-code --json
      laptime report summary --task 'fix-*' --model sonnet
      laptime report summary --since 30d --by branch
    """
    from laptime.analysis.summary import SummaryFilters, compute_summary
    from laptime.pricing import PriceBook

    spec = None
    if baseline is not None:
        from laptime.analysis.regression import parse_spec

        spec = parse_spec(baseline)

    filters = SummaryFilters(
        since_us=since,
        until_us=until,
        status=status,
        task=task,
        runner=runner,
        model=model,
    )
    store = store_of(ctx)
    config = config_of(store)
    book = PriceBook.from_config(config)
    crashed = crashed_after_us(store)
    with open_index(ctx) as index:
        now = now_us()
        data = compute_summary(
            index,
            book,
            filters,
            now_us=now,
            crashed_after_us=crashed,
            budget_rules=config.budget_rules,
            by_branch=by == "branch",
        )
        if spec is not None:
            import msgspec.structs

            from laptime.analysis.regression import summary_check

            check = summary_check(index, book, filters, spec, now_us=now, crashed_after_us=crashed)
            data = msgspec.structs.replace(data, regression=check)
    if as_json:
        echo_json(data)
        return
    import msgspec

    from laptime.report.summary_view import summary_lines

    for line in summary_lines(msgspec.to_builtins(data), style_of(ctx)):
        click.echo(line)
