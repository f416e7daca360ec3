"""Lanes for spans that run side by side on one timeline.

Spans that name a worker (the ``worker`` attr) get that worker's lane, workers in the order
they first start; spans that name none are packed greedily: in start order, each goes into the
first lane that is free by its start (a new lane when none is). Within one worker's lane,
spans that overlap (a worker that ran two things at once) are packed the same way into
sub-lanes, so no two bars of a lane ever overlap.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    start: int
    end: int
    worker: str | None


@dataclass(frozen=True)
class Lanes:
    of: list[int]  # the lane of each interval, in the order given
    labels: list[str]  # one per lane, top to bottom


def _pack(order: Sequence[int], items: Sequence[Interval]) -> list[int]:
    """Greedy interval packing of ``items[i] for i in order`` (sorted by start): the lane of each."""
    free: list[tuple[int, int]] = []  # (end of its last interval, lane), the lane free soonest first
    lanes: list[int] = []
    count = 0
    for i in order:
        item = items[i]
        if free and free[0][0] <= item.start:
            _, lane = heapq.heappop(free)
        else:
            lane = count
            count += 1
        heapq.heappush(free, (max(item.end, item.start), lane))
        lanes.append(lane)
    return lanes


def assign_lanes(items: Sequence[Interval], unnamed: str = "lane") -> Lanes:
    """The lane of each interval: by worker when it names one, else by greedy packing."""
    order = sorted(range(len(items)), key=lambda i: (items[i].start, items[i].end))
    groups: dict[str | None, list[int]] = {}
    for i in order:
        groups.setdefault(items[i].worker, []).append(i)
    of = [0] * len(items)
    labels: list[str] = []
    for worker, members in sorted(groups.items(), key=lambda kv: kv[0] is None):  # workers first, stable
        packed = _pack(members, items)
        base = len(labels)
        width = max(packed) + 1 if packed else 0
        for sub in range(width):
            name = worker if worker is not None else f"{unnamed} {sub + 1}"
            labels.append(name if worker is None or sub == 0 else f"{worker} ({sub + 1})")
        for i, lane in zip(members, packed, strict=True):
            of[i] = base + lane
    return Lanes(of=of, labels=labels)
