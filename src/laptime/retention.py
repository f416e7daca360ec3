"""Retention: remove old segments (``clean``) and rewrite segments smaller (``compact``).

Both only ever touch whole day segments of past days, under an exclusive lock on
``.laptime/maintenance.lock`` that imports hold shared, so neither runs under an
import: each waits for the others to finish. The recorder writes only today's
segment, and the two most recent days are never rewritten, so a late writer's
appends cannot land in a file being replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from laptime import events as ev
from laptime.errors import StoreFaultError
from laptime.index import Index, decode_with_recovery
from laptime.log import read_chunks, torn_tail
from laptime.store import Store

PROTECTED_RECENT_DAYS = 2


class MaintenanceBusyError(StoreFaultError):
    """Another clean, compact or import holds the store."""


# How long clean, compact or import waits for another one to finish before it gives up.
MAINTENANCE_WAIT_S = 600.0
_POLL_S = 0.05


@contextlib.contextmanager
def maintenance_lock(store: Store, *, exclusive: bool) -> Iterator[None]:
    """Exclusive for clean/compact, shared for imports. Waits (``MAINTENANCE_WAIT_S``)
    while another holds it, so two of them started at once run one after the other."""
    store.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(store.root / "maintenance.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + MAINTENANCE_WAIT_S
        while True:
            # Polled rather than blocking: a blocking flock cannot be given a timeout.
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    msg = "another laptime clean, compact or import is working on this store; try again when it is done"
                    raise MaintenanceBusyError(msg) from None
                time.sleep(_POLL_S)
        yield
    finally:
        os.close(fd)


def segment_day(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.stem)
    except ValueError:
        return None


@dataclass
class CleanPlan:
    """What ``clean --before DATE`` removes."""

    before: date
    segments: list[Path] = field(default_factory=list)
    bytes: int = 0
    events: int = 0
    runs_touched: int = 0
    runs_removed_whole: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.isoformat(),
            "segments": [p.name for p in self.segments],
            "bytes": self.bytes,
            "events": self.events,
            "runs_touched": self.runs_touched,
            "runs_removed_whole": self.runs_removed_whole,
        }


def plan_clean(store: Store, index: Index, before: date) -> CleanPlan:
    """Segments of days before ``before``, with what the index knows they hold."""
    plan = CleanPlan(before)
    for path in store.segments():
        day = segment_day(path)
        if day is not None and day < before:
            plan.segments.append(path)
            plan.bytes += path.stat().st_size
    names = [p.name for p in plan.segments]
    if names:
        marks = ",".join("?" * len(names))
        segs = [r[0] for r in index.query(f"SELECT seg FROM segments WHERE name IN ({marks})", names)]
        if segs:
            seg_marks = ",".join("?" * len(segs))
            from laptime.index import event_tables

            touched: set[str] = set()
            kept: set[str] = set()
            for table in event_tables():
                plan.events += index.query(f"SELECT COUNT(*) FROM {table} WHERE seg IN ({seg_marks})", segs)[0][0]
                touched.update(
                    r[0] for r in index.query(f"SELECT DISTINCT run FROM {table} WHERE seg IN ({seg_marks})", segs)
                )
                kept.update(
                    r[0] for r in index.query(f"SELECT DISTINCT run FROM {table} WHERE seg NOT IN ({seg_marks})", segs)
                )
            plan.runs_touched = len(touched)
            plan.runs_removed_whole = len(touched - kept)
    return plan


def apply_clean(store: Store, plan: CleanPlan) -> None:
    """Delete the planned segments and rebuild the index from what remains."""
    with maintenance_lock(store, exclusive=True):
        for path in plan.segments:
            path.unlink(missing_ok=True)
        with Index(store) as index:
            index.rebuild()


@dataclass
class CompactResult:
    segments_rewritten: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    lines_before: int = 0
    lines_after: int = 0
    torn_lines_dropped: int = 0
    spans_merged: int = 0
    skipped_recent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def compact(store: Store, *, today: date | None = None) -> CompactResult:
    """Rewrite past segments: torn lines dropped, open/close span pairs merged.

    Nothing else is dropped: every event's content survives, so every KPI is the same
    afterwards. Each segment is written to a temporary file, synced, and renamed over
    the old one; the index is then rebuilt.
    """
    today = today or datetime.now(UTC).date()
    protect_from = today - timedelta(days=PROTECTED_RECENT_DAYS - 1)
    result = CompactResult()
    with maintenance_lock(store, exclusive=True):
        for path in store.segments():
            day = segment_day(path)
            if day is None or day >= protect_from:
                result.skipped_recent.append(path.name)
                continue
            _compact_segment(path, result)
        with Index(store) as index:
            index.rebuild()
    return result


def _compact_segment(path: Path, result: CompactResult) -> None:
    events: list[ev.Event] = []
    before_bytes = path.stat().st_size
    lines = 0
    for chunk in read_chunks(path):
        for raw in chunk.data.split(b"\n")[:-1]:
            if not raw.strip():
                continue
            lines += 1
            decoded, reason = decode_with_recovery(raw)
            if decoded is None:
                result.torn_lines_dropped += 1
                continue
            if reason is not None:
                result.torn_lines_dropped += 1  # garbage before a kept event
            events.append(_full_event(raw))
    tail = torn_tail(path, 0)
    if tail:
        result.torn_lines_dropped += 1
    merged = _merge_spans(events, result)
    data = b"".join(ev.encode(e) for e in merged)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".compact")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    result.segments_rewritten += 1
    result.bytes_before += before_bytes
    result.bytes_after += len(data)
    result.lines_before += lines
    result.lines_after += len(merged)


_full_decoder: msgspec.json.Decoder[ev.Event] = msgspec.json.Decoder(ev.Event)


def _full_event(raw: bytes) -> ev.Event:
    """The full event (attrs as dicts) of a line the index accepted, torn prefix or not."""
    position = 0
    while True:
        try:
            return _full_decoder.decode(raw[position:])
        except (msgspec.ValidationError, msgspec.DecodeError):
            # the recovering decoder kept an event after some garbage: find it again
            position = raw.find(b'{"', position + 1)
            if position < 0:
                raise


def _merge_spans(events: list[ev.Event], result: CompactResult) -> list[ev.Event]:
    ends = {e.span: e for e in events if isinstance(e, ev.SpanEnd)}
    used: set[str] = set()
    out: list[ev.Event] = []
    for event in events:
        if isinstance(event, ev.SpanStart):
            end = ends.get(event.span)
            if end is not None and event.span not in used:
                used.add(event.span)
                out.append(
                    ev.Span(
                        v=1,
                        id=event.id,
                        ts=event.ts,
                        run=event.run,
                        parent=event.parent,
                        attrs=event.attrs,
                        source=event.source,
                        span=event.span,
                        kind=event.kind,
                        name=event.name,
                        end_id=end.id,
                        end_ts=end.ts,
                        outcome=end.outcome,
                        error=end.error,
                        end_attrs=end.attrs,
                        end_source=end.source,
                    )
                )
                result.spans_merged += 1
                continue
        if isinstance(event, ev.SpanEnd) and event.span in used:
            continue
        out.append(event)
    return out
