"""The parts every HTML page shares: escaping, the page frame and its stylesheet, the palette,
and charts (horizontal bars, a time series) that carry their own text alternative.

Colours are the Okabe-Ito palette (readable with every common colour-vision deficiency).
No figure depends on colour alone: the waterfall's kinds sit in labelled sections (LLM calls
have their own), the kinds that share a section carry a pattern as well (validation, git;
tool calls are the plain ones there, and the many LLM and tool bars stay solid because
pattern fills are what costs most to paint), marks are outlines, strips and text, and every
chart has a text alternative. Pages are self-contained: inline CSS and SVG, no script, no link to
anything outside the file except the page links a caller asks for.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Okabe-Ito, by role.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}


def esc(text: object) -> str:
    """Any value as HTML text or attribute content: ``<``, ``>``, ``&`` and quotes escaped."""
    return html.escape(str(text), quote=True)


# Inlined into every page; a file of its own so it reads as CSS.
_CSS = (Path(__file__).parent / "page.css").read_text(encoding="utf-8")

# Patterns: validation and git bars share the tools' section, so they add a texture to their colour.
_DEFS = (Path(__file__).parent / "patterns.svg").read_text(encoding="utf-8").strip()

#: What each bar's kind is called, in the legend and the tables.
KIND_LABELS = {
    "phase": "phase",
    "task": "task",
    "llm": "LLM call",
    "tool": "tool call",
    "validation": "validation",
    "git": "git",
    "other": "other",
}


def patterns() -> str:
    """An SVG that only defines the patterns the kind classes fill with (once per page)."""
    return f'<svg width="0" height="0" style="position:absolute" aria-hidden="true">{_DEFS}</svg>'


def frame(title: str, body: str) -> str:
    """A whole HTML document around ``body`` (already HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"{patterns()}{body}</body></html>\n"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table; cells are HTML already (escape text before). ``numeric``: right-aligned columns."""
    num = set(numeric)
    head = "".join(f'<th{" class=n" if i in num else ""} scope="col">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in num else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def data_details(label: str, table_html: str) -> str:
    """A chart's data as a table, folded away in a ``<details>``."""
    return f"<details><summary>{esc(label)}</summary>{table_html}</details>"


@dataclass(frozen=True)
class BarRow:
    label: str
    value: float | None  # None: unknown (drawn as an empty outline, labelled)
    text: str  # the value as shown, with its unit


def hbar_chart(chart_id: str, title: str, rows: Sequence[BarRow], *, value_header: str) -> str:
    """Horizontal bars, one per row, each labelled with its value; with its data table."""
    if not rows:
        return f"<p>{esc(title)}: none.</p>"
    label_w, bar_w, row_h = 220, 520, 20
    top = max((r.value for r in rows if r.value is not None), default=0.0) or 1.0
    height = row_h * len(rows) + 6
    parts = [
        (
            f'<svg id="{esc(chart_id)}" class="chart" role="img" aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d" '
            f'viewBox="0 0 {label_w + bar_w + 140} {height}" width="{label_w + bar_w + 140}" height="{height}">'
            f'<title id="{esc(chart_id)}-t">{esc(title)}</title>'
            f'<desc id="{esc(chart_id)}-d">{esc("; ".join(f"{r.label}: {r.text}" for r in rows))}</desc>'
        )
    ]
    for i, r in enumerate(rows):
        y = i * row_h + 3
        shown = r.label if len(r.label) <= 34 else r.label[:33] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{esc(shown)}</text>')
        if r.value is None:
            parts.append(f'<rect class="hb none" x="{label_w}" y="{y}" width="40" height="{row_h - 6}"/>')
            end = float(label_w + 40)
        else:
            w = max(r.value / top * bar_w, 1.0) if r.value > 0 else 0.0
            parts.append(f'<rect class="hb" x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}"/>')
            end = label_w + w
        parts.append(f'<text x="{end + 5:.1f}" y="{y + 13}">{esc(r.text)}</text>')
    parts.append("</svg>")
    data = table(["", value_header], [[esc(r.label), esc(r.text)] for r in rows], numeric=[1])
    return "".join(parts) + data_details(f"{title}: data", data)


@dataclass(frozen=True)
class SeriesPoint:
    label: str  # the x value as text (a day)
    value: float | None  # None: no value that day (a gap)
    text: str  # the value with its unit


def series_chart(chart_id: str, title: str, points: Sequence[SeriesPoint], *, value_header: str, axis_unit: str) -> str:
    """A time series as a line with a dot per point (gaps where there is no value); with its data table."""
    known = [p.value for p in points if p.value is not None]
    if not known:
        return f"<p>{esc(title)}: no data.</p>"
    left, width, height, bottom = 60, 640, 160, 24
    top_value = max(known) or 1.0
    step = width / max(len(points) - 1, 1)
    parts = [
        (
            f'<svg id="{esc(chart_id)}" class="chart" role="img" aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d" '
            f'viewBox="0 0 {left + width + 20} {height + bottom}" '
            f'width="{left + width + 20}" height="{height + bottom}">'
            f'<title id="{esc(chart_id)}-t">{esc(title)}</title>'
            f'<desc id="{esc(chart_id)}-d">{esc("; ".join(f"{p.label}: {p.text}" for p in points))}</desc>'
            f'<g class="axis"><line x1="{left}" y1="{height}" x2="{left + width}" y2="{height}"/>'
            f'<line x1="{left}" y1="8" x2="{left}" y2="{height}"/></g>'
            f'<text x="{left - 4}" y="14" text-anchor="end">{esc(_axis_text(top_value, axis_unit))}</text>'
            f'<text x="{left - 4}" y="{height}" text-anchor="end">0</text>'
        )
    ]
    runs: list[list[str]] = [[]]
    for i, p in enumerate(points):
        if p.value is None:
            runs.append([])
            continue
        x = left + i * step if len(points) > 1 else left + width / 2
        y = height - p.value / top_value * (height - 12)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        tip = f"<title>{esc(p.label)}: {esc(p.text)}</title>"
        parts.append(f'<circle class="ts-dot" cx="{x:.1f}" cy="{y:.1f}" r="3">{tip}</circle>')
    parts.extend(f'<polyline class="ts-line" points="{" ".join(run)}"/>' for run in runs if len(run) > 1)
    parts.append(f'<text x="{left}" y="{height + 16}">{esc(points[0].label)}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{left + width}" y="{height + 16}" text-anchor="end">{esc(points[-1].label)}</text>')
    parts.append("</svg>")
    data = table(["day", value_header], [[esc(p.label), esc(p.text)] for p in points], numeric=[1])
    return "".join(parts) + data_details(f"{title}: data", data)


def _axis_text(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f} %"
    if unit == "$":
        return f"${value:,.2f}"
    return f"{value:,.3g} {unit}"
