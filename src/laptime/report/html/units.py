"""Numbers with their units, as the HTML pages print them (a space before the unit)."""

from __future__ import annotations

from laptime.humanize import duration as _duration
from laptime.humanize import usd

__all__ = ["duration", "usd"]


def duration(ms: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4m 05s``, ``2h 03m`` (``laptime.humanize.duration``, spaced)."""
    text = _duration(ms)
    if text.endswith("ms"):
        return text[:-2] + " ms"
    if text.endswith("s") and text[:-1].replace(".", "").isdigit():
        return text[:-1] + " s"
    return text
