"""``laptime report export`` (CSV / JSON Lines) and ``laptime kpi RUN -o kpi.json``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click

from laptime.cli._common import (
    UsageProblem,
    config_of,
    crashed_after_us,
    now_us,
    open_index,
    status_option,
    store_of,
    window_options,
)


def _write(target: str, text: str) -> None:
    """Write ``text`` to a file, or to stdout for ``-``; a write error is a clear message."""
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        with Path(target).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None


@click.command()
@click.option("--csv", "csv_file", metavar="FILE", help="Write CSV (RFC 4180) to FILE ('-': stdout).")
@click.option("--jsonl", "jsonl_file", metavar="FILE", help="Write JSON Lines to FILE ('-': stdout).")
@click.option("--detailed", is_flag=True, help="One row per phase span instead of one row per run.")
@window_options()
@status_option
@click.pass_context
def export(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context,
    csv_file: str | None,
    jsonl_file: str | None,
    detailed: bool,
    since: int | None,
    until: int | None,
    status: str | None,
) -> None:
    """Export runs, oldest first, as CSV and/or JSON Lines.

    One row per run: run_id, timestamp, task, status, iterations, input_tokens,
    output_tokens, total_tokens, cost_usd, duration_seconds, files_modified, provider,
    model, scope_violations, validation_failures. With --detailed, one row per phase
    span: run_id, span_id, phase, attempt, iteration, started_at, ended_at,
    duration_seconds, outcome, llm_calls, input_tokens, output_tokens, cost_usd, worker.

    The CSV is RFC 4180 (quotes, commas and newlines are quoted). A text cell that a
    spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a
    leading ' so that it stays text.

    \b
    Examples:
      laptime report export --csv runs.csv --since 30d
      laptime report export --jsonl phases.jsonl --detailed --status failed
    """
    from laptime.analysis.kpi import list_runs
    from laptime.exporters import PHASE_COLUMNS, RUN_COLUMNS, phase_rows, run_rows
    from laptime.exporters.csv_export import write_csv
    from laptime.exporters.jsonl_export import write_jsonl
    from laptime.pricing import PriceBook

    if not csv_file and not jsonl_file:
        raise UsageProblem("nothing to write: give --csv FILE and/or --jsonl FILE")
    since_us, until_us = since, until
    store = store_of(ctx)
    crashed = crashed_after_us(store)
    book = PriceBook.from_config(config_of(store))
    now = now_us()
    with open_index(ctx) as index:
        runs = list_runs(index, since_us=since_us, until_us=until_us)
        if status:
            runs = [r for r in runs if r.outcome(now, crashed) == status]
        runs.reverse()  # oldest first: the order a spreadsheet or a log reader expects
        make = phase_rows if detailed else run_rows
        rows = list(make(index, book, runs, now_us=now, crashed_after_us=crashed))
    columns = PHASE_COLUMNS if detailed else RUN_COLUMNS
    for target, writer, kind in ((csv_file, write_csv, "CSV"), (jsonl_file, write_jsonl, "JSON Lines")):
        if not target:
            continue
        buffer = io.StringIO(newline="")
        n = writer(buffer, columns, rows)
        _write(target, buffer.getvalue())
        if target != "-":
            click.echo(f"wrote {n} {'phase' if detailed else 'run'} rows to {target} ({kind})", err=True)


@click.command()
@click.argument("run", required=False)
@click.option("-o", "--output", metavar="FILE", help="Write the JSON to FILE instead of stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default: this command always does).")
@click.pass_context
def kpi(ctx: click.Context, run: str | None, output: str | None, as_json: bool) -> None:  # noqa: ARG001 - see --json
    """One run's KPIs as JSON (the latest run, or RUN: an id or a unique prefix). The
    JSON is the same as `laptime report RUN --json`.

    \b
    Example:
      laptime kpi 01a2b3 -o kpi.json
    """
    import msgspec

    from laptime.cli.report import run_kpi

    data = run_kpi(ctx, run)
    text = json.dumps(msgspec.to_builtins(data), indent=2, ensure_ascii=False) + "\n"
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    _write(output, text)
    click.echo(f"wrote the KPIs of run {data.run_id} to {output}", err=True)
