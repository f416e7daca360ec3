"""``laptime metrics``: the Prometheus text format of the runs' figures."""

from __future__ import annotations

import click

from laptime.cli._common import config_of, crashed_after_us, now_us, open_index, store_of, summary_filter_options


@click.command("metrics")
@summary_filter_options
@click.pass_context
def metrics(  # noqa: PLR0917 - click passes every option
    ctx: click.Context,
    since: int | None,
    until: int | None,
    status: str | None,
    task: str | None,
    runner: str | None,
    model: str | None,
) -> None:
    """Print the runs' figures in the Prometheus text format: runs by outcome, run and
    phase duration histograms, tokens by model and type, and cost by model.

    The filters are those of `laptime report summary`, and so are the numbers. Needs
    the prometheus-client package: pip install 'laptime[prometheus]'. Metric names,
    labels and buckets: docs/metrics.md.

    \b
    Examples:
      laptime metrics
      laptime metrics --since 7d --runner claude-code > laptime.prom
    """
    from laptime.analysis.metrics import metrics_snapshot
    from laptime.analysis.summary import SummaryFilters
    from laptime.exporters.prometheus import prometheus_text
    from laptime.pricing import PriceBook

    filters = SummaryFilters(since_us=since, until_us=until, status=status, task=task, runner=runner, model=model)
    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    crashed = crashed_after_us(store)
    with open_index(ctx) as index:
        snapshot = metrics_snapshot(index, book, filters, now_us=now_us(), crashed_after_us=crashed)
    click.echo(prometheus_text(snapshot), nl=False)
