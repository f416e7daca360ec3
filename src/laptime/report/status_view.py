"""Terminal view of ``laptime status --report``: the last run, its cost, and trends."""

from __future__ import annotations

from typing import Any

from laptime.analysis.trends import PREVIOUS_RUNS, THRESHOLD_PCT
from laptime.report.format import count, duration, percent, table, timestamp, usd


def _change(trend: dict[str, Any]) -> str:
    pct = trend.get("change_pct")
    return "" if pct is None else f" {pct:+.0f}%"


def render_report(last: dict[str, Any]) -> list[str]:
    """The lines ``--report`` adds under the store's health."""
    tok = last["tokens"]
    runner = f" · {last['runner']}" if last.get("runner") else ""
    unpriced = f" ({last['unpriced_calls']} calls unpriced)" if last.get("unpriced_calls") else ""
    lines = [
        "",
        "Last run",
        (
            f"run        {last['run_id'][:12]} · {last['name'] or '(unnamed)'}{runner}"
            f" · started {timestamp(last['started_at'])}"
        ),
        f"outcome    {last['outcome']} in {duration(last['total_duration_ms'])}",
        (
            f"llm        {last['llm_calls']} calls · {count(tok['input_tokens'])} in"
            f" · {count(tok['output_tokens'])} out"
            f" · {count(tok['total_tokens'])} tokens in all"
        ),
        f"cost       {usd(last['cost_usd'])}{unpriced}",
    ]
    trends = last["trends"]
    n = len(trends["previous_runs"])
    if n == 0:
        lines.append("trends     - (no earlier finished run to compare with)")
        return lines
    runs = "run" if n == 1 else f"{n} runs"
    lines.append(
        f"trends     vs the mean of the previous {runs} (↑ / ↓ beyond ±{THRESHOLD_PCT:g}%, → within;"
        f" at most {PREVIOUS_RUNS} runs)"
    )
    d, c, s = trends["duration_ms"], trends["cost_usd"], trends["success"]
    rows = [
        ["duration", duration(d["value"]), (d["arrow"] or "-") + _change(d), duration(d["mean"])],
        ["cost", usd(c["value"]), (c["arrow"] or "-") + _change(c), usd(c["mean"])],
        ["success", "yes" if s["value"] else "no", s["arrow"] or "-", percent(s["rate"])],
    ]
    lines += ["  " + line for line in table(["", "last", "trend", "previous"], rows, "lrll")]
    return lines
