"""The read endpoints: each calls the analysis function its CLI command calls, and encodes the typed result."""

from __future__ import annotations

import re
import time
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Path, Query, Request, Response

from laptime.errors import UsageError
from laptime.server.context import MAX_PAGE, ServerContext
from laptime.server.errors import ApiError

router = APIRouter()

# The run ids looked up: anything else (a slash, `..`, a control character: path traversal)
# never reaches the index and is a 404, since no run has such an id. A slash cannot even reach
# the route: the path is decoded first, so `/runs/..%2f..` is another path.
RUN_ID = re.compile(r"^[A-Za-z0-9_:\-][A-Za-z0-9_.:\-]{0,127}$")
RunId = Annotated[str, Path(max_length=256, description="a run id or a unique prefix of it")]
# A date, a datetime (ISO, seconds and zone optional) or an age: the forms laptime.when reads,
# days in range for their month (Feb 29 in leap years only), so the schema says all it takes.
_MONTH_DAY = r"(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8])"
_LEAP_YEAR = r"[1-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00"
_DATE = rf"[1-9][0-9]{{3}}-({_MONTH_DAY})|({_LEAP_YEAR})-02-29"
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?"
WHEN_PATTERN = rf"^(({_DATE})({_TIME})?|[0-9]{{1,4}}(m|min|h|d|w))$"
When = Annotated[
    str | None,
    Query(pattern=WHEN_PATTERN, description="YYYY-MM-DD, an ISO datetime, or an age like 7d"),
]
Text = Annotated[str | None, Query(max_length=256)]
# The values of `timezone` the API takes, all listed in its schema: local, UTC and the IANA
# zones installed here (zoneinfo's list, which leaves out aliases such as `posixrules`).
ZONE_NAMES: list[str] = ["local", "UTC", *sorted(zoneinfo.available_timezones() - {"UTC"})]
Status = Literal["completed", "failed", "blocked", "stopped", "running", "crashed"]

# (method, path) -> (the command whose shipped output schema the 200 response has, the request body's schema)
RESPONSES: dict[tuple[str, str], tuple[str | None, Callable[[dict[str, Any]], dict[str, Any]] | None]] = {
    ("GET", "/runs"): ("api runs", None),
    ("GET", "/runs/{run_id}"): ("report show", None),
    ("GET", "/runs/{run_id}/metrics"): ("api run-metrics", None),
    ("GET", "/projects/{project}/run-metrics/summary"): ("api project-run-metrics", None),
    ("GET", "/compare"): ("compare", None),
    ("GET", "/summary"): ("report summary", None),
    ("GET", "/usage"): ("report usage", None),
}


def now_us() -> int:
    return time.time_ns() // 1000


def json_response(result: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(result), status_code=status, media_type="application/json", headers=headers)


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.laptime
    return ctx


def when_param(value: str | None, name: str) -> int | None:
    from laptime.when import parse_when

    if value is None:
        return None
    try:
        return parse_when(value, option=name)
    except UsageError as exc:
        raise ApiError(400, str(exc)) from None
    except (OverflowError, ValueError):
        raise ApiError(400, f"{name}: {value!r} is not a date, an ISO datetime, or an age like 7d") from None


def resolve_run_id(index: Any, given: str) -> Any:
    from laptime.analysis.kpi import AmbiguousRunError, RunLookupError, resolve_run

    if ".." in given or not RUN_ID.match(given):
        msg = f"no run matches {given!r}: run ids hold letters, digits, `_`, `.`, `:` and `-` only (and never `..`)"
        raise ApiError(404, msg)
    try:
        return resolve_run(index, given)
    except AmbiguousRunError as exc:
        raise ApiError(409, str(exc)) from None
    except RunLookupError as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    """Whether the server is up and its store exists."""
    ctx = context(request)
    return {"ok": True, "store": ctx.store.exists()}


def _cursor(offset: int) -> str:
    """Opaque to clients (docs/server.md): today the offset of the next page, in hex."""
    return format(offset, "x")


def _offset(cursor: str | None) -> int:
    return 0 if cursor is None else int(cursor, 16)


@router.get("/runs")
def runs(
    request: Request,
    *,
    since: When = None,
    until: When = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{1,12}$", description="next_cursor of the page before")
    ] = None,
) -> Response:
    """Runs, newest first, with `report list`'s filters; `next_cursor` fetches the next page."""
    from laptime.analysis.api_results import RunPage
    from laptime.analysis.kpi import list_runs, run_summaries

    ctx = context(request)
    offset = _offset(cursor)
    since_us, until_us = when_param(since, "since"), when_param(until, "until")
    now, crashed = now_us(), ctx.crashed_after_us()
    with ctx.index() as index:
        rows = list_runs(index, since_us=since_us, until_us=until_us, limit=None if status else offset + limit + 1)
        if status:
            rows = [r for r in rows if r.outcome(now, crashed) == status]
        page, more = rows[offset : offset + limit], len(rows) > offset + limit
        summaries = run_summaries(index, page, now_us=now, crashed_after_us=crashed, book=ctx.book())
    return json_response(RunPage(runs=summaries, next_cursor=_cursor(offset + limit) if more else None))


@router.get("/runs/{run_id}")
def run(request: Request, run_id: RunId) -> Response:
    """One run in full: `report show --json`."""
    from laptime.analysis.kpi import compute_kpi, run_detail

    ctx = context(request)
    with ctx.index() as index:
        row = resolve_run_id(index, run_id)
        kpi = compute_kpi(index, row, now_us=now_us(), crashed_after_us=ctx.crashed_after_us(), book=ctx.book())
        return json_response(run_detail(index, row, kpi, ctx.config.budget_rules))


@router.get("/runs/{run_id}/metrics")
def run_metrics(request: Request, run_id: RunId) -> Response:
    """Seed 003's run_phase_metrics rows of one run."""
    from laptime.analysis.phase_metrics import run_phase_metrics

    with context(request).index() as index:
        row = resolve_run_id(index, run_id)
        return json_response(run_phase_metrics(index, row.run_id))


@router.get("/projects/{project}/run-metrics/summary")
def project_metrics(request: Request, project: Annotated[str, Path(min_length=1, max_length=256)]) -> Response:
    """Seed 003's summary of a project's runs: per phase avg, p50, p90 and iterations; recent runs."""
    from laptime.analysis.phase_metrics import project_run_metrics

    with context(request).index() as index:
        return json_response(project_run_metrics(index, project))


@router.get("/compare")
def compare(
    request: Request,
    *,
    a: Annotated[str, Query(max_length=256)],
    b: Annotated[str, Query(max_length=256)],
) -> Response:
    """Two runs side by side: `compare A B --json`, with B checked against the runs like A
    before it (regressions beyond noise)."""
    from laptime.analysis.compare import compare_kpis
    from laptime.analysis.kpi import compute_kpi
    from laptime.analysis.regression import run_pair_check
    from laptime.analysis.results import to_builtins

    ctx = context(request)
    now, crashed, book = now_us(), ctx.crashed_after_us(), ctx.book()
    with ctx.index() as index:
        rows = [resolve_run_id(index, given) for given in (a, b)]
        kpis = [compute_kpi(index, row, now_us=now, crashed_after_us=crashed, book=book) for row in rows]
        check = run_pair_check(index, book, rows[0], rows[1], now_us=now, crashed_after_us=crashed)
    result = compare_kpis(
        to_builtins(kpis[0]),
        to_builtins(kpis[1]),
        a_costs=(kpis[0].cost.by_model, kpis[0].cost_usd),
        b_costs=(kpis[1].cost.by_model, kpis[1].cost_usd),
        regression=check,
    )
    return json_response(result)


@router.get("/summary")
def summary(
    request: Request,
    *,
    since: When = None,
    until: When = None,
    status: Status | None = None,
    task: Text = None,
    runner: Text = None,
    model: Text = None,
) -> Response:
    """Totals over many runs: `report summary --json`, with its filters."""
    from laptime.analysis.summary import SummaryFilters, compute_summary

    ctx = context(request)
    filters = SummaryFilters(
        since_us=when_param(since, "since"),
        until_us=when_param(until, "until"),
        status=status,
        task=task,
        runner=runner,
        model=model,
    )
    with ctx.index() as index:
        data = compute_summary(
            index,
            ctx.book(),
            filters,
            now_us=now_us(),
            crashed_after_us=ctx.crashed_after_us(),
            budget_rules=ctx.config.budget_rules,
        )
    return json_response(data)


@router.get("/usage")
def usage(
    request: Request,
    *,
    by: Literal["day", "week", "month", "session", "model"] = "day",
    since: When = None,
    until: When = None,
    project: Text = None,
    timezone: Annotated[
        str | None,
        Query(
            max_length=64,
            description="local (the default), UTC, or an IANA zone name such as Europe/Berlin",
            json_schema_extra={"enum": ZONE_NAMES, "examples": ["local", "UTC", "Europe/Berlin"]},
        ),
    ] = None,
) -> Response:
    """Token usage and cost: `report usage --json` (days are in `timezone`, default the server's)."""
    from laptime.analysis.usage import UsageQueryError, day_start_us, resolve_zone, usage_report

    ctx = context(request)
    if timezone is not None and timezone not in ZONE_NAMES:
        # The schema lists the zones this machine knows: a client is told exactly what is
        # taken (`report usage -z` reads a few more spellings, such as `utc` or `GMT`).
        msg = f"timezone: unknown time zone {timezone!r}; use local, UTC, or an IANA name like Europe/Berlin"
        raise ApiError(400, msg)
    try:
        zone = resolve_zone(timezone)
    except UsageQueryError as exc:
        raise ApiError(400, f"timezone: {exc}") from None

    def when(value: str | None, name: str, *, end: bool) -> int | None:
        if value is None:
            return None
        try:
            day = day_start_us(value, zone, next_day=end)
        except (UsageQueryError, ValueError, OverflowError):
            day = None
        return day if day is not None else when_param(value, name)

    since_us, until_us = when(since, "since", end=False), when(until, "until", end=True)
    with ctx.index() as index:
        report = usage_report(
            index, by=by, since_us=since_us, until_us=until_us, project=project, zone=zone, prices=ctx.book()
        )
    return json_response(report)
