"""The store's health, for ``laptime doctor``: segments, events, bad lines, index state."""

from __future__ import annotations

from pathlib import Path

from laptime.analysis.results import BadLineInfo, Health, SegmentHealth, TornTail, UnreadableSegment
from laptime.index import Index, IndexOpenError, event_tables, pending_torn_tail
from laptime.store import Store


def check_health(store: Store) -> Health:
    """Look at the log and the index; bring the index up to date; say what was found."""
    segments = store.segments()
    sizes = {p.name: p.stat().st_size for p in segments}
    unreadable = [UnreadableSegment(file=str(f.path), reason=f.reason) for f in store.segment_faults()]
    try:
        index = Index(store)
    except IndexOpenError as exc:
        return Health(
            store=str(store.root),
            segments=[SegmentHealth(name=n, bytes=s) for n, s in sizes.items()],
            index_error=str(exc),
            unreadable_segments=unreadable,
        )
    with index:
        known = index.segment_state()
        behind = {name: nbytes - known.get(name, (0, 0, None, 0))[0] for name, nbytes in sizes.items()}
        faulted = {Path(u.file).name for u in unreadable}
        behind = {name: n for name, n in behind.items() if n > 0 and name not in faulted}
        log_faulted = any(u.file == str(store.log_dir) for u in unreadable)
        gone = [] if log_faulted else sorted(set(known) - set(sizes) - faulted)
        index.update(wait=False)  # another process updating it: report the committed index
        events = sum(index.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table in event_tables())
        runs = index.query("SELECT COUNT(*) FROM runs")[0][0]
        bad = index.bad_lines()
        state = index.segment_state()
    torn = pending_torn_tail(store)
    return Health(
        store=str(store.root),
        segments=[
            SegmentHealth(
                name=name,
                bytes=nbytes,
                indexed_bytes=state.get(name, (0, 0, None, 0))[0],
                lines=state.get(name, (0, 0, None, 0))[1],
            )
            for name, nbytes in sizes.items()
        ],
        events=events,
        runs=runs,
        index_was_current=not behind and not gone,
        index_behind_bytes=behind,
        index_segments_removed=gone,
        bad_lines_total=len(bad),
        bad_lines=[
            BadLineInfo(file=str(store.log_dir / b.segment), line=b.line, offset=b.offset, reason=b.reason) for b in bad
        ],
        torn_tails=[TornTail(file=str(store.log_dir / name), bytes=tail) for name, tail in torn],
        unreadable_segments=unreadable,
    )
