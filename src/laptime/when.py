"""Times given by a user (``--since``, ``?since=``): a date, an ISO datetime, or an age like ``7d``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from laptime.errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
RELATIVE_WHEN = _RELATIVE  # an age such as ``7d``: a time that moves with the clock
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The first and the last microsecond a timestamp can name (four year digits: 0001 to 9999).
FIRST_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
LAST_US = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000 + 999_999


def parse_when(value: str, *, option: str, now: datetime | None = None) -> int:
    """Microseconds since the epoch for a date, a datetime, or an age like ``7d``."""
    text = value.strip()
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text)
    if match:
        try:
            delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
            return int((now - delta).timestamp() * 1_000_000)
        except OverflowError:
            msg = f"{option}: {value!r} reaches back before year 1; give a smaller age or a date"
            raise UsageError(msg) from None
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            parsed = datetime.fromisoformat(text)  # Python 3.11+ reads a trailing Z
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    except ValueError:
        msg = f"{option}: {value!r} is not a date; use YYYY-MM-DD, an ISO datetime, or an age like 7d, 12h, 30m, 2w"
        raise UsageError(msg) from None
    try:
        at = int(parsed.timestamp() * 1_000_000)
    except (OverflowError, ValueError):
        at = None
    if at is None or not FIRST_US <= at <= LAST_US:  # an offset that moves it out of the years 1 to 9999
        msg = f"{option}: {value!r} is out of range; give a time from the year 1 to 9999"
        raise UsageError(msg)
    return at
