"""The HTML pages of ``laptime report html``, served: ``GET /runs/{run_id}/page`` and
``GET /summary/page``. The same render functions as the CLI; only the links differ (routes
here, file names there). The pages are not in the OpenAPI document: they are for people."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from laptime.server.api import RunId, When, context, now_us, resolve_run_id, when_param

router = APIRouter()

# The pages need nothing from outside and run no script: say so to the browser too.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"}


@router.get("/runs/{run_id}/page", response_class=HTMLResponse, include_in_schema=False)
def run_page(request: Request, run_id: RunId) -> HTMLResponse:
    from laptime.analysis.kpi import compute_kpi, run_detail
    from laptime.report.html.marks import marks_from_critical_path
    from laptime.report.html.run_page import render_run_page

    ctx = context(request)
    with ctx.index() as index:
        row = resolve_run_id(index, run_id)
        kpi = compute_kpi(index, row, now_us=now_us(), crashed_after_us=ctx.crashed_after_us(), book=ctx.book())
        detail = run_detail(index, row, kpi, ctx.config.budget_rules)
    page = render_run_page(detail, marks_from_critical_path(detail.critical_path), summary_href="/summary/page")
    return HTMLResponse(page, headers=_HEADERS)


@router.get("/summary/page", response_class=HTMLResponse, include_in_schema=False)
def summary_page(request: Request, since: When = None, until: When = None) -> HTMLResponse:
    from laptime.analysis.summary import SummaryFilters, compute_summary
    from laptime.analysis.trends import runs_over_time
    from laptime.report.html.summary_page import render_summary_page

    ctx = context(request)
    since_us, until_us = when_param(since, "since"), when_param(until, "until")
    now, crashed, book = now_us(), ctx.crashed_after_us(), ctx.book()
    with ctx.index() as index:
        data = compute_summary(
            index, book, SummaryFilters(since_us=since_us, until_us=until_us), now_us=now, crashed_after_us=crashed
        )
        over = runs_over_time(index, book, since_us=since_us, until_us=until_us, now_us=now, crashed_after_us=crashed)
    page = render_summary_page(data, over, run_href=lambda run_id: f"/runs/{run_id}/page")
    return HTMLResponse(page, headers=_HEADERS)
