"""Retention: remove old segments (``clean``) and rewrite segments smaller (``compact``).

Both only ever touch whole day segments of past days, under an exclusive lock on
``.laptime/maintenance.lock`` that imports hold shared, so neither runs under an
import: each waits for the others to finish. The recorder writes only today's
segment, and the two most recent days are never rewritten, so a late writer's
appends cannot land in a file being replaced.

``compact`` never deletes a valid line: what it cannot keep in a segment (torn or
garbage bytes) goes to ``.laptime/quarantine/<segment>``, outside ``log/`` so that
neither ``Store.segments()`` nor the index reads it (docs/events.md, "Compaction").
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec

from laptime import events as ev
from laptime.errors import StoreFaultError
from laptime.index import Index, decode_with_recovery
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
    # All of them write the store: a read-only one is one clear error, before anything.
    store.check_writable("`laptime clean` or `compact`" if exclusive else "`laptime import`", store.index_path)
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
    # Always 0: compact drops no line any more, it quarantines them. Kept in the
    # output so consumers of the earlier shape still parse it.
    torn_lines_dropped: int = 0
    spans_merged: int = 0
    skipped_recent: list[str] = field(default_factory=list)
    kept_newer_version: int = 0
    kept_unknown_type: int = 0
    lines_quarantined: int = 0
    quarantine_dir: str = ""
    quarantine_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class CompactWriteError(StoreFaultError):
    """A segment or its quarantine could not be written; the segment is left as it was."""


def quarantine_dir(store: Store) -> Path:
    """Where compact sets torn and garbage lines aside: beside ``log/``, not in it, so
    ``Store.segments()`` and the index never read them."""
    return store.root / "quarantine"


def quarantine_path(store: Store, segment: Path) -> Path:
    """The quarantine file of one segment: ``quarantine/<segment name>``."""
    return quarantine_dir(store) / segment.name


def compact(store: Store, *, today: date | None = None) -> CompactResult:
    """Rewrite past segments: span open/close pairs merged, torn lines set aside.

    Every valid line is kept byte for byte, and so is every line of a newer schema
    version or an unknown event type (a newer laptime's data; this one cannot read it,
    so it must not judge it). Only lines that are not a whole JSON event (torn
    fragments, garbage, v1 lines that fail validation) leave the segment, and they go
    to ``quarantine/<segment>`` (see ``QuarantineRecord``), never away. So every KPI
    is the same afterwards.

    Each segment is written to a temporary file with the segment's mode, synced, and
    renamed over the old one; a write error leaves the old one in place and raises
    ``CompactWriteError``. The index is then rebuilt.
    """
    today = today or datetime.now(UTC).date()
    protect_from = today - timedelta(days=PROTECTED_RECENT_DAYS - 1)
    result = CompactResult(quarantine_dir=str(quarantine_dir(store)))
    with maintenance_lock(store, exclusive=True):
        for path in store.segments():
            day = segment_day(path)
            if day is None or day >= protect_from:
                result.skipped_recent.append(path.name)
                continue
            _compact_segment(store, path, result)
        with Index(store) as index:
            index.rebuild()
    return result


class QuarantineRecord(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One line of a quarantine file: a line compact took out of a segment.

    ``raw`` holds the line's bytes as a JSON string when they are valid UTF-8 (JSON
    strings carry UTF-8 exactly), else ``raw_b64`` holds them base64-encoded; the
    newline that ended the line is not included. ``kept_from`` is set when a whole
    event followed the torn bytes: that event, ``raw[kept_from:]``, stayed in the
    segment.
    """

    segment: str  # the segment file it came from, e.g. "2026-01-06.jsonl"
    line: int  # its 1-based line number in the segment before the rewrite
    offset: int  # the byte offset of its first byte in that segment
    reason: str  # why it is not an event
    raw: str | None = None
    raw_b64: str | None = None
    kept_from: int | None = None
    torn_tail: bool = False  # the segment's last bytes, with no newline after them

    def raw_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode()
        return base64.b64decode(self.raw_b64 or "")


_quarantine_encoder = msgspec.json.Encoder()
_quarantine_decoder: msgspec.json.Decoder[QuarantineRecord] = msgspec.json.Decoder(QuarantineRecord)


def read_quarantine(path: Path) -> list[QuarantineRecord]:
    """The records of one quarantine file (an unreadable line in it is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(_quarantine_decoder.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError):
            continue
    return records


def _record(segment: str, line: int, offset: int, raw: bytes, reason: str) -> QuarantineRecord:
    try:
        return QuarantineRecord(segment=segment, line=line, offset=offset, reason=reason, raw=raw.decode())
    except UnicodeDecodeError:
        encoded = base64.b64encode(raw).decode()
        return QuarantineRecord(segment=segment, line=line, offset=offset, reason=reason, raw_b64=encoded)


@dataclass
class _Line:
    """A line that stays in the segment: its exact bytes, and its event if it is a
    span start or end that may be merged."""

    raw: bytes
    event: ev.SpanStart | ev.SpanEnd | None = None


_KNOWN_TYPES: Final = frozenset(t.__struct_config__.tag for t in ev.EVENT_TYPES)
_generic_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _forward_kind(obj: Any) -> str | None:
    """``"newer_version"`` or ``"unknown_type"`` for a decoded JSON line that is an
    event this laptime cannot read but a newer one may: an object with an integer
    ``v`` above 1, or with ``v`` 1 and a string ``type`` this version does not know.
    None otherwise."""
    if not isinstance(obj, dict):
        return None
    version, kind = obj.get("v"), obj.get("type")
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    if version > ev.SCHEMA_VERSION:
        return "newer_version"
    if version == ev.SCHEMA_VERSION and isinstance(kind, str) and kind not in _KNOWN_TYPES:
        return "unknown_type"
    return None


def _classify(raw: bytes) -> tuple[str | None, str]:
    """What a line is: "event" (a v1 event the index reads), "newer_version",
    "unknown_type", or None when it is neither (torn, garbage, an invalid v1 line);
    and, for None, why."""
    event, reason = decode_with_recovery(raw)
    if event is not None and reason is None:
        return "event", ""
    try:
        obj = _generic_decoder.decode(raw)
    except msgspec.DecodeError:
        return None, reason or "not JSON"
    return _forward_kind(obj), reason or "not an event"


def _salvage(raw: bytes) -> tuple[int, str] | None:
    """The first whole event (of any kind ``_classify`` keeps) after torn bytes at the
    front of ``raw``: where it starts, and its kind.

    Only a suffix that is whole JSON can be one, and a plain JSON parse says so
    cheaply, so the typed decoders run on a few candidates, not on every ``{"``."""
    start = raw.find(b'{"', 1)
    while start > 0:
        candidate = raw[start:]
        try:
            obj = _generic_decoder.decode(candidate)
        except msgspec.DecodeError:
            obj = None
        if isinstance(obj, dict):
            kind = _forward_kind(obj)
            if kind is None:
                event, reason = decode_with_recovery(candidate)
                kind = "event" if event is not None and reason is None else None
            if kind is not None:
                return start, kind
        start = raw.find(b'{"', start + 1)
    return None


def _compact_segment(store: Store, path: Path, result: CompactResult) -> None:
    original = path.read_bytes()
    kept: list[_Line] = []
    quarantined: list[QuarantineRecord] = []
    lines = 0
    offset = 0
    pieces = original.split(b"\n")
    tail = pieces.pop()  # bytes after the last newline: b"" when the file ends cleanly
    numbered = [(n, raw, False) for n, raw in enumerate(pieces, start=1)]
    if tail:
        numbered.append((len(pieces) + 1, tail, True))
    for number, raw, is_tail in numbered:
        line_offset, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue  # blank lines carry nothing, and readers skip them
        lines += 1
        kind, reason = _classify(raw)
        if kind is not None:
            kept.append(_keep(raw, kind, result))
            continue
        # Not a whole event. Its bytes go to the quarantine, whatever they are, and a
        # whole event glued after a torn fragment stays in the segment.
        record = _record(path.name, number, line_offset, raw, reason)
        record.torn_tail = is_tail
        salvaged = _salvage(raw)
        if salvaged is not None:
            start, kind = salvaged
            record.kept_from = start
            record.reason = f"torn line: {start} bytes before a whole event, which stays in the segment"
            kept.append(_keep(raw[start:], kind, result))
        quarantined.append(record)
    out = _merge_spans(kept, result)
    data = b"".join(line + b"\n" for line in out)
    if data == original:
        return  # nothing to do: leave the file, its inode and its times alone
    if quarantined:
        _append_quarantine(store, path, quarantined, result)
    _replace(path, data)
    result.segments_rewritten += 1
    result.bytes_before += len(original)
    result.bytes_after += len(data)
    result.lines_before += lines
    result.lines_after += len(out)


def _keep(raw: bytes, kind: str, result: CompactResult) -> _Line:
    if kind == "newer_version":
        result.kept_newer_version += 1
        return _Line(raw)
    if kind == "unknown_type":
        result.kept_unknown_type += 1
        return _Line(raw)
    if _mergeable(raw):
        full = _full_event(raw)
        if isinstance(full, (ev.SpanStart, ev.SpanEnd)):
            return _Line(raw, full)
    return _Line(raw)


def _mergeable(raw: bytes) -> bool:
    """Whether a line is a span start or end that re-encoding loses nothing of: a
    field a newer v1 writer added would be dropped by the merge, so such a line stays
    as it is."""
    obj = _generic_decoder.decode(raw)
    if not isinstance(obj, dict) or obj.get("type") not in {"span_start", "span_end"}:
        return False
    struct = ev.SpanStart if obj["type"] == "span_start" else ev.SpanEnd
    names = {f.encode_name for f in msgspec.structs.fields(struct)} | {"type"}
    if not set(obj) <= names:
        return False
    source = obj.get("source")
    source_names = {f.encode_name for f in msgspec.structs.fields(ev.Source)}
    return not isinstance(source, dict) or set(source) <= source_names


def _append_quarantine(store: Store, path: Path, records: list[QuarantineRecord], result: CompactResult) -> None:
    """Append the records not already there (a compact that failed after this step
    and is run again finds the same lines at the same places), synced before the
    segment is replaced: a line is always in the segment, the quarantine, or both."""
    target = quarantine_path(store, path)
    if target.exists() and not target.is_file():  # a FIFO there would block the read, and the write
        msg = f"compact: {target} is not a regular file; move it away (the segment {path.name} is unchanged)"
        raise CompactWriteError(msg)
    seen = {(r.segment, r.line, r.offset, r.raw_bytes()) for r in read_quarantine(target)}
    fresh = [r for r in records if (r.segment, r.line, r.offset, r.raw_bytes()) not in seen]
    result.lines_quarantined += len(records)
    if str(target) not in result.quarantine_files:
        result.quarantine_files.append(str(target))
    if not fresh:
        return
    data = b"".join(_quarantine_encoder.encode(r) + b"\n" for r in fresh)
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True)
            _fsync_dir(store.root)  # the new folder's entry, for the fsync below to mean anything
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(target.parent)
    except OSError as exc:
        msg = (
            f"compact: could not write {target} for segment {path.name}: {exc.strerror or exc}; "
            "the segment is unchanged"
        )
        raise CompactWriteError(msg) from exc


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` with ``path``'s mode (and,
    where allowed, owner), sync it, and only then rename it over ``path``."""
    info = path.stat()
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".compact")
        tmp = Path(name)
        try:
            # mkstemp creates 0o600; the segment's own mode must survive the rewrite
            os.fchmod(fd, stat.S_IMODE(info.st_mode))
            if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(PermissionError):  # only root may give a file away
                    os.fchown(fd, info.st_uid, info.st_gid)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        tmp = None
    except OSError as exc:
        msg = f"compact: could not rewrite segment {path.name}: {exc.strerror or exc}; the segment is unchanged"
        raise CompactWriteError(msg) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    try:
        _fsync_dir(path.parent)
    except OSError as exc:
        # the new segment is in place and whole; only the rename's durability is in doubt
        msg = f"compact: rewrote segment {path.name} but could not sync its folder: {exc.strerror or exc}"
        raise CompactWriteError(msg) from exc


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:_WRITE_BLOCK]) :]


_WRITE_BLOCK: Final = 1 << 20


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_full_decoder: msgspec.json.Decoder[ev.Event] = msgspec.json.Decoder(ev.Event)


def _full_event(raw: bytes) -> ev.Event | None:
    """The full event (attrs as dicts) of a line the index accepted; None when the
    full schema is stricter than the index's (``attrs`` not an object, say)."""
    try:
        return _full_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _merge_spans(lines: list[_Line], result: CompactResult) -> list[bytes]:
    """The lines to write: each span start with an end in the segment becomes one
    ``span`` line in the start's place, and that end's line goes. Every other line,
    another end of the same span included, stays as it was."""
    ends: dict[str, _Line] = {}
    for line in lines:
        if isinstance(line.event, ev.SpanEnd):
            ends.setdefault(line.event.span, line)
    merged_ends: set[int] = set()
    used: set[str] = set()
    out: list[bytes] = []
    for line in lines:
        event = line.event
        if isinstance(event, ev.SpanStart) and event.span not in used:
            end_line = ends.get(event.span)
            if end_line is not None and isinstance(end_line.event, ev.SpanEnd):
                end = end_line.event
                used.add(event.span)
                merged_ends.add(id(end_line))
                span = ev.Span(
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
                out.append(ev.encode(span)[:-1])
                result.spans_merged += 1
                continue
        if id(line) in merged_ends:
            continue
        out.append(line.raw)
    return out
