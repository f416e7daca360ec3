"""Terminal view of a regression check (``analysis.regression.RegressionCheck``, as plain data)."""

from __future__ import annotations

from typing import Any

from laptime.report.format import count, duration, integer, table, timestamp, usd
from laptime.report.style import PLAIN, Style

WORSE = "▲ worse"


def _value(unit: str, value: float | None) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return duration(value)
    if unit == "usd":
        return usd(value)
    return count(value)


def _signed(unit: str, value: float | None) -> str:
    if value is None:
        return "-"
    text = _value(unit, abs(value))
    return ("+" if value >= 0 else "-") + text


def _group(label: str, g: dict[str, Any]) -> str:
    when = ""
    if g["first_started_at"] is not None:
        when = f", started {timestamp(g['first_started_at'])} .. {timestamp(g['last_started_at'])}"
    return f"{label} {g['spec']}: {integer(g['runs'])} {'run' if g['runs'] == 1 else 'runs'}{when}"


def _name(m: dict[str, Any]) -> str:
    return f"phase {m['phase']}" if m["metric"] == "phase" else m["metric"]


def regression_lines(
    check: dict[str, Any], style: Style = PLAIN, *, title: str = "Regressions beyond noise"
) -> list[str]:
    """The check as lines: one row per metric, worse ones marked and red when ``style`` has colour."""
    out = [
        title,
        _group("baseline", check["baseline"]),
        _group("current ", check["current"]),
    ]
    if check["reason"] is not None:
        return [*out, f"not tested: {check['reason']}"]
    rows: list[list[str]] = []
    worse: list[bool] = []
    for m in check["metrics"]:
        unit = m["unit"]
        tested = m["p_value"] is not None
        change = "-" if m["change_pct"] is None else f"{m['change_pct']:+.0f}%"
        rows.append(
            [
                _name(m),
                f"{_value(unit, m['baseline_median'])} (n={integer(m['baseline_n'])})",
                f"{_value(unit, m['current_median'])} (n={integer(m['current_n'])})",
                _signed(unit, m["shift"]),
                change,
                "-" if m["shift_sd"] is None else f"{m['shift_sd']:+.1f}",
                f"{m['confidence'] * 100:.1f}%" if tested else "not tested",
                WORSE if m["worse"] else "",
            ]
        )
        worse.append(m["worse"])
    lines = table(
        ["metric", "baseline median", "current median", "shift", "change", "in SD", "confidence", ""],
        rows,
        "lrrrrrrl",
        width=style.width,
    )
    out += [style.paint(line, "bad") if i >= 2 and worse[i - 2] else line for i, line in enumerate(lines)]
    flagged = ", ".join(check["worse"]) or "nothing"
    alpha = check["alpha"]
    out.append(
        f"worse: {flagged} (one-sided; Holm-adjusted confidence >= {(1 - alpha) * 100:g}%, i.e. alpha {alpha:g})"
    )
    out.append("shift: Hodges-Lehmann (median of current - baseline over every pair); in SD: over the baseline's SD")
    return out
