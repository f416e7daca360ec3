"""Token usage and cost per day, week, month, session (run), model or branch: the views
ccusage users know, for every runner whose llm calls reach the index. By branch, a call
counts for its run's branch (``laptime.definitions.run_branch``); calls of runs with no
branch make one row whose ``branch`` is null.

Tokens follow Anthropic's meaning here, whatever the source: ``input_tokens`` excludes
the cache, so a call's total is input + output + cache_read + cache_write. Calls whose
source counts the cache inside the input (OpenAI, OpenTelemetry) are converted.

Periods are calendar days, ISO weeks (starting on Monday, labelled by that Monday's
date) and months, in the report's time zone. The default time zone is the machine's
local one, as in ccusage; ``UTC`` or any IANA name can be given.

The index groups calls into 15-minute UTC buckets (every time zone's offset is a
multiple of 15 minutes), so only the buckets are converted to the time zone in Python;
in UTC, and by session or model, it groups them by UTC day.

Cost (``laptime.pricing``): a cost reported by the source wins; otherwise tokens are
priced per (model, provider, UTC day, long-context tier) group at the rates in effect
that day, by the cost engine's ``Rates.cost`` (the one-hour part of cache writes at its own
rate), as every other view prices them. A model without a price adds its calls to ``unpriced_calls`` and its name to
``unpriced_models``; its cost is never counted as $0.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from laptime import definitions as d
from laptime.analysis.cost import cost_source
from laptime.analysis.report_results import UsageReport
from laptime.clock import timestamp_from_us
from laptime.definitions import cache_write_1h_sql
from laptime.errors import UsageError
from laptime.when import FIRST_US, LAST_US

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook

GROUPS: Final[tuple[str, ...]] = ("day", "week", "month", "session", "model", "branch")
_DAY_RE: Final = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


class UsageQueryError(UsageError, ValueError):
    """A bad time zone, date or grouping; the message says what to give instead."""


@dataclass(frozen=True)
class Zone:
    """A time zone and the name it is reported under."""

    tz: tzinfo
    name: str


def resolve_zone(name: str | None) -> Zone:
    """``None`` or ``local``: the machine's zone ($TZ, else /etc/localtime); ``UTC``; or
    an IANA name such as ``Europe/Berlin``."""
    if name is None or name.lower() == "local":
        env = os.environ.get("TZ", "").lstrip(":")
        if env:
            try:
                return Zone(ZoneInfo(env), env)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        try:
            with open("/etc/localtime", "rb") as handle:  # noqa: PTH123 - the system's zone file
                return Zone(ZoneInfo.from_file(handle, key="localtime"), "local")
        except OSError:
            local = datetime.now().astimezone().tzinfo or UTC
            return Zone(local, "local")
    if name.upper() in {"UTC", "Z", "GMT"}:
        return Zone(UTC, "UTC")
    try:
        return Zone(ZoneInfo(name), name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r}; use an IANA name like Europe/Berlin, or UTC, or local"
        raise UsageQueryError(msg) from None


def day_start_us(text: str, zone: Zone, *, next_day: bool = False) -> int | None:
    """Microseconds at the start of a ``YYYY-MM-DD`` (or ``YYYYMMDD``) day in ``zone``
    (of the day after, with ``next_day``); None when ``text`` is not a date."""
    match = _DAY_RE.match(text.strip())
    if not match:
        return None
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    try:
        if next_day:
            day += timedelta(days=1)
        start = datetime(day.year, day.month, day.day, tzinfo=zone.tz)
        at = int(start.timestamp()) * 1_000_000
    except (OverflowError, ValueError):  # the day after 9999-12-31
        at = None
    if at is None or not FIRST_US <= at <= LAST_US:  # (or a zone's offset that moves it out of the years)
        msg = f"{text.strip()!r} is out of range; give a day from 0001-01-02 to 9999-12-30"
        raise UsageQueryError(msg)
    return at


@dataclass
class _Totals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0  # part of output_tokens, kept apart as ccusage shows it
    cost_usd: float = 0.0
    priced_calls: int = 0  # reported or priced
    reported_calls: int = 0
    unpriced_calls: int = 0
    unpriced_models: set[str] = field(default_factory=set)

    def add(self, other: _Totals) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost_usd += other.cost_usd
        self.priced_calls += other.priced_calls
        self.reported_calls += other.reported_calls
        self.unpriced_calls += other.unpriced_calls
        self.unpriced_models |= other.unpriced_models

    def as_dict(self) -> dict[str, Any]:
        total = self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "total_tokens": total,
            "reasoning_tokens": self.reasoning_tokens,
            # null when calls were made and none could be priced; no calls at all cost $0
            "cost_usd": self.cost_usd if self.priced_calls or not self.calls else None,
            # calls without a cost are unpriced here even with --no-cost (no price looked up)
            "cost_source": cost_source(self.calls, self.reported_calls, self.calls - self.priced_calls),
            "unpriced_calls": self.unpriced_calls,
            "unpriced_models": sorted(self.unpriced_models),
        }


_INPUT_SQL: Final = d.uncached_input_sql("l")
# the key of a call's group, by session or branch (the branch NULL for a run with none)
_GROUP_KEY_SQL: Final = {"session": "l.run", "branch": d.run_branch_sql("r")}
_TOTAL_INPUT_SQL: Final = d.total_input_sql("l")


def usage_report(
    index: Index,
    *,
    by: str = "day",
    since_us: int | None = None,
    until_us: int | None = None,
    project: str | None = None,
    zone: Zone | None = None,
    prices: PriceBook | None = None,
) -> UsageReport:
    """Token and cost totals per period (or session, or model), newest last.

    ``since_us`` is inclusive and ``until_us`` exclusive, both on the call's time.
    ``project`` keeps calls of runs whose ``project``, ``cwd`` or ``repo`` attribute
    contains it. ``prices`` None leaves every cost out (``cost_usd`` null).
    """
    from laptime.pricing import tier_bucket_sql

    if by not in GROUPS:
        msg = f"cannot group by {by!r}; use one of {', '.join(GROUPS)}"
        raise UsageQueryError(msg)
    zone = zone or resolve_zone(None)
    where: list[str] = []
    params: list[Any] = []
    if since_us is not None:
        where.append("l.ts >= ?")
        params.append(timestamp_from_us(since_us))
    if until_us is not None:
        where.append("l.ts < ?")
        params.append(timestamp_from_us(until_us))
    join = "JOIN runs r ON r.run_id = l.run" if project or by == "branch" else ""
    if project:
        where.append(
            "(instr(COALESCE(r.attrs ->> '$.project', ''), ?) > 0 OR instr(COALESCE(r.attrs ->> '$.cwd', ''), ?) > 0"
            " OR instr(COALESCE(r.attrs ->> '$.repo', ''), ?) > 0)"
        )
        params.extend([project, project, project])
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    reported = "l.cost_usd IS NOT NULL"
    if by in ("session", "model", "branch") or zone.tz is UTC:
        bucket_sql = "substr(l.ts, 1, 10) || 'T00:00'"  # UTC days: pricing needs no finer grain
    else:
        bucket_sql = "substr(l.ts, 1, 14) || printf('%02d', (CAST(substr(l.ts, 15, 2) AS INTEGER) / 15) * 15)"
    sql = f"""
        SELECT {bucket_sql} AS q,
               {_GROUP_KEY_SQL.get(by, "''")} AS run, l.model, l.provider,
               {tier_bucket_sql(_TOTAL_INPUT_SQL)} AS bucket,
               COUNT(*), SUM({_INPUT_SQL}), SUM(l.output_tokens), SUM(l.cache_write_tokens),
               SUM(l.cache_read_tokens),
               SUM(CASE WHEN {reported} THEN 1 ELSE 0 END), SUM(CASE WHEN {reported} THEN l.cost_usd ELSE 0 END),
               SUM(CASE WHEN {reported} THEN 0 ELSE {_INPUT_SQL} END),
               SUM(CASE WHEN {reported} THEN 0 ELSE l.output_tokens END),
               SUM(CASE WHEN {reported} THEN 0 ELSE l.cache_write_tokens END),
               SUM(CASE WHEN {reported} THEN 0 ELSE l.cache_read_tokens END),
               SUM(CASE WHEN {reported} THEN 0 ELSE {cache_write_1h_sql("l")} END),
               SUM(CASE WHEN instr(l.attrs, 'reasoning_tokens') THEN l.attrs ->> '$.reasoning_tokens' ELSE 0 END)
        FROM llm_calls l {join} {where_sql}
        GROUP BY q, run, l.model, l.provider, bucket
    """
    groups: dict[str, dict[str, _Totals]] = {}
    period_cache: dict[str, str] = {}
    for (
        q,
        run,
        model,
        provider,
        bucket,
        calls,
        inp,
        out,
        cwrite,
        cread,
        reported_calls,
        reported_cost,
        p_in,
        p_out,
        p_cwrite,
        p_cread,
        p_1h,
        reasoning,
    ) in index.execute(sql, params):
        if by in ("session", "branch"):
            key = run
        elif by == "model":
            key = model
        else:
            key = period_cache.get(q) or period_cache.setdefault(q, _period(q, by, zone))
        part = _Totals(calls, inp or 0, out or 0, cwrite or 0, cread or 0, int(reasoning or 0))
        part.cost_usd = reported_cost or 0.0
        part.priced_calls = part.reported_calls = reported_calls
        left = calls - reported_calls
        if left and prices is not None:
            rates = prices.rates(model, provider or "", q[:10], int(bucket))
            if rates is None:
                part.unpriced_calls += left
                part.unpriced_models.add(model)
            else:
                part.cost_usd += rates.cost(left, p_in or 0, p_out or 0, p_cread or 0, p_cwrite or 0, p_1h or 0)
                part.priced_calls += left
        per_model = groups.setdefault(key, {})
        slot = per_model.get(model)
        if slot is None:
            per_model[model] = part
        else:
            slot.add(part)
    return _assemble(
        index,
        groups,
        by=by,
        zone=zone,
        since_us=since_us,
        until_us=until_us,
        project=project,
        priced=prices is not None,
    )


def _period(q: str, by: str, zone: Zone) -> str:
    """The day, week or month (in ``zone``) of a UTC quarter-hour bucket ``YYYY-MM-DDTHH:MM``."""
    at = datetime(int(q[:4]), int(q[5:7]), int(q[8:10]), int(q[11:13]), int(q[14:16]), tzinfo=UTC)
    local = at.astimezone(zone.tz).date()
    if by == "day":
        return local.isoformat()
    if by == "week":
        return (local - timedelta(days=local.weekday())).isoformat()
    return f"{local.year:04d}-{local.month:02d}"


def _assemble(
    index: Index,
    groups: dict[str, dict[str, _Totals]],
    *,
    by: str,
    zone: Zone,
    since_us: int | None,
    until_us: int | None,
    project: str | None,
    priced: bool,
) -> UsageReport:
    rows: list[dict[str, Any]] = []
    grand = _Totals()
    runs = _run_info(index, list(groups)) if by == "session" else {}
    for key, per_model in groups.items():
        total = _Totals()
        for part in per_model.values():
            total.add(part)
        grand.add(total)
        row: dict[str, Any] = {"period" if by in ("day", "week", "month") else by: key}
        if by == "session":
            row.update(runs.get(key, {}))
        row.update(total.as_dict())
        row["models"] = sorted(per_model)
        if by != "model":
            row["by_model"] = [{"model": m, **per_model[m].as_dict()} for m in sorted(per_model)]
        rows.append(row)
    if by == "session":
        rows.sort(key=lambda r: (r.get("last_at") or "", r["session"]))
    elif by == "model":
        rows.sort(key=lambda r: (-r["total_tokens"], r["model"]))
    elif by == "branch":
        rows.sort(key=lambda r: (-r["total_tokens"], r["branch"] is None, r["branch"] or ""))
    else:
        rows.sort(key=lambda r: r["period"])
    totals = grand.as_dict()
    if not priced:
        totals["cost_usd"] = None
        totals["cost_source"] = "unpriced"
    data = {
        "by": by,
        "timezone": zone.name,
        "since": timestamp_from_us(since_us) if since_us is not None else None,
        "until": timestamp_from_us(until_us) if until_us is not None else None,
        "project": project,
        "rows": rows,
        "totals": totals,
    }
    return msgspec.convert(data, UsageReport)


def _run_info(index: Index, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Name, runner, project and first/last time of each run, for ``--by session``."""
    info: dict[str, dict[str, Any]] = {}
    for start in range(0, len(run_ids), 500):
        part = run_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for run_id, name, runner, project, cwd, started, last in index.execute(
            f"""SELECT run_id, name, runner, attrs ->> '$.project', attrs ->> '$.cwd', {d.run_start_sql()}, last_us
                FROM runs WHERE run_id IN ({marks})""",
            part,
        ):
            info[run_id] = {
                "name": name,
                "runner": runner,
                "project": project or cwd,
                "started_at": timestamp_from_us(started) if started is not None else None,
                "last_at": timestamp_from_us(last) if last is not None else None,
            }
    for run_id in run_ids:
        info.setdefault(run_id, {"name": None, "runner": None, "project": None, "started_at": None, "last_at": None})
    return info
