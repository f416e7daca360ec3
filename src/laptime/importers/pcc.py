"""The work-order runner's SQLite database: ``runs`` and ``run_phase_metrics`` (seed 003).

Each ``runs`` row becomes a run span, each ``run_phase_metrics`` row a phase span under
it. The database is opened read-only. Incremental reads keep, in ``FileState.extra``,
the highest rowid read from each table and the rowids of rows that were still open
(a run not finished yet, a phase without an end): those are read again next time, and
everything else only when its rowid is new. Ids come from the rows' own ids, so a
re-read after a lost cache writes the same ids. The mapping is in ``docs/importers.md``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from laptime import events as ev
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    find_files,
    open_regular,
    run_start,
    source_event_id,
    timestamp,
)
from laptime.importers.records import MAX_INT, RecordError, decode_json, parse_ts_ns, short, type_name

IMPORTER = "pcc"
_NS = 1_000_000_000
_MAX_OPEN = 10_000  # open rows remembered between imports

PHASE_OUTCOMES: dict[str, ev.Outcome] = {
    "success": "completed",
    "approved": "completed",
    "skipped": "completed",
    "failed": "failed",
    "changes_requested": "failed",
}
_RUN_DONE: dict[str, ev.Outcome] = {
    "completed": "completed",
    "complete": "completed",
    "succeeded": "completed",
    "success": "completed",
    "merged": "completed",
    "approved": "completed",
    "done": "completed",
}
_RUN_OPEN = frozenset(
    {"queued", "pending", "created", "running", "started", "in_progress", "building", "testing", "reviewing", "merging"}
)


def run_outcome(status: str) -> ev.Outcome | None:
    """A ``runs.status`` as an outcome word; None while the run is still going."""
    word = status.strip().lower()
    if word in _RUN_DONE:
        return _RUN_DONE[word]
    if word in _RUN_OPEN:
        return None
    if any(k in word for k in ("fail", "error", "conflict", "crash")):
        return "failed"
    if any(k in word for k in ("block", "waiting", "needs_", "human", "you_review", "escalat")):
        return "blocked"
    return "stopped"  # canceled, stopped, aborted, superseded, and words we do not know


# Column readers, not records.get_*: SQLite columns are loosely typed. An empty string
# counts as absent, a number is read as text and numeric text as an integer, and a
# timestamp may also be epoch seconds or milliseconds.


def _ts(row: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    """A timestamp column: ISO text (SQLite's ``datetime('now')`` is UTC) or epoch s/ms."""
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if isinstance(value, bool):
        raise RecordError(f"`{key}`: expected a timestamp, got {type_name(value)}", key=key)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        if not 0 <= seconds < 253_402_300_800:
            raise RecordError(f"`{key}`: {value} is not a timestamp", key=key)
        return int(seconds * _NS)
    if isinstance(value, bytes):
        raise RecordError(f"`{key}`: expected a timestamp, got binary data", key=key)
    return parse_ts_ns(value, key)


def _text(row: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if isinstance(value, bool | bytes) or not isinstance(value, str | int | float):
        raise RecordError(f"`{key}`: expected text, got {type_name(value)}", key=key)
    return str(value)


def _integer(row: dict[str, Any], key: str) -> int | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
        raise RecordError(f"`{key}`: expected an integer, got {type_name(value)}", key=key)
    return value


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("metadata")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str | bytes):
        raise RecordError(f"`metadata`: expected JSON text, got {type_name(raw)}", key="metadata")
    try:
        value = decode_json(raw)
    except RecordError as exc:
        raise RecordError(f"`metadata`: {exc}", key="metadata") from None
    if not isinstance(value, dict):
        raise RecordError(f"`metadata`: expected a JSON object, got {type_name(value)}", key="metadata")
    return value


def phase_events(row: dict[str, Any], file: str) -> list[ev.Event]:
    """The span of one ``run_phase_metrics`` row (its end only once it has one)."""
    row_id = _text(row, "id", required=True)
    run_id = _text(row, "run_id", required=True)
    phase = _text(row, "phase", required=True)
    start_ns = _ts(row, "started_at", required=True)
    assert row_id is not None
    assert run_id is not None
    assert phase is not None
    assert start_ns is not None
    iteration = _integer(row, "iteration")
    end_ns = _ts(row, "ended_at")
    seconds = _integer(row, "duration_seconds")
    if end_ns is None and seconds is not None and row.get("outcome") is not None:
        if seconds < 0:
            raise RecordError("`duration_seconds`: cannot be negative", key="duration_seconds")
        end_ns = start_ns + seconds * _NS
    if end_ns is not None and end_ns < start_ns:
        raise RecordError("`ended_at` is before `started_at`", key="ended_at")
    source_outcome = _text(row, "outcome")
    metadata = _metadata(row)
    attrs: dict[str, Any] = {k: v for k, v in metadata.items() if k not in ("attempt", "iteration")}
    attrs["attempt"] = iteration if iteration is not None else 1
    if seconds is not None:
        attrs["duration_seconds"] = seconds
    span = source_event_id(start_ns, IMPORTER, run_id, "phase", row_id)
    src = ev.Source(IMPORTER, file, f"run_phase_metrics:{row_id}")
    out: list[ev.Event] = [
        ev.SpanStart(
            v=1,
            id=span,
            ts=timestamp(start_ns),
            run=run_id,
            parent=run_id,
            span=span,
            kind="phase",
            name=short(phase),
            attrs=attrs,
            source=src,
        )
    ]
    if end_ns is not None:
        word = (source_outcome or "").strip().lower()
        outcome = PHASE_OUTCOMES.get(word, "completed" if not word else "failed")
        end_attrs: dict[str, Any] = {"source_outcome": source_outcome} if source_outcome else {}
        if word == "skipped":
            end_attrs["skipped"] = True
        out.append(
            ev.SpanEnd(
                v=1,
                # keyed on the start, so a row whose end is rewritten never gets two ends
                id=source_event_id(start_ns, IMPORTER, run_id, "phase_end", row_id),
                ts=timestamp(end_ns),
                run=run_id,
                parent=run_id,
                span=span,
                outcome=outcome,
                attrs=end_attrs,
                source=src,
            )
        )
    return out


def run_events(row: dict[str, Any], file: str) -> tuple[list[ev.Event], bool]:
    """The run span of one ``runs`` row, and whether the run has ended."""
    run_id = _text(row, "id", required=True)
    assert run_id is not None
    start_ns = _ts(row, "started_at")
    if start_ns is None:
        start_ns = _ts(row, "created_at", required=True)
    assert start_ns is not None
    status = _text(row, "status") or ""
    finished_ns = _ts(row, "finished_at")
    attrs: dict[str, Any] = {"runner": IMPORTER}
    for key in ("project_id", "work_order_id", "provider", "failure_category"):
        text = _text(row, key)
        if text:
            attrs[key] = short(text, 500)
    for key in ("iteration", "estimated_minutes"):
        value = _integer(row, key)
        if value is not None:
            attrs[key] = value
    name = _text(row, "work_order_id") or run_id
    src = ev.Source(IMPORTER, file, f"runs:{run_id}")
    out: list[ev.Event] = [run_start(run_id, ts=timestamp(start_ns), name=short(name), attrs=attrs, source=src)]
    outcome = run_outcome(status) if status else ("completed" if finished_ns is not None else None)
    if outcome is None or finished_ns is None:
        return out, False
    finished_ns = max(finished_ns, start_ns)
    error = _text(row, "error")
    end_attrs: dict[str, Any] = {"source_outcome": status} if status else {}
    out.append(
        ev.SpanEnd(
            v=1,
            # keyed on the start: a run must never get two ends, even if finished_at changes
            id=source_event_id(start_ns, IMPORTER, run_id, "run_end"),
            ts=timestamp(finished_ns),
            run=run_id,
            span=run_id,
            outcome=outcome,
            error=short(error, 2000) if error else None,
            attrs=end_attrs,
            source=src,
        )
    )
    return out, True


def _text_factory(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class PccImporter(Importer):
    """A SQLite database with the ``runs`` and ``run_phase_metrics`` tables."""

    name: ClassVar[str] = "pcc"
    # Offsets mean nothing here; True only so that ``FileState.extra`` (rowid marks)
    # survives between imports of the same file.
    append_only: ClassVar[bool] = True

    def discover(self, path: Path) -> Iterator[Path]:
        return find_files(path, ("*.db", "*.sqlite", "*.sqlite3"), keep=_has_phase_table)

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return _has_phase_table(path)
        return any(True for _ in self.discover(path))

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        with open_regular(file) as handle:  # PermissionError and friends surface here, as for other formats
            head = handle.read(16)
        state.offset = 0
        size = file.stat().st_size
        ctx.record(0, size)
        if size == 0:
            ctx.warn(None, "empty file")
            return
        if head != b"SQLite format 3\x00":
            ctx.warn(None, "not a SQLite database")
            return
        try:
            db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            ctx.warn(None, f"cannot open the database: {exc}")
            return
        db.text_factory = _text_factory
        try:
            events = self._read_db(db, str(file), state.extra, ctx)
        except sqlite3.Error as exc:
            ctx.warn(None, f"cannot read the database: {exc}")
            return
        finally:
            db.close()
        yield from events

    def _read_db(self, db: sqlite3.Connection, file: str, extra: dict[str, Any], ctx: ImportContext) -> list[ev.Event]:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "run_phase_metrics" not in tables and "runs" not in tables:
            ctx.warn(None, "no `runs` or `run_phase_metrics` table: not a work-order runner database")
            return []
        out: list[ev.Event] = []
        new_extra: dict[str, Any] = {}
        if "runs" in tables:
            out += self._read_table(db=db, table="runs", file=file, extra=extra, new_extra=new_extra, ctx=ctx)
        if "run_phase_metrics" in tables:
            out += self._read_table(
                db=db, table="run_phase_metrics", file=file, extra=extra, new_extra=new_extra, ctx=ctx
            )
        extra.clear()
        extra.update(new_extra)
        return out

    def _read_table(
        self,
        *,
        db: sqlite3.Connection,
        table: str,
        file: str,
        extra: dict[str, Any],
        new_extra: dict[str, Any],
        ctx: ImportContext,
    ) -> list[ev.Event]:
        mark = int(extra.get(f"{table}.rowid", 0))
        open_rows = [int(r) for r in extra.get(f"{table}.open", [])][:_MAX_OPEN]
        marks = ",".join("?" * len(open_rows))
        where = f"rowid > ? OR rowid IN ({marks})" if open_rows else "rowid > ?"
        names = _column_names(db, table, ctx)
        picked = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
        cursor = db.execute(
            f"SELECT rowid AS _rowid{', ' if picked else ''}{picked} FROM {table} WHERE {where} ORDER BY rowid",
            [mark, *open_rows],
        )
        columns = ["_rowid", *names]
        out: list[ev.Event] = []
        still_open: list[int] = []
        top = mark
        for values in cursor:
            row = dict(zip(columns, values, strict=True))
            rowid = int(row["_rowid"])
            top = max(top, rowid)
            ctx.record()
            try:
                if table == "runs":
                    events, ended = run_events(row, file)
                else:
                    events = phase_events(row, file)
                    ended = len(events) > 1
            except RecordError as exc:
                ctx.warn(rowid, f"{table} row {row.get('id')!r}: {exc}")
                continue
            if not ended and len(still_open) < _MAX_OPEN:
                still_open.append(rowid)
            out += events
        new_extra[f"{table}.rowid"] = top
        new_extra[f"{table}.open"] = still_open
        return out


def _column_names(db: sqlite3.Connection, table: str, ctx: ImportContext) -> list[str]:
    """The table's column names, each once, as text.

    ``SELECT *`` would decode every column name as strict UTF-8 and raise
    UnicodeDecodeError for a corrupt schema. So the names are read raw, and a name that
    is not UTF-8 (no column laptime reads can have one) is reported and left out.
    """
    factory = db.text_factory
    db.text_factory = bytes
    try:
        raw = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.text_factory = factory
    names: list[str] = []
    for position, name in enumerate(raw, start=1):
        try:
            text = name.decode("utf-8") if isinstance(name, bytes) else str(name)
        except UnicodeDecodeError:
            shown = name.decode("utf-8", "backslashreplace")
            ctx.warn(None, f"table `{table}`: column {position} has a name that is not UTF-8 ({shown}); ignored")
            continue
        if text != "_rowid" and text not in names:
            names.append(text)
    return names


def _has_phase_table(path: Path) -> bool:
    try:
        with open_regular(path) as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                return False
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return False
    return "run_phase_metrics" in names
