"""The SQLite index: a derived, rebuildable view of the log.

One table per event type, with one column per field (``attrs`` and ``source`` kept as
JSON text), plus a ``runs`` table derived from them. Ingest is incremental: the index
remembers, per segment, how many bytes it has read, and reads only what is new. A
rebuilt index (``laptime refresh``) equals the incremental one, because both run the
same statements over the same lines in the same order.

The hot path decodes whole chunks with msgspec into per-type structs whose ``attrs`` stay
raw JSON, and hands tuples straight to SQLite: no per-field Python work per event.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import operator
import os
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self

import apsw
import msgspec

from laptime import definitions as d
from laptime import events as ev
from laptime.analysis.budgets import BUDGET_CACHE_SCHEMA
from laptime.analysis.cost import COST_CACHE_SCHEMA
from laptime.analysis.time_split import TIME_SPLIT_SCHEMA
from laptime.derived import DERIVED_SCHEMA, DERIVED_TEMP, derived_statements
from laptime.errors import StoreFaultError
from laptime.log import LineChunk, read_chunks, torn_tail
from laptime.store import Store, StoreReadOnlyError

INDEX_VERSION: Final = 14  # 3: derived run_llm, run_phases, run_facts; 4: the first span_end of a span wins;
# 5: store-wide aggregates (agg_*, rank_buckets) and indexes for a fast unfiltered `report summary`;
# 6: runs.first_us (a run without a start span starts at its first event), 1-hour cache writes
# and downtime in the derived tables (laptime.definitions); 7: integer-ms sums in agg_runs and agg_phases;
# 8: id uniqueness as an index ({table}_id), so a rebuild loads plain rows and sorts it once;
# 9: time_split_cache (laptime.analysis.time_split); 10: calls and tokens per run in run_facts,
# with the cached run costs of laptime.analysis.cost; 11: budget_count_cache (laptime.analysis.budgets);
# 12: run_cost_cache keeps only the cost (an index of 11 with its three more columns failed the
# summary's budget check), and the spans view joins a span's end by rowid (definitions.span_end_rowid_sql);
# 13: a run whose first or last time does not read as a time is left out of runs (it failed every ingest);
# 14: attrs that are not a JSON object are kept as none (readers take attrs for an object).
# An index of another version is emptied and built again from the log when it is opened. Any change
# to the schema or to the SQL that fills it needs a new version: tests/test_index_version.py says so.

# How long a writer waits for another process's write transaction (an ingest, a rebuild)
# before it gives up; a reader that waits this long answers from the committed index.
BUSY_TIMEOUT_MS: Final = 30_000

ts_us = d.ts_us_sql  # a local name for the definitions' SQL, used in this module's statements


_TABLE_OF: Final[dict[type[Any], str]] = {
    ev.SpanStart: "span_starts",
    ev.SpanEnd: "span_ends",
    ev.LlmUsage: "llm_calls",
    ev.Validation: "validations",
    ev.FileChange: "file_changes",
    ev.QueueSample: "queue_samples",
    ev.Milestone: "milestones",
    ev.Checkpoint: "checkpoints",
    ev.ScopeViolation: "scope_violations",
    ev.ErrorEvent: "errors",
    ev.Metric: "metrics",
}
_RAW_FIELDS: Final = frozenset({"attrs", "source", "end_attrs", "end_source"})


# What SQLite can hold, checked while decoding (in C): a 64-bit integer, and a timestamp
# of the canonical width (the index reads its parts by position). A line outside them is a
# bad line, named by its file and line, instead of an error for every command.
_INT64: Final = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
_TIMESTAMP: Final = Annotated[str, msgspec.Meta(min_length=27, max_length=27)]


def _checked(name: str, kind: Any) -> Any:
    """The ingest type of a field: ``kind`` with the limits above where they apply."""
    if name in ("ts", "end_ts"):
        return _TIMESTAMP
    if kind is int:
        return _INT64
    if kind == (int | None):
        return _INT64 | None
    return kind


def _ingest_struct(event_type: type[Any]) -> type[msgspec.Struct]:
    """A twin of an event struct whose ``attrs`` and ``source`` stay raw JSON bytes.

    Decoding into it validates every typed field but builds no dict per event.
    """
    fields: list[tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(event_type):
        if info.name in _RAW_FIELDS:
            empty = b"{}" if info.name in ("attrs", "end_attrs") else b""
            fields.append((info.name, msgspec.Raw, msgspec.Raw(empty)))
        elif info.name == "v":
            # Checked in C while decoding: a line of another schema version fails
            # its chunk's fast path and is reported on its own.
            fields.append(("v", Literal[1], msgspec.NODEFAULT))
        elif info.required:
            fields.append((info.name, _checked(info.name, info.type), msgspec.NODEFAULT))
        else:
            fields.append((info.name, _checked(info.name, info.type), info.default))
    config = event_type.__struct_config__
    return msgspec.defstruct(
        f"Ingest{event_type.__name__}",
        fields,
        tag_field="type",
        tag=config.tag,
        kw_only=True,
    )


_INGEST_TYPES: Final = {event_type: _ingest_struct(event_type) for event_type in _TABLE_OF}
_TABLE_OF_INGEST: Final = {_INGEST_TYPES[t]: table for t, table in _TABLE_OF.items()}
_COLUMNS: Final = {table: msgspec.structs.fields(_INGEST_TYPES[t]) for t, table in _TABLE_OF.items()}
# A compacted ``span`` line is indexed as the span_start and span_end it replaces.
_SPAN_INGEST: Final = _ingest_struct(ev.Span)
_SPAN_START_FIELDS: Final = tuple(info.name for info in _COLUMNS["span_starts"])
_SPAN_END_FIELDS: Final = tuple(
    {"id": "end_id", "ts": "end_ts", "attrs": "end_attrs", "source": "end_source"}.get(info.name, info.name)
    for info in _COLUMNS["span_ends"]
)


def _union() -> Any:
    members = (*_INGEST_TYPES.values(), _SPAN_INGEST)
    union: Any = members[0]
    for member in members[1:]:
        union = union | member
    return union


_UNION: Final = _union()
_decoder: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(_UNION)


def _create_table_sql(table: str) -> str:
    # Columns carry no declared type on purpose: with no type affinity SQLite stores
    # each value as bound, which makes inserts about 40% faster. msgspec has already
    # validated every value's type while decoding.
    # Uniqueness of ids is a separate index (``{table}_id``), not a table constraint, so
    # that a rebuild can load plain rows and sort the index once afterwards.
    cols = ", ".join(f'"{info.name}"' for info in _COLUMNS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} (seg, {cols})"


_LLM_TOTAL: Final = "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"


def _values_sql(table: str) -> str:
    """The VALUES of one row, numbered in the order of the ingest struct's fields. The raw
    JSON fields are stored as text, none when empty; ``attrs`` only when it is an object
    (a line written by hand or by another writer may hold null, a string or a list there,
    which every reader takes for a dict: it is read as no attrs)."""
    values = []
    for number, info in enumerate(_COLUMNS[table], start=1):
        if info.name in ("attrs", "end_attrs"):
            values.append(f"CASE WHEN unicode(?{number}) = 123 THEN CAST(?{number} AS TEXT) END")  # 123: '{'
        elif info.name in _RAW_FIELDS:
            values.append(f"NULLIF(CAST(?{number} AS TEXT), '')")
        else:
            values.append(f"?{number}")
    return ", ".join(values)


def _insert_sql(table: str, seg: int) -> str:
    """An event seen twice (same id) is indexed once. For llm usage a copy not marked
    ``attrs.sidechain`` wins over one that is (a Claude Code side question replays
    parent responses in a sidechain file, with other counts), then the copy with the
    largest token total (a streamed response is logged again with its final counts);
    for a span end the latest; on a tie the first stays. These rules are
    order-independent, so a rebuilt index equals an incremental one."""
    names = ", ".join(f'"{info.name}"' for info in _COLUMNS[table])
    values = _values_sql(table)
    updates = ", ".join(f'"{info.name}" = excluded."{info.name}"' for info in _COLUMNS[table] if info.name != "id")
    if table == "span_ends":
        # A span end seen again with a later time wins (an importer re-closes a span
        # whose source grew, e.g. a live Claude Code session); on a tie the first stays.
        return (
            f"INSERT INTO {table} (seg, {names}) VALUES ({seg}, {values}) "
            f"ON CONFLICT(id) DO UPDATE SET seg = excluded.seg, {updates} WHERE excluded.ts > {table}.ts"
        )
    if table != "llm_calls":
        return f"INSERT OR IGNORE INTO {table} (seg, {names}) VALUES ({seg}, {values})"
    excluded_total = " + ".join(f"excluded.{c.strip()}" for c in _LLM_TOTAL.split("+"))
    stored_total = f"{table}.{_LLM_TOTAL.replace('+', f'+ {table}.')}"
    main = "(COALESCE({} ->> '$.sidechain', 0) = 0)"
    return (
        f"INSERT INTO {table} (seg, {names}) VALUES ({seg}, {values}) "
        f"ON CONFLICT(id) DO UPDATE SET seg = excluded.seg, {updates} "
        f"WHERE ({main.format('excluded.attrs')}, {excluded_total}) > ({main.format(f'{table}.attrs')}, {stored_total})"
    )


def _plain_insert_sql(table: str, seg: int) -> str:
    """A bulk load's insert: no unique index yet (duplicates are settled once, afterwards)."""
    names = ", ".join(f'"{info.name}"' for info in _COLUMNS[table])
    return f"INSERT INTO {table} (seg, {names}) VALUES ({seg}, {_values_sql(table)})"


def _dedupe_sql(table: str) -> str:
    """Keep, of each id loaded more than once, the row ``_insert_sql`` keeps when the copies
    arrive one by one in log order (rowid order here): the same winner either way."""
    if table == "span_ends":
        order = "ts DESC, rowid"
    elif table == "llm_calls":
        order = f"(COALESCE(attrs ->> '$.sidechain', 0) = 0) DESC, ({_LLM_TOTAL}) DESC, rowid"
    else:
        order = "rowid"
    return (
        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
        f'ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY {order}) AS n FROM {table}) WHERE n > 1)'
    )


_OPEN_LOCK: Final = "index.lock"


class _OpenLocks:
    """``index.lock`` of each store, read-locked (POSIX ``lockf``) while an index is open.

    POSIX record locks, not ``flock``: turning a read lock into a write lock either
    succeeds or leaves the read lock as it was (``flock`` drops it first, so a failed
    attempt would leave the index open unlocked, and another rebuild could replace the
    file under it). They belong to the process, and closing any descriptor of the file
    drops them all, so each process opens the file once and counts its open indexes: the
    write lock is tried only when this process has one index open.
    """

    _held: ClassVar[dict[Path, tuple[int, int, int]]] = {}  # lock file -> (fd, open indexes, pid)
    _mutex: ClassVar = threading.Lock()

    @classmethod
    def acquire(cls, lock: Path, index_path: Path) -> int:
        with cls._mutex:
            held = cls._held.get(lock)
            if held is not None and held[2] == os.getpid():
                cls._held[lock] = (held[0], held[1] + 1, held[2])
                return held[0]
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                # Polled: only a rebuild putting its file in place holds it exclusively, briefly.
                try:
                    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EACCES, errno.EAGAIN) or time.monotonic() >= deadline:
                        os.close(fd)
                        if exc.errno not in (errno.EACCES, errno.EAGAIN):
                            raise
                        raise IndexOpenError(_busy_message(index_path)) from None
                time.sleep(0.005)
            cls._held[lock] = (fd, 1, os.getpid())
            return fd

    @classmethod
    def release(cls, lock: Path) -> None:
        with cls._mutex:
            held = cls._held.get(lock)
            if held is None:
                return
            if held[1] > 1:
                cls._held[lock] = (held[0], held[1] - 1, held[2])
                return
            del cls._held[lock]
            if held[2] == os.getpid():
                os.close(held[0])  # drops the lock

    @classmethod
    def exclusive(cls, lock: Path) -> bool:
        """Take the write lock if no other index has the store's index open (without waiting)."""
        with cls._mutex:
            held = cls._held.get(lock)
            if held is None or held[1] != 1 or held[2] != os.getpid():
                return False
            try:
                fcntl.lockf(held[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            return True

    @classmethod
    def shared(cls, lock: Path) -> None:
        """Back to the read lock (in place: never unlocked in between)."""
        with cls._mutex:
            held = cls._held.get(lock)
            if held is not None:
                fcntl.lockf(held[0], fcntl.LOCK_SH)


_BUILDING: Final = ".rebuild-"  # index.sqlite.rebuild-<pid>: a rebuild's file, until it is in place


# Page cache of an open index (SQLite's default is 2 MB). 4 MB, not more: reports read
# each page about once per query, and the OS's file cache holds the rest (`report summary`
# at 100k runs was no slower with 4 MB than with 16, and used 12 MB less), while a cache
# grows with the index, and peak memory must stay flat as the input grows. Imports pass
# their own (importers.base.IMPORT_PAGE_CACHE_KIB): their inserts land all over the id
# index, where each doubling of the cache saves a few percent (64 -> 16 MB cost 9% on an
# update of 100k events into a 1M-event index).
_PAGE_CACHE_KIB: Final = 4 * 1024


def _open_writable(path: Path, cache_kib: int = _PAGE_CACHE_KIB) -> apsw.Connection:
    db = apsw.Connection(str(path))
    db.set_busy_timeout(BUSY_TIMEOUT_MS)
    db.execute("PRAGMA journal_mode=WAL")  # a no-op, taking no lock, once it is WAL
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA cache_size=-{cache_kib}")
    return db


def _open_for_bulk(path: Path) -> apsw.Connection:
    """A new file that no one else reads until it is finished: no syncs (a crash loses only
    this file), held exclusively, its journal in memory. (Not none at all: a statement that
    fails, a unique index meeting a repeated id, must still be undone. The journal keeps
    only pages that existed before, which a new file has almost none of.)"""
    db = apsw.Connection(str(path))
    db.execute("PRAGMA journal_mode=MEMORY")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    return db


def _unlink_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def _remove_abandoned_builds(final: Path) -> None:
    """Files of rebuilds whose process is gone (killed, or the machine went down)."""
    for path in final.parent.glob(f"{final.name}{_BUILDING}*"):
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue  # its -wal, -shm or -journal: removed with it
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _unlink_database(path)
        except PermissionError:
            pass  # alive, another user's


# Page cache of a rebuild in a file of its own: pages that do not fit are written to the
# new file (no journal, no WAL) and read back from the OS's cache, so a bigger cache buys
# nothing (1M events: 16 MiB within 5% of 1 GiB) and memory stays flat as the log grows.
_ASIDE_CACHE_KIB: Final = 16 * 1024


def _rebuild_cache_kib(store: Store) -> int:
    """Page cache for a rebuild inside the live index, in KiB: the whole new index stays in
    memory until it is committed (a spill would go to the WAL, and be read back from it),
    about the size of the log, at least the usual 64 MB and at most 1 GiB."""
    try:
        log_bytes = sum(p.stat().st_size for p in store.segments())
    except OSError:
        log_bytes = 0
    return max(65_536, min(1_048_576, log_bytes // 1024))


_SCHEMA: Final = [
    *(_create_table_sql(table) for table in _TABLE_OF.values()),
    *(f'CREATE UNIQUE INDEX IF NOT EXISTS {table}_id ON {table}("id")' for table in _TABLE_OF.values()),
    *(f"CREATE INDEX IF NOT EXISTS {table}_run ON {table}(run)" for table in _TABLE_OF.values()),
    "CREATE INDEX IF NOT EXISTS span_ends_span ON span_ends(span)",
    """CREATE TABLE IF NOT EXISTS segments (
        seg INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, offset INTEGER NOT NULL DEFAULT 0,
        lines INTEGER NOT NULL DEFAULT 0, inode INTEGER, size INTEGER NOT NULL DEFAULT 0,
        crc INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS bad_lines (
        seg INTEGER NOT NULL, line INTEGER NOT NULL, offset INTEGER NOT NULL, reason TEXT NOT NULL,
        PRIMARY KEY (seg, line))""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, name TEXT, runner TEXT, started_us INTEGER, ended_us INTEGER,
        first_us INTEGER NOT NULL, last_us INTEGER NOT NULL, outcome TEXT, error TEXT, attrs TEXT,
        end_attrs TEXT)""",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs(started_us)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    f"""CREATE VIEW IF NOT EXISTS spans AS
        SELECT s.span AS span_id, s.run AS run_id, s.parent AS parent_id, s.kind, s.name,
               s.ts AS started_at, e.ts AS ended_at,
               {ts_us("s.ts")} AS start_us, {ts_us("e.ts")} AS end_us,
               COALESCE(e.outcome, 'running') AS outcome, e.error, s.attrs, e.attrs AS end_attrs, s.source
        FROM span_starts s LEFT JOIN span_ends e ON e.rowid = {d.span_end_rowid_sql("s.span")}""",
    # Seed 003's table, as a view over the log: one row per phase span, numbered by
    # attempt within its run.
    """CREATE VIEW IF NOT EXISTS run_phase_metrics AS
        SELECT span_id AS id, run_id, name AS phase,
               ROW_NUMBER() OVER (PARTITION BY run_id, name ORDER BY start_us, span_id) AS iteration,
               started_at, ended_at,
               CASE WHEN end_us IS NULL THEN NULL ELSE (end_us - start_us) / 1000000 END AS duration_seconds,
               outcome, attrs AS metadata
        FROM spans WHERE kind = 'phase'""",
    *DERIVED_SCHEMA,
    *COST_CACHE_SCHEMA,
    *TIME_SPLIT_SCHEMA,
    *BUDGET_CACHE_SCHEMA,
]

_TABLES_WITH_TIME: Final = tuple(_TABLE_OF.values())

# Log bytes decoded at a time. A chunk's decoded events and their rows are the peak of an
# ingest's memory, so the chunk is small: with 8 MiB a `laptime usage` of a 49 MB Codex
# tree (170k events) peaked at 73 MB, with 1 MiB at 56 MB (ccusage: 57 MB), for a 1M-event
# rebuild 1-4% slower (bench/README.md, "The ingest chunk").
_INGEST_CHUNK_BYTES: Final = 1 << 20


class IndexOpenError(StoreFaultError):
    """The index cannot be opened or updated; ``laptime refresh`` rebuilds it."""


@dataclass(frozen=True)
class BadLine:
    """A log line that could not be read, and why."""

    segment: str
    line: int
    offset: int
    reason: str


@dataclass
class IngestStats:
    """What one ingest pass read."""

    segments: int = 0
    bytes: int = 0
    events: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    #: The update gave up waiting for another process's write and read nothing.
    busy: bool = False
    #: Segments (or the log folder) that could not be read: (path, reason). Skipped;
    #: what the index already held for them is kept.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: A read-only store whose log holds more than its index: nothing was read or written.
    read_only_behind: bool = False


class Index:
    """An open ``index.sqlite``. Use as a context manager, or call ``close()``."""

    def __init__(self, store: Store, *, create: bool = True, page_cache_kib: int | None = None) -> None:
        self.store = store
        #: SQLite's page cache of this connection; given, also that of a rebuild aside
        #: (an import keeps its memory flat with a small one, see importers.base).
        self._page_cache_kib = page_cache_kib or _PAGE_CACHE_KIB
        self._aside_cache_kib = page_cache_kib or _ASIDE_CACHE_KIB
        #: Whether an incremental pass may grow the page cache to what it reads (see
        #: ``_incremental_cache_kib``): not when the caller chose the cache's size.
        self._cache_follows_input = page_cache_kib is None
        path = store.index_path
        if not create and not path.exists():
            msg = f"no index at {path}; run `laptime refresh` to build it"
            raise IndexOpenError(msg)
        #: Where an unreadable index was moved before a new one was built, if it was.
        self.moved_aside: Path | None = None
        #: Opened read-only (a read-only store): answers from what is committed, writes nothing.
        self.read_only = False
        #: A rebuild's load: plain inserts, indexes built afterwards.
        self._bulk = False
        #: ``index.lock``, held shared while this index is open (see ``_take_open_lock``).
        self._lock_fd: int | None = None
        try:
            self._connect(path)
        except apsw.BusyError:
            raise IndexOpenError(_busy_message(path)) from None
        except (apsw.NotADBError, apsw.CorruptError):
            # The index is derived from the log: an unreadable one is set aside (not
            # deleted, for a post-mortem) and built again from the log.
            self.moved_aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            try:
                path.replace(self.moved_aside)
                for suffix in ("-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
                self._connect(path)
            except (apsw.Error, OSError) as exc:
                if store.disk_full(exc):
                    raise store.full_disk_error("opening the index") from None
                msg = f"cannot open the index {path}: {exc}; delete it and run `laptime refresh` to rebuild it"
                raise IndexOpenError(msg) from None
        except (apsw.Error, OSError) as exc:
            if store.disk_full(exc):  # not the index's fault: deleting it would not help
                raise store.full_disk_error("opening the index") from None
            msg = f"cannot open the index {path}: {exc}; delete it and run `laptime refresh` to rebuild it"
            raise IndexOpenError(msg) from None

    def _connect(self, path: Path) -> None:
        if path.exists() and self.store.read_only_reason(path) is not None:
            self._connect_read_only(path)
            return
        if not path.exists() and (reason := self.store.read_only_reason()) is not None:
            msg = (
                f"the store {self.store.root} is read-only ({reason}) and has no index {path} to answer from; "
                "make it writable and run `laptime refresh`"
            )
            raise StoreReadOnlyError(msg)
        self.store.root.mkdir(parents=True, exist_ok=True)
        self._take_open_lock()
        self.db = _open_writable(path, self._page_cache_kib)
        self._ensure_schema()

    def _take_open_lock(self) -> None:
        """Hold ``index.lock`` shared while the index is open. A rebuild that can take it
        exclusively knows no other laptime process has the index open, and may replace
        the file (``_put_in_place``): nobody holds the old file's WAL."""
        if self._lock_fd is None:
            self._lock_fd = _OpenLocks.acquire(self.store.root / _OPEN_LOCK, self.store.index_path)

    def _connect_read_only(self, path: Path) -> None:
        """A read-only store: the index as last committed, opened without writing anything."""
        self.read_only = True
        self.db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        self.db.set_busy_timeout(BUSY_TIMEOUT_MS)
        try:
            version = self._version()
        except apsw.Error:
            # A WAL index needs its -shm file, which a read-only folder cannot hold. No
            # one can write this store, so it is read as an immutable file.
            self.db.close()
            uri = "file:" + urllib.parse.quote(str(path)) + "?immutable=1"
            self.db = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
            version = self._version()
        if version != str(INDEX_VERSION):
            self.db.close()
            msg = (
                f"the store {self.store.root} is read-only and its index {path} is of another laptime version; "
                "make the store writable and run `laptime refresh`"
            )
            raise StoreReadOnlyError(msg)

    def _refuse_read_only(self, doing: str) -> None:
        self.store.check_writable(doing, self.store.index_path)
        msg = f"the store {self.store.root} is read-only; {doing} needs to write it, nothing was changed"
        raise StoreReadOnlyError(msg)  # writable again since it was opened: open it anew

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

        A deferred transaction that reads and then writes cannot wait for the lock: in
        WAL mode SQLite does not call the busy handler for a connection holding a read
        snapshot (another writer may commit meanwhile, which makes the snapshot stale),
        so two updaters at once failed with "database is locked". Taken up front, the
        lock is waited for (the busy timeout), and two updaters serialise. Nested in a
        transaction already open, this is a savepoint of it.
        """
        if self.db.in_transaction:
            with self.db:
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:  # (SQLite may have rolled it back itself, e.g. on a full disk)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _version(self) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
        except apsw.SQLError:  # no meta table: a new (or emptied) index
            return None
        return str(row[0]) if row else None

    def _ensure_schema(self) -> None:
        # A current index is opened without writing, or locking, anything: readers open
        # it while a writer holds it.
        if self._version() == str(INDEX_VERSION):
            return
        with self._writing():
            version = self._version()  # again, under the lock: another process may have built it
            if version == str(INDEX_VERSION):
                return
            if version is not None:
                self._drop_all()
            self._create_schema()

    def _create_schema(self) -> None:
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('index_version', ?)", (str(INDEX_VERSION),))

    def _drop_all(self) -> None:
        with self.db:
            rows = self.db.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            for kind, name in rows:
                self.db.execute(f'DROP {"VIEW" if kind == "view" else "TABLE"} IF EXISTS "{name}"')

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            _OpenLocks.release(self.store.root / _OPEN_LOCK)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading helpers ----------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql, params))

    def query_dicts(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(sql, params)
        try:
            names = [d[0] for d in cursor.get_description()]
        except apsw.ExecutionCompleteError:
            return []  # no row at all
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> apsw.Cursor:
        """Run one statement; its rows, if any, come lazily. For analysis that builds a temp
        table of a selection or streams many rows; other modules never reach for ``db``."""
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row (a temp table's contents, a cache's rows)."""
        self.db.executemany(sql, rows)

    def run_events(self, run_id: str) -> list[ev.Event]:
        """Every indexed event of one run, as the events the log holds (a compacted span
        as its span_start and span_end), ordered by time then id: what an export that must
        keep everything (OTLP) reads."""
        found: list[tuple[str, str, ev.Event]] = []
        for event_type, table in _TABLE_OF.items():
            names = [info.name for info in _COLUMNS[table]]
            columns = ", ".join(f'"{name}"' for name in names)
            tag = event_type.__struct_config__.tag
            for row in self.db.execute(f"SELECT {columns} FROM {table} WHERE run = ?", (run_id,)):
                fields: dict[str, Any] = {"type": tag}
                for name, value in zip(names, row, strict=True):
                    if value is None:
                        continue
                    fields[name] = msgspec.json.decode(value) if name in _RAW_FIELDS else value
                # strict=False: SQLite keeps a bool as 0 or 1
                event = msgspec.convert(fields, ev.Event, strict=False)
                found.append((event.ts, event.id, event))
        found.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in found]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read snapshot (WAL) for a whole command: what it prints is one state of the
        index, even while another process commits meanwhile. What the cost engine's caches
        wrote inside it is committed at the end; an error leaves it to ``close``."""
        self.db.execute("BEGIN")
        yield
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def transaction(self) -> apsw.Connection:
        """``with index.transaction():`` one transaction (a consistent snapshot to read, or writes
        that land together)."""
        return self.db

    def bad_lines(self) -> list[BadLine]:
        return [
            BadLine(name, line, offset, reason)
            for name, line, offset, reason in self.db.execute(
                "SELECT s.name, b.line, b.offset, b.reason FROM bad_lines b JOIN segments s USING (seg) "
                "ORDER BY s.name, b.line"
            )
        ]

    def segment_state(self) -> dict[str, tuple[int, int, int | None, int]]:
        """name -> (bytes indexed, lines indexed, inode, size at last ingest)."""
        return {
            name: (offset, lines, inode, size)
            for name, offset, lines, inode, size in self.db.execute(
                "SELECT name, offset, lines, inode, size FROM segments"
            )
        }

    def _same_content(self, name: str, path: Path, offset: int) -> bool:
        """Whether ``path`` still begins with the ``offset`` bytes indexed for segment ``name``
        (their CRC-32): a segment with a new inode number but the same bytes (a copied or
        restored store) is kept, not ingested again."""
        row = self.db.execute("SELECT crc FROM segments WHERE name = ?", (name,)).fetchone()
        if row is None or offset == 0:
            return offset == 0
        try:
            return _prefix_crc(path, offset) == int(row[0])
        except OSError:
            return False

    # -- ingest ----------------------------------------------------------------------------

    def update(self, *, before_refresh: Sequence[str] = (), wait: bool = True) -> IngestStats:
        """Read whatever the log gained since the last update.

        ``before_refresh`` are statements run after the new rows are in and before the
        derived tables are refreshed (``rebuild`` recreates its indexes there).

        An index that is current is left alone, without taking the write lock. Otherwise
        the update waits for the lock (the busy timeout) while another process ingests or
        rebuilds; with ``wait=False`` (readers), an update that still cannot get it gives
        up and leaves the committed index as it is: ``stats.busy`` says so.
        """
        stats = IngestStats()
        stats.unreadable = [(str(f.path), f.reason) for f in self.store.segment_faults()]
        # A segment that cannot be read now (permissions, a folder in its place) is kept
        # as indexed, not forgotten: it is still in the log, only out of reach for now.
        if any(Path(p) == self.store.log_dir for p, _ in stats.unreadable):
            return stats  # the log folder itself is out of reach: keep the index as it is
        faulted = {Path(p).name for p, _ in stats.unreadable}
        present = {p.name: p for p in self.store.segments() if p.name not in faulted}
        if not before_refresh and self._is_current(present, faulted):
            return stats
        if self.read_only:
            if wait:
                self._refuse_read_only("updating the index")
            stats.read_only_behind = True  # readers answer from what is committed
            return stats
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived structs; the cycle collector only slows this down
        cache_grown = False
        try:
            seen: tuple[dict[str, tuple[int, int, int | None, int]], set[str]] | None = None
            if not self._bulk and not self.db.in_transaction:
                known = self.segment_state()
                stale = self._stale_segments(known, present, faulted)
                seen = (known, stale)
                # More of the log is to be read than the index keeps (a first import, a
                # store restored from another copy): one bulk rebuild, with plain inserts
                # and indexes sorted once, is faster than ingesting with every index live.
                if _mostly_new(stale, known, _bytes_to_read(stale, known, present)) and self._alone():
                    return self._rebuild_aside()
            # One transaction, and one refresh of the derived run tables, for all the
            # segments that grew: an import spread over many days touches many segments.
            with self._writing():
                # Read under the write lock: another updater may have ingested meanwhile.
                # The stale segments found above stand while the index says the same (their
                # check may read whole files: CRCs of segments with new inode numbers).
                known = self.segment_state()
                if seen is not None and seen[0] == known:
                    stale = seen[1]
                else:
                    stale = self._stale_segments(known, present, faulted)
                read = _bytes_to_read(stale, known, present)  # (one stat per segment, once)
                if not self._bulk and _mostly_new(stale, known, read):
                    return self._rebuild_in_place()  # (as above, with others reading the index)
                if not self._bulk and self._cache_follows_input:
                    grown = _incremental_cache_kib(read)
                    if grown > self._page_cache_kib:
                        self.db.execute(f"PRAGMA cache_size=-{grown}")
                        cache_grown = True
                for name in sorted(stale):
                    self._forget_segment(name)  # removed by `clean` or by hand, replaced, or truncated
                self._touched: set[str] = set()
                for name, path in present.items():
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    offset, lines, inode, _ = known.get(name, (0, 0, None, 0))
                    if name in stale:
                        offset, lines = 0, 0
                    elif name in known and st.st_ino != inode:
                        # The same bytes under a new inode number (a copied or restored store).
                        self.db.execute("UPDATE segments SET inode = ? WHERE name = ?", (st.st_ino, name))
                    if st.st_size == offset:
                        continue
                    try:
                        self._ingest_segment(path, offset, lines, st.st_ino, stats)
                    except OSError as exc:
                        # Made unreadable since the check above: its savepoint is rolled back.
                        stats.unreadable.append((str(path), f"cannot be read: {exc.strerror or exc}"))
                        continue
                    stats.segments += 1
                for statement in before_refresh:
                    self._create_index_after_load(statement)
                if stats.segments:
                    self._refresh_runs(self._touched)
        except apsw.FullError:
            if self.db.in_transaction:
                raise  # nested in a rebuild, which says so itself
            raise self.store.full_disk_error("updating the index") from None  # rolled back
        except apsw.BusyError:
            if self.db.in_transaction:
                raise  # nested in a rebuild, which says so itself
            if wait:
                raise IndexOpenError(_busy_message(self.store.index_path)) from None
            stats.busy = True  # rolled back: the committed index stays as it was
        finally:
            if gc_was_enabled:
                gc.enable()
            if cache_grown:
                # Back to the usual size: SQLite frees the pages above it now, so a
                # long-lived reader (the server) does not keep an ingest's memory.
                self.db.execute(f"PRAGMA cache_size=-{self._page_cache_kib}")
        return stats

    def _stale_segments(
        self, known: dict[str, tuple[int, int, int | None, int]], present: dict[str, Path], faulted: set[str]
    ) -> set[str]:
        """Indexed segments whose rows may no longer be in the log: gone, truncated, or with
        other bytes than were indexed."""
        stale = set(known) - set(present) - faulted
        for name, path in present.items():
            if name not in known:
                continue
            offset, _, inode, _ = known[name]
            try:
                st = path.stat()
            except OSError:
                continue  # as update() does
            if st.st_size < offset or (st.st_ino != inode and not self._same_content(name, path, offset)):
                stale.add(name)
        return stale

    def _is_current(self, present: dict[str, Path], faulted: set[str]) -> bool:
        """Whether the index holds every segment as it is now (a read: no lock taken)."""
        known = self.segment_state()
        if set(known) - set(present) - faulted:
            return False
        for name, path in present.items():
            try:
                st = path.stat()
            except OSError:
                continue  # as update() does
            offset, _, inode, _ = known.get(name, (0, 0, None, 0))
            if name not in known or st.st_ino != inode or st.st_size < offset:
                return False
            # Past ``offset`` only an unfinished line (a writer killed mid-line, or still
            # writing) is nothing to ingest; else every reader would take the lock for it.
            try:
                if st.st_size > offset and torn_tail(path, offset) != st.st_size - offset:
                    return False
            except OSError:
                return False  # update() reads it, and says so if it cannot
        return True

    def rebuild(self) -> IngestStats:
        """Drop everything and index the whole log again.

        The event tables' secondary indexes are dropped for the bulk load and built
        again before the derived tables are refreshed: one sort per index instead of a
        B-tree insert per row, which makes a rebuild much faster. ``UNIQUE(id)`` stays,
        since it de-duplicates repeated events while they are read.

        All in one write transaction: readers (WAL) keep answering from the old index
        until the new one is committed, never from a half-built one, and other updaters
        wait for the lock instead of failing.
        """
        if self.read_only:
            self._refuse_read_only("`laptime refresh`")
        try:
            return self._rebuild()
        except apsw.FullError:
            # Rolled back: the old index stands, readers keep answering from it.
            raise self.store.full_disk_error("`laptime refresh`") from None
        except apsw.BusyError:
            raise IndexOpenError(_busy_message(self.store.index_path)) from None

    def _rebuild(self) -> IngestStats:
        if not self.db.in_transaction and self._alone():
            return self._rebuild_aside()
        return self._rebuild_in_place()

    def _rebuild_in_place(self) -> IngestStats:
        """Another process has the index open (or this is part of a transaction): rebuild
        inside one write transaction, which its readers never see half done."""
        with self._writing():
            self._drop_all()
            self._create_schema()
            return self._bulk_load()

    def _bulk_load(self, cache_kib: int | None = None) -> IngestStats:
        """Load the whole log into an empty index: plain inserts, then the indexes. The page
        cache is ``cache_kib`` (default: ``_rebuild_cache_kib``) meanwhile."""
        event_tables_sql = ",".join(f"'{t}'" for t in _TABLE_OF.values())
        secondary = [
            (name, sql)
            for name, sql in self.db.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({event_tables_sql})"
            )
        ]
        for name, _ in secondary:
            self.db.execute(f'DROP INDEX "{name}"')
        cache = self.db.execute("PRAGMA cache_size").fetchall()[0][0]
        self.db.execute(f"PRAGMA cache_size=-{cache_kib or _rebuild_cache_kib(self.store)}")
        self._bulk = True
        try:
            return self.update(before_refresh=[sql for _, sql in secondary])
        finally:
            self._bulk = False
            self.db.execute(f"PRAGMA cache_size={cache}")

    def _alone(self) -> bool:
        """Whether no other open index, in this process or another, has the index open now."""
        lock = self.store.root / _OPEN_LOCK
        if self._lock_fd is None or not _OpenLocks.exclusive(lock):
            return False
        _OpenLocks.shared(lock)  # others may open the old index while the new one is built
        return True

    def _rebuild_aside(self) -> IngestStats:
        """Build the new index in a file of its own, without syncs (a crash leaves only that
        file, removed by the next rebuild; see ``_open_for_bulk``), then put it in place. About 15% less work than a
        rebuild inside the live index, whose commit writes every page twice (WAL, then the
        checkpoint). Readers answer from the old index until then."""
        final = self.store.index_path
        _remove_abandoned_builds(final)
        building = final.with_name(f"{final.name}{_BUILDING}{os.getpid()}")
        _unlink_database(building)
        live = self.db
        try:
            self.db = _open_for_bulk(building)
            try:
                self._create_schema()
                stats = self._bulk_load(self._aside_cache_kib)
                self.db.execute("PRAGMA locking_mode=NORMAL")
                self.db.execute("PRAGMA journal_mode=WAL")  # as every index is, once in place
            finally:
                self.db.close()
        except BaseException:
            _unlink_database(building)
            raise
        finally:
            self.db = live
        self._put_in_place(building)
        return stats

    def _put_in_place(self, building: Path) -> None:
        """Make the finished file the index: renamed over it when no other laptime process
        has the index open (then no one holds its WAL, which would otherwise be read as the
        new file's), else copied into it in one transaction (SQLite's backup)."""
        final = self.store.index_path
        lock = self.store.root / _OPEN_LOCK
        alone = _OpenLocks.exclusive(lock)
        try:
            if alone:
                try:
                    self.db.close()  # the last connection: SQLite checkpoints and removes the WAL
                    for suffix in ("-wal", "-shm", "-journal"):
                        final.with_name(final.name + suffix).unlink(missing_ok=True)  # left by a crash
                    building.replace(final)
                finally:
                    # The new index (or the old one, if not replaced).
                    self.db = _open_writable(final, self._page_cache_kib)
                    _OpenLocks.shared(lock)
                return
            source = apsw.Connection(str(building), flags=apsw.SQLITE_OPEN_READONLY)
            try:
                self._copy_from(source)
            finally:
                source.close()
        finally:
            _unlink_database(building)

    def _copy_from(self, source: apsw.Connection) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with self.db.backup("main", source, "main") as backup:
                    backup.step()  # every page, in one step: one transaction of the live index
            except apsw.BusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
            else:
                return

    def _create_index_after_load(self, statement: str) -> None:
        """Build an index after a bulk load. A unique id index that finds an event seen
        twice first keeps the copy an incremental ingest keeps (``_insert_sql``)."""
        try:
            self.db.execute(statement)
        except apsw.ConstraintError:
            table = statement.split(" ON ", 1)[1].split("(", 1)[0].strip()
            self.db.execute(_dedupe_sql(table))
            self.db.execute(statement)

    def _segment_id(self, name: str, inode: int) -> int:
        row = self.db.execute("SELECT seg FROM segments WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        self.db.execute("INSERT INTO segments(name, offset, lines, inode, size) VALUES (?, 0, 0, ?, 0)", (name, inode))
        return int(self.db.last_insert_rowid())

    def _forget_segment(self, name: str) -> None:
        with self.db:
            row = self.db.execute("SELECT seg FROM segments WHERE name = ?", (name,)).fetchone()
            if row is None:
                return
            seg = row[0]
            touched = self._runs_in_segment(seg)
            # The paths of the file changes about to go: their agg_files rows are recomputed.
            for statement in DERIVED_TEMP:
                self.db.execute(statement)
            self.db.execute(
                "INSERT OR IGNORE INTO temp.touched_paths SELECT path FROM file_changes WHERE seg = ?", (seg,)
            )
            for table in _TABLE_OF.values():
                self.db.execute(f"DELETE FROM {table} WHERE seg = ?", (seg,))
            self.db.execute("DELETE FROM bad_lines WHERE seg = ?", (seg,))
            self.db.execute("DELETE FROM segments WHERE seg = ?", (seg,))
            self._refresh_runs(touched)

    def _runs_in_segment(self, seg: int) -> set[str]:
        runs: set[str] = set()
        for table in _TABLE_OF.values():
            runs.update(r[0] for r in self.db.execute(f"SELECT DISTINCT run FROM {table} WHERE seg = ?", (seg,)))
        return runs

    def _ingest_segment(self, path: Path, offset: int, lines: int, inode: int, stats: IngestStats) -> None:
        with self.db:
            seg = self._segment_id(path.name, inode)
            row = self.db.execute("SELECT crc FROM segments WHERE seg = ?", (seg,)).fetchone()
            crc = int(row[0]) if offset and row is not None else 0
            end, line_no = offset, lines + 1
            for chunk in read_chunks(path, offset, lines + 1, chunk_size=_INGEST_CHUNK_BYTES):
                stats.events += self._ingest_chunk(seg, chunk, stats)
                stats.bytes += len(chunk.data)
                crc = zlib.crc32(chunk.data, crc)
                end, line_no = chunk.end, chunk.first_line + chunk.line_count
            size = path.stat().st_size
            self.db.execute(
                "UPDATE segments SET offset = ?, lines = ?, inode = ?, size = ?, crc = ? WHERE seg = ?",
                (end, line_no - 1, inode, size, crc, seg),
            )

    def _ingest_chunk(self, seg: int, chunk: LineChunk, stats: IngestStats) -> int:
        try:
            decoded: list[Any] = _decoder.decode_lines(chunk.data)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            decoded = self._decode_line_by_line(seg, chunk, stats)
        # The runs this chunk touches, read off the events themselves (in C): an upsert
        # that updates a row in place must refresh its run's derived rows too.
        self._touched.update(map(_RUN_OF, decoded))
        # Each event's row goes to its table's list through one bound ``append`` per type,
        # looked up once per event: the per-event Python is a quarter of a rebuild.
        by_table: dict[str, list[Any]] = {table: [] for table in _TABLE_OF_INGEST.values()}
        add_of: dict[type[Any], Any] = {t: by_table[table].append for t, table in _TABLE_OF_INGEST.items()}
        starts, ends = by_table["span_starts"], by_table["span_ends"]
        astuple = msgspec.structs.astuple
        for event in decoded:
            add = add_of.get(type(event))
            if add is None:  # a compacted span: one start row and one end row
                row = astuple(event)
                starts.append(_SPAN_START_OF(row))
                ends.append((*_SPAN_END_HEAD(row), None, *_SPAN_END_TAIL(row)))
            else:
                add(astuple(event))
        insert_sql = _plain_insert_sql if self._bulk else _insert_sql
        for table, rows in by_table.items():
            if rows:
                self.db.executemany(insert_sql(table, seg), rows)
        return len(decoded)

    def _decode_line_by_line(self, seg: int, chunk: LineChunk, stats: IngestStats) -> list[Any]:
        good: list[Any] = []
        offset = chunk.start
        for number, raw in enumerate(chunk.data.split(b"\n")[:-1], start=chunk.first_line):
            line_start = offset
            offset += len(raw) + 1
            if not raw.strip():
                continue
            event, reason = decode_with_recovery(raw)
            if event is not None:
                good.append(event)
            if reason is not None:
                bad = BadLine(chunk.path.name, number, line_start, reason)
                stats.bad_lines.append(bad)
                self.db.execute(
                    "INSERT OR REPLACE INTO bad_lines(seg, line, offset, reason) VALUES (?, ?, ?, ?)",
                    (seg, number, line_start, reason),
                )
        return good

    # -- the derived runs table ------------------------------------------------------------

    def _refresh_runs(self, run_ids: set[str]) -> None:
        for statement in DERIVED_TEMP:
            self.db.execute(statement)
        if not run_ids:
            self.db.execute("DELETE FROM temp.touched_paths")
            return
        self.db.execute("DELETE FROM temp.touched")
        self.db.executemany("INSERT OR IGNORE INTO temp.touched VALUES (?)", ((r,) for r in run_ids))
        fresh = not self.db.execute("SELECT EXISTS (SELECT 1 FROM runs)").fetchall()[0][0]
        before, after = derived_statements(fresh=fresh)
        for statement in before:  # take the touched runs' old rows out of the aggregates
            self.db.execute(statement)
        self.db.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM temp.touched)")
        # The first and last event of each run, over every event table (laptime.definitions:
        # a run without a start span starts at its first event; one without an end, for now,
        # ends at its last).
        bound_parts = " UNION ALL ".join(
            f"SELECT run, MIN(ts) AS first, MAX(ts) AS last FROM {table} "
            "WHERE run IN (SELECT run_id FROM temp.touched) GROUP BY run"
            for table in _TABLES_WITH_TIME
        )
        self.db.execute(
            f"""
            INSERT INTO runs(run_id, name, runner, started_us, ended_us, first_us, last_us, outcome, error, attrs,
                             end_attrs)
            SELECT t.run_id, s.name, s.attrs ->> '$.runner',
                   {ts_us("s.ts")}, {ts_us("e.ts")}, {ts_us("l.first")}, {ts_us("l.last")},
                   e.outcome, e.error, s.attrs, e.attrs
            FROM temp.touched t
            JOIN (SELECT run, MIN(first) AS first, MAX(last) AS last FROM ({bound_parts}) GROUP BY run) l
                 ON l.run = t.run_id AND {ts_us("l.first")} IS NOT NULL AND {ts_us("l.last")} IS NOT NULL
            LEFT JOIN span_starts s ON s.rowid = (
                SELECT x.rowid FROM span_starts x WHERE x.run = t.run_id AND x.span = t.run_id AND x.kind = 'run'
                ORDER BY x.ts, x.id LIMIT 1)
            LEFT JOIN span_ends e ON e.rowid = {d.span_end_rowid_sql("t.run_id")}
            """
        )
        for statement in after:  # per-run, then store-wide aggregates (set-based SQL)
            self.db.execute(statement)


_RUN_OF: Final = operator.attrgetter("run")


def _prefix_crc(path: Path, length: int) -> int:
    """CRC-32 of the first ``length`` bytes of ``path``."""
    crc = 0
    with path.open("rb") as handle:
        while length > 0:
            block = handle.read(min(length, 8 * 1024 * 1024))
            if not block:
                return -1  # shorter than that: cannot be the same bytes
            crc = zlib.crc32(block, crc)
            length -= len(block)
    return crc


# Below this many bytes to read, an update ingests in place whatever the index holds: a
# rebuild's fixed costs (dropping and creating the schema, sorting every index) are not
# worth it for a small log.
_BULK_MIN_BYTES: Final = 4 * 1024 * 1024


def _bytes_to_read(
    stale: set[str], known: dict[str, tuple[int, int, int | None, int]], present: dict[str, Path]
) -> int:
    """How many bytes of the log an update would read: new segments, stale ones in full,
    and what the others gained."""
    read = 0
    for name, path in present.items():
        try:
            size = path.stat().st_size
        except OSError:
            continue
        read += size if name in stale or name not in known else max(0, size - known[name][0])
    return read


def _mostly_new(stale: set[str], known: dict[str, tuple[int, int, int | None, int]], read: int) -> bool:
    """Whether the update would read (``read`` bytes, ``_bytes_to_read``) more than the
    index keeps (a bulk rebuild is then faster: its inserts cost about half as much per event)."""
    keep = sum(state[0] for name, state in known.items() if name not in stale)
    return read >= _BULK_MIN_BYTES and read > keep


# The page cache of an incremental pass, per byte of log it reads, and its ceiling. Its
# inserts land all over each table's id and run indexes: pages evicted mid-transaction
# are spilled to the WAL and read back, again and again. 100k events (about 25 MB of log) onto
# a 1M-event index took 1.32 s with the usual 4 MB, 1.30 s with 16 MB, 1.06 s with 64 MB
# (bench/README.md, n=7). The ceiling keeps a huge catch-up from holding more than a
# rebuild inside the live index may (``_rebuild_cache_kib``).
_INCREMENTAL_CACHE_PER_BYTE: Final = 2
_INCREMENTAL_CACHE_MAX_KIB: Final = 256 * 1024


def _incremental_cache_kib(read_bytes: int) -> int:
    """Page cache in KiB for an incremental pass that reads ``read_bytes`` of log."""
    return min(_INCREMENTAL_CACHE_MAX_KIB, read_bytes * _INCREMENTAL_CACHE_PER_BYTE // 1024)


_SPAN_FIELD_AT: Final = {info.name: i for i, info in enumerate(msgspec.structs.fields(_SPAN_INGEST))}
# A compacted span's row as a start row, and as an end row in two parts around its parent
# (an end has none): picked from its tuple in C, not field by field.
_SPAN_START_OF: Final = operator.itemgetter(*(_SPAN_FIELD_AT[name] for name in _SPAN_START_FIELDS))
_END_PARENT_AT: Final = _SPAN_END_FIELDS.index("parent")
_SPAN_END_HEAD: Final = operator.itemgetter(*(_SPAN_FIELD_AT[n] for n in _SPAN_END_FIELDS[:_END_PARENT_AT]))
_SPAN_END_TAIL: Final = operator.itemgetter(*(_SPAN_FIELD_AT[n] for n in _SPAN_END_FIELDS[_END_PARENT_AT + 1 :]))


def decode_with_recovery(raw: bytes) -> tuple[Any | None, str | None]:
    """Decode one line. A torn fragment glued to a whole event (a writer killed
    mid-line, then another writer's append) is reported, and the event after it kept."""
    try:
        event = _decoder.decode(raw)
    except RecursionError:
        return None, "JSON nested too deep"
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        reason = _short_reason(exc)
        start = raw.find(b'{"', 1)
        while start > 0:
            try:
                event = _decoder.decode(raw[start:])
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                start = raw.find(b'{"', start + 1)
                continue
            return event, f"torn line: {start} bytes of garbage before an event, which was kept ({reason})"
        return None, reason
    return event, None


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def open_index(store: Store, *, update: bool = True) -> Index:
    """Open the index and bring it up to date with the log (or, while another process
    holds the index longer than the busy timeout, leave it as committed)."""
    index = Index(store)
    if update:
        index.update(wait=False)
    return index


def _busy_message(path: Path) -> str:
    return (
        f"the index {path} stayed busy for {BUSY_TIMEOUT_MS // 1000} s "
        "(another laptime process is writing it); try again when it is done"
    )


def pending_torn_tail(store: Store) -> list[tuple[str, int]]:
    """Segments ending in an unfinished line: (name, bytes after the last newline)."""
    out = []
    for path in store.segments():
        try:
            tail = torn_tail(path, 0)
        except OSError:
            continue  # unreadable: Store.segment_faults names it
        if tail:
            out.append((path.name, tail))
    return out


def table_of(event_type: type[Any]) -> str | None:
    """The index table that holds events of ``event_type`` (None for a compacted span)."""
    return _TABLE_OF.get(event_type)


def event_tables() -> tuple[str, ...]:
    """The index's tables that hold events, one per event type."""
    return tuple(_TABLE_OF.values())
