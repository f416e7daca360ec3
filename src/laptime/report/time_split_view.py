"""Terminal view of a ``TimeSplit`` (analysis.results): where the wall time went."""

from __future__ import annotations

from typing import Any, Final

from laptime.report.format import bar, duration

_LABELS: Final = (
    ("llm", "LLM calls"),
    ("tool", "tool calls"),
    ("git", "git"),
    ("validation", "validation"),
    ("sync_wait", "waiting on sync"),
    ("human_wait", "waiting on a human"),
    ("other", "other"),
)


def tenths_of_percent(split: dict[str, Any]) -> dict[str, int]:
    """Each activity's share in tenths of a percent, adding up to 1000 (largest remainders,
    ties in the order of the activities), so the printed shares add up to 100.0%."""
    wall = split["wall_ms"]
    if not wall:
        return {key: 0 for key, _ in _LABELS}
    exact = {key: split[f"{key}_ms"] * 1000 for key, _ in _LABELS}
    tenths = {key: value // wall for key, value in exact.items()}
    left = 1000 - sum(tenths.values())
    keys = [key for key, _ in _LABELS]
    for key in sorted(keys, key=lambda k: (-(exact[k] % wall), keys.index(k)))[:left]:
        tenths[key] += 1
    return tenths


def time_split_lines(split: dict[str, Any]) -> list[str]:
    """One line per activity with time in it: a bar, its share and its time."""
    if not split["wall_ms"]:
        return ["no wall time"]
    tenths = tenths_of_percent(split)
    width = max(len(label) for _, label in _LABELS)
    return [
        f"{label.ljust(width)}  {bar(tenths[key] / 1000)} {tenths[key] / 10:5.1f}%  {duration(split[f'{key}_ms'])}"
        for key, label in _LABELS
        if split[f"{key}_ms"]
    ]
