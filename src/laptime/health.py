"""The store's health, for ``laptime doctor``: segments, events, bad lines, index state."""

from __future__ import annotations

from typing import Any

from laptime.index import Index, IndexOpenError, event_tables, pending_torn_tail
from laptime.report.format import size
from laptime.store import Store

MAX_LISTED_BAD_LINES = 50


def check_health(store: Store) -> dict[str, Any]:
    """Look at the log and the index; bring the index up to date; say what was found."""
    segments = store.segments()
    sizes = {p.name: p.stat().st_size for p in segments}
    try:
        index = Index(store)
    except IndexOpenError as exc:
        return _broken_index(store, sizes, str(exc))
    with index:
        known = index.segment_state()
        behind = {name: nbytes - known.get(name, (0, 0, None, 0))[0] for name, nbytes in sizes.items()}
        behind = {name: n for name, n in behind.items() if n > 0}
        gone = sorted(set(known) - set(sizes))
        index.update()
        events = sum(index.query(f"SELECT COUNT(*) FROM {table}")[0][0] for table in event_tables())
        runs = index.query("SELECT COUNT(*) FROM runs")[0][0]
        bad = index.bad_lines()
        state = index.segment_state()
    torn = pending_torn_tail(store)
    current = not behind and not gone
    text = [
        f"store      {store.root}",
        f"segments   {len(segments)} ({size(sum(sizes.values()))})"
        + (f", {segments[0].name} .. {segments[-1].name}" if segments else ""),
        f"events     {events} in {runs} runs",
        "index      current"
        if current
        else "index      was behind: "
        + ", ".join(
            [*(f"{n} new bytes in {name}" for name, n in sorted(behind.items())), *(f"{g} removed" for g in gone)]
        )
        + "; now brought up to date",
        f"bad lines  {len(bad)}" + (" (skipped; every other line counts)" if bad else ""),
    ]
    text.extend(f"  {store.log_dir / b.segment}:{b.line}: {b.reason}" for b in bad[:MAX_LISTED_BAD_LINES])
    if len(bad) > MAX_LISTED_BAD_LINES:
        text.append(f"  ... and {len(bad) - MAX_LISTED_BAD_LINES} more (--json lists them all)")
    for name, tail in torn:
        text.append(
            f"torn tail  {store.log_dir / name}: last {tail} bytes have no newline (a write cut short, or in progress)"
        )
    if not bad and not torn:
        text.append("health     ok")
    return {
        "store": str(store.root),
        "segments": [
            {"name": name, "bytes": nbytes, "indexed_bytes": state.get(name, (0, 0, None, 0))[0],
             "lines": state.get(name, (0, 0, None, 0))[1]}
            for name, nbytes in sizes.items()
        ],
        "events": events,
        "runs": runs,
        "index_was_current": current,
        "index_behind_bytes": behind,
        "index_segments_removed": gone,
        "bad_lines_total": len(bad),
        "bad_lines": [
            {"file": str(store.log_dir / b.segment), "line": b.line, "offset": b.offset, "reason": b.reason}
            for b in bad
        ],
        "torn_tails": [{"file": str(store.log_dir / name), "bytes": tail} for name, tail in torn],
        "text": text,
    }  # fmt: skip


def _broken_index(store: Store, sizes: dict[str, int], error: str) -> dict[str, Any]:
    text = [
        f"store      {store.root}",
        f"segments   {len(sizes)} ({size(sum(sizes.values()))})",
        f"index      unusable: {error}",
    ]
    return {
        "store": str(store.root),
        "segments": [{"name": n, "bytes": s} for n, s in sizes.items()],
        "index_error": error,
        "bad_lines_total": 0,
        "bad_lines": [],
        "text": text,
    }
