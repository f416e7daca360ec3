"""Clocks, ids and timestamps.

A clock is any callable that returns nanoseconds since the Unix epoch (UTC).
``time.time_ns`` is the default; ``SimulatedClock`` drives tests and the demo.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

Clock = Callable[[], int]

_US_PER_S = 1_000_000
_NS_PER_US = 1_000
_NS_PER_MS = 1_000_000


class SimulatedClock:
    """A clock that only moves when told to.

    ``advance(seconds)`` moves it for sequential code. For concurrent asyncio code,
    ``await clock.sleep(seconds)`` parks the task until the simulated time is reached;
    ``await clock.run_until_idle()``, from the driving task, advances time from one
    sleeper to the next until none is left. The result is deterministic.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
        self._now_ns = int(start.timestamp()) * 1_000_000_000 + start.microsecond * _NS_PER_US
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> int:
        return self._now_ns

    def advance(self, seconds: float) -> None:
        """Move time forward; negative steps are refused, as real time never runs back."""
        if seconds < 0:
            msg = f"a clock cannot go back: advance({seconds})"
            raise ValueError(msg)
        self._now_ns += round(seconds * 1e9)

    async def sleep(self, seconds: float) -> None:
        """Wait, in simulated time, for ``seconds``."""
        import asyncio  # lazily: importing asyncio costs ~0.1 s, and only simulations need it

        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake_at = self._now_ns + round(seconds * 1e9)
        heapq.heappush(self._sleepers, (wake_at, next(self._order), future))
        await future

    async def run_until_idle(self, settle_rounds: int = 50) -> None:
        """Advance through every pending sleep, waking sleepers in time order."""
        import asyncio

        while True:
            for _ in range(settle_rounds):
                await asyncio.sleep(0)
            if not self._sleepers:
                return
            wake_at, _, future = heapq.heappop(self._sleepers)
            self._now_ns = max(self._now_ns, wake_at)
            future.set_result(None)


class _TimestampFormatter:
    """Formats epoch nanoseconds as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, fast.

    The date-and-second prefix is cached, so the common case is one division and one
    string format. The cache is one tuple, replaced whole, so a thread that reads it
    never pairs one second's number with another second's text.
    """

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[int, str] = (-1, "")

    def __call__(self, ns: int) -> str:
        us = ns // _NS_PER_US
        second, micro = divmod(us, _US_PER_S)
        cache = self._cache
        if cache[0] != second:
            cache = self._cache = (second, _second_text(second))
        return f"{cache[1]}.{micro:06d}Z"


def _second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` for seconds since the epoch: the one place it is formatted."""
    # Not strftime: its %Y gives "1", not "0001", for the year 1 (glibc), and a timestamp
    # is always 27 characters (the index reads its parts by position).
    at = datetime.fromtimestamp(second, UTC)
    return f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}"


format_timestamp = _TimestampFormatter().__call__


def parse_timestamp_us(ts: str) -> int:
    """Microseconds since the epoch for an RFC 3339 timestamp (any offset; naive is UTC)."""
    value = datetime.fromisoformat(ts)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds


def timestamp_from_us(us: int) -> str:
    """The canonical event timestamp for microseconds since the epoch."""
    return format_timestamp(us * _NS_PER_US)


# "000".."999", in order; built in C (a third of the time of a comprehension, at import)
DIGITS3: tuple[str, ...] = tuple(map("".join, itertools.product("0123456789", repeat=3)))
_COUNTER_START = 1 << 32
_MS_MASK = (1 << 48) - 1  # an id keeps the low 48 bits of the millisecond
_MS_BIT = 1 << 48  # set above them, so hex() gives 13 digits: "0x1" and the 12 wanted


class _IdFactory:
    """Unique, time-ordered ids in the UUIDv7 layout, as 32 lowercase hex digits.

    48 bits of milliseconds, the version nibble, 12 random bits, then the variant bits
    with a per-process random node (30 bits) and a 32-bit counter, so ids made in one
    process sort in creation order and two processes practically never collide. The
    node is drawn again after fork, or a forked child would repeat its parent's ids.

    ``stamp`` also formats the event timestamp and its UTC day, which every recorded
    event needs with its id. Everything but the counter and the three microsecond
    digits is cached per millisecond, in one tuple replaced whole (threads never see
    half of an update). The counter is an ``itertools.count``, whose ``next`` is atomic
    under the GIL, so no two threads draw the same number.

    ``cache``, ``counter`` and ``millisecond`` are public for the recorder, which writes
    ``stamp`` out in its span lines, its hot path (the call alone costs a tenth of a
    phase). Read ``cache`` and ``counter`` afresh each time: a fork replaces them.
    """

    __slots__ = ("_node", "_second", "cache", "counter")

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        rand = int.from_bytes(os.urandom(8), "big")
        # version 7, 12 random bits, then variant bits 10 and 30 random node bits (the
        # first 8 hex digits of rand_b): everything after the millisecond, bar the counter
        self._node = f"7{rand & 0xFFF:03x}{0x80000000 | ((rand >> 12) & 0x3FFFFFFF):08x}"
        # The counter starts above 2**32 and only grows, so ``hex(n)`` always has more
        # than 8 digits and ``hex(n)[-8:]`` is its low 32 bits zero-padded: the id's
        # last 8 digits, wrapping as ``n & 0xFFFFFFFF`` would, without a format spec.
        self.counter = itertools.count(_COUNTER_START | ((rand >> 42) & 0xFFFF))
        self._second: tuple[int, str, str] = self._second_entry(0)
        # (first ns of the millisecond, id prefix, "YYYY-MM-DDTHH:MM:SS.mmm", day): like
        # ``_second``, always a true entry for some time (here the epoch), never "empty"
        self.cache: tuple[int, str, str, str] = self.millisecond(0)

    def __call__(self, ns: int) -> str:
        """A new id for an event at ``ns``."""
        cache = self.cache
        if not 0 <= ns - cache[0] < _NS_PER_MS:
            cache = self.millisecond(ns)
        return cache[1] + hex(next(self.counter))[-8:]

    def stamp(self, ns: int) -> tuple[str, str, str]:
        """A new id, the timestamp (as ``format_timestamp``) and the UTC day, for ``ns``."""
        cache = self.cache
        offset = ns - cache[0]  # a subtraction and two compares: cheaper than // on the epoch ns
        if not 0 <= offset < _NS_PER_MS:
            cache = self.millisecond(ns)
            offset = ns - cache[0]
        return (
            cache[1] + hex(next(self.counter))[-8:],
            f"{cache[2]}{DIGITS3[offset // _NS_PER_US]}Z",
            cache[3],
        )

    def millisecond(self, ns: int) -> tuple[int, str, str, str]:
        """Make ``cache`` the entry for the millisecond of ``ns``, and return it.

        Phases spaced out in time miss the cache on every event, so this is kept cheap
        too: the second's text comes from a cache of its own, the 48-bit millisecond's
        12 hex digits from ``hex`` (a format spec costs half as much again)."""
        ms = ns // _NS_PER_MS
        second = self._second
        milli = ms - second[0]
        if not 0 <= milli < 1000:
            second = self._second_entry(ms)
            milli = ms - second[0]
        cache = self.cache = (
            ms * _NS_PER_MS,
            hex((ms & _MS_MASK) | _MS_BIT)[3:] + self._node,
            f"{second[1]}.{DIGITS3[milli]}",
            second[2],
        )
        return cache

    def _second_entry(self, ms: int) -> tuple[int, str, str]:
        """(first ms of the second, ``YYYY-MM-DDTHH:MM:SS``, day) for the second of ``ms``."""
        second = ms // 1000
        text = _second_text(second)
        entry = self._second = (second * 1000, text, text[:10])
        return entry


ids = _IdFactory()
new_id = ids.__call__
stamp = ids.stamp
"""``stamp(ns) -> (id, ts, day)``: ``new_id(ns)``, ``format_timestamp(ns)`` and the
timestamp's first 10 characters (its UTC day), in one call."""
