"""``laptime report``: the scoreboard of a run, the list of runs, one run in full."""

from __future__ import annotations

from typing import Any

import click

from laptime.analysis.results import RunKpi, RunList, to_builtins
from laptime.cli import LazyGroup
from laptime.cli._common import (
    UsageProblem,
    config_of,
    crashed_after_us,
    echo_json,
    json_option,
    now_us,
    open_index,
    status_option,
    store_of,
    style_of,
    window_options,
)

DEFAULT_SUBCOMMAND = "scoreboard"

# Subcommands that live in their own modules (name -> module, attribute).
_REPORT_COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("laptime.cli.summary", "summary"),
    "usage": ("laptime.cli.usage", "usage"),
    "export": ("laptime.cli.export", "export"),
    "clean": ("laptime.cli.retention", "clean"),
    "pipeline": ("laptime.cli.pipeline", "pipeline"),
    "html": ("laptime.cli.html", "html"),
}


class ReportGroup(LazyGroup):
    """``laptime report [RUN]`` runs the scoreboard; ``laptime report list`` etc. the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, lazy_commands=_REPORT_COMMANDS, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = self.list_commands(ctx)
        if not args or (args[0] not in names and args[0] not in ("-h", "--help")):
            args = [DEFAULT_SUBCOMMAND, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[RUN] [--json] | COMMAND [ARGS]...")


def run_kpi(ctx: click.Context, run: str | None, *, detail: bool = False) -> RunKpi:
    """The KPIs of RUN (the latest when None), with ``report show``'s detail if asked.

    An unknown or ambiguous id is a usage error (exit code 2).
    """
    from laptime.analysis.kpi import compute_kpi, resolve_run, run_detail
    from laptime.pricing import PriceBook

    store = store_of(ctx)
    crashed = crashed_after_us(store)
    config = config_of(store)
    book = PriceBook.from_config(config)
    with open_index(ctx) as index:
        row = resolve_run(index, run)
        kpi = compute_kpi(index, row, now_us=now_us(), crashed_after_us=crashed, book=book)
        return run_detail(index, row, kpi, config.budget_rules) if detail else kpi


@click.group(cls=ReportGroup)
def report() -> None:
    """Reports on recorded runs.

    With no command, or with a run id, prints the KPI scoreboard (10 lines and a cost line) of the latest
    run, or of the given one (a unique prefix of its id is enough).

    On a terminal, outcomes are coloured (not with NO_COLOR or `laptime --no-color`)
    and lines and tables fit its width (COLUMNS), long cells ending in …; piped
    output has no colour and is never cut.

    \b
    Examples:
      laptime report                  the latest run
      laptime report 01a2b3 --json    one run's KPIs as JSON
      laptime report list --since 7d --status failed
      laptime report show 01a2b3
      laptime report html 01a2b3 -o run.html
    """


@report.command(DEFAULT_SUBCOMMAND)
@click.argument("run", required=False)
@json_option
@click.pass_context
def scoreboard(ctx: click.Context, run: str | None, as_json: bool) -> None:
    """The KPI scoreboard (10 lines and a cost line) of the latest run, or of RUN.

    \b
    Example:
      laptime report scoreboard 01a2b3    (same as: laptime report 01a2b3)
    """
    from laptime.report.terminal import phase_bars
    from laptime.report.terminal import scoreboard as render

    kpi = run_kpi(ctx, run)
    if as_json:
        echo_json(kpi)
        return
    style = style_of(ctx)
    kpi_data = to_builtins(kpi)
    for line in render(kpi_data, style):
        click.echo(line)
    bars = phase_bars(kpi_data, style)
    if bars:
        click.echo("")
        for line in bars:
            click.echo(line)


@report.command("list")
@window_options()
@status_option
@click.option("--over-budget", is_flag=True, help="Only runs over one of their [budgets] limits (see docs/config.md).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many runs.")
@json_option
@click.pass_context
def list_(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context,
    since: int | None,
    until: int | None,
    status: str | None,
    over_budget: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Recent runs, newest first.

    \b
    Examples:
      laptime report list --since 2026-11-01 --status completed --limit 50
      laptime report list --over-budget --since 7d
    """
    from laptime.analysis.kpi import list_runs, run_summaries
    from laptime.pricing import PriceBook
    from laptime.report.terminal import run_list

    store = store_of(ctx)
    crashed = crashed_after_us(store)
    now = now_us()
    config = config_of(store)
    if over_budget and not config.budget_rules:
        msg = "--over-budget: the config sets no [budgets] limits; see docs/config.md"
        raise UsageProblem(msg)
    book = PriceBook.from_config(config)
    with open_index(ctx) as index:
        filtered = bool(status) or over_budget
        runs = list_runs(index, since_us=since, until_us=until, limit=None if filtered else limit)
        if status:
            runs = [r for r in runs if r.outcome(now, crashed) == status]
        if over_budget:
            from laptime.analysis.budgets import over_budget_run_ids

            over = over_budget_run_ids(index, book, config.budget_rules)
            runs = [r for r in runs if r.run_id in over]
        runs = runs[:limit]
        rows = run_summaries(index, runs, now_us=now, crashed_after_us=crashed, book=book)
    if as_json:
        echo_json(RunList(runs=rows))
        return
    if not rows:
        click.echo("no runs match")
        return
    for line in run_list([to_builtins(r) for r in rows], style_of(ctx)):
        click.echo(line)


@report.command("show")
@click.argument("run")
@json_option
@click.pass_context
def show(ctx: click.Context, run: str, as_json: bool) -> None:
    """Everything about one run: phases, where the time went, the critical path with its
    stragglers, worker use and what continuous dispatch would save, spans, LLM totals by
    model and by phase, validations and files.

    \b
    Example:
      laptime report show 01a2b3 --json
    """
    from laptime.report.terminal import show as render

    detail = run_kpi(ctx, run, detail=True)
    if as_json:
        echo_json(detail)
        return
    for line in render(to_builtins(detail), style_of(ctx)):
        click.echo(line)
