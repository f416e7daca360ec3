"""Terminal views of one run: the KPI scoreboard (10 lines and a cost line) and the full ``show``."""

from __future__ import annotations

from typing import Any

from laptime.report.budget_view import run_budget_lines
from laptime.report.critical_path_view import critical_path_lines
from laptime.report.format import UNATTRIBUTED, bar, count, duration, integer, percent, plural, table, timestamp, usd
from laptime.report.style import PLAIN, Style, ellipsize
from laptime.report.time_split_view import time_split_lines

SCOREBOARD_LINES = 11
# `report list` cuts longer run names (with …), so that one long name does not widen every row.
MAX_NAME = 48


def _short(run_id: str) -> str:
    return run_id[:12]


def scoreboard(kpi: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """Exactly ten lines: the run at a glance (cut to ``style``'s width)."""
    total = kpi["total_duration_ms"]
    title = kpi["name"] or "(unnamed)"
    runner = f" · {kpi['runner']}" if kpi.get("runner") else ""
    lines = [f"run {_short(kpi['run_id'])} · {title}{runner} · started {timestamp(kpi['started_at'])}"]

    outcome = kpi["outcome"]
    error = f" ({kpi['error']})" if kpi.get("error") and outcome != "completed" else ""
    lines.append(f"outcome       {style.outcome(outcome)}{error} in {duration(total)}")

    if kpi["tvc_ms"] is not None:
        at = f" at checkpoint {kpi['tvc_checkpoint'][:10]}" if kpi.get("tvc_checkpoint") else ""
        lines.append(f"TVc           {duration(kpi['tvc_ms'])}{at}")
    else:
        lines.append("TVc           - (no checkpoint after a passing verification)")

    phase_parts = []
    for name, p in kpi["phases"].items():
        retry = f" ×{p['attempts']}" if p["attempts"] > 1 else ""
        phase_parts.append(f"{name} {duration(p['duration_ms'])} {percent(p['share'])}{retry}")
    unattributed = f" · {UNATTRIBUTED} {duration(kpi['unattributed_ms'])}"
    if kpi.get("downtime_ms"):
        unattributed += f" · downtime {duration(kpi['downtime_ms'])}"
    lines.append("phases        " + (" · ".join(phase_parts) or "(none)") + unattributed)

    tok = kpi["tokens"]
    est = (
        f" ({percent(tok['estimated_tokens'] / tok['total_tokens'])} estimated)"
        if tok["total_tokens"] and tok["estimated_tokens"]
        else ""
    )
    lines.append(
        f"llm           {plural(kpi['llm_calls'], 'call')} · {count(tok['input_tokens'])} in"
        f" · {count(tok['output_tokens'])} out"
        f" · cache {count(tok['cache_read_tokens'])} read / {count(tok['cache_write_tokens'])} write{est}"
    )
    model_parts = [
        f"{name} {integer(m['calls'])} ({count(m['input_tokens'])}/{count(m['output_tokens'])})"
        for name, m in sorted(kpi["models"].items(), key=lambda kv: -kv[1]["calls"])
    ]
    lines.append("by model      " + (" · ".join(model_parts) or "-"))
    lines.append("cost          " + cost_line(kpi))
    worker_parts = [
        f"{name} {integer(w['calls'])}"
        for name, w in sorted(kpi["workers"].items(), key=lambda kv: (-kv[1]["calls"], kv[0]))
    ]
    lines.append("by worker     " + (" · ".join(worker_parts) or "-"))

    ver = kpi["verification"]
    tiers = ", ".join(ver["tiers_executed"]) or "-"
    failed = f"{integer(ver['failed'])} failed"
    lines.append(
        f"verification  {plural(ver['commands_run'], 'run')} · {integer(ver['passed'])} passed"
        f" · {style.paint(failed, 'bad') if ver['failed'] else failed}"
        f" · {plural(ver['retries'], 'retry')} · tiers {tiers}"
    )
    ch = kpi["changes"]
    lines.append(
        f"changes       {plural(ch['files_touched'], 'file')} (+{integer(ch['created'])} new,"
        f" {integer(ch['deleted'])} deleted) · +{integer(ch['lines_added'])} −{integer(ch['lines_removed'])} lines"
    )
    ms = kpi["milestones"]
    extra = f" · {plural(kpi['scope_violations'], 'scope violation')}" if kpi["scope_violations"] else ""
    lines.append(
        f"milestones    {integer(ms['completed'])}/{integer(ms['planned'])} completed"
        f" · {plural(kpi['checkpoints'], 'checkpoint')}{extra}"
    )
    assert len(lines) == SCOREBOARD_LINES
    return style.fit_all(lines)


def cost_line(kpi: dict[str, Any]) -> str:
    """Total, by model (costliest first), and how much is unpriced, reported or estimated."""
    cost = kpi["cost"]
    if not kpi["llm_calls"]:
        return "$0 (no llm calls)"
    parts = [usd(kpi["cost_usd"]) if kpi["cost_usd"] is not None else "unpriced"]
    by_model = sorted(cost["by_model"].items(), key=lambda kv: (-(kv[1] or 0.0), kv[0]))
    if len(by_model) > 1:
        parts.append(" · ".join(f"{name} {usd(c) if c is not None else 'unpriced'}" for name, c in by_model))
    notes = []
    if cost["unpriced_calls"]:
        models = ", ".join(cost["unpriced_models"])
        notes.append(f"{plural(cost['unpriced_calls'], 'call')} unpriced ({models})")
    if kpi["cost_source"] == "reported":
        notes.append("as reported by the source")
    elif cost["reported_usd"]:
        notes.append(f"{usd(cost['reported_usd'])} reported by the source")
    if cost["estimated_usd"]:
        notes.append(f"{usd(cost['estimated_usd'])} from estimated tokens")
    return " · ".join(parts) + (f" ({'; '.join(notes)})" if notes else "")


def phase_bars(kpi: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """The run's phase breakdown as bars with percentages."""
    phases = kpi["phases"]
    if not phases:
        return []
    width = max(len(name) for name in [*phases, UNATTRIBUTED])
    lines = []
    for name, p in phases.items():
        share = p["share"] or 0.0
        lines.append(f"{name.ljust(width)}  {bar(share)} {percent(share).rjust(4)}  {duration(p['duration_ms'])}")
    total = kpi["total_duration_ms"]
    if total:
        share = kpi["unattributed_ms"] / total
        lines.append(
            f"{UNATTRIBUTED.ljust(width)}  {bar(share)} {percent(share).rjust(4)}  {duration(kpi['unattributed_ms'])}"
        )
    return style.fit_all(lines)


def show(detail: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """Everything about one run: scoreboard, phase bars, spans, LLM totals, validations, files."""
    w = style.width
    out = scoreboard(detail, style)
    out += ["", "Phase breakdown", *phase_bars(detail, style)]
    out += ["", "Where the time went", *time_split_lines(detail["time_split"])]
    out += run_budget_lines(detail.get("budget"), w)
    out += ["", "Critical path and dispatch", *critical_path_lines(detail["critical_path"], w)]

    out += ["", f"Spans ({len(detail['spans'])})"]
    rows = []
    for s in detail["spans"]:
        label = "  " * (s["depth"] - 1) + s["name"]
        worker = s["attrs"].get("worker")
        rows.append(
            [
                label,
                s["kind"],
                duration(s["duration_ms"]),
                style.outcome(s["outcome"]),
                timestamp(s["started_at"])[11:],
                str(worker) if worker else "",
            ]
        )
    out += table(["span", "kind", "duration", "outcome", "start", "worker"], rows, "llrllr", width=w)

    out += ["", "LLM by model"]
    rows = []
    for name, m in sorted(detail["models"].items()):
        rows.append(
            [
                name,
                integer(m["calls"]),
                count(m["input_tokens"]),
                count(m["output_tokens"]),
                count(m["cache_read_tokens"]),
                count(m["cache_write_tokens"]),
                duration(m["avg_latency_ms"]),
                usd(m["cost_usd"]) if m["cost_usd"] is not None else "unpriced",
            ]
        )
    out += table(
        ["model", "calls", "in", "out", "cache read", "cache write", "avg latency", "cost"], rows, "lrrrrrrr", width=w
    )

    out += ["", "Cost by phase"]
    rows = [
        [phase, usd(c) if c is not None else "unpriced"]
        for phase, c in sorted(detail["cost"]["by_phase"].items(), key=lambda kv: (-(kv[1] or 0.0), kv[0]))
    ]
    out += table(["phase", "cost"], rows, "lr", width=w)

    out += ["", "LLM by phase"]
    rows = []
    for name, m in sorted(detail["models"].items()):
        for phase, p in m["by_phase"].items():
            rows.append([phase, name, integer(p["calls"]), count(p["input_tokens"]), count(p["output_tokens"])])
    rows.sort()
    out += table(["phase", "model", "calls", "in", "out"], rows, "llrrr", width=w)

    out += ["", f"Validations ({len(detail['validations'])})"]
    rows = [
        [
            timestamp(v["at"])[11:],
            v["command"],
            style.paint("passed", "good") if v["passed"] else style.paint("FAILED", "bad"),
            "-" if v["exit_code"] is None else str(v["exit_code"]),
            v["tier"] or "-",
            duration(v["duration_ms"]),
        ]
        for v in detail["validations"]
    ]
    out += table(["at", "command", "result", "exit", "tier", "duration"], rows, "lllrlr", width=w)

    out += ["", f"Files ({len(detail['files'])})"]
    rows = [
        [f["path"], f["change"] or "", f"+{integer(f['lines_added'] or 0)}", f"−{integer(f['lines_removed'] or 0)}"]
        for f in detail["files"]
    ]
    out += table(["path", "change", "added", "removed"], rows, "llrr", width=w)
    return style.fit_all(out)


def run_list(rows: list[dict[str, Any]], style: Style = PLAIN) -> list[str]:
    """``report list``: one line per run."""
    body = [
        [
            r["short_id"],
            timestamp(r["started_at"]),
            duration(r["total_duration_ms"]),
            style.outcome(r["outcome"]),
            integer(r["llm_calls"]),
            count(r["total_tokens"]),
            usd(r["cost_usd"]) if r["cost_usd"] is not None else "unpriced",
            ellipsize(r["name"] or "", MAX_NAME),
            r["runner"] or "",
        ]
        for r in rows
    ]
    return table(
        ["run", "started", "duration", "outcome", "llm", "tokens", "cost", "name", "runner"],
        body,
        "llrlrrrll",
        width=style.width,
    )
