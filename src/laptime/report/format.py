"""Plain-text building blocks: durations, counts, tables and bars."""

from __future__ import annotations

from collections.abc import Sequence

BAR_WIDTH = 24


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


def count(n: float | None) -> str:
    """Compact count: 950, 12.3k, 4.56M."""
    if n is None:
        return "-"
    if abs(n) < 1000:
        return f"{n:.0f}" if float(n).is_integer() else f"{n:.1f}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def size(n: int) -> str:
    """Human size in bytes: 512 B, 12.3 KiB, 4.5 MiB, 2.0 GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def plural(n: int, word: str) -> str:
    """``1 call``, ``2 calls``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.01 and value != 0:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def timestamp(iso: str | None) -> str:
    """``2026-01-05 09:00:00Z`` from the canonical event timestamp."""
    if not iso:
        return "-"
    return iso[:10] + " " + iso[11:19] + "Z"


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar in Unicode blocks, with eighths for the partial cell."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest] if rest else ""
    filled = "█" * full + partial
    return filled + "░" * (width - len(filled))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    """Columns padded to fit; ``align`` is one char per column, ``l`` or ``r``."""
    align = align or "l" * len(headers)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if align[i] == "r" else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]
