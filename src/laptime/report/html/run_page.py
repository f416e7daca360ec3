"""The run page: one run's phase waterfall, its lanes of tasks, LLM calls and tools, the
critical path and the stragglers marked, cost by model and by phase, and its verification
attempts. Every figure is read from ``RunDetail`` and the critical-path marks; this module
only lays them out (docs/html.md says what each chart shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from laptime.analysis.results import RunDetail, SpanDetail
from laptime.clock import parse_timestamp_us
from laptime.report.format import count, integer, percent, plural
from laptime.report.html.lanes import Interval, assign_lanes
from laptime.report.html.marks import NO_MARKS, RunMarks
from laptime.report.html.page import KIND_LABELS, BarRow, data_details, esc, frame, hbar_chart, table
from laptime.report.html.units import duration, usd

CHART_WIDTH = 960  # of the timeline itself, in px; lane labels sit left of it
LABEL_WIDTH = 170
ROW = 16  # px per lane
BAR = 11  # px bar height
SECTION_GAP = 22

#: The waterfall's sections, top to bottom: (title, kinds drawn in it).
SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Phases", frozenset({"phase"})),
    ("Tasks and workers", frozenset({"task"})),
    ("LLM calls", frozenset({"llm"})),
    ("Tools, validations and git", frozenset({"tool", "validation", "git"})),
)
_DRAWN = frozenset().union(*(kinds for _, kinds in SECTIONS))


@dataclass(frozen=True)
class _Placed:
    span: SpanDetail
    start: int  # us since the run's start
    end: int
    row: int  # absolute row on the chart
    lane: str


def _kind_class(kind: str) -> str:
    return kind if kind in KIND_LABELS else "other"


def _place(detail: RunDetail) -> tuple[list[_Placed], list[tuple[str, int, list[str]]], int, int]:
    """Every drawn span on its row; the sections (title, first row, lane labels); rows; run length (us)."""
    t0 = parse_timestamp_us(detail.started_at)
    length = max(detail.total_duration_ms * 1000, 1)
    placed: list[_Placed] = []
    sections: list[tuple[str, int, list[str]]] = []
    row = 0
    others = [s for s in detail.spans if s.kind not in _DRAWN and s.kind != "run"]
    for title, kinds in SECTIONS:
        spans = [s for s in detail.spans if s.kind in kinds]
        if title.startswith("Tools"):
            spans += others  # any kind the page has no section for is drawn with the tools
        if not spans:
            continue
        starts = [parse_timestamp_us(s.started_at) - t0 for s in spans]
        if "phase" in kinds:  # a waterfall: one row per phase span, in start order
            order = sorted(range(len(spans)), key=lambda i: (starts[i], spans[i].span_id))
            labels = [spans[i].name for i in order]
            rows_of = {i: n for n, i in enumerate(order)}
        else:
            worker = [_worker(s) for s in spans]
            items = [Interval(st, st + s.duration_ms * 1000, w) for s, st, w in zip(spans, starts, worker, strict=True)]
            lanes = assign_lanes(items, unnamed="lane")
            labels = lanes.labels
            rows_of = dict(enumerate(lanes.of))
        sections.append((title, row, labels))
        for i, s in enumerate(spans):
            r = rows_of[i]
            placed.append(_Placed(s, starts[i], starts[i] + s.duration_ms * 1000, row + r, labels[r]))
        row += len(labels)
    return placed, sections, row, length


def _worker(span: SpanDetail) -> str | None:
    value = span.attrs.get("worker")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def waterfall(detail: RunDetail, marks: RunMarks = NO_MARKS) -> str:
    """The timeline SVG (with its legend and its data table)."""
    placed, sections, rows, length = _place(detail)
    if not placed:
        return "<p>No spans recorded.</p>"
    scale = CHART_WIDTH / length
    critical = [p for p in placed if p.span.span_id in marks.critical]
    path_rows = 1 if marks.critical else 0
    top = 22
    y_of_row = {}
    y = top + path_rows * (ROW + SECTION_GAP)
    section_y = []
    for title, first, labels in sections:
        section_y.append((title, y))
        y += 16
        for n in range(len(labels)):
            y_of_row[first + n] = y
            y += ROW
        y += SECTION_GAP - 16
    height = y + 10
    width = LABEL_WIDTH + CHART_WIDTH + 20
    summary = (
        f"Timeline of run {detail.name or detail.run_id}: {len(placed)} spans in {rows} lanes over "
        f"{duration(detail.total_duration_ms)}; {len(critical)} on the critical path; "
        f"{len(marks.stragglers)} stragglers."
    )
    out = [
        (
            f'<svg id="waterfall" class="chart" role="img" aria-labelledby="wf-t wf-d" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}"><title id="wf-t">Phase waterfall and lanes</title>'
            f'<desc id="wf-d">{esc(summary)}</desc>'
        )
    ]
    out.append(_axis(length, height))
    if marks.critical:
        py = top
        out.append(f'<text class="section-label" x="4" y="{py + 11}">Critical path</text>')
        for p in critical:
            x = LABEL_WIDTH + p.start * scale
            w = max((p.end - p.start) * scale, 1.0)
            out.append(f'<line class="critline" x1="{x:.1f}" y1="{py + 6}" x2="{x + w:.1f}" y2="{py + 6}"/>')
    for (title, first, labels), (_, sy) in zip(sections, section_y, strict=True):
        out.append(f'<text class="section-label" x="4" y="{sy + 11}">{esc(title)}</text>')
        for n, label in enumerate(labels):
            shown = label if len(label) <= 26 else label[:25] + "…"
            ly = y_of_row[first + n] + 10
            out.append(f'<text class="lane-label" x="{LABEL_WIDTH - 6}" y="{ly}" text-anchor="end">{esc(shown)}</text>')
    stragglers = {s.span_id: s for s in marks.stragglers}
    for p in placed:
        s = p.span
        x = LABEL_WIDTH + p.start * scale
        w = max((p.end - p.start) * scale, 0.8)
        by = y_of_row[p.row]
        cls = f"bar k-{_kind_class(s.kind)}"
        if s.outcome not in ("completed", "running"):
            cls += " fail"
        if s.span_id in marks.critical:
            cls += " crit"
        tip = f"{s.name} ({KIND_LABELS.get(s.kind, s.kind)}): {duration(s.duration_ms)}, {s.outcome}"
        out.append(
            f'<rect class="{cls}" id="s-{esc(s.span_id)}" x="{x:.1f}" y="{by}" width="{w:.1f}" height="{BAR}">'
            f"<title>{esc(tip)}</title></rect>"
        )
        straggler = stragglers.get(s.span_id)
        if straggler is not None:
            out.append(f'<rect class="strag" x="{x:.1f}" y="{by - 3}" width="{w:.1f}" height="3"/>')
            tx = min(x + w + 4, LABEL_WIDTH + CHART_WIDTH - 150)
            out.append(
                f'<text class="strag-label" x="{tx:.1f}" y="{by + 9}">◀ straggler, held up '
                f"{esc(duration(straggler.held_up_ms))}</text>"
            )
    out.append("</svg>")
    return _legend() + "".join(out) + data_details("Timeline: data (every span)", _span_table(placed, marks))


def _axis(length_us: int, height: int) -> str:
    ticks = 6
    parts = ['<g class="axis">']
    for n in range(ticks + 1):
        x = LABEL_WIDTH + CHART_WIDTH * n / ticks
        parts.append(f'<line x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{height - 6}"/>')
        anchor = "start" if n == 0 else "end" if n == ticks else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="11" text-anchor="{anchor}">{esc(duration(length_us / 1000 * n / ticks))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _swatch(shape: str) -> str:
    return f'<svg width="22" height="12" aria-hidden="true">{shape}</svg>'


def _kind_rect(kind: str) -> str:
    return f'<rect class="bar k-{kind}" width="22" height="12"/>'


def _legend() -> str:
    boxed = 'x="1" y="1" width="20" height="10"'
    items = [f"<span>{_swatch(_kind_rect(k))} {esc(label)}</span>" for k, label in KIND_LABELS.items() if k != "other"]
    marks = [
        (f'<rect class="bar k-task crit" {boxed}/>', "on the critical path (heavy outline; also the top line)"),
        ('<rect class="strag" width="22" height="4"/>', "straggler (hatched strip, labelled)"),
        (f'<rect class="bar k-task fail" {boxed}/>', "did not complete (dashed outline)"),
    ]
    items += [f"<span>{_swatch(shape)} {esc(text)}</span>" for shape, text in marks]
    return f'<div class="legend">{"".join(items)}</div>'


def _span_table(placed: Sequence[_Placed], marks: RunMarks) -> str:
    rows = []
    for p in sorted(placed, key=lambda p: (p.start, p.row)):
        s = p.span
        mark = []
        if s.span_id in marks.critical:
            mark.append("critical path")
        straggler = marks.straggler_of(s.span_id)
        if straggler is not None:
            mark.append(f"straggler of {straggler.batch}")
        rows.append(
            [
                esc(s.name),
                esc(KIND_LABELS.get(s.kind, s.kind)),
                esc(p.lane),
                esc("+" + duration(p.start / 1000)),
                esc(duration(s.duration_ms)),
                esc(s.outcome),
                esc(", ".join(mark)),
            ]
        )
    return table(["span", "kind", "lane", "start", "duration", "outcome", "marked"], rows, numeric=[3, 4])


def _critical_list(detail: RunDetail, marks: RunMarks) -> str:
    if not marks.critical and not marks.stragglers:
        return "<p>No critical path or straggler was found for this run.</p>"
    by_id = {s.span_id: s for s in detail.spans}
    parts = []
    path = sorted((by_id[i] for i in marks.critical if i in by_id), key=lambda s: s.started_at)
    if path:
        items = "".join(
            f'<li><a href="#s-{esc(s.span_id)}">{esc(s.name)}</a>: {esc(duration(s.duration_ms))}</li>' for s in path
        )
        parts.append(f"<p>The critical path runs through {len(path)} spans:</p><ol>{items}</ol>")
    if marks.stragglers:
        rows = [
            [
                esc(m.batch),
                f'<a href="#s-{esc(m.span_id)}">{esc(by_id[m.span_id].name if m.span_id in by_id else m.span_id)}</a>',
                esc(duration(m.held_up_ms)),
            ]
            for m in marks.stragglers
        ]
        parts.append("<p>Stragglers (the task of a batch that finished last):</p>")
        parts.append(table(["batch", "straggler", "held the batch up by"], rows, numeric=[2]))
    return "".join(parts)


def _cost_sections(detail: RunDetail) -> str:
    def rows(values: dict[str, float | None]) -> list[BarRow]:
        ordered = sorted(values.items(), key=lambda kv: (kv[1] is None, -(kv[1] or 0.0), kv[0]))
        return [BarRow(k, v, usd(v) if v is not None else "unpriced") for k, v in ordered]

    cost = detail.cost
    note = f"Total {usd(detail.cost_usd) if detail.cost_usd is not None else 'unknown'} ({esc(detail.cost_source)})"
    if cost.unpriced_calls:
        note += f"; {integer(cost.unpriced_calls)} calls unpriced ({esc(', '.join(cost.unpriced_models))})"
    models = [
        [
            esc(name),
            esc(integer(m.calls)),
            esc(count(m.input_tokens) + " tok"),
            esc(count(m.output_tokens) + " tok"),
            esc(duration(m.avg_latency_ms) if m.avg_latency_ms is not None else "-"),
            esc(usd(m.cost_usd) if m.cost_usd is not None else "unpriced"),
        ]
        for name, m in sorted(detail.models.items())
    ]
    return (
        f"<p>{note}.</p>"
        + hbar_chart("cost-by-model", "Cost by model (USD)", rows(cost.by_model), value_header="cost (USD)")
        + hbar_chart("cost-by-phase", "Cost by phase (USD)", rows(cost.by_phase), value_header="cost (USD)")
        + (
            table(["model", "calls", "input", "output", "avg latency", "cost"], models, numeric=[1, 2, 3, 4, 5])
            if models
            else ""
        )
    )


def _phase_table(detail: RunDetail) -> str:
    rows = [
        [
            esc(name),
            esc(duration(p.duration_ms)),
            esc(integer(p.attempts)),
            esc(integer(p.failed)),
            esc(percent(p.share)),
        ]
        for name, p in detail.phases.items()
    ]
    if not rows:
        return "<p>No phases recorded.</p>"
    rows.append([esc("(outside every phase)"), esc(duration(detail.unattributed_ms)), "", "", ""])
    return table(["phase", "time", "attempts", "failed", "share of the run"], rows, numeric=[1, 2, 3, 4])


def _verification(detail: RunDetail) -> str:
    v = detail.verification
    tiers = ", ".join(v.tiers_executed) or "none"
    head = (
        f"<p>{esc(plural(v.commands_run, 'validation command'))}: {integer(v.passed)} passed, "
        f"{integer(v.failed)} failed, {esc(plural(v.retries, 'retry'))}; tiers run: {esc(tiers)}.</p>"
    )
    if not detail.validations:
        return head
    rows = [
        [
            esc(x.at),
            esc(x.tier or "-"),
            esc("✓ passed" if x.passed else "✗ failed"),
            esc("-" if x.exit_code is None else x.exit_code),
            esc(duration(x.duration_ms) if x.duration_ms is not None else "-"),
            f"<code>{esc(x.command)}</code>",
        ]
        for x in detail.validations
    ]
    return head + table(["at (UTC)", "tier", "outcome", "exit code", "duration", "command"], rows, numeric=[3, 4])


def _facts(detail: RunDetail) -> str:
    facts = [
        ("run id", esc(detail.run_id)),
        ("runner", esc(detail.runner or "-")),
        ("outcome", f'<span class="badge o-{esc(detail.outcome)}">{esc(detail.outcome)}</span>'),
        ("started (UTC)", esc(detail.started_at)),
        ("ended (UTC)", esc(detail.ended_at or "-")),
        ("duration", esc(duration(detail.total_duration_ms))),
        ("time to verified checkpoint", esc(duration(detail.tvc_ms) if detail.tvc_ms is not None else "none")),
        ("LLM calls", esc(integer(detail.llm_calls))),
        ("tokens", esc(count(detail.tokens.total_tokens) + " tokens")),
        (
            "cost",
            esc((usd(detail.cost_usd) if detail.cost_usd is not None else "unknown") + f" ({detail.cost_source})"),
        ),
    ]
    if detail.error:
        facts.append(("error", esc(detail.error)))
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def render_run_page(detail: RunDetail, marks: RunMarks = NO_MARKS, *, summary_href: str | None = None) -> str:
    """One run's page as a self-contained HTML document. ``summary_href``: where "all runs"
    links to (none when None): the CLI gives a file name, the server a route."""
    title = f"laptime: {detail.name or detail.run_id}"
    back = f'<p><a href="{esc(summary_href)}">← all runs</a></p>' if summary_href is not None else ""
    body = (
        f"{back}<h1>{esc(detail.name or detail.run_id)}</h1>{_facts(detail)}"
        f"<h2>Timeline</h2>{waterfall(detail, marks)}"
        f'<h2 id="critical-path">Critical path and stragglers</h2>{_critical_list(detail, marks)}'
        f"<h2>Phases</h2>{_phase_table(detail)}"
        f"<h2>Cost</h2>{_cost_sections(detail)}"
        f"<h2>Verification attempts</h2>{_verification(detail)}"
    )
    return frame(title, body)
