"""Numbers in words people read: durations and dollars. Pure functions of a value, shared by
the analysis' one-line sentences (``where_the_time_went``) and the terminal views."""

from __future__ import annotations


def duration(ms: float | None) -> str:
    """Human duration: 850ms, 12.3s, 4m 05s, 2h 03m."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.01 and value != 0:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def signed_duration(ms: float) -> str:
    """``+3m 55s``, ``-20.0s``, ``0ms``."""
    if ms == 0:
        return "0ms"
    return ("+" if ms > 0 else "-") + duration(abs(ms))


def signed_count(n: float) -> str:
    return f"{n:+,.0f}" if float(n).is_integer() else f"{n:+,.1f}"


def signed_usd(value: float) -> str:
    return ("+" if value >= 0 else "-") + usd(abs(value))
