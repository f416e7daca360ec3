"""Terminal view of ``laptime report usage``: the ccusage-style table of tokens and cost."""

from __future__ import annotations

from typing import Any

from laptime.report.format import integer, plural, plural_word, table
from laptime.report.style import PLAIN, Style

_HEADS = {"day": "Day", "week": "Week of", "month": "Month", "session": "Session", "model": "Model", "branch": "Branch"}


def render(report: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """The report as a plain-text table; on a narrow terminal the label and model
    columns give way first (their cells end in ``…``)."""
    by = report["by"]
    key = "period" if by in ("day", "week", "month") else by
    rows = report["rows"]
    if not rows:
        return ["no LLM calls match"]
    # Reasoning (part of Output) gets a column only when some call reported it, so
    # reports without reasoning models look as they always did.
    reasoning = any(row.get("reasoning_tokens") for row in rows)
    numbers = ["Input", "Output", *(["Reasoning"] if reasoning else []), "Cache write", "Cache read", "Total", "Cost"]
    body: list[list[str]] = []
    for row in rows:
        label = "(no branch)" if by == "branch" and row[key] is None else str(row[key])
        if by == "session" and row.get("project"):
            label = f"{label} ({row['project']})"
        models = ", ".join(row.get("models", [])) if by != "model" else ""
        body.append([label, models, *_numbers(row, reasoning=reasoning)])
    body.append(["Total", "", *_numbers(report["totals"], reasoning=reasoning)])
    headers = [_HEADS[by], "Models", *numbers]
    lines = table(headers, body, "ll" + "r" * len(numbers), width=style.width, rule_before_last=True)
    totals = report["totals"]
    lines.append(f"{plural(totals['calls'], 'call')}, time zone {report['timezone']}")
    if totals["unpriced_calls"]:
        n = totals["unpriced_calls"]
        lines.append(
            f"unpriced: {integer(n)} {plural_word(n, 'call')} of {', '.join(totals['unpriced_models'])} "
            "(add a [[pricing.models]] entry to price them)"
        )
    return style.fit_all(lines)


def _numbers(row: dict[str, Any], *, reasoning: bool) -> list[str]:
    cost = row["cost_usd"]
    cost_text = "-" if cost is None else f"${cost:,.2f}"
    if cost is not None and row.get("unpriced_calls"):
        cost_text += "+"
    return [
        integer(row["input_tokens"]),
        integer(row["output_tokens"]),
        *([integer(row["reasoning_tokens"])] if reasoning else []),
        integer(row["cache_write_tokens"]),
        integer(row["cache_read_tokens"]),
        integer(row["total_tokens"]),
        cost_text,
    ]


def answer_lines(text: str, style: Style, *, as_json: bool) -> list[str] | None:
    """What `laptime usage` prints for an answer kept as its ``--json`` text: that text, or
    the table rendered from it; None when it does not render (kept in another shape, or
    edited by hand: the answer is then computed anew)."""
    if as_json:
        return [text]
    import json

    try:
        return render(json.loads(text), style)
    except Exception:  # noqa: BLE001 - see the docstring
        return None
