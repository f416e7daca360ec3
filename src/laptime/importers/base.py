"""The machinery every importer shares.

An importer turns one source file (or, for git, one repository) into laptime events.
This module does the rest, the same way for every format:

- **Idempotency.** Every imported event has an id derived from its source
  (``source_event_id``). Before appending, ids already in the index are dropped, so
  importing the same files twice adds nothing. A small cache, ``.laptime/imports.sqlite``,
  remembers per file its size, mtime, inode and the byte offset read so far: an
  unchanged file is skipped without being opened, and a grown file is read from where
  the last import stopped. Losing that cache costs time, never correctness.
- **Bad input.** Importers report bad records through ``ImportContext.warn`` with the
  file and line; the run ends with a count of skipped records. The exit code is 0 if
  anything was imported (or everything was already there), 1 if nothing could be.
  What is already stored is never touched: imports only append.
- **Regular files only.** Opening a FIFO for reading blocks until a writer appears,
  and a device may never end. A FIFO, socket or device, whether given as the path or
  met inside a tree, is skipped with a warning that names it (``special_kind``), before
  any importer sees it; the shared readers open files through ``open_regular``,
  which checks again.
- **Progress.** A bar on stderr for imports that take more than about a second, only
  on a terminal and never with ``--quiet``.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import stat
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TextIO

import apsw

from laptime import events as ev
from laptime.clock import format_timestamp
from laptime.errors import StoreFaultError
from laptime.importers.records import MAX_JSON_DEPTH, TOO_DEEP, RecordError, too_deep
from laptime.index import Index, event_tables, table_of
from laptime.log import LogWriter
from laptime.retention import maintenance_lock
from laptime.store import Store

#: The file being read by ``_import_file``: its context and the line number its read
#: starts after (``state.extra["line"]``), so that ``iter_lines`` can report a record it
#: refuses with the same ``file:line`` the importer would.
_READING: contextvars.ContextVar[tuple[ImportContext, int] | None] = contextvars.ContextVar(
    "laptime_import_reading", default=None
)

BATCH_EVENTS = 50_000
# Of the ids an import appended, this many stay in a dict; older ones go to a temporary
# SQLite file (``_AppendedIds``), so memory stays flat, while the index is updated once,
# at the end.
RECENT_IDS = 20_000
# SQLite's page cache while importing, in KiB, also for the rebuild an import runs aside
# (`laptime refresh` keeps index._ASIDE_CACHE_KIB, 16 MB, for that). A bigger cache is most
# of what grows with the input (peak RSS of a 1 GB Claude Code tree: 82 MB with 16 MB, 56 MB
# with 4, against 44 and 39 for 100 MB), for about 10% more CPU, and DESIGN.md wants memory
# flat as the input grows.
IMPORT_PAGE_CACHE_KIB = 4 * 1024
MAX_WRITE_BYTES = 1 << 20  # whole lines per write(2), so concurrent appenders never interleave
MAX_WARNINGS_SHOWN = 20


def source_event_id(ts_ns: int, *parts: object) -> str:
    """A deterministic, time-ordered id: 12 hex digits of milliseconds, then 20 of a
    hash of the source key (importer, file or record id, position...)."""
    try:
        key = "\x1f".join(parts)  # type: ignore[arg-type] # all str, mostly: the fast way
    except TypeError:
        key = "\x1f".join(str(p) for p in parts)
    digest = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
    return f"{(ts_ns // 1_000_000) & 0xFFFFFFFFFFFF:012x}{digest}"


def timestamp(ts_ns: int) -> str:
    """The canonical event timestamp for epoch nanoseconds; a RecordError (the record is
    skipped with a warning) for a time past the year 9999, which no timestamp can name."""
    try:
        return format_timestamp(ts_ns)
    except (ValueError, OverflowError):
        msg = "a time after the year 9999 (or before the year 1), which no event timestamp can hold"
        raise RecordError(msg) from None


def run_start(run_id: str, *, ts: str, name: str, attrs: dict[str, Any], source: ev.Source) -> ev.SpanStart:
    """The span that opens a run: its id, its span and its run are all the run id."""
    return ev.SpanStart(
        v=ev.SCHEMA_VERSION,
        id=run_id,
        ts=ts,
        run=run_id,
        span=run_id,
        kind="run",
        name=name,
        attrs=attrs,
        source=source,
    )


def user_wait(run_id: str, *, span: str, end_id: str, since: str, until: str, source: ev.Source) -> ev.Span:
    """A session waiting for its user's next message after the model ended its turn: a
    top-level span waiting on a human (docs/analysis.md, "Where the time goes")."""
    return ev.Span(
        v=ev.SCHEMA_VERSION,
        id=span,
        ts=since,
        run=run_id,
        parent=run_id,
        span=span,
        kind="other",
        name="waiting for the user",
        attrs={"waiting_on": "human"},
        source=source,
        end_id=end_id,
        end_ts=until,
    )


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of_mode(mode: int) -> str | None:
    """None for a regular file or a folder, else what the special file is ("a FIFO")."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _SPECIAL_KINDS if test(mode)), "a special file")


def special_kind(path: Path | str) -> str | None:
    """What ``path`` is if it exists and is neither a regular file nor a folder (a FIFO,
    a socket, a device); None otherwise. Symbolic links are followed. Never opens it."""
    try:
        mode = os.stat(path).st_mode  # noqa: PTH116 - one stat, also for str paths
    except (OSError, ValueError):
        return None
    return kind_of_mode(mode)


class SpecialFileError(OSError):
    """A path that is not a regular file was about to be read."""

    def __init__(self, path: Path | str, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.path = str(path)
        self.kind = kind
        self.strerror = f"{kind}, not a regular file"

    def __str__(self) -> str:
        return f"{self.path}: {self.strerror}"


def open_regular(path: Path | str) -> BinaryIO:
    """``open(path, "rb")`` for a regular file; SpecialFileError (an OSError, so the
    importers' handlers catch it) for a FIFO, socket or device, which is never opened.

    The check is a stat before the open: a FIFO that is there when checked is never
    opened, so its open cannot block. The open file is checked again (fstat), so
    anything else swapped in between is refused too. It goes through ``Path.open``
    like the rest of the importers' reads."""
    kind = special_kind(path)
    if kind is not None:
        raise SpecialFileError(path, kind)
    handle = Path(path).open("rb")  # noqa: SIM115 - returned open; closed here only when refused
    kind = kind_of_mode(os.fstat(handle.fileno()).st_mode)
    if kind is not None:
        handle.close()
        raise SpecialFileError(path, kind)
    return handle


def read_regular_bytes(path: Path | str) -> bytes:
    """``Path.read_bytes`` through ``open_regular``."""
    with open_regular(path) as handle:
        return handle.read()


@dataclass
class FileState:
    """What the import cache remembers of one file."""

    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MovedEnd:
    """A span's end that a later read of a growing file moves later, appended only while
    the end stored for its id is still ``was``, the one this file wrote before. A copy
    of the span from another file that holds it (a side question's replay of a parent
    response, a resumed session's copy of the one before) keeps its own end. Handed from
    an importer to the appender; never written to the log as such."""

    end: ev.SpanEnd
    was: str


# What an importer's read yields: events, and now and then a conditional end.
ImportItem = ev.Event | MovedEnd


@dataclass(frozen=True)
class ImportProblem:
    """A record that could not be imported, and where it is."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass
class ImportResult:
    """What one ``laptime import`` did."""

    format: str
    files_seen: int = 0
    files_read: int = 0
    files_unchanged: int = 0
    bytes_read: int = 0
    records: int = 0
    events_new: int = 0
    events_already_stored: int = 0
    skipped_records: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        """0 when anything was imported or everything was already there; 1 otherwise."""
        if self.events_new or self.events_already_stored or self.files_unchanged:
            return 0
        if self.files_seen and not self.problems and not self.skipped_records:
            return 0  # readable files that simply hold no events
        return 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "files_seen": self.files_seen,
            "files_read": self.files_read,
            "files_unchanged": self.files_unchanged,
            "bytes_read": self.bytes_read,
            "records": self.records,
            "events_new": self.events_new,
            "events_already_stored": self.events_already_stored,
            "skipped_records": self.skipped_records,
            "runs": len(self.runs),
            "problems": [{"file": p.file, "line": p.line, "message": p.message} for p in self.problems],
        }


class ImportContext:
    """Handed to an importer while it reads one file."""

    def __init__(self, result: ImportResult, progress: Progress | None) -> None:
        self.result = result
        self._progress = progress
        self.file: Path | None = None

    def warn(self, line: int | None, message: str, *, file: Path | str | None = None) -> None:
        """Report a record that was skipped; ``line`` is 1-based, or None for the whole file."""
        where = str(file if file is not None else self.file)
        self.result.problems.append(ImportProblem(where, line, message))
        self.result.skipped_records += 1

    def record(self, n: int = 1, nbytes: int = 0) -> None:
        """Count source records (and bytes) read, for the summary and the progress bar."""
        self.result.records += n
        self.result.bytes_read += nbytes
        if self._progress is not None:
            self._progress.update(self.result)


class Importer(ABC):
    """One foreign format."""

    name: ClassVar[str]
    #: Whether files are read incrementally from the cached byte offset. Formats whose
    #: files are rewritten whole (one JSON document per file) re-read changed files
    #: from the start and rely on id de-duplication.
    append_only: ClassVar[bool] = True
    #: The format of what ``read`` keeps in ``FileState.extra``, written there as ``"v"``
    #: (``_import_file``). Raised whenever ``read`` starts to need something an older
    #: state lacks: a file whose cached state has another format is read again from its
    #: start, as if new (what it appended before stays; ids make the rest a no-op).
    state_version: ClassVar[int] = 1
    #: Whether prompt or completion text may be stored (in run names, attrs): only when the
    #: user opts in (``laptime import --store-text``). Set by run_import.
    store_text: bool = False

    def state_format(self, extra: dict[str, Any]) -> int:
        """The format of a cached state: its ``"v"``; a state written before states carried
        one is format 1 (importers whose format changed since tell theirs apart)."""
        version = extra.get("v")
        return version if isinstance(version, int) else 1

    @abstractmethod
    def discover(self, path: Path) -> Iterator[Path]:
        """The files under ``path`` this format reads (``path`` itself if it is one).

        Raise FileNotFoundError for a path that does not exist.
        """

    @abstractmethod
    def detect(self, path: Path) -> bool:
        """Whether ``path`` (a file or folder) looks like this format; for ``import auto``."""

    @abstractmethod
    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ImportItem]:
        """Events from ``file``, starting at ``state.offset`` for append-only formats.

        Before returning, set ``state.offset`` to the byte offset up to which records
        were consumed (complete lines only), and keep in ``state.extra`` whatever the
        next incremental read needs (JSON-serialisable).
        """

    def default_paths(self) -> list[Path]:
        """Where to look when the user gives no path (e.g. ~/.claude/projects)."""
        return []

    def walk_roots(self, path: Path) -> list[Path]:
        """The folders whose whole trees ``discover(path)`` reads (``path`` itself when
        it is not a folder). ``laptime usage`` stats them, with ``path``, to tell
        whether anything could have changed."""
        return [path]


class ImportCache:
    """``.laptime/imports.sqlite``: per-file sizes and offsets. A cache: safe to delete.

    An importer's rows are read once (``get`` then answers from memory) and new rows
    are written in batches (``commit``), after the log holds the files' events: a
    crash in between costs a re-read, never an event."""

    def __init__(self, store: Store) -> None:
        store.root.mkdir(parents=True, exist_ok=True)
        path = store.root / "imports.sqlite"
        if path.exists() and not path.is_file():
            msg = f"the import cache {path} is not a file; move it away (the next import builds a new cache)"
            raise StoreFaultError(msg)
        try:
            self.db = self._open(path)
        except (apsw.NotADBError, apsw.CorruptError):
            # A cache: an unreadable one is set aside (for a post-mortem) and built anew;
            # every file is read again, and the ids already stored are not appended again.
            aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            path.replace(aside)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            self.db = self._open(path)
        self._rows: dict[str, dict[str, tuple[Any, ...]]] = {}
        self._pending: list[tuple[Any, ...]] = []

    @staticmethod
    def _open(path: Path) -> apsw.Connection:
        db = apsw.Connection(str(path))
        try:
            db.set_busy_timeout(30_000)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                """CREATE TABLE IF NOT EXISTS files (
                    importer TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, mtime_ns INTEGER, inode INTEGER,
                    "offset" INTEGER, extra TEXT, PRIMARY KEY (importer, path))"""
            )
            db.execute("SELECT 1 FROM files LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def get(self, importer: str, path: str) -> FileState | None:
        import json

        rows = self._rows.get(importer)
        if rows is None:
            rows = self._rows[importer] = {
                r[0]: r[1:]
                for r in self.db.execute(
                    'SELECT path, size, mtime_ns, inode, "offset", extra FROM files WHERE importer = ?', (importer,)
                )
            }
        row = rows.get(path)
        if row is None:
            return None
        return FileState(row[0], row[1], row[2], row[3], json.loads(row[4]) if row[4] else {})

    def put(self, importer: str, path: str, state: FileState) -> None:
        """Remember a file's state; written by the next ``commit``."""
        import json

        extra = json.dumps(state.extra)
        self._pending.append((importer, path, state.size, state.mtime_ns, state.inode, state.offset, extra))
        self._rows.setdefault(importer, {})[path] = (state.size, state.mtime_ns, state.inode, state.offset, extra)
        if len(self._pending) >= 1000:
            self.commit()

    def commit(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        with self.db:
            self.db.executemany(
                'INSERT OR REPLACE INTO files(importer, path, size, mtime_ns, inode, "offset", extra) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                pending,
            )

    def close(self) -> None:
        self.commit()
        self.db.close()


class Progress:
    """A one-line progress display on stderr: files, bytes, records.

    Silent unless the stream is a terminal; starts only after ``delay`` seconds, so
    quick imports print nothing.
    """

    def __init__(self, total_files: int, stream: TextIO | None = None, delay: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.total_files = total_files
        self.files_done = 0
        self.started = time.monotonic()
        self.delay = delay
        self._last = 0.0
        self.shown = False

    def update(self, result: ImportResult, *, force: bool = False) -> None:
        now = time.monotonic()
        if now - self.started < self.delay or (not force and now - self._last < 0.1):
            return
        self._last = now
        self.shown = True
        share = self.files_done / self.total_files if self.total_files else 1.0
        filled = int(share * 24)
        bar = "█" * filled + "░" * (24 - filled)
        mb = result.bytes_read / 1e6
        self.stream.write(
            f"\r{bar} {self.files_done}/{self.total_files} files · {mb:,.1f} MB · {result.records:,} records"
        )
        self.stream.flush()

    def close(self, result: ImportResult) -> None:
        if self.shown:
            self.update(result, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _stat_state(path: Path) -> FileState:
    """The file's size, mtime and inode; SpecialFileError for anything but a regular
    file or folder (a folder is left for the importer's read to report)."""
    st = path.stat()
    kind = kind_of_mode(st.st_mode)
    if kind is not None:
        raise SpecialFileError(path, kind)
    return FileState(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


def has_changes(store: Store, importer: Importer, paths: Iterable[Path]) -> bool:
    """Whether ``run_import`` would read anything under ``paths``: a file the import
    cache does not know, or one whose size, mtime or inode changed. Only stats: no file
    is opened, and the cache is only read. True whenever unsure (no cache yet, a path
    that cannot be listed, a special file that the import must warn about)."""
    try:
        files = [file for path in paths for file in importer.discover(path)]
    except OSError:
        return True
    if not files:
        return False
    known = _cached_stats(store, importer.name)
    if known is None:
        return True
    for file in files:
        try:
            st = os.stat(file)  # noqa: PTH116 - one stat per file, as _import_file does
        except OSError:
            return True
        key = os.path.abspath(file)  # noqa: PTH100 - the import cache's key, as in _import_file
        if not stat.S_ISREG(st.st_mode) or known.get(key) != (st.st_size, st.st_mtime_ns, st.st_ino):
            return True
    return False


def _cached_stats(store: Store, importer: str) -> dict[str, tuple[int, int, int]] | None:
    """The import cache's (size, mtime, inode) per file of ``importer``, read-only; None
    when there is no cache or it cannot be read."""
    cache_path = store.root / "imports.sqlite"
    if not cache_path.is_file():
        return None
    try:
        db = apsw.Connection(str(cache_path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            db.set_busy_timeout(30_000)
            rows = db.execute("SELECT path, size, mtime_ns, inode FROM files WHERE importer = ?", (importer,))
            return {row[0]: (row[1], row[2], row[3]) for row in rows}
        finally:
            db.close()
    except apsw.Error:
        return None


class _AppendedIds:
    """The ids an import appended to the log and the index does not have yet, each with
    what the index will keep for it (``_stored_value``).

    The newest ``RECENT_IDS`` are in a dict. Older ones spill, sorted (so that the B-tree
    grows in order), into a private temporary SQLite database: its pages beyond a small
    cache go to a file in the temporary folder, which SQLite deletes on close. Memory
    stays flat however big the import, without updating the index along the way: each
    such pass, with the index's indexes live and its derived tables refreshed for every
    run touched, cost more than the whole import besides (the 1 GB Claude Code tree
    made 3 passes: 6.4 s of its 12 s; now 1.39x faster cold, bench/README.md)."""

    _CACHE_KIB = 2 * 1024
    # A Bloom filter of the spilled ids (3 bits of each id's hash in 2**23): most ids an
    # import looks up are new, and it rules them out without a query. 1 MiB; at 140k
    # spilled ids (a 1 GB Claude Code tree, a 3,000-session Codex home) about 0.01% of new
    # ids still get one. It never rules out an id that spilled.
    _BLOOM_BITS = 23

    def __init__(self) -> None:
        self.recent: dict[str, _Stored] = {}
        self._older: apsw.Connection | None = None
        self._bloom = bytearray()

    _MASK = (1 << _BLOOM_BITS) - 1

    @classmethod
    def _positions(cls, event_id: str) -> tuple[int, int, int]:
        """The id's three bits: bits 0-22, 21-43 and 41-63 of its 64-bit str hash."""
        h, mask = hash(event_id), cls._MASK
        return h & mask, (h >> 21) & mask, (h >> 41) & mask

    def _may_have_spilled(self, event_id: str) -> bool:
        bloom = self._bloom
        a, b, c = self._positions(event_id)
        return bool(bloom[a >> 3] >> (a & 7) & bloom[b >> 3] >> (b & 7) & bloom[c >> 3] >> (c & 7) & 1)

    def _remember_spilled(self, ids: Iterable[str]) -> None:
        bloom = self._bloom
        for event_id in ids:
            for position in self._positions(event_id):
                bloom[position >> 3] |= 1 << (position & 7)

    def older(self, ids: Iterable[str]) -> dict[str, _Stored]:
        """Those of ``ids`` that have spilled (not in ``recent``), with their values."""
        if self._older is None:
            return {}
        recent, maybe = self.recent, self._may_have_spilled
        wanted = [i for i in ids if i not in recent and maybe(i)]
        found: dict[str, _Stored] = {}
        for start in range(0, len(wanted), 900):
            part = wanted[start : start + 900]
            marks = ",".join("?" * len(part))
            for event_id, main, rank in self._older.execute(
                f"SELECT id, main, rank FROM ids WHERE id IN ({marks})", part
            ):
                found[event_id] = rank if main is None else (bool(main), rank)
        return found

    def spill_if_full(self) -> None:
        if len(self.recent) < RECENT_IDS:
            return
        if self._older is None:
            self._bloom = bytearray(1 << (self._BLOOM_BITS - 3))
            self._older = apsw.Connection("")  # "": a temporary database, deleted on close
            for statement in (
                f"PRAGMA cache_size=-{self._CACHE_KIB}",
                "PRAGMA journal_mode=OFF",
                "PRAGMA synchronous=OFF",
                "CREATE TABLE ids (id TEXT PRIMARY KEY, main INTEGER, rank) WITHOUT ROWID",
            ):
                self._older.execute(statement)
        rows = sorted(
            (event_id, int(value[0]), value[1]) if isinstance(value, tuple) else (event_id, None, value)
            for event_id, value in self.recent.items()
        )
        with self._older:
            # A newer value of a spilled id (a better copy appended since) replaces it.
            self._older.executemany("INSERT OR REPLACE INTO ids VALUES (?, ?, ?)", rows)
        self._remember_spilled(self.recent)
        self.recent = {}

    def close(self) -> None:
        if self._older is not None:
            self._older.close()
            self._older = None
        self._bloom = bytearray()


class _Appender:
    """Batches new events, drops those the index already has, appends the rest.

    ``flush`` writes to the log; the index catches up at ``close``, not after every file.
    Until then the ids appended but not yet indexed are remembered (``_AppendedIds``), so
    de-duplication sees them too."""

    def __init__(self, store: Store, index: Index, result: ImportResult) -> None:
        self.index = index
        self.result = result
        self.writer = LogWriter(store, flush_interval=0)
        self.pending: list[ev.Event] = []
        self.moved: list[MovedEnd] = []
        self.tables = event_tables()
        self.unindexed = _AppendedIds()
        # The index first catches up with the log (a no-op when it is current; a bulk
        # load when it was deleted or set aside): the ids already stored, and the span
        # ends a moved end is checked against (``MovedEnd``), must be in it.
        self.index.update()
        # An index without events (a first import) knows no id until this appender
        # updates it: the per-file lookups are skipped till then.
        self.index_empty = not any(self.index.query(f"SELECT 1 FROM {t} LIMIT 1") for t in self.tables)

    def add(self, events: Iterable[ImportItem]) -> None:
        for event in events:
            if isinstance(event, MovedEnd):
                self.moved.append(event)
                continue
            self.pending.append(event)
            if len(self.pending) >= BATCH_EVENTS:
                self.flush()

    def _settle_moved(self) -> list[ev.SpanEnd]:
        """The moved ends whose span still ends where the file that moves them left it."""
        moved, self.moved = self.moved, []
        ends = [m.end for m in moved]
        stored: dict[str, _Stored] = {} if self.index_empty else self._known_ids(ends)
        stored.update(self.unindexed.older(e.id for e in ends))
        stored.update((e.id, self.unindexed.recent[e.id]) for e in ends if e.id in self.unindexed.recent)
        return [m.end for m in moved if stored.get(m.end.id) == m.was]

    def _known_ids(self, events: Iterable[ev.Event]) -> dict[str, _Stored]:
        """Ids already indexed, with the stored copy's rank for llm events (see
        ``_stored_value``), the stored time for span ends, and -1 otherwise. Each id is
        looked up in its own type's table only (ids are unique across the log), one
        probe per id."""
        by_table: dict[str, list[str]] = {}
        for event in events:
            table = table_of(type(event)) or ("span_starts" if isinstance(event, ev.Span) else None)
            for t in (table,) if table is not None else self.tables:
                by_table.setdefault(t, []).append(event.id)
        known: dict[str, _Stored] = {}
        for table, ids in by_table.items():
            value = _LLM_RANK_SQL if table == "llm_calls" else "ts" if table == "span_ends" else "-1"
            for start in range(0, len(ids), 900):
                part = ids[start : start + 900]
                marks = ",".join("?" * len(part))
                sql = f"SELECT id, {value} FROM {table} WHERE id IN ({marks})"
                rows = self.index.execute(sql, part)
                if table == "llm_calls":
                    known.update((r[0], (bool(r[1]), r[2])) for r in rows)
                else:
                    known.update((r[0], r[1]) for r in rows)
        return known

    def flush(self) -> None:
        if self.moved:
            self.pending.extend(self._settle_moved())
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        # The last copy of an id within one batch wins: importers may emit an event
        # again with better data (a streamed response's final token counts).
        unique: dict[str, ev.Event] = {event.id: event for event in batch}
        for event_id, event in list(unique.items()):
            bad = _out_of_range(event)
            if bad is not None:
                del unique[event_id]
                self._refuse(event, bad)
        known = {} if self.index_empty else self._known_ids(unique.values())
        unindexed = self.unindexed.recent
        older = self.unindexed.older(unique)
        by_day: dict[str, list[bytes]] = {}
        encode = ev.encode
        add_run = self.result.runs.add
        new = again = 0
        for event_id, event in unique.items():  # the hot loop: one pass per imported event
            stored_total = unindexed.get(event_id)
            if stored_total is None and older:
                stored_total = older.get(event_id)
            if stored_total is None:
                if known:
                    stored_total = known.get(event_id)
            elif event_id in known and not _improves(event, known[event_id]):
                stored_total = known[event_id]  # the index already holds a copy at least as good
            if stored_total is not None:
                again += 1
                if not _improves(event, stored_total):
                    continue
            else:
                new += 1
            unindexed[event_id] = _stored_value(event)
            day = event.ts[:10]
            lines = by_day.get(day)
            if lines is None:
                lines = by_day[day] = []
            lines.append(encode(event))
            add_run(event.run)
        self.result.events_new += new
        self.result.events_already_stored += again
        for day, lines in sorted(by_day.items()):
            chunk: list[bytes] = []
            size = 0
            for line in lines:
                if size + len(line) > MAX_WRITE_BYTES and chunk:
                    self.writer.append(b"".join(chunk), day)
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self.writer.append(b"".join(chunk), day)
        self.unindexed.spill_if_full()

    def _refuse(self, event: ev.Event, field_name: str) -> None:
        """Count an event that must not reach the log, as a bad record of its source."""
        source = event.source
        file = source.file if source is not None else "?"
        pos = source.pos if source is not None else None
        line = int(pos) if pos is not None and pos.isdigit() else None
        value = getattr(event, field_name)
        message = f"`{field_name}` {value} does not fit a 64-bit integer; record skipped"
        self.result.problems.append(ImportProblem(file, line, message))
        self.result.skipped_records += 1

    def update_index(self) -> None:
        # The ids appended are in the log by now, which is all the index reads: they are
        # let go first, so that their memory (a dict, the spill file's cache) is free for
        # the index's ingest, which is an import's peak.
        self.unindexed.close()
        self.unindexed = _AppendedIds()
        self.index.update()
        self.index_empty = False

    def close(self) -> None:
        try:
            self.flush()
            self.update_index()
            self.writer.close()
        finally:
            self.unindexed.close()


# An llm copy's rank, as the index orders copies of one id (index._insert_sql): a copy
# not marked ``attrs.sidechain`` first, then the largest token total.
_LLM_RANK_SQL = (
    "COALESCE(attrs ->> '$.sidechain', 0) = 0, input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
)
_Stored = tuple[bool, int] | int | str
_INT64 = (1 << 63) - 1
# The integer fields of each event type. SQLite stores 64-bit integers: a larger value
# in the log would make every later index update fail (OverflowError), so an importer
# that let one through (a hostile token count, say) loses that record, not the store.
_INT_FIELDS: dict[type[Any], tuple[str, ...]] = {
    ev.LlmUsage: ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"),
    ev.Validation: ("exit_code",),
    ev.FileChange: ("lines_added", "lines_removed"),
    ev.QueueSample: ("ready", "active", "waiting"),
    ev.Milestone: ("index",),
}


def _out_of_range(event: ev.Event) -> str | None:
    """The first integer field of ``event`` outside SQLite's 64-bit range, or None."""
    if type(event) is ev.LlmUsage:
        # The hot path (millions of calls per import): the four counts OR-ed together
        # have a bit at 63 or above, or are negative, only if one of them might be out
        # of range; only then are they looked at one by one.
        try:
            bits = event.input_tokens | event.output_tokens | event.cache_read_tokens | event.cache_write_tokens
            if not bits >> 63:
                return None
        except TypeError:
            pass  # not all integers: checked one by one below
    names = _INT_FIELDS.get(type(event))
    if names is None:
        return None
    for name in names:
        value = getattr(event, name)
        if isinstance(value, int) and not -_INT64 <= value <= _INT64:
            return name
    return None


def _stored_value(event: ev.Event) -> _Stored:
    """What ``_known_ids`` would return for ``event`` once it is indexed."""
    if isinstance(event, ev.LlmUsage):
        total = event.input_tokens + event.output_tokens + event.cache_read_tokens + event.cache_write_tokens
        return (not event.attrs.get("sidechain"), total)
    if isinstance(event, ev.SpanEnd):
        return event.ts
    return -1


def _improves(event: ev.Event, stored: _Stored) -> bool:
    """An llm event seen again with a higher rank (a streamed response's final counts;
    a main-chain copy after a sidechain replay) is appended again, and so is a span end
    seen again later (a span whose source grew); the index keeps the highest rank and
    the latest end."""
    if isinstance(event, ev.SpanEnd):
        return isinstance(stored, str) and event.ts > stored
    if not isinstance(event, ev.LlmUsage) or not isinstance(stored, tuple):
        return False
    rank = _stored_value(event)
    assert isinstance(rank, tuple)
    return rank > stored


def run_import(
    store: Store,
    importer: Importer,
    paths: list[Path],
    *,
    quiet: bool = False,
    progress_stream: TextIO | None = None,
    progress_delay: float = 1.0,
    store_text: bool = False,
) -> ImportResult:
    """Import ``paths`` (files or folders) with ``importer`` into ``store``.

    The progress bar appears after ``progress_delay`` seconds (tests pass 0). Prompt and
    completion text is stored only with ``store_text`` (the user's opt-in)."""
    importer.store_text = store_text
    result = ImportResult(format=importer.name)
    files: list[Path] = []
    for path in paths:
        if special_kind(path) is not None:
            files.append(path)  # never handed to discover(); _import_file skips it with a warning
            continue
        try:
            found = list(importer.discover(path))
        except FileNotFoundError:
            result.problems.append(ImportProblem(str(path), None, "no such file or folder"))
            result.skipped_records += 1
            continue
        except PermissionError:
            result.problems.append(ImportProblem(str(path), None, "permission denied"))
            result.skipped_records += 1
            continue
        files.extend(found)
    result.files_seen = len(files)
    stream = progress_stream or sys.stderr
    progress = None if quiet or not stream.isatty() else Progress(len(files), stream, delay=progress_delay)
    ctx = ImportContext(result, progress)
    store.ensure()
    # Shared: imports may run side by side, but never under a clean or compact.
    with maintenance_lock(store, exclusive=False):
        try:
            _import_files(store, importer, files, ctx, progress)
        except (apsw.Error, OSError) as exc:
            # A write to the store failed: the log keeps only whole lines (LogWriter takes a
            # cut-short one back), the index rolled back, and the files are read again.
            if store.disk_full(exc):
                raise store.full_disk_error("`laptime import`") from None
            raise
    return result


def _import_files(
    store: Store, importer: Importer, files: list[Path], ctx: ImportContext, progress: Progress | None
) -> None:
    result = ctx.result
    cache = ImportCache(store)
    try:
        index = Index(store, page_cache_kib=IMPORT_PAGE_CACHE_KIB)
    except BaseException:
        cache.db.close()
        raise
    appender = _Appender(store, index, result)
    done = False
    try:
        for file in files:
            _import_file(importer, file, cache, ctx, appender)
            if progress is not None:
                progress.files_done += 1
                progress.update(result)
        appender.close()
        done = True
    finally:
        appender.unindexed.close()  # (closed already, unless the import failed)
        index.close()
        try:
            if done:
                cache.close()
            else:
                # Its pending rows describe files whose events may not have reached the
                # log (a failed write): kept, they would skip those files next time.
                cache.db.close()
        finally:
            if progress is not None:
                progress.close(result)


def _import_file(importer: Importer, file: Path, cache: ImportCache, ctx: ImportContext, appender: _Appender) -> None:
    key = os.path.abspath(file)  # noqa: PTH100 - resolve() costs a syscall per path part, per file
    try:
        now = _stat_state(file)
    except OSError as exc:
        ctx.warn(None, _os_problem(exc), file=file)
        return
    before = cache.get(importer.name, key)
    if before is not None and (before.size, before.mtime_ns, before.inode) == (now.size, now.mtime_ns, now.inode):
        ctx.result.files_unchanged += 1
        return
    state = FileState(size=now.size, mtime_ns=now.mtime_ns, inode=now.inode)
    if (
        importer.append_only
        and before is not None
        and before.inode == now.inode
        and now.size >= before.offset
        and importer.state_format(before.extra) == importer.state_version
    ):
        state.offset = before.offset
        state.extra = before.extra
    ctx.file = file
    ctx.result.files_read += 1
    first_line = state.extra.get("line", 0)
    reading = _READING.set((ctx, first_line if isinstance(first_line, int) else 0))
    try:
        appender.add(importer.read(file, state, ctx))
    except OSError as exc:  # a SpecialFileError here: swapped for a FIFO (or such) since the stat
        ctx.warn(None, _os_problem(exc), file=file)
        return
    finally:
        _READING.reset(reading)
    # Events must be in the log before the cache says the file was read.
    appender.flush()
    state.extra["v"] = importer.state_version
    cache.put(importer.name, key, state)


def _os_problem(exc: OSError) -> str:
    """The warning for a file that could not be read."""
    if isinstance(exc, SpecialFileError):
        return f"{exc.strerror}; skipped"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot read: {exc.strerror or exc}"


def detect_format(path: Path) -> str | None:
    """The first format whose importer recognises ``path``."""
    from laptime.importers import FORMATS, get_importer

    if special_kind(path) is not None:
        return None  # detectors may open what they look at, and a FIFO would block them
    for name in FORMATS:
        try:
            importer = get_importer(name)
        except ImportError:
            continue
        try:
            if importer.detect(path):
                return name
        except OSError:
            continue
    return None


def find_files(
    path: Path,
    patterns: Iterable[str],
    *,
    roots: Iterable[str] = (),
    keep: Callable[[Path], object] | None = None,
) -> Iterator[Path]:
    """What ``Importer.discover`` yields for most formats: ``path`` itself when it is not
    a folder, else the files below it whose names match one of ``patterns``, sorted.

    The search starts in the first of ``roots`` (paths relative to ``path``) that is a
    folder, else in ``path``; ``keep`` drops files the patterns alone cannot tell apart.
    Special files (FIFOs, sockets, devices) whose names match are yielded without
    ``keep`` ever looking inside them: ``run_import`` skips each with a warning.
    Raises FileNotFoundError for a path that does not exist.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    if not path.is_dir():
        yield path
        return
    root = next((path / r for r in roots if (path / r).is_dir()), path)
    found: set[Path] = set()
    for pattern in patterns:
        for candidate in root.rglob(pattern):
            try:
                mode = candidate.stat().st_mode
            except OSError:
                continue  # a dangling link, or gone since the listing
            if stat.S_ISDIR(mode):
                continue
            if kind_of_mode(mode) is not None or keep is None or keep(candidate):
                found.add(candidate)
    yield from sorted(found)


def _refuse_deep(line: bytes, line_no: int) -> bytes:
    reading = _READING.get()
    if reading is not None:
        ctx, first_line = reading
        ctx.warn(first_line + line_no, TOO_DEEP)
    return b" " * len(line)


def iter_lines(file: Path, offset: int, chunk_size: int = 1 << 20) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) for every complete line from ``offset``.

    Line numbers are counted from ``offset``'s line when it is 0, else they are
    relative: importers that resume mid-file keep ``state.extra["line"]``.
    Never holds more than one chunk plus one line in memory... except when a single
    line is larger than a chunk, in which case that line is held whole; importers that
    must survive huge lines stream with ``skip_long_lines`` instead.

    A line that nests JSON more than ``records.MAX_JSON_DEPTH`` deep, which would make
    any parser raise RecursionError, is reported here (during an import, as
    ``file:line``, counted as a skipped record) and yielded as spaces of the same
    length: every importer skips blank lines, and byte offsets stay right.
    """
    with open_regular(file) as handle:
        handle.seek(offset)
        line_no = 0
        carry = b""
        position = offset
        while True:
            block = handle.read(chunk_size)
            if not block:
                return
            data = carry + block if carry else block
            start = 0
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    break
                line_no += 1
                line = data[start:end]
                # A line can nest deeper than MAX_JSON_DEPTH only with more brackets than that.
                if len(line) > MAX_JSON_DEPTH and too_deep(line):
                    line = _refuse_deep(line, line_no)
                yield line_no, position + start, line
                start = end + 1
            position += start
            carry = data[start:]


def append_events(store: Store, events: Iterable[ev.Event]) -> ImportResult:
    """Append validated events to the log through the importers' de-duplicating appender
    (ids the index or this batch already has are left out), then bring the index up to
    date. ``events_new`` / ``events_already_stored`` of the result say how many were which.
    For writers that are not importers of files: ``POST /events`` and ``POST /v1/traces``."""
    result = ImportResult(format="api")
    store.ensure()
    with maintenance_lock(store, exclusive=False), Index(store) as index:
        appender = _Appender(store, index, result)
        try:
            appender.add(events)
        finally:
            appender.close()
    return result
