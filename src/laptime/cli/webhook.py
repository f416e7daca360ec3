"""``laptime webhook send`` and ``laptime webhook redeliver``: deliveries by hand."""

from __future__ import annotations

import click

from laptime.cli._common import config_of, echo_json, json_option, open_index, store_of
from laptime.webhook.settings import EVENT_NAMES


@click.group()
def webhook() -> None:
    """Send run webhooks by hand: one run's report now, or every delivery that failed.

    Runs recorded with the SDK send theirs when they end ([webhook] in the config;
    docs/webhooks.md).

    \b
    Examples:
      laptime webhook send 01a2b3 --event failed
      laptime webhook redeliver
    """


@webhook.command()
@click.argument("run", metavar="RUN")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENT_NAMES),
    help="The event to send (repeatable). Default: the run's outcome, when [webhook] events includes it.",
)
@json_option
@click.pass_context
def send(ctx: click.Context, run: str, events: tuple[str, ...], as_json: bool) -> None:
    """POST RUN's report to the [webhook] URL now, signed, with retries, and record the
    delivery. Exits 1 when a delivery fails.

    \b
    Example:
      laptime webhook send 01a2b3 --event completed
    """
    from laptime.analysis.kpi import resolve_run

    with open_index(ctx) as index:
        run_id = resolve_run(index, run).run_id
    _send(
        ctx,
        [(run_id, list(events) or None)],
        as_json,
        nothing=(f"nothing sent: run {run_id} fires no event that webhook.events lists; name one with --event"),
    )


@webhook.command()
@click.argument("runs", metavar="[RUN]...", nargs=-1)
@json_option
@click.pass_context
def redeliver(ctx: click.Context, runs: tuple[str, ...], as_json: bool) -> None:
    """Send again every delivery whose last attempt failed or was abandoned when the
    program exited (of the given runs, or of all). Exits 1 when one fails again.

    \b
    Examples:
      laptime webhook redeliver
      laptime webhook redeliver 01a2b3 --json
    """
    from laptime.analysis.kpi import resolve_run
    from laptime.webhook.redeliver import undelivered

    with open_index(ctx) as index:
        run_ids = [resolve_run(index, run).run_id for run in runs] if runs else None
        todo = undelivered(index, run_ids)
    by_run: dict[str, list[str] | None] = {}
    for item in todo:
        if item.event == "*":
            by_run[item.run_id] = None  # every event the run fires
        elif by_run.get(item.run_id, []) is not None:
            by_run.setdefault(item.run_id, []).append(item.event)  # type: ignore[union-attr]
    _send(ctx, list(by_run.items()), as_json, nothing="nothing to redeliver: every recorded delivery got through")


def _send(ctx: click.Context, todo: list[tuple[str, list[str] | None]], as_json: bool, *, nothing: str) -> None:
    from laptime.recorder import Recorder
    from laptime.webhook.redeliver import send
    from laptime.webhook.results import Deliveries, Delivery

    store = store_of(ctx)
    config = config_of(store)
    deliveries: list[Delivery] = []
    with Recorder(home=store.root) as recorder:
        for run_id, events in todo:
            deliveries.extend(
                Delivery(
                    run_id=result.run_id,
                    event=result.event,
                    delivered=result.delivered,
                    attempts=result.attempts,
                    http_status=result.http_status,
                    error=result.error,
                    seconds=result.seconds,
                )
                for result in send(store, config, run_id, events, recorder)
            )
    if as_json:
        echo_json(Deliveries(deliveries=deliveries))
    else:
        if not deliveries:
            click.echo(nothing)
        for d in deliveries:
            if d.delivered:
                click.echo(f"delivered {d.event} for {d.run_id}: HTTP {d.http_status} after {d.attempts} attempt(s)")
            else:
                click.echo(f"failed {d.event} for {d.run_id} after {d.attempts} attempt(s): {d.error}")
    if any(not d.delivered for d in deliveries):
        ctx.exit(1)
