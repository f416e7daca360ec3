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
    string format: the recorder calls this twice per phase.
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        us = ns // _NS_PER_US
        second, micro = divmod(us, _US_PER_S)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micro:06d}Z"


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


class _IdFactory:
    """Unique, time-ordered ids in the UUIDv7 layout, as 32 lowercase hex digits.

    48 bits of milliseconds, the version nibble, 12 random bits, then the variant bits
    with a per-process random node (30 bits) and a 32-bit counter, so ids made in one
    process sort in creation order and two processes practically never collide. The
    node is drawn again after fork, or a forked child would repeat its parent's ids.
    Everything but the counter is cached per millisecond: the recorder makes two ids
    per phase and this is on its hot path.
    """

    __slots__ = ("_counter", "_ms", "_node_hex", "_prefix", "_rand_a")

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        rand = int.from_bytes(os.urandom(8), "big")
        self._rand_a = f"{rand & 0xFFF:03x}"
        # variant bits 10, then 30 random node bits: the first 8 hex digits of rand_b
        self._node_hex = f"{0x80000000 | ((rand >> 12) & 0x3FFFFFFF):08x}"
        self._counter = itertools.count((rand >> 42) & 0xFFFF)
        self._ms = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        ms = ns // 1_000_000
        if ms != self._ms:
            self._ms = ms
            self._prefix = f"{ms & 0xFFFFFFFFFFFF:012x}7{self._rand_a}{self._node_hex}"
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFF:08x}"


new_id = _IdFactory().__call__
