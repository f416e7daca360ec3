"""``laptime compare A B``: two runs side by side, where the time went, and whether B is
worse than its baseline beyond noise; or two groups of runs (``last:20 last:10``)."""

from __future__ import annotations

import click

from laptime.cli._common import (
    config_of,
    crashed_after_us,
    echo_json,
    json_option,
    now_us,
    open_index,
    status_option,
    store_of,
    style_of,
)


@click.command()
@click.argument("run_a", metavar="A")
@click.argument("run_b", metavar="B")
@click.option(
    "--baseline",
    metavar="SPEC",
    help=(
        "The runs B is tested against (two runs given), of A's task and runner: last:N before B, "
        "FROM..TO (dates), or runs:ID,ID (as given). Default: last:20, completed runs."
    ),
)
@click.option("--task", help="Groups: runs whose name contains this, or matches it as a glob (fix-*).")
@click.option("--runner", help="Groups: runs of this runner (exact).")
@status_option
@json_option
@click.pass_context
def compare(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context,
    run_a: str,
    run_b: str,
    baseline: str | None,
    task: str | None,
    runner: str | None,
    status: str | None,
    as_json: bool,
) -> None:
    """Two runs side by side: per phase the duration, attempts, delta and % change; LLM
    calls, tokens and cost per model; verification and outcome; and one line saying
    where the time went. Deltas are B minus A. A and B are run ids or unique prefixes.

    Then B is tested against the run-to-run variation of a baseline (--baseline, by
    default A's history: the last 20 completed runs of A's task and runner before B):
    duration, cost, tokens and each phase are flagged worse (▲, red on a terminal)
    only when a one-sided test, Holm-adjusted across them, says so at alpha 0.05
    (docs/analysis.md, "Regressions"). A single run shows only large shifts (about 4
    baseline SDs are found 9 times in 10); compare groups of runs to see smaller ones.

    A and B may also be SPECs (last:N, FROM..TO, runs:ID,ID): then the groups are
    compared, B first (last:N: the N latest runs), A counted back from B's first run,
    both limited by --task, --runner and --status (default: completed runs).

    \b
    Examples:
      laptime compare 01a2b3 01c4d5
      laptime compare 01a2b3 01c4d5 --baseline 2026-11-01..2026-11-15 --json
      laptime compare last:20 last:10 --task fix-login
    """
    from laptime.analysis import regression as rg

    if rg.looks_like_spec(run_a) or rg.looks_like_spec(run_b):
        if baseline is not None:
            msg = "--baseline: only for two runs; with groups, A is the baseline"
            raise click.UsageError(msg)
        _compare_groups(ctx, run_a, run_b, task, runner, status, as_json)
        return
    if task is not None or runner is not None or status is not None:
        msg = "--task, --runner and --status choose groups; with two runs use --baseline SPEC"
        raise click.UsageError(msg)
    _compare_runs(ctx, run_a, run_b, baseline, as_json)


def _compare_runs(ctx: click.Context, run_a: str, run_b: str, baseline: str | None, as_json: bool) -> None:
    from laptime.analysis import regression as rg
    from laptime.analysis.compare import compare_kpis
    from laptime.analysis.kpi import compute_kpi, resolve_run
    from laptime.analysis.results import to_builtins
    from laptime.pricing import PriceBook
    from laptime.report.compare_view import render

    spec = rg.parse_spec(baseline) if baseline is not None else rg.run_history_spec()
    store = store_of(ctx)
    crashed = crashed_after_us(store)
    book = PriceBook.from_config(config_of(store))
    now = now_us()
    with open_index(ctx) as index:
        kpis = []
        costs = []
        rows = []
        for given in (run_a, run_b):
            row = resolve_run(index, given)
            rows.append(row)
            kpi = compute_kpi(index, row, now_us=now, crashed_after_us=crashed, book=book)
            kpis.append(kpi)
            costs.append((kpi.cost.by_model, kpi.cost_usd))
        a, b = rows
        check = rg.run_pair_check(index, book, a, b, spec, now_us=now, crashed_after_us=crashed)
    result = compare_kpis(
        to_builtins(kpis[0]), to_builtins(kpis[1]), a_costs=costs[0], b_costs=costs[1], regression=check
    )
    if as_json:
        echo_json(result)
        return
    for line in render(to_builtins(result), style_of(ctx)):
        click.echo(line)


def _compare_groups(  # noqa: PLR0917 - the command's options, handed on
    ctx: click.Context,
    spec_a: str,
    spec_b: str,
    task: str | None,
    runner: str | None,
    status: str | None,
    as_json: bool,
) -> None:
    from laptime.analysis import regression as rg
    from laptime.analysis.results import to_builtins
    from laptime.analysis.summary import SummaryFilters
    from laptime.pricing import PriceBook
    from laptime.report.regression_view import regression_lines

    def as_spec(text: str, option: str) -> rg.Spec:
        return rg.parse_spec(text if rg.looks_like_spec(text) else f"runs:{text}", option=option)

    a, b = as_spec(spec_a, "A"), as_spec(spec_b, "B")
    scope = rg.Scope(filters=SummaryFilters(status=status, task=task, runner=runner))
    store = store_of(ctx)
    crashed = crashed_after_us(store)
    book = PriceBook.from_config(config_of(store))
    now = now_us()
    with open_index(ctx) as index:
        current = rg.select_group(index, b, scope, before_us=None, now_us=now, crashed_after_us=crashed)
        base = rg.select_group(
            index,
            a,
            scope,
            before_us=current.first_start,
            exclude=current.run_ids,
            now_us=now,
            crashed_after_us=crashed,
        )
        check = rg.check(index, book, base, current)
    if as_json:
        echo_json(check)
        return
    style = style_of(ctx)
    for line in style.fit_all(
        regression_lines(to_builtins(check), style, title="Regressions beyond noise: B against A")
    ):
        click.echo(line)
