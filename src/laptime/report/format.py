"""Plain-text building blocks: durations, counts, tables and bars."""

from __future__ import annotations

from collections.abc import Sequence

from laptime.humanize import duration, usd
from laptime.report.style import ellipsize, visible_len

__all__ = ["duration", "usd"]  # re-exported: the views format durations and dollars from here

BAR_WIDTH = 24
# The one name every text view gives the time of a run outside any phase (JSON keys
# keep their own names: unattributed_ms, outside_phases_share, "(unattributed)").
UNATTRIBUTED = "unattributed"
# The narrowest a text column is squeezed to when a table is too wide (its header
# may be narrower): enough to recognise a name by its start.
MIN_TEXT_COLUMN = 8
# Words whose plural is not the word and an s (nor a consonant+y turned into ies).
IRREGULAR_PLURALS = {"child": "children", "person": "people", "index": "indexes", "was": "were", "is": "are"}


def count(n: float | None) -> str:
    """Compact count: 950, 12.3k, 4.56M (tokens, where the leading digits are what matters).

    The unit is chosen after rounding, so 999,960 is ``1.00M``, never ``1000.0k``.
    """
    if n is None:
        return "-"
    if abs(n) < 1000:
        return f"{n:.0f}" if float(n).is_integer() else f"{n:.1f}"
    if round(abs(n) / 1000, 1) < 1000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def integer(n: float | None) -> str:
    """An exact count with thousands separators: 1,234 (calls, runs, files, lines)."""
    if n is None:
        return "-"
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"


def size(n: int) -> str:
    """Human size in bytes: 512 B, 12.3 KiB, 4.5 MiB, 2.0 GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def plural_word(n: float, word: str) -> str:
    """``word`` as it goes with ``n``: retry/retries, call/calls, scope violation/violations.

    Of a phrase, the last word takes the plural.
    """
    if n == 1:
        return word
    head, _, last = word.rpartition(" ")
    prefix = head + " " if head else ""
    if last in IRREGULAR_PLURALS:
        return prefix + IRREGULAR_PLURALS[last]
    if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        return prefix + last[:-1] + "ies"
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return prefix + last + "es"
    return prefix + last + "s"


def plural(n: float, word: str) -> str:
    """``1 call``, ``2 calls``, ``1 retry``, ``2 retries``, ``1,234 runs``."""
    return f"{integer(n)} {plural_word(n, word)}"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


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


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: str | None = None,
    *,
    width: int | None = None,
    rule_before_last: bool = False,
) -> list[str]:
    """Columns padded to fit; ``align`` is one char per column, ``l`` or ``r``.

    With a ``width``, no line is longer: the widest text (``l``) columns are narrowed
    first and their long cells end in ``…``; numbers are cut only when the text
    columns cannot give enough (then the line's end goes). Cells may carry colour
    codes; they take no room. ``rule_before_last`` draws a rule above the last row
    (a total).
    """
    align = align or "l" * len(headers)
    widths = [visible_len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], visible_len(cell))
    if width is not None:
        widths = _narrowed(widths, align, [visible_len(h) for h in headers], width)

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            text = ellipsize(cell, widths[i])
            pad = " " * (widths[i] - visible_len(text))
            parts.append(pad + text if align[i] == "r" else text + pad)
        return ellipsize("  ".join(parts).rstrip(), width)

    rule = fmt(["-" * w for w in widths])
    body = [fmt(r) for r in rows]
    if rule_before_last and body:
        body.insert(len(body) - 1, rule)
    return [fmt(headers), rule, *body]


def _narrowed(widths: list[int], align: str, header_widths: list[int], limit: int) -> list[int]:
    """Column widths that fit ``limit`` with two spaces between, narrowing text columns."""
    widths = list(widths)
    excess = sum(widths) + 2 * (len(widths) - 1) - limit
    floors = [min(w, max(h, MIN_TEXT_COLUMN)) for w, h in zip(widths, header_widths, strict=True)]
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if align[i] == "l" and w > floors[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths
