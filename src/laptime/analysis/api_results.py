"""Typed results only the HTTP API returns (docs/server.md); the rest are the CLI's own."""

from __future__ import annotations

from laptime.analysis.results import Result, RunListRow


class RunPage(Result):
    """A page of ``GET /runs``: ``report list``'s rows, and the cursor of the next page."""

    runs: list[RunListRow]  # newest first
    next_cursor: str | None  # pass as ?cursor= for the next page; null on the last page
