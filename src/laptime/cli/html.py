"""``laptime report html``: a run's page, or the summary page, as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from laptime.cli._common import config_of, crashed_after_us, now_us, open_index, store_of, window_options


@click.command("html")
@click.argument("run", required=False)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The HTML file to write.",
)
@click.option(
    "--summary", "as_summary", is_flag=True, help="Write the summary page of many runs instead of a run's page."
)
@click.option(
    "--with-run-pages",
    is_flag=True,
    help="With --summary: also write run-<id>.html beside it for every run it links to.",
)
@window_options()
@click.pass_context
def html(  # noqa: PLR0917 - click passes every option
    ctx: click.Context,
    run: str | None,
    output: Path,
    as_summary: bool,
    with_run_pages: bool,
    since: int | None,
    until: int | None,
) -> None:
    """Write one self-contained HTML page (inline SVG and CSS, no script, nothing fetched):
    the latest run's page, RUN's, or with --summary the summary of the runs in the window.

    The run page draws the phase waterfall, tasks and workers on their own lanes (by the
    worker attr, else packed), LLM calls and tools on the same timeline, the critical path and
    the stragglers, cost by model and by phase, and the verification attempts. The summary
    page draws daily duration, cost and success-rate trends, the phase distribution and the
    slowest and costliest runs, linked to run-<id>.html beside the file (--with-run-pages
    writes them).

    \b
    Examples:
      laptime report html -o run.html                 the latest run
      laptime report html 01a2b3 -o run.html
      laptime report html --summary --since 30d -o report/index.html --with-run-pages
    """
    if as_summary and run is not None:
        msg = "give either RUN or --summary, not both"
        raise click.UsageError(msg)
    if with_run_pages and not as_summary:
        msg = "--with-run-pages goes with --summary"
        raise click.UsageError(msg)
    if not as_summary and (since is not None or until is not None):
        msg = "--since and --until go with --summary"
        raise click.UsageError(msg)
    if as_summary:
        _write_summary(ctx, output, since, until, with_run_pages=with_run_pages)
    else:
        _write(output, _run_page(ctx, run))


def _run_page(ctx: click.Context, run: str | None, summary_href: str | None = None) -> str:
    from laptime.analysis.results import RunDetail
    from laptime.cli.report import run_kpi
    from laptime.report.html import marks_from_critical_path, render_run_page

    detail = run_kpi(ctx, run, detail=True)
    assert isinstance(detail, RunDetail)  # detail=True returns a RunDetail
    # RunDetail.critical_path comes with branch i10/critical; until it is merged a run has none.
    marks = marks_from_critical_path(detail.critical_path)
    return render_run_page(detail, marks, summary_href=summary_href)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write {path}: {exc.strerror or exc}"
        raise click.FileError(str(path), hint=msg) from None
    click.echo(f"wrote {path} ({len(text.encode()):,} bytes)")


def _write_summary(
    ctx: click.Context, output: Path, since: int | None, until: int | None, *, with_run_pages: bool
) -> None:
    from laptime.analysis.summary import SummaryFilters, compute_summary
    from laptime.analysis.trends import runs_over_time
    from laptime.pricing import PriceBook
    from laptime.report.html import render_summary_page

    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    crashed = crashed_after_us(store)
    now = now_us()
    filters = SummaryFilters(since_us=since, until_us=until)
    with open_index(ctx) as index:
        data = compute_summary(index, book, filters, now_us=now, crashed_after_us=crashed)
        over_time = runs_over_time(index, book, since_us=since, until_us=until, now_us=now, crashed_after_us=crashed)
    _write(output, render_summary_page(data, over_time))
    if with_run_pages:
        linked = dict.fromkeys(r.run_id for r in [*over_time.slowest, *over_time.costliest])
        for run_id in linked:
            _write(output.parent / f"run-{run_id}.html", _run_page(ctx, run_id, summary_href=output.name))
