"""The HTML report: self-contained pages (inline SVG and CSS, no script) that the CLI writes
to files and the server serves. Pure functions of analysis results to a string."""

from __future__ import annotations

from laptime.report.html.marks import NO_MARKS, RunMarks, StragglerMark, marks_from_critical_path
from laptime.report.html.run_page import render_run_page
from laptime.report.html.summary_page import render_summary_page, run_file_href

__all__ = [
    "NO_MARKS",
    "RunMarks",
    "StragglerMark",
    "marks_from_critical_path",
    "render_run_page",
    "render_summary_page",
    "run_file_href",
]
