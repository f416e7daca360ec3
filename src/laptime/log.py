"""The append-only log: day segments of JSON lines.

Writers append each event with a single ``write(2)`` on an ``O_APPEND`` descriptor, so
appends from many threads and processes land whole and never interleave. Readers only
ever consume complete lines; a torn line (a ``kill -9`` mid-write, a truncated copy,
garbage) is reported with its file and line number and skipped, and every other line
still counts.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import stat
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from laptime.store import Store

_READ_CHUNK = 8 * 1024 * 1024


def _not_a_segment(path: Path) -> OSError:
    return OSError(
        errno.EINVAL, "not a regular file (a FIFO or a device where a log segment belongs); move it away", str(path)
    )


class LogWriter:
    """Appends encoded event lines to the segment of their UTC day.

    With ``flush_interval`` > 0 (the default, 0.2 s) lines are gathered in memory and
    written by a background thread, in one ``write(2)`` of whole lines per segment,
    at that interval, whenever 64 KiB are waiting, on ``flush()``/``close()`` and at
    interpreter exit. A ``kill -9`` can then lose at most the last interval. With
    ``flush_interval=0`` every line is written at once.
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_interval: float = 0.2,
        on_error: Callable[[BaseException], None] | None = None,
        max_pending: int = 64 * 1024,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self._on_error = on_error
        self._max_pending = max_pending
        self._fds: dict[str, int] = {}
        self._queues: dict[str, deque[bytes]] = {}
        self._pending = 0
        self._open_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        _live_writers.add(self)

    def append(self, line: bytes, day: str) -> None:
        """Append one complete line (ending in a newline) to the segment for ``day``.

        Raises OSError when the store cannot be written (write-through mode); in
        buffered mode the error reaches ``on_error`` from the flushing thread.
        """
        if self.flush_interval <= 0:
            fd = self._fds.get(day)
            if fd is None:
                fd = self._open(day)
            _write_all(fd, line)
            return
        queue = self._queues.get(day)
        if queue is None:
            queue = self._queue(day)
        queue.append(line)
        self._pending += len(line)
        if self._thread is None:
            self._start_thread()
            if self._thread is None:
                # Closed: no thread and no exit hook will write this line later.
                self.flush()
                return
        if self._pending >= self._max_pending:
            self.flush()

    def _queue(self, day: str) -> deque[bytes]:
        with self._open_lock:
            return self._queues.setdefault(day, deque())

    def flush(self) -> None:
        """Write every waiting line now."""
        with self._flush_lock:
            self._pending = 0
            for day, queue in list(self._queues.items()):
                if not queue:
                    continue
                parts = []
                popleft = queue.popleft
                try:
                    while True:
                        parts.append(popleft())
                except IndexError:
                    pass
                fd = self._fds.get(day)
                if fd is None:
                    fd = self._open(day)
                _write_all(fd, b"".join(parts))

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - reported through on_error, never raised
            if self._on_error is not None:
                # A handler that raises (a warning turned into an error by -W error)
                # must not kill the flushing thread or the exit hook.
                with contextlib.suppress(Exception):
                    self._on_error(exc)

    def _start_thread(self) -> None:
        with self._open_lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._flush_loop, name="laptime-log-flush", daemon=True)
            self._thread = thread
            thread.start()
        _flush_at_multiprocessing_exit()

    def _flush_loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._flush_quietly()

    def _open(self, day: str) -> int:
        with self._open_lock:
            fd = self._fds.get(day)
            if fd is not None:
                return fd
            self.store.ensure()
            path = self.store.segment_path(day)
            # O_NONBLOCK: a FIFO put in the segment's place would block the open until
            # something reads it (and hang the program being recorded); refused below.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # (ENXIO: a FIFO that nothing reads)
                    raise
                raise _not_a_segment(path) from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise _not_a_segment(path)
            os.set_blocking(fd, True)
            _seal_torn_tail(fd, path)
            self._fds[day] = fd
            return fd

    def _after_fork_in_child(self) -> None:
        # The parent's waiting lines are the parent's to write; the child must not
        # write them again. Its descriptors stay valid (O_APPEND keeps appends safe),
        # but locks may have been held and the flushing thread did not survive.
        self._queues = {}
        self._pending = 0
        self._open_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def close(self) -> None:
        """Write what is waiting and close the segments. Safe to call twice."""
        self._closed = True
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        try:
            self.flush()
        finally:
            with self._open_lock:
                for fd in self._fds.values():
                    with contextlib.suppress(OSError):
                        os.close(fd)
                self._fds.clear()
            _live_writers.discard(self)


_live_writers: weakref.WeakSet[LogWriter] = weakref.WeakSet()


def _flush_all_at_exit() -> None:
    for writer in list(_live_writers):
        writer._flush_quietly()  # noqa: SLF001 - module-level exit hook of this class


def _reset_all_in_child() -> None:
    for writer in list(_live_writers):
        writer._after_fork_in_child()  # noqa: SLF001 - module-level fork hook of this class


_exit_flush_pid = 0


def _flush_at_multiprocessing_exit() -> None:
    """A multiprocessing child ends with ``os._exit``, which skips atexit, so its waiting
    lines would be lost: have multiprocessing flush them at its exit, once per process.
    Called when a flushing thread starts, which in a child is after multiprocessing has
    cleared the finalizers inherited from the parent."""
    global _exit_flush_pid  # noqa: PLW0603 - one registration per process
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None or _exit_flush_pid == os.getpid():
        return
    _exit_flush_pid = os.getpid()
    mp_util.Finalize(None, _flush_all_at_exit, exitpriority=0)


atexit.register(_flush_all_at_exit)
os.register_at_fork(after_in_child=_reset_all_in_child)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written != len(data):
        # A short write (disk filling up, a signal) would leave half a line that the
        # next append would be glued to. Finish it; if that fails too, take the part
        # back (a full disk cannot take even the newline that would end it), else end
        # the line so the damage stays one bad line.
        try:
            view = memoryview(data)[written:]
            while view:
                n = os.write(fd, view)
                written += n
                view = view[n:]
        except OSError:
            if not _take_back(fd, data[:written]):
                os.write(fd, b"\n")
            raise


def _take_back(fd: int, part: bytes) -> bool:
    """Cut ``part`` off the end of the segment, if it is still its tail (no other writer
    appended after it). True when the segment ends as it did before the write."""
    try:
        # The append descriptor is write-only: read the tail through a second one.
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
    except OSError:
        return False  # no /proc: end the line instead
    try:
        size = os.fstat(fd).st_size
        if size < len(part) or os.pread(reader, len(part), size - len(part)) != part:
            return False
        os.ftruncate(fd, size - len(part))
    except OSError:
        return False
    finally:
        os.close(reader)
    return True


def _seal_torn_tail(fd: int, path: Path) -> None:
    """If a crashed writer left the segment without a final newline, end that line, so
    the torn fragment stays one bad line instead of swallowing our first event.

    Another process's write in flight looks the same for an instant (the file grows a
    page at a time). Our newline then waits for that write to finish and lands after
    it: one blank line, which readers skip, never a broken one."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with path.open("rb") as reader:  # the append descriptor is write-only
        reader.seek(size - 1)
        last = reader.read(1)
    if last != b"\n":
        os.write(fd, b"\n")


@dataclass(frozen=True)
class LineChunk:
    """Complete lines read from one segment.

    ``data`` holds whole lines only; ``start`` is the byte offset of its first line and
    ``first_line`` that line's 1-based number. ``end`` is where the next read resumes.
    """

    path: Path
    data: bytes
    start: int
    first_line: int
    end: int
    line_count: int


def read_chunks(path: Path, start: int = 0, first_line: int = 1, chunk_size: int = _READ_CHUNK) -> Iterator[LineChunk]:
    """Stream the complete lines of ``path`` from byte ``start``, a chunk at a time.

    A trailing fragment with no newline is not returned: it is either still being
    written or torn, and ``torn_tail`` tells which it might be.
    """
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        line_no = first_line
        # The bytes after the last newline so far, in pieces: a line longer than a chunk is
        # joined once, when its newline comes, not copied again with every chunk read.
        carry: list[bytes] = []
        while True:
            block = handle.read(chunk_size)
            if not block:
                return
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                carry.append(block)
                continue
            data = b"".join((*carry, block[:cut])) if carry else block[:cut]
            carry = [block[cut:]] if cut < len(block) else []
            count = data.count(b"\n")
            yield LineChunk(path, data, offset, line_no, offset + len(data), count)
            offset += len(data)
            line_no += count


def torn_tail(path: Path, indexed_to: int) -> int:
    """Bytes after the last newline of ``path`` (0 when the file ends cleanly)."""
    size = path.stat().st_size
    if size <= indexed_to:
        return 0
    with path.open("rb") as handle:
        back = min(size - indexed_to, 1 << 20)
        handle.seek(size - back)
        tail = handle.read(back)
    newline = tail.rfind(b"\n")
    return len(tail) - newline - 1 if newline >= 0 else len(tail)
