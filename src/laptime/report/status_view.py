"""Terminal view of ``laptime status --report``: the last run, its cost, and trends."""

from __future__ import annotations

from typing import Any

from laptime.analysis.trends import DOWN, PREVIOUS_RUNS, THRESHOLD_PCT, UP
from laptime.report.format import count, duration, percent, plural, table, timestamp, usd
from laptime.report.style import PLAIN, Style


def _change(trend: dict[str, Any]) -> str:
    pct = trend.get("change_pct")
    return "" if pct is None else f" {pct:+.0f}%"


def _trend(trend: dict[str, Any], style: Style, *, up_is_good: bool) -> str:
    """The arrow and change, green when the run got better, red when worse."""
    arrow = trend["arrow"]
    text = (arrow or "-") + _change(trend)
    if arrow == UP:
        return style.paint(text, "good" if up_is_good else "bad")
    if arrow == DOWN:
        return style.paint(text, "bad" if up_is_good else "good")
    return text


def render_report(last: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """The lines ``--report`` adds under the store's health."""
    tok = last["tokens"]
    runner = f" · {last['runner']}" if last.get("runner") else ""
    unpriced = f" ({plural(last['unpriced_calls'], 'call')} unpriced)" if last.get("unpriced_calls") else ""
    lines = [
        "",
        "Last run",
        (
            f"run        {last['run_id'][:12]} · {last['name'] or '(unnamed)'}{runner}"
            f" · started {timestamp(last['started_at'])}"
        ),
        f"outcome    {style.outcome(last['outcome'])} in {duration(last['total_duration_ms'])}",
        (
            f"llm        {plural(last['llm_calls'], 'call')} · {count(tok['input_tokens'])} in"
            f" · {count(tok['output_tokens'])} out"
            f" · {count(tok['total_tokens'])} tokens in all"
        ),
        f"cost       {usd(last['cost_usd'])}{unpriced}",
    ]
    trends = last["trends"]
    n = len(trends["previous_runs"])
    if n == 0:
        lines.append("trends     - (no earlier finished run to compare with)")
        return style.fit_all(lines)
    runs = "run" if n == 1 else plural(n, "run")
    lines.append(
        f"trends     vs the mean of the previous {runs} (↑ / ↓ beyond ±{THRESHOLD_PCT:g}%, → within;"
        f" at most {plural(PREVIOUS_RUNS, 'run')})"
    )
    d, c, s = trends["duration_ms"], trends["cost_usd"], trends["success"]
    rows = [
        ["duration", duration(d["value"]), _trend(d, style, up_is_good=False), duration(d["mean"])],
        ["cost", usd(c["value"]), _trend(c, style, up_is_good=False), usd(c["mean"])],
        ["success", "yes" if s["value"] else "no", _trend(s, style, up_is_good=True), percent(s["rate"])],
    ]
    width = None if style.width is None else style.width - 2  # the rows are indented by two
    lines += ["  " + line for line in table(["", "last", "trend", "previous"], rows, "lrll", width=width)]
    return style.fit_all(lines)
