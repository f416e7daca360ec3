"""The append-only log: concurrent appends lose nothing and never interleave; torn lines,
truncated files and garbage are reported with file and line, and skipped."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
import types
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

import laptime
from laptime import events as ev
from laptime import log as log_module
from laptime.clock import format_timestamp, new_id, parse_timestamp_us
from laptime.index import Index, pending_torn_tail
from laptime.log import LogWriter, read_chunks, torn_tail
from laptime.recorder import Recorder, RecorderWarning
from laptime.store import Store, find_store

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier
    from pathlib import Path

DAY = "2026-01-05"
DAY2 = "2026-01-06"


def span_line(name: str, day: str = DAY, run: str = "run-1", n: int = 0) -> bytes:
    ns = parse_timestamp_us(f"{day}T10:00:00Z") * 1000 + n * 1000
    span = new_id(ns)
    return ev.encode(
        ev.SpanStart(v=1, id=span, ts=format_timestamp(ns), run=run, parent=run, span=span, kind="phase", name=name)
    )


def metric_line(value: float, day: str = DAY, run: str = "run-1") -> bytes:
    ns = parse_timestamp_us(f"{day}T11:00:00Z") * 1000
    return ev.encode(ev.Metric(v=1, id=new_id(ns), ts=format_timestamp(ns), run=run, name="m", value=value))


def count(index: Index, table: str) -> int:
    return int(index.query(f"select count(*) from {table}")[0][0])


def bad(index: Index) -> list[tuple[str, int]]:
    return [(b.segment, b.line) for b in index.bad_lines()]


# -- concurrency ----------------------------------------------------------------------------------

PROCESSES = 8
THREADS = 4
PHASES = 250  # per thread; each phase writes a start, a metric and an end
EVENTS_PER_THREAD = 2 + 3 * PHASES


def _append_from_threads(home: str, proc: int, flush_interval: float, barrier: Barrier) -> None:
    """One process of the concurrency test: 4 threads append through one real Recorder."""
    warnings.simplefilter("error", RecorderWarning)  # any recorder failure fails the process
    with Recorder(home=home, flush_interval=flush_interval) as rec:
        start = threading.Barrier(THREADS)

        def work(thread: int) -> None:
            start.wait()
            with rec.run(f"p{proc}-t{thread}", proc=proc, thread=thread) as run:
                for i in range(PHASES):
                    with run.phase(f"phase-{i % 5}"):
                        # Some lines far beyond PIPE_BUF (4 KiB), so an interleaving write shows.
                        pad = "x" * ((i * 997 + proc * 131) % 9000 if i % 4 == 0 else 10)
                        run.metric("i", i, pad=pad)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        barrier.wait()  # all 8 processes start appending together
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@pytest.mark.parametrize("flush_interval", [0.2, 0], ids=["buffered", "write-through"])
def test_appends_from_8_processes_times_4_threads_lose_nothing_and_never_interleave(
    store: Store, flush_interval: float
) -> None:
    # fork, not spawn: spawn re-imports pytest in every child, seconds on a small machine.
    # LogWriter's at-fork hook and the id factory's reseed are exercised on the way.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=_append_from_threads, args=(str(store.root), p, flush_interval, barrier))
        for p in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES

    events: list[ev.Event] = []
    for path in store.segments():
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends mid-line"
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            if not line:
                # The spec lets readers skip blank lines. One appears when a writer opening
                # the segment sees another's write in flight and "seals" it: see log.py.
                continue
            try:
                events.append(ev.decode(line))
            except ev.EventDecodeError as exc:  # pragma: no cover - the failure we guard against
                pytest.fail(f"{path.name}:{number}: {exc}: {line[:120]!r}")
    expected = PROCESSES * THREADS * EVENTS_PER_THREAD
    assert len(events) == expected
    assert len({e.id for e in events}) == expected
    per_run = Counter(e.run for e in events)
    assert len(per_run) == PROCESSES * THREADS
    assert set(per_run.values()) == {EVENTS_PER_THREAD}

    with Index(store) as index:
        stats = index.update()
        assert stats.events == expected
        assert bad(index) == []
        runs = PROCESSES * THREADS
        assert count(index, "span_starts") == runs * (1 + PHASES)
        assert count(index, "span_ends") == runs * (1 + PHASES)
        assert count(index, "metrics") == runs * PHASES
        assert count(index, "runs") == runs
        assert index.query("select count(*) from runs where outcome = 'completed'")[0][0] == runs


def test_a_forked_child_does_not_write_its_parents_waiting_lines_again(store: Store) -> None:
    writer = LogWriter(store, flush_interval=3600)  # only explicit flushes write
    parent_lines = [span_line(f"parent-{i}") for i in range(3)]
    for line in parent_lines:
        writer.append(line, DAY)
    child_lines = [span_line(f"child-{i}") for i in range(2)]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            for line in child_lines:
                writer.append(line, DAY)
            writer.close()
        except BaseException:  # report through the exit code
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer.close()
    lines = store.segment_path(DAY).read_bytes().splitlines(keepends=True)
    assert sorted(lines) == sorted(parent_lines + child_lines)


def _record_without_closing(n: int) -> None:
    with laptime.run(f"child-{n}") as run:  # the default recorder, made in the child
        run.metric("n", n)


def test_multiprocessing_children_that_never_close_their_recorder_lose_nothing() -> None:
    # A multiprocessing child leaves through os._exit, which skips atexit: the log's
    # buffered lines must be flushed by multiprocessing's own exit hook.
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_without_closing, args=(n,)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    events = [ev.decode(line) for path in find_store().segments() for line in path.read_bytes().splitlines()]
    assert len(events) == 3 * 3
    assert {e.name for e in events if isinstance(e, ev.SpanStart)} == {"child-0", "child-1", "child-2"}


# -- crashes, torn lines, truncation, garbage -------------------------------------------------------

VICTIM = """
import sys
from laptime.recorder import Recorder

rec = Recorder(home=sys.argv[1], flush_interval=float(sys.argv[2]))
with rec.run("victim") as run:
    i = 0
    while True:
        with run.phase("p", pad="x" * (i * 7919 % 60000)):
            run.metric("i", i)
        i += 1
"""


@pytest.mark.parametrize("flush_interval", [0.2, 0], ids=["buffered", "write-through"])
def test_a_writer_killed_with_sigkill_leaves_a_readable_log(store: Store, flush_interval: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", VICTIM, str(store.root), str(flush_interval)])
    try:
        deadline = time.monotonic() + 60
        while sum(p.stat().st_size for p in store.segments()) < 3_000_000:
            assert proc.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer wrote too little"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    segments = store.segments()
    complete = 0
    tails = {}
    for path in segments:
        data = path.read_bytes()
        body, _, tail = data.rpartition(b"\n")
        for line in body.split(b"\n"):
            ev.decode(line)  # every complete line is a whole event
            complete += 1
        if tail:
            tails[path.name] = (len(tail), body.count(b"\n") + 2)  # its line number
    assert complete > 0
    assert dict(pending_torn_tail(store)) == {name: size for name, (size, _) in tails.items()}

    with Index(store) as index:
        assert index.update().events == complete
        assert bad(index) == []  # a tail without its newline is not read yet

        # A new writer appends to the same segment: the torn tail, if any, becomes one
        # reported bad line and every event still counts.
        with Recorder(home=store.root, flush_interval=0) as rec, rec.run("after-the-crash") as run:
            run.metric("resumed", 1)
        stats = index.update()
        assert stats.events == 3
        assert count(index, "span_starts") + count(index, "span_ends") + count(index, "metrics") == complete + 3
        today = max(p.name for p in store.segments())
        expected_bad = [(name, line) for name, (_, line) in tails.items() if name == today]
        assert bad(index) == expected_bad
        assert index.query("select outcome from runs where name = 'victim'") == [(None,)]  # no end: it crashed


def test_a_torn_last_line_is_sealed_by_the_next_writer_and_reported(store: Store) -> None:
    store.ensure()
    path = store.segment_path(DAY)
    good = [span_line(f"s{i}") for i in range(3)]
    torn = span_line("torn")[:37]
    path.write_bytes(b"".join(good) + torn)

    with Index(store) as index:
        index.update()
        assert count(index, "span_starts") == 3
        assert pending_torn_tail(store) == [(path.name, 37)]
        assert torn_tail(path, 0) == 37

        writer = LogWriter(store, flush_interval=0)
        after = span_line("after")
        writer.append(after, DAY)
        writer.close()
        assert pending_torn_tail(store) == []
        # Sealed: the fragment got a newline of its own, the new event a line of its own.
        assert path.read_bytes() == b"".join(good) + torn + b"\n" + after
        stats = index.update()
        assert stats.events == 1
        assert [(b.segment, b.line) for b in stats.bad_lines] == [(path.name, 4)]
        assert bad(index) == [(path.name, 4)]
        (line,) = index.bad_lines()
        assert line.offset == sum(len(g) for g in good)
        assert not line.reason.startswith("torn line")  # nothing had to be recovered from it
        assert count(index, "span_starts") == 4
        assert [r[0] for r in index.query("select name from span_starts order by rowid")] == [
            "s0",
            "s1",
            "s2",
            "after",
        ]


def test_an_event_glued_to_a_torn_fragment_is_kept_and_the_line_reported(store: Store) -> None:
    writer = LogWriter(store, flush_interval=0)
    writer.append(span_line("first"), DAY)  # the segment is open before the crash
    with store.segment_path(DAY).open("ab") as crashed_writer:
        crashed_writer.write(span_line("torn")[:50])  # killed mid-line, no newline
    writer.append(span_line("glued"), DAY)  # lands right after the fragment
    writer.append(span_line("last"), DAY)
    writer.close()

    with Index(store) as index:
        stats = index.update()
        assert stats.events == 3
        (line,) = index.bad_lines()
        assert (line.segment, line.line) == (f"{DAY}.jsonl", 2)
        assert line.reason.startswith("torn line: 50 bytes of garbage before an event, which was kept")
        assert [r[0] for r in index.query("select name from span_starts order by rowid")] == ["first", "glued", "last"]


def test_a_file_truncated_mid_line_counts_every_whole_line(store: Store) -> None:
    store.ensure()
    path = store.segment_path(DAY)
    lines = [span_line(f"s{i}") if i % 2 else metric_line(i) for i in range(10)]
    path.write_bytes(b"".join(lines))
    with Index(store) as index:
        index.update()
        assert count(index, "span_starts") + count(index, "metrics") == 10

        # Truncated after it was indexed: its rows are read again from what is left.
        with path.open("r+b") as handle:
            handle.truncate(path.stat().st_size - 5)
        index.update()
        assert count(index, "span_starts") == 4
        assert count(index, "metrics") == 5
        assert bad(index) == []
        assert pending_torn_tail(store) == [(path.name, len(lines[-1]) - 5)]

        writer = LogWriter(store, flush_interval=0)
        writer.append(metric_line(99), DAY)
        writer.close()
        index.update()
        assert bad(index) == [(path.name, 10)]
        assert not index.bad_lines()[0].reason.startswith("torn line")  # sealed, not glued
        assert count(index, "span_starts") == 4
        assert count(index, "metrics") == 6


def test_garbage_lines_are_reported_with_file_and_line_and_skipped(store: Store) -> None:
    rng = random.Random(20261122)
    store.ensure()
    expected_bad: list[tuple[str, int]] = []
    expected_good = 0
    for day in (DAY, DAY2):
        path = store.segment_path(day)
        parts: list[bytes] = []
        for number in range(1, 301):
            if rng.random() < 0.15:
                noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))).replace(b"\n", b"")
                parts.append(b"\x00" + noise + b"\n")  # never blank, so always reported
                expected_bad.append((path.name, number))
            else:
                parts.append(span_line(f"s{number}", day) if number % 2 else metric_line(number, day))
                expected_good += 1
        path.write_bytes(b"".join(parts))

    with Index(store) as index:
        stats = index.update()
        assert stats.events == expected_good
        assert count(index, "span_starts") + count(index, "metrics") == expected_good
        assert bad(index) == expected_bad
        assert len(stats.bad_lines) == len(expected_bad)
        assert all(line.reason for line in index.bad_lines())
        # Nothing new: nothing read again, nothing reported twice.
        assert index.update().events == 0
        assert bad(index) == expected_bad


def test_a_line_of_another_schema_version_is_reported(store: Store) -> None:
    store.ensure()
    path = store.segment_path(DAY)
    v2 = span_line("future").replace(b'"v":1', b'"v":2')
    assert b'"v":2' in v2
    path.write_bytes(span_line("a") + v2 + span_line("b") + b"\n" + b"   \n" + span_line("c"))
    with pytest.raises(ev.EventDecodeError, match=r"unsupported schema version 2 - at `\$\.v`"):
        ev.decode(v2)
    with Index(store) as index:
        index.update()
        (line,) = index.bad_lines()
        assert (line.segment, line.line) == (path.name, 2)
        assert "$.v" in line.reason
        assert [r[0] for r in index.query("select name from span_starts order by rowid")] == ["a", "b", "c"]


# -- the writer ------------------------------------------------------------------------------------


class ScriptedOs(types.SimpleNamespace):
    """``os`` as laptime.log sees it, with ``write`` following a script of behaviours."""

    def __init__(self, script: list[str]) -> None:
        super().__init__()
        self.script = script

    def write(self, fd: int, data: Any) -> int:
        step = self.script.pop(0) if self.script else "ok"
        if step == "half":
            return os.write(fd, bytes(data[: len(data) // 2]))
        if step == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def test_a_short_write_then_a_full_disk_is_taken_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = LogWriter(store, flush_interval=0)
    writer.append(span_line("before"), DAY)
    monkeypatch.setattr(log_module, "os", ScriptedOs(["half", "enospc"]))
    with pytest.raises(OSError, match="No space left"):
        writer.append(span_line("cut"), DAY)
    writer.append(span_line("after"), DAY)  # the disk has room again
    writer.close()
    # The half-written line was cut off again: the log holds whole lines only.
    data = store.segment_path(DAY).read_bytes()
    assert data.endswith(b"\n")
    assert [json.loads(line)["name"] for line in data.splitlines()] == ["before", "after"]


def test_a_short_write_then_a_full_disk_costs_one_bad_line(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # When the half line cannot be taken back (another writer appended after it, or no
    # /proc to read it through), it is ended instead.
    monkeypatch.setattr(log_module, "_take_back", lambda fd, part: False)  # noqa: ARG005 - stands in for it
    writer = LogWriter(store, flush_interval=0)
    writer.append(span_line("before"), DAY)
    monkeypatch.setattr(log_module, "os", ScriptedOs(["half", "enospc"]))
    cut = span_line("cut")
    with pytest.raises(OSError, match="No space left"):
        writer.append(cut, DAY)
    writer.append(span_line("after"), DAY)  # the disk has room again
    writer.close()
    data = store.segment_path(DAY).read_bytes()
    # The half-written line was ended at once, so the next event has a line of its own.
    assert data.split(b"\n")[1] == cut[: len(cut) // 2]
    with Index(store) as index:
        index.update()
        assert bad(index) == [(f"{DAY}.jsonl", 2)]
        assert [r[0] for r in index.query("select name from span_starts order by rowid")] == ["before", "after"]


def test_the_flushing_thread_survives_an_error_handler_that_raises(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException] = []

    def on_error(exc: BaseException) -> None:
        errors.append(exc)
        raise RecorderWarning("a warning turned into an error by -W error")

    monkeypatch.setattr(log_module, "os", ScriptedOs(["enospc"]))
    writer = LogWriter(store, flush_interval=0.01, on_error=on_error)
    writer.append(span_line("lost"), DAY)
    deadline = time.monotonic() + 30
    while not errors:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    writer.append(span_line("kept"), DAY)
    path = store.segment_path(DAY)
    while not (path.exists() and b"kept" in path.read_bytes()):
        assert time.monotonic() < deadline, "the flushing thread stopped"
        time.sleep(0.005)
    writer.close()
    assert [type(e) for e in errors] == [OSError]


def test_a_closed_writer_still_writes_what_it_is_given(store: Store) -> None:
    writer = LogWriter(store)
    writer.append(span_line("open"), DAY)
    writer.close()
    writer.append(span_line("late"), DAY)  # no thread and no exit hook would write it later
    assert [ev.decode(line).name for line in store.segment_path(DAY).read_bytes().splitlines()] == [  # type: ignore[union-attr]
        "open",
        "late",
    ]
    writer.close()


def test_lines_go_to_the_segment_of_their_day(store: Store) -> None:
    with Recorder(home=store.root) as rec, rec.run("r") as run:
        run.metric("x", 1)
    writer = LogWriter(store, flush_interval=0)
    writer.append(span_line("d1"), DAY)
    writer.append(span_line("d2", DAY2), DAY2)
    writer.close()
    assert {p.name for p in store.segments()} >= {f"{DAY}.jsonl", f"{DAY2}.jsonl"}
    for path in store.segments():
        for line in path.read_bytes().splitlines():
            assert ev.decode(line).ts.startswith(path.stem)


# -- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
def test_read_chunks_yields_whole_lines_with_their_numbers_and_offsets(tmp_path: Path, chunk_size: int) -> None:
    rng = random.Random(chunk_size)
    lines = [b"x" * rng.randrange(0, 90) + b"\n" for _ in range(40)]
    path = tmp_path / "segment.jsonl"
    path.write_bytes(b"".join(lines) + b"unfinished")
    chunks = list(read_chunks(path, chunk_size=chunk_size))
    assert b"".join(c.data for c in chunks) == b"".join(lines)
    offset, line_no = 0, 1
    for chunk in chunks:
        assert (chunk.start, chunk.first_line) == (offset, line_no)
        assert chunk.data.endswith(b"\n")
        assert chunk.line_count == chunk.data.count(b"\n")
        offset, line_no = chunk.end, line_no + chunk.line_count
    assert (offset, line_no) == (sum(map(len, lines)), 41)
    assert torn_tail(path, 0) == len(b"unfinished")
    assert torn_tail(path, path.stat().st_size) == 0

    # Resuming from a line boundary numbers the lines on from there.
    start = sum(map(len, lines[:25]))
    resumed = list(read_chunks(path, start, 26, chunk_size=chunk_size))
    assert resumed[0].first_line == 26
    assert b"".join(c.data for c in resumed) == b"".join(lines[25:])


def test_a_fifo_in_place_of_a_segment_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO to write blocks until something reads it: the program being recorded
    (``laptime exec``, ``event``, the SDK) hung. Each is told, at once, what is in the way;
    `exec` still runs its command. (In a child process, so that a regression fails on the
    timeout instead of hanging the suite.)"""
    home = tmp_path / "store"
    (home / "log").mkdir(parents=True)
    segment = home / "log" / f"{time.strftime('%Y-%m-%d', time.gmtime())}.jsonl"
    os.mkfifo(segment)
    env = {**os.environ, "LAPTIME_HOME": str(home)}
    event = subprocess.run(
        [sys.executable, "-m", "laptime", "event", "milestone", "m1", "--run", "r1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert event.returncode == 1
    assert f"not a regular file (a FIFO or a device where a log segment belongs); move it away: '{segment}'" in (
        event.stderr
    )
    ran = subprocess.run(
        [sys.executable, "-m", "laptime", "exec", "--", sys.executable, "-c", "print('ran')"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, "ran\n")
    assert "move it away" in ran.stderr
