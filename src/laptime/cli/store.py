"""``laptime doctor`` and ``laptime refresh``: the log's health and the index's rebuild."""

from __future__ import annotations

import time

import click

from laptime.cli._common import UsageProblem, echo_json, json_option, report_bad_lines, report_unreadable, store_of


@click.command()
@json_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """The log's and the index's health: segments, events, bad lines and where they
    are, and whether the index is current. Exits 1 when it finds bad lines.

    An unreadable segment (or log folder) is named too, and also exits 1, as does an
    index that cannot be opened.

    \b
    Example:
      laptime doctor --json
    """
    from laptime.health import check_health

    store = store_of(ctx)
    if not store.exists():
        raise UsageProblem(f"no laptime store at {store.root}; nothing to check")
    health = check_health(store)
    if as_json:
        echo_json(health)
    else:
        import msgspec

        from laptime.report.health_view import health_lines

        for line in health_lines(msgspec.to_builtins(health)):
            click.echo(line)
    if health.bad_lines_total or health.unreadable_segments or health.index_error is not None:
        ctx.exit(1)


@click.command()
@json_option
@click.pass_context
def refresh(ctx: click.Context, as_json: bool) -> None:
    """Rebuild the index from the log. The log is the truth; the index is derived.

    \b
    Examples:
      laptime refresh
      laptime refresh --json
    """
    from laptime.index import Index

    store = store_of(ctx)
    if not store.exists():
        raise UsageProblem(f"no laptime store at {store.root}; nothing to rebuild")
    started = time.perf_counter()
    with Index(store) as index:
        stats = index.rebuild()
    elapsed = time.perf_counter() - started
    report_bad_lines(stats.bad_lines)
    report_unreadable(stats.unreadable)
    rate = stats.events / elapsed if elapsed > 0 else 0
    if as_json:
        from laptime.analysis.results import Refresh

        echo_json(
            Refresh(
                index=str(store.index_path),
                segments=stats.segments,
                events=stats.events,
                bad_lines=len(stats.bad_lines),
                seconds=elapsed,
                events_per_second=rate,
            )
        )
        return
    click.echo(
        f"rebuilt {store.index_path} from {stats.segments} segments: {stats.events} events, "
        f"{len(stats.bad_lines)} bad lines, {elapsed:.2f}s ({rate:,.0f} events/s)"
    )
