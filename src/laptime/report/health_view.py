"""``laptime doctor`` and ``laptime status``: the store's health as text."""

from __future__ import annotations

from typing import Any

from laptime.report.format import integer, plural, size

MAX_LISTED_BAD_LINES = 50


def health_lines(health: dict[str, Any]) -> list[str]:
    """A ``Health`` result (as builtins) as the lines ``doctor`` and ``status`` print."""
    segments = health["segments"]
    store = health["store"]
    total = sum(s["bytes"] for s in segments)
    lines = [
        f"store      {store}",
        f"segments   {integer(len(segments))} ({size(total)})"
        + (f", {segments[0]['name']} .. {segments[-1]['name']}" if segments and health["index_error"] is None else ""),
    ]
    unreadable = [f"unreadable {u['file']}: {u['reason']}" for u in health["unreadable_segments"]]
    if health["index_error"] is not None:
        lines.append(f"index      unusable: {health['index_error']}")
        return lines + unreadable
    lines.append(f"events     {integer(health['events'])} in {plural(health['runs'], 'run')}")
    if health["index_was_current"]:
        lines.append("index      current")
    else:
        parts = [
            *(f"{n} new bytes in {name}" for name, n in sorted(health["index_behind_bytes"].items())),
            *(f"{g} removed" for g in health["index_segments_removed"]),
        ]
        lines.append("index      was behind: " + ", ".join(parts) + "; now brought up to date")
    bad = health["bad_lines"]
    lines.append(f"bad lines  {len(bad)}" + (" (skipped; every other line counts)" if bad else ""))
    lines.extend(f"  {b['file']}:{b['line']}: {b['reason']}" for b in bad[:MAX_LISTED_BAD_LINES])
    if len(bad) > MAX_LISTED_BAD_LINES:
        lines.append(f"  ... and {len(bad) - MAX_LISTED_BAD_LINES} more (--json lists them all)")
    lines.extend(
        f"torn tail  {tail['file']}: last {tail['bytes']} bytes have no newline (a write cut short, or in progress)"
        for tail in health["torn_tails"]
    )
    lines.extend(unreadable)
    if not bad and not health["torn_tails"] and not unreadable:
        lines.append("health     ok")
    return lines
