"""Terminal view of ``report summary``: ``to_builtins`` of ``analysis.summary.compute_summary``'s
``Summary`` (analysis.report_results)."""

from __future__ import annotations

from typing import Any

from laptime.report.budget_view import summary_budget_line
from laptime.report.format import UNATTRIBUTED, bar, count, duration, integer, percent, plural, plural_word, table, usd
from laptime.report.regression_view import regression_lines
from laptime.report.style import PLAIN, Style
from laptime.report.time_split_view import time_split_lines


def _cost(value: float | None, unpriced_calls: int = 0) -> str:
    text = usd(value) if value is not None else "unpriced"
    return f"{text} (+{unpriced_calls} unpriced)" if unpriced_calls and value is not None else text


def summary_lines(s: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """The summary as lines, cut to ``style``'s width, outcome words in their colours."""
    w = style.width
    runs = s["runs"]
    out = [f"Summary of {plural(runs, 'run')}" + _filters(s["filters"])]
    if not runs:
        return style.fit_all([*out, "no runs match"])
    outcomes = " · ".join(f"{style.outcome(name)} {integer(n)}" for name, n in s["outcomes"].items() if n)
    out.append(f"outcomes      {outcomes} · success rate {percent(s['success_rate'])}")
    d = s["duration_ms"]
    out.append(
        f"duration      avg {duration(d['avg'])} · p50 {duration(d['p50'])} · p90 {duration(d['p90'])}"
        f" · p95 {duration(d['p95'])} (n={integer(d['n'])})"
    )
    t = s["tvc_ms"]
    out.append(f"TVc           p50 {duration(t['p50'])} · p90 {duration(t['p90'])} (n={integer(t['n'])})")
    it = s["iterations"]
    if it["n"]:
        out.append(
            f"iterations    avg {it['avg']:.2f} over {plural(it['n'], 'run')}"
            f" that {'records it' if it['n'] == 1 else 'record them'}"
        )
    tok = s["tokens"]
    out.append(
        f"tokens        {count(tok['total_tokens'])} · {count(tok['input_tokens'])} in"
        f" · {count(tok['output_tokens'])} out"
        f" · cache {count(tok['cache_read_tokens'])} read / {count(tok['cache_write_tokens'])} write"
        f" · {percent(tok['estimated_share']) if tok['estimated_share'] is not None else '-'} estimated"
    )
    c = s["cost"]
    unpriced = f" · unpriced: {', '.join(c['unpriced_models'])}" if c["unpriced_models"] else ""
    out.append(
        f"cost          {_cost(c['cost_usd'], c['unpriced_calls'])} · avg {usd(c['avg_per_run_usd'])} per run{unpriced}"
    )
    out += summary_budget_line(s.get("budgets"))
    r = s["rework"]
    out.append(
        f"rework        {percent(r['rate'])} of runs ({integer(r['runs_with_retries'])} with retries,"
        f" {integer(r['runs_with_changes_requested'])} with changes requested)"
    )

    if s["phases"]:
        out += ["", "Per phase"]
        rows = [
            [
                p["phase"],
                integer(p["n"]),
                duration(p["total"]),
                duration(p["avg"]),
                duration(p["p50"]),
                duration(p["p90"]),
                duration(p["p95"]),
                duration(p["min"]),
                duration(p["max"]),
                percent(p["share"]),
            ]
            for p in s["phases"]
        ]
        out += table(
            ["phase", "n", "total", "avg", "p50", "p90", "p95", "min", "max", "share"], rows, "lrrrrrrrrr", width=w
        )
        out += ["", "Average phase distribution", *phase_distribution(s)]
    if s["time_split"]["wall_ms"]:
        out += ["", "Where the time went", *time_split_lines(s["time_split"])]

    if s["models"]:
        out += ["", "Per model"]
        rows = [
            [
                m["model"],
                m["provider"] or "-",
                integer(m["calls"]),
                count(m["tokens"]["total_tokens"]),
                _cost(m["cost_usd"]),
                duration(m["avg_latency_ms"]),
                duration(m["p95_latency_ms"]),
            ]
            for m in s["models"]
        ]
        out += table(
            ["model", "provider", "calls", "tokens", "cost", "avg latency", "p95 latency"], rows, "llrrrrr", width=w
        )

    if s["top_tasks"]:
        n = len(s["top_tasks"])
        out += ["", f"Top {n} most expensive {plural_word(n, 'task')}"]
        rows = [
            [t["task"] or "(unnamed)", integer(t["runs"]), _cost(t["cost_usd"], t["unpriced_calls"])]
            for t in s["top_tasks"]
        ]
        out += table(["task", "runs", "cost"], rows, "lrr", width=w)
    if s["top_files"]:
        n = len(s["top_files"])
        out += ["", f"Top {n} most modified {plural_word(n, 'file')}"]
        rows = [
            [
                f["path"],
                integer(f["runs"]),
                integer(f["changes"]),
                f"+{integer(f['lines_added'])}",
                f"−{integer(f['lines_removed'])}",
            ]
            for f in s["top_files"]
        ]
        out += table(["path", "runs", "changes", "added", "removed"], rows, "lrrrr", width=w)
    if s.get("branches"):
        n = len(s["branches"])
        out += ["", f"By branch ({n} {plural_word(n, 'branch')})"]
        rows = [
            [
                b["branch"] if b["branch"] is not None else "(no branch)",
                integer(b["runs"]),
                percent(b["success_rate"]),
                duration(b["duration_ms"]["p50"]),
                integer(b["total_tokens"]),
                _cost(b["cost_usd"], b["unpriced_calls"]),
            ]
            for b in s["branches"]
        ]
        out += table(["branch", "runs", "success", "p50", "tokens", "cost"], rows, "lrrrrr", width=w)
    if s.get("regression") is not None:
        out += [
            "",
            *regression_lines(
                s["regression"], style, title="Regressions beyond noise: the selection against its baseline"
            ),
        ]
    return style.fit_all(out)


def phase_distribution(s: dict[str, Any]) -> list[str]:
    """Bars: each phase's share of the selected runs' time, then the unattributed time."""
    items = [(p["phase"], p["share"] or 0.0) for p in s["phases"]]
    if s.get("outside_phases_share") is not None:
        items.append((UNATTRIBUTED, s["outside_phases_share"]))
    width = max(len(name) for name, _ in items)
    return [f"{name.ljust(width)}  {bar(share)} {percent(share).rjust(4)}" for name, share in items]


def _filters(f: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in f.items() if v is not None]
    return f" ({', '.join(parts)})" if parts else ""
