"""``laptime demo``: record a simulated multi-agent run and print its report."""

from __future__ import annotations

import click

from laptime.cli._common import echo_json, json_option, store_of


@click.command()
@json_option
@click.pass_context
def demo(ctx: click.Context, as_json: bool) -> None:
    """Record a realistic multi-agent run through the SDK (a director, three parallel
    workers with one slow straggler, a strategist; calls on three models; a failing
    then passing verification; a verified checkpoint) on a simulated clock, and print
    its report. Each call records one more run.

    \b
    Examples:
      laptime --home /tmp/try/.laptime demo
      laptime demo --json
    """
    from laptime.demo import record_demo

    store = store_of(ctx)
    run_id = record_demo(store)
    if as_json:
        from laptime.analysis.results import Demo
        from laptime.cli.report import run_kpi

        echo_json(Demo(run_id=run_id, store=str(store.root), kpi=run_kpi(ctx, run_id)))
        return
    click.echo(f"recorded demo run {run_id} in {store.root}")
    click.echo("")
    ctx.invoke(_scoreboard(), run=run_id, as_json=False)


def _scoreboard() -> click.Command:
    from laptime.cli.report import scoreboard

    return scoreboard
