"""``laptime report clean`` and ``laptime compact``: keep the log the size you want."""

from __future__ import annotations

from datetime import date

import click

from laptime.cli._common import UsageProblem, echo_json, json_option, open_index, store_of
from laptime.report.format import size


@click.command()
@click.option("--before", required=True, help="Remove day segments before this date (YYYY-MM-DD, UTC).")
@click.option("--confirm", is_flag=True, help="Really remove them. Without it, only say what would be removed.")
@json_option
@click.pass_context
def clean(ctx: click.Context, before: str, confirm: bool, as_json: bool) -> None:
    """Remove log segments of days before DATE and rebuild the index. Without
    --confirm, nothing is removed: it prints what would be.

    A run that spans the cut keeps its later events only.

    \b
    Examples:
      laptime report clean --before 2026-01-01             (dry run)
      laptime report clean --before 2026-01-01 --confirm
    """
    from laptime.retention import apply_clean, plan_clean

    try:
        cut = date.fromisoformat(before.strip())
    except ValueError:
        raise UsageProblem(f"--before: {before!r} is not a date; use YYYY-MM-DD") from None
    store = store_of(ctx)
    with open_index(ctx) as index:
        plan = plan_clean(store, index, cut)
    if confirm and plan.segments:
        apply_clean(store, plan)
    if as_json:
        from laptime.analysis.results import Cleaning

        echo_json(Cleaning(**plan.as_dict(), removed=bool(confirm and plan.segments)))
        return
    if not plan.segments:
        click.echo(f"nothing to remove: no segment is older than {cut.isoformat()}")
        return
    verb = "removed" if confirm else "would remove"
    click.echo(
        f"{verb} {len(plan.segments)} segments ({size(plan.bytes)}, {plan.events} events) "
        f"before {cut.isoformat()}: {plan.segments[0].name} .. {plan.segments[-1].name}"
    )
    partial = plan.runs_touched - plan.runs_removed_whole
    click.echo(f"runs: {plan.runs_removed_whole} removed whole, {partial} keep later events")
    if not confirm:
        click.echo("nothing was removed; add --confirm to remove them")
    else:
        click.echo("index rebuilt")


@click.command()
@json_option
@click.pass_context
def compact(ctx: click.Context, as_json: bool) -> None:
    """Rewrite past day segments smaller: merge each span's open and close events
    into one line. No valid line is dropped, so every report is the same afterwards.
    The two most recent days are left alone, since writers may still be appending to
    them.

    Every other event line stays byte for byte, lines of a newer schema version or an
    unknown event type included. Torn or garbage lines are moved to
    .laptime/quarantine/<segment>, never deleted. A write error (a full disk) leaves
    the segment as it was.

    \b
    Example:
      laptime compact
    """
    from laptime.retention import compact as run_compact

    store = store_of(ctx)
    if not store.exists():
        raise UsageProblem(f"no laptime store at {store.root}; nothing to compact")
    result = run_compact(store)
    if as_json:
        from laptime.analysis.results import Compaction

        echo_json(Compaction(**result.as_dict()))
        return
    click.echo(
        f"compacted {result.segments_rewritten} segments: "
        f"{size(result.bytes_before)} -> {size(result.bytes_after)}, "
        f"{result.lines_before} -> {result.lines_after} lines; {result.spans_merged} spans merged"
    )
    forward = result.kept_newer_version + result.kept_unknown_type
    if forward:
        click.echo(
            f"kept as written: {result.kept_newer_version} lines of a newer schema version, "
            f"{result.kept_unknown_type} of an unknown event type"
        )
    if result.lines_quarantined:
        where = ", ".join(result.quarantine_files)
        click.echo(f"{result.lines_quarantined} torn or garbage lines set aside in {where}")
    if result.skipped_recent:
        click.echo(f"left alone (recent): {', '.join(result.skipped_recent)}")
