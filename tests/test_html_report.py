"""``laptime report html``: lanes, marks, the run and summary pages, escaping, the CLI.

The pages are checked for what they must hold (one bar per phase span, the marked spans,
units, links), computed from hand-built inputs; the browser test opens them in Chromium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import pytest

from helpers import FIXED_RUN_ID, invoke, record_fixed_run
from html_helpers import FIXED_PHASES, fixed_detail, with_batch
from laptime.analysis.results import RunListRow
from laptime.analysis.trends import RunsOverTime, costliest_runs, daily_trends, slowest_runs
from laptime.report.html import (
    NO_MARKS,
    StragglerMark,
    marks_from_critical_path,
    render_run_page,
    render_summary_page,
    run_file_href,
)
from laptime.report.html.lanes import Interval, assign_lanes
from laptime.report.html.units import duration

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

SCRIPT = "<script>alert(1)</script>"


def bars(page: str, kind: str) -> list[str]:
    return re.findall(rf'<rect class="bar k-{kind}[^"]*" id="s-([^"]+)"', page)


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    for outside in ("http://", "https://", "src=", "<link", "@import", "url(http"):
        assert outside not in page


class TestLanes:
    def test_by_worker_in_first_start_order(self) -> None:
        lanes = assign_lanes([Interval(0, 10, "b"), Interval(5, 15, "a"), Interval(20, 30, "b")])
        assert lanes.labels == ["b", "a"]
        assert lanes.of == [0, 1, 0]

    def test_greedy_packing_without_workers(self) -> None:
        # 0-10 lane 1; 5-15 lane 2; 10-20 fits lane 1 (free at 10); 12-13: lane 1 busy to 20, lane 2 to 15
        items = [Interval(0, 10, None), Interval(5, 15, None), Interval(10, 20, None), Interval(12, 13, None)]
        lanes = assign_lanes(items)
        assert lanes.of == [0, 1, 0, 2]
        assert lanes.labels == ["lane 1", "lane 2", "lane 3"]

    def test_a_worker_that_overlaps_itself_gets_a_sub_lane_and_workers_come_before_packed(self) -> None:
        lanes = assign_lanes([Interval(0, 3, None), Interval(0, 10, "w"), Interval(5, 8, "w")])
        assert lanes.labels == ["w", "w (2)", "lane 1"]
        assert lanes.of == [2, 0, 1]


@dataclass
class _Segment:
    kind: str
    span_id: str | None


@dataclass
class _Straggler:
    batch: str
    span_id: str
    held_up_ms: int


@dataclass
class _Path:
    segments: list[_Segment]
    stragglers: list[_Straggler]


class TestMarks:
    def test_task_segments_and_stragglers_of_a_critical_path_result(self) -> None:
        path = _Path(
            segments=[_Segment("task", "a"), _Segment("idle", None), _Segment("task", "c")],
            stragglers=[_Straggler("superstep 2", "c", 1500)],
        )
        marks = marks_from_critical_path(path)
        assert marks.critical == frozenset({"a", "c"})
        assert marks.stragglers == (StragglerMark(span_id="c", batch="superstep 2", held_up_ms=1500),)
        assert marks.straggler_of("c") == marks.stragglers[0]
        assert marks.straggler_of("a") is None

    def test_no_analysis_marks_nothing(self) -> None:
        assert marks_from_critical_path(None) == NO_MARKS


class TestRunPage:
    def test_one_bar_per_phase_span_and_nothing_fetched(self, store: Store) -> None:
        detail = fixed_detail(store)
        page = render_run_page(detail)
        phase_ids = [s.span_id for s in detail.spans if s.kind == "phase"]
        assert len(phase_ids) == FIXED_PHASES
        assert sorted(bars(page, "phase")) == sorted(phase_ids)
        assert 'class="bar k-phase crit"' not in page
        assert_self_contained(page)

    def test_critical_path_and_straggler_are_marked_on_their_bars(self, store: Store) -> None:
        detail, marks = with_batch(fixed_detail(store))
        page = render_run_page(detail, marks)
        critical = re.findall(r'<rect class="bar [^"]*\bcrit\b[^"]*" id="s-([^"]+)"', page)
        assert sorted(critical) == sorted(marks.critical)
        assert page.count('<line class="critline"') == 2
        chart = page[page.index('<svg id="waterfall"') :]
        assert chart[: chart.index("</svg>")].count('<rect class="strag"') == 1  # the legend has its own
        assert "◀ straggler, held up 1m 20s" in page
        assert '<a href="#s-t2">task t2</a>' in page

    def test_tasks_on_worker_lanes_then_packed_lanes(self, store: Store) -> None:
        detail, marks = with_batch(fixed_detail(store))
        page = render_run_page(detail, marks)
        assert sorted(bars(page, "task")) == ["t1", "t2", "t3"]
        section = page[page.index(">Tasks and workers<") :]
        labels = re.findall(r'<text class="lane-label"[^>]*>([^<]*)</text>', section)
        assert labels[:3] == ["w1", "w2", "lane 1"]

    def test_cost_verification_and_units(self, store: Store) -> None:
        page = render_run_page(fixed_detail(store))
        assert 'id="cost-by-model"' in page
        assert 'id="cost-by-phase"' in page
        assert '<svg id="cost-by-model" class="chart" role="img"' in page
        assert '<desc id="cost-by-model-d">claude-sonnet-4-5: $0.02' in page
        assert page.count("✗ failed") == 1
        assert page.count("✓ passed") == 2
        assert "<dd>5m 00s</dd>" in page  # the run's duration, with its unit
        assert "<td class=n>50.0 s</td>" in page  # verify's two attempts
        assert "Timeline: data (every span)" in page

    def test_a_run_name_with_a_script_is_inert(self, store: Store) -> None:
        detail = fixed_detail(store)
        spans = [msgspec.structs.replace(s, name=SCRIPT, attrs={"worker": SCRIPT}) for s in detail.spans]
        detail = msgspec.structs.replace(detail, name=SCRIPT, runner=SCRIPT, spans=spans)
        page = render_run_page(detail, summary_href='x" onclick="evil()')
        assert_self_contained(page)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert 'onclick="' not in page

    def test_summary_link_is_the_callers(self, store: Store) -> None:
        detail = fixed_detail(store)
        assert '<a href="/summary">' in render_run_page(detail, summary_href="/summary")
        assert "← all runs" not in render_run_page(detail)


def _row(run_id: str, day: str, ms: int, outcome: str, cost: float | None) -> RunListRow:
    return RunListRow(
        run_id=run_id,
        short_id=run_id,
        name=f"run {run_id}",
        runner=None,
        started_at=f"{day}T10:00:00Z",
        ended_at=None,
        total_duration_ms=ms,
        outcome=outcome,
        llm_calls=0,
        total_tokens=0,
        cost_usd=cost,
        cost_source="priced" if cost is not None else "unpriced",
    )


ROWS = [
    _row("c", "2026-01-06", 50, "running", 0.5),
    _row("b", "2026-01-05", 300, "failed", None),
    _row("a", "2026-01-05", 100, "completed", 1.0),
    _row("d", "2026-01-05", 400, "completed", 0.25),
]


class TestTrends:
    def test_one_point_per_day_oldest_first(self) -> None:
        first, second = daily_trends(ROWS)
        assert (first.day, first.runs) == ("2026-01-05", 3)
        assert first.duration_p50_ms == 300.0
        assert first.cost_usd == 1.25
        assert first.unpriced_runs == 1
        assert first.success_rate == pytest.approx(2 / 3)
        assert (second.day, second.runs, second.cost_usd, second.success_rate) == ("2026-01-06", 1, 0.5, None)

    def test_slowest_and_costliest(self) -> None:
        assert [r.run_id for r in slowest_runs(ROWS, 2)] == ["d", "b"]
        assert [r.run_id for r in costliest_runs(ROWS, 5)] == ["a", "c", "d"]


class TestSummaryPage:
    def test_links_go_where_the_caller_says(self, store: Store) -> None:
        from helpers import invoke_json
        from laptime.analysis.report_results import Summary

        record_fixed_run(store)
        summary = msgspec.convert(invoke_json(store.root, "report", "summary"), Summary)
        days = daily_trends(ROWS)
        page = render_summary_page(
            summary, RunsOverTime(days=days, slowest=slowest_runs(ROWS), costliest=costliest_runs(ROWS))
        )
        assert '<a href="run-d.html">run d</a>' in page
        assert run_file_href("d") == "run-d.html"
        over_time = RunsOverTime(days=days, slowest=ROWS, costliest=[])
        served = render_summary_page(summary, over_time, run_href=lambda i: f"/runs/{i}/page")
        assert '<a href="/runs/a/page">run a</a>' in served
        assert_self_contained(page)
        for chart in ("trend-duration", "trend-cost", "trend-success", "phase-distribution"):
            assert f'<svg id="{chart}" class="chart" role="img"' in page
        assert page.count('<circle class="ts-dot"') == 2 + 2 + 1  # two days; success: only the first has finished runs
        assert "<td>2026-01-05</td><td class=n>$1.25 (1 runs unpriced)</td>" in page

    def test_names_are_escaped(self, store: Store) -> None:
        from helpers import invoke_json
        from laptime.analysis.report_results import Summary

        record_fixed_run(store)
        summary = msgspec.convert(invoke_json(store.root, "report", "summary"), Summary)
        evil = [msgspec.structs.replace(ROWS[0], name=SCRIPT, run_id='x"><b')]
        page = render_summary_page(summary, RunsOverTime(days=[], slowest=evil, costliest=evil))
        assert_self_contained(page)
        assert 'href="run-x&quot;&gt;&lt;b.html"' in page


def test_units_put_a_space_before_the_unit() -> None:
    assert [duration(850), duration(12_300), duration(245_000), duration(None)] == ["850 ms", "12.3 s", "4m 05s", "-"]


class TestCli:
    def test_writes_the_run_page(self, store: Store, tmp_path: Path) -> None:
        record_fixed_run(store)
        out = tmp_path / "run.html"
        result = invoke(store.root, "report", "html", FIXED_RUN_ID[:8], "-o", str(out))
        assert result.exit_code == 0, result.output
        page = out.read_text(encoding="utf-8")
        assert result.output == f"wrote {out} ({len(page.encode()):,} bytes)\n"
        assert len(bars(page, "phase")) == FIXED_PHASES

    def test_writes_the_summary_and_the_pages_it_links(self, store: Store, tmp_path: Path) -> None:
        record_fixed_run(store)
        out = tmp_path / "index.html"
        result = invoke(store.root, "report", "html", "--summary", "-o", str(out), "--with-run-pages")
        assert result.exit_code == 0, result.output
        run_file = tmp_path / f"run-{FIXED_RUN_ID}.html"
        assert result.output.splitlines()[1].startswith(f"wrote {run_file} (")
        assert f'href="run-{FIXED_RUN_ID}.html"' in out.read_text(encoding="utf-8")
        assert '<a href="index.html">← all runs</a>' in run_file.read_text(encoding="utf-8")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["x", "--summary"], "give either RUN or --summary, not both"),
            (["--with-run-pages"], "--with-run-pages goes with --summary"),
            (["--since", "7d"], "--since and --until go with --summary"),
        ],
    )
    def test_usage_errors_exit_2(self, store: Store, tmp_path: Path, args: list[str], message: str) -> None:
        record_fixed_run(store)
        result = invoke(store.root, "report", "html", *args, "-o", str(tmp_path / "x.html"))
        assert result.exit_code == 2
        assert f"Error: {message}" in result.output
        assert not (tmp_path / "x.html").exists()

    def test_an_unknown_run_exits_2(self, store: Store, tmp_path: Path) -> None:
        record_fixed_run(store)
        result = invoke(store.root, "report", "html", "nosuchrun", "-o", str(tmp_path / "x.html"))
        assert result.exit_code == 2
        assert "nosuchrun" in result.output

    def test_output_is_required(self, store: Store) -> None:
        result = invoke(store.root, "report", "html")
        assert result.exit_code == 2
        assert "'-o' / '--output'" in result.output
