"""Terminal view of ``laptime compare``: two runs side by side (see analysis/compare.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laptime.analysis.compare import UNATTRIBUTED as UNATTRIBUTED_KEY
from laptime.humanize import signed_count, signed_duration, signed_usd
from laptime.report.format import UNATTRIBUTED, count, duration, integer, table, timestamp, usd
from laptime.report.regression_view import regression_lines
from laptime.report.style import PLAIN, Style

SLOWER = "▲"
DOWNTIME = "downtime"  # the scoreboard's word; the JSON's is "(downtime)"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}%"


def _arrow(a: str, b: str) -> str:
    return a if a == b else f"{a} → {b}"


def _counts(t: dict[str, Any], fmt: Callable[[Any], str] = integer) -> str:
    """``4 → 6 (+2)``, or ``4`` when nothing changed.

    Exact counts (calls, runs, files, lines) in full with separators, as the scoreboard
    shows them; tokens abbreviated (``fmt=count``), as every view shows them.
    """
    a, b, d = t["a"], t["b"], t["delta"]
    if d == 0:
        return fmt(a)
    if d is None:
        return f"{fmt(a)} → {fmt(b)}"
    if fmt is usd:
        sign = signed_usd(d)
    elif fmt is count and abs(d) >= 1000:  # where count() starts abbreviating
        sign = _signed_compact(d)
    else:
        sign = signed_count(d)
    return f"{fmt(a)} → {fmt(b)} ({sign})"


def _signed_compact(n: float) -> str:
    return ("+" if n >= 0 else "-") + count(abs(n))


def _run_line(label: str, side: dict[str, Any], style: Style) -> str:
    name = side["name"] or "(unnamed)"
    cost = f" · {usd(side['cost_usd'])}" if side["cost_usd"] is not None else ""
    return (
        f"{label}  {side['run_id'][:12]} · {name} · started {timestamp(side['started_at'])}"
        f" · {style.outcome(side['outcome'])} in {duration(side['total_duration_ms'])}{cost}"
    )


def render(cmp: dict[str, Any], style: Style = PLAIN) -> list[str]:
    """The comparison as lines; phases the regression check flags as worse carry ``▲`` and
    are red when ``style`` has colour."""
    # the sentence is the JSON's; the text views call that time by one name
    went = cmp["where_the_time_went"].replace(UNATTRIBUTED_KEY, UNATTRIBUTED)
    out = [_run_line("A", cmp["a"], style), _run_line("B", cmp["b"], style), "", went, ""]

    rows: list[list[str]] = []
    slower: list[bool] = []
    for p in cmp["phases"]:
        attempts = _arrow(str(p["a_attempts"]), str(p["b_attempts"]))
        rows.append(
            [
                p["phase"],
                duration(p["a_ms"]) if p["in_a"] else "-",
                duration(p["b_ms"]) if p["in_b"] else "-",
                signed_duration(p["delta_ms"]),
                _pct(p["change_pct"]) if p["in_a"] else "new",
                attempts,
                SLOWER if p["slower"] else "",
            ]
        )
        slower.append(p["slower"])
    u = cmp["unattributed"]
    rows.append(
        [
            UNATTRIBUTED,
            duration(u["a_ms"]),
            duration(u["b_ms"]),
            signed_duration(u["delta_ms"]),
            _pct(u["change_pct"]),
            "",
            "",
        ]
    )
    slower.append(False)
    down = cmp["downtime"]
    if down["a"] or down["b"]:  # only runs that were down (a crash, then a resume) have the row
        rows.append(
            [
                DOWNTIME,
                duration(down["a"]),
                duration(down["b"]),
                signed_duration(down["delta"]),
                _pct(down["change_pct"]),
                "",
                "",
            ]
        )
        slower.append(False)
    d = cmp["duration"]
    rows.append(
        ["total", duration(d["a"]), duration(d["b"]), signed_duration(d["delta"] or 0.0), _pct(d["change_pct"]), "", ""]
    )
    slower.append(False)
    lines = table(["phase", "A", "B", "delta", "change", "attempts", ""], rows, "lrrrrll", width=style.width)
    out += [style.paint(line, "bad") if i >= 2 and slower[i - 2] else line for i, line in enumerate(lines)]
    check = cmp.get("regression")
    if check is not None and check["reason"] is None:
        out.append(f"{SLOWER} worse than the baseline's run-to-run variation (see Regressions beyond noise below)")

    llm = cmp["llm"]
    out += ["", "LLM by model"]
    model_rows = [
        [
            m["model"],
            _counts(m["calls"]),
            _counts(m["input_tokens"], count),
            _counts(m["output_tokens"], count),
            _counts(m["cost_usd"], usd),
        ]
        for m in llm["models"]
    ]
    model_rows.append(
        [
            "all models",
            _counts(llm["calls"]),
            _counts(llm["input_tokens"], count),
            _counts(llm["output_tokens"], count),
            _counts(llm["cost_usd"], usd),
        ]
    )
    out += table(["model", "calls", "tokens in", "tokens out", "cost"], model_rows, "lrrrr", width=style.width)

    v = cmp["verification"]
    out += [
        "",
        (
            f"verification  runs {_counts(v['commands_run'])} · passed {_counts(v['passed'])}"
            f" · failed {_counts(v['failed'])} · retries {_counts(v['retries'])}"
        ),
        f"outcome       {_arrow(style.outcome(cmp['outcome']['a']), style.outcome(cmp['outcome']['b']))}",
        f"TVc           {_arrow(duration(cmp['tvc']['a']), duration(cmp['tvc']['b']))}",
        (
            f"changes       files {_counts(cmp['changes']['files_touched'])}"
            f" · lines added {_counts(cmp['changes']['lines_added'])}"
            f" · lines removed {_counts(cmp['changes']['lines_removed'])}"
        ),
    ]
    if check is not None:
        out += ["", *regression_lines(check, style, title="Regressions beyond noise: B against its baseline")]
    return style.fit_all(out)
