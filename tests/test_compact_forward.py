"""``laptime compact`` never deletes a valid line (issue 8, line 3).

Lines of a newer schema version or an unknown event type stay byte for byte, torn and
garbage lines go to ``.laptime/quarantine/<segment>``, the segment keeps its mode, and a
write error (a full disk) leaves the segment as it was.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from helpers import T0, invoke, invoke_json, record_fixed_run, record_simple_run
from laptime import retention
from laptime.index import Index
from laptime.retention import CompactWriteError, compact, quarantine_path, read_quarantine

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

TODAY = date(2026, 11, 21)
DAY = T0.date().isoformat()  # the fixed run's day, 2026-01-05
RUN = "run-a-0000000000000000000000000000"

# A newer laptime's line: schema v2, a shape this one cannot read.
NEWER = (
    b'{"type":"llm","v":2,"id":"0000000000000000000000000000v2v2","ts":"2026-01-05T09:01:00.000000Z",'
    b'"run":"' + RUN.encode() + b'","usage":{"in":5,"out":1}}'
)
# A v1 line of an event type added after this laptime.
UNKNOWN = (
    b'{"type":"gpu_sample","v":1,"id":"00000000000000000000000000000gpu","ts":"2026-01-05T09:02:00.000000Z",'
    b'"run":"' + RUN.encode() + b'","util":0.93}'
)
# A v1 metric with a field a newer v1 writer added: valid, and the field must survive.
EXTRA_FIELD = (
    b'{"type":"metric","v":1,"id":"0000000000000000000000000000met1","ts":"2026-01-05T09:03:00.000000Z",'
    b'"run":"' + RUN.encode() + b'","name":"queue_depth","value":3.5,"unit":"","added_in_v1_9":true}'
)
# A span pair with such a field: merging it would drop the field, so it stays as written.
EXTRA_START = (
    b'{"type":"span_start","v":1,"id":"000000000000000000000000000span1","ts":"2026-01-05T09:04:00.000000Z",'
    b'"run":"' + RUN.encode() + b'","parent":"' + RUN.encode() + b'","span":"000000000000000000000000000span1",'
    b'"kind":"tool","name":"grep","hint":"new"}'
)
EXTRA_END = (
    b'{"type":"span_end","v":1,"id":"000000000000000000000000000end01","ts":"2026-01-05T09:04:01.000000Z",'
    b'"run":"' + RUN.encode() + b'","span":"000000000000000000000000000span1"}'
)
TORN = b'{"type":"span_start","v":1,"id":"01a1fd8c69'  # a writer killed mid-line
GARBAGE = b"\x00\xff\xfe binary junk, not UTF-8 \x81"
GLUED_EVENT = (
    b'{"type":"metric","v":1,"id":"0000000000000000000000000000met2","ts":"2026-01-05T09:05:00.000000Z",'
    b'"run":"' + RUN.encode() + b'","name":"glued","value":1.0}'
)
GLUED_PREFIX = b'{"type":"llm","v":1,"id":"torn'
GLUED = GLUED_PREFIX + GLUED_EVENT  # a torn fragment, then another writer's whole event
TAIL = b'{"type":"span_end","v":1,"id":"tail'  # the segment's last bytes, no newline

KEPT_AS_WRITTEN = (NEWER, UNKNOWN, EXTRA_FIELD, EXTRA_START, EXTRA_END, GLUED_EVENT)
QUARANTINED = (TORN, GARBAGE, GLUED, TAIL)


def _every_report(store: Store) -> dict[str, Any]:
    """Every report laptime gives on the store, as JSON, keyed by command."""
    runs = invoke_json(store.root, "report", "list", "--limit", "1000")["runs"]
    out: dict[str, Any] = {"list": runs}
    for row in runs:
        out[f"report {row['run_id']}"] = invoke_json(store.root, "report", row["run_id"])
        out[f"show {row['run_id']}"] = invoke_json(store.root, "report", "show", row["run_id"])
    return out


@pytest.fixture(name="mixed")
def fixture_mixed(store: Store) -> Path:
    """Two past days of runs; the first day's segment (mode 0o640) also holds a v2 line,
    an unknown-type line, v1 lines with extra fields, a torn line, garbage, a torn
    fragment glued to a whole event, and a torn tail."""
    record_fixed_run(store, run_id=RUN)
    record_simple_run(store, "run-b-0000000000000000000000000000", start=T0 + timedelta(days=1), calls=3)
    path = store.segment_path(DAY)
    with path.open("ab") as handle:
        for line in (NEWER, TORN, UNKNOWN, EXTRA_FIELD, GARBAGE, EXTRA_START, GLUED, EXTRA_END):
            handle.write(line + b"\n")
        handle.write(TAIL)
    path.chmod(0o640)
    return path


def _line_no(data: bytes, line: bytes) -> int:
    return data.split(b"\n").index(line) + 1


class TestForwardCompatibleLines:
    def test_every_valid_and_newer_line_stays_byte_for_byte(self, store: Store, mixed: Path) -> None:
        original = mixed.read_bytes()
        result = compact(store, today=TODAY)
        after = mixed.read_bytes().split(b"\n")
        assert after[-1] == b""  # ends with a newline: the torn tail is gone
        for line in KEPT_AS_WRITTEN:
            assert after.count(line) == 1, line
        # Every v1 line the recorder wrote stays as written, in order, except the span
        # halves merged into one `span` line each.
        recorded = [
            line for line in original.split(b"\n") if line and line not in QUARANTINED and line not in KEPT_AS_WRITTEN
        ]
        plain = [line for line in recorded if json.loads(line)["type"] not in {"span_start", "span_end"}]
        assert plain
        assert [line for line in after if line in plain] == plain
        halves = {json.loads(line)["id"] for line in recorded} - {json.loads(line)["id"] for line in plain}
        merged = [json.loads(line) for line in after if line and json.loads(line)["type"] == "span"]
        assert {m["id"] for m in merged} | {m["end_id"] for m in merged} == halves
        assert result.kept_newer_version == 1
        assert result.kept_unknown_type == 1
        assert result.lines_quarantined == len(QUARANTINED)
        assert result.torn_lines_dropped == 0

    def test_the_index_still_sees_the_lines_it_cannot_read_as_bad_lines_only(self, store: Store, mixed: Path) -> None:
        compact(store, today=TODAY)
        after = mixed.read_bytes()
        with Index(store) as index:
            bad = {(b.segment, b.line) for b in index.bad_lines()}
        assert bad == {(mixed.name, _line_no(after, NEWER)), (mixed.name, _line_no(after, UNKNOWN))}

    def test_every_kpi_of_every_run_is_unchanged(self, store: Store, mixed: Path) -> None:
        before = _every_report(store)
        compact(store, today=TODAY)
        assert _every_report(store) == before
        # the glued event, which the index read before, is still read
        assert mixed.read_bytes().count(GLUED_EVENT) == 1


class TestQuarantine:
    def test_torn_and_garbage_lines_keep_their_bytes_and_where_they_came_from(self, store: Store, mixed: Path) -> None:
        original = mixed.read_bytes()
        compact(store, today=TODAY)
        target = quarantine_path(store, mixed)
        assert target.parent == store.root / "quarantine"
        assert target not in store.segments()
        records = read_quarantine(target)
        assert [r.raw_bytes() for r in records] == list(QUARANTINED)
        for record in records:
            assert record.segment == mixed.name
            assert original[record.offset : record.offset + len(record.raw_bytes())] == record.raw_bytes()
        by_raw = {r.raw_bytes(): r for r in records}
        assert by_raw[TORN].line == _line_no(original, TORN)
        assert by_raw[GARBAGE].raw is None  # not UTF-8: kept as base64
        assert by_raw[GARBAGE].raw_b64 is not None
        assert by_raw[GLUED].kept_from == len(GLUED_PREFIX)
        assert by_raw[TAIL].torn_tail
        assert by_raw[TAIL].line == original.count(b"\n") + 1

    def test_a_second_compact_adds_nothing_to_the_quarantine(self, store: Store, mixed: Path) -> None:
        compact(store, today=TODAY)
        target = quarantine_path(store, mixed)
        quarantined = target.read_bytes()
        segments = {p.name: p.read_bytes() for p in store.segments()}
        again = compact(store, today=TODAY)
        assert again.lines_quarantined == 0
        assert again.segments_rewritten == 0
        assert target.read_bytes() == quarantined
        assert {p.name: p.read_bytes() for p in store.segments()} == segments

    def test_a_fifo_in_place_of_the_quarantine_is_named_and_the_segment_kept(self, store: Store, mixed: Path) -> None:
        """Reading or appending to a FIFO blocks until the other end opens: compact hung,
        holding the maintenance lock. Now it says what is in the way and leaves the segment."""
        import os

        target = quarantine_path(store, mixed)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(target)
        before = mixed.read_bytes()
        # In a child process, so that a regression fails on the timeout instead of hanging the suite.
        result = subprocess.run(
            [sys.executable, "-m", "laptime", "--home", str(store.root), "compact"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert f"compact: {target} is not a regular file; move it away (the segment {mixed.name} is unchanged)" in (
            result.stderr
        )
        assert mixed.read_bytes() == before

    def test_the_cli_says_where_the_quarantine_is(self, store: Store, mixed: Path) -> None:
        data = invoke_json(store.root, "compact")
        assert data["kept_newer_version"] == 1
        assert data["kept_unknown_type"] == 1
        assert data["lines_quarantined"] == len(QUARANTINED)
        assert data["quarantine_dir"] == str(store.root / "quarantine")
        assert data["quarantine_files"] == [str(quarantine_path(store, mixed))]

    def test_the_cli_text_says_it_too(self, store: Store, mixed: Path) -> None:
        result = invoke(store.root, "compact")
        assert result.exit_code == 0, result.output
        assert "kept as written: 1 lines of a newer schema version, 1 of an unknown event type" in result.stdout
        assert f"4 torn or garbage lines set aside in {quarantine_path(store, mixed)}" in result.stdout


class TestFileMode:
    def test_the_segment_keeps_its_mode(self, store: Store, mixed: Path) -> None:
        compact(store, today=TODAY)
        assert stat.S_IMODE(mixed.stat().st_mode) == 0o640
        # the quarantine holds the same data, so it gets the segment's mode
        assert stat.S_IMODE(quarantine_path(store, mixed).stat().st_mode) == 0o640


def _full_disk_after_half(*, quarantine: bool) -> Any:
    """A ``_write_all`` that writes half of the segment's (or, with ``quarantine``, the
    quarantine's) bytes, then fails the way a full disk does; other writes go through."""
    real = retention._write_all

    def write(fd: int, data: bytes) -> None:
        if data.startswith(b'{"segment"') == quarantine:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    return write


class TestWriteErrors:
    def test_a_full_disk_during_the_rewrite_leaves_the_segment_intact(
        self, store: Store, mixed: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        original = mixed.read_bytes()
        monkeypatch.setattr(retention, "_write_all", _full_disk_after_half(quarantine=False))
        with pytest.raises(CompactWriteError) as caught:
            compact(store, today=TODAY)
        assert str(caught.value) == (
            f"compact: could not rewrite segment {mixed.name}: No space left on device; the segment is unchanged"
        )
        assert mixed.read_bytes() == original
        assert stat.S_IMODE(mixed.stat().st_mode) == 0o640
        assert sorted(p.name for p in mixed.parent.iterdir()) == ["2026-01-05.jsonl", "2026-01-06.jsonl"]

    def test_running_again_after_the_failure_does_not_duplicate_the_quarantine(
        self, store: Store, mixed: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(retention, "_write_all", _full_disk_after_half(quarantine=False))
            with pytest.raises(CompactWriteError):
                compact(store, today=TODAY)
        target = quarantine_path(store, mixed)
        assert [r.raw_bytes() for r in read_quarantine(target)] == list(QUARANTINED)  # synced before the rename
        compact(store, today=TODAY)
        assert [r.raw_bytes() for r in read_quarantine(target)] == list(QUARANTINED)
        assert all(mixed.read_bytes().count(line) == 0 for line in (TORN, GARBAGE, GLUED))

    def test_a_full_disk_while_quarantining_leaves_the_segment_intact(
        self, store: Store, mixed: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        original = mixed.read_bytes()
        monkeypatch.setattr(retention, "_write_all", _full_disk_after_half(quarantine=True))
        with pytest.raises(CompactWriteError, match=f"for segment {mixed.name}: No space left on device"):
            compact(store, today=TODAY)
        assert mixed.read_bytes() == original

    def test_the_cli_gives_one_line_and_exit_1(
        self, store: Store, mixed: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        original = mixed.read_bytes()
        monkeypatch.setattr(retention, "_write_all", _full_disk_after_half(quarantine=False))
        result = invoke(store.root, "compact")
        assert result.exit_code == 1
        assert result.output == (
            f"Error: compact: could not rewrite segment {mixed.name}: No space left on device; "
            "the segment is unchanged\n"
        )
        assert mixed.read_bytes() == original


def test_a_whole_event_missing_only_its_newline_is_kept(store: Store) -> None:
    """A past day's last line that is a whole event gets its newline, as a writer's
    seal would give it, instead of going to the quarantine."""
    record_simple_run(store, "run-b-0000000000000000000000000000")
    path = store.segment_path(DAY)
    with path.open("ab") as handle:
        handle.write(EXTRA_FIELD)
    result = compact(store, today=TODAY)
    assert result.lines_quarantined == 0
    assert path.read_bytes().endswith(b"\n" + EXTRA_FIELD + b"\n")
    assert not quarantine_path(store, path).exists()
    with Index(store) as index:
        assert index.query("SELECT name FROM metrics") == [("queue_depth",)]


@pytest.mark.parametrize(
    ("line", "kept", "quarantined"),
    [
        # a newer version may rename `type` too: an integer v above 1 is enough
        (b'{"v":3,"kind":"llm","run":"r"}', b'{"v":3,"kind":"llm","run":"r"}', False),
        # a newer line glued after a torn fragment stays, the fragment is set aside
        (b'{"type":"ll' + NEWER, NEWER, True),
        # a v1 line of a known type that fails validation is broken, not newer
        (
            b'{"type":"metric","v":1,"id":"x","ts":"2026-01-05T09:00:00.000000Z","run":"r","name":"m","value":"high"}',
            None,
            True,
        ),
    ],
)
def test_each_kind_of_line_goes_where_it_belongs(
    store: Store, line: bytes, kept: bytes | None, *, quarantined: bool
) -> None:
    record_simple_run(store, "run-b-0000000000000000000000000000")
    path = store.segment_path(DAY)
    with path.open("ab") as handle:
        handle.write(line + b"\n")
    compact(store, today=TODAY)
    after = path.read_bytes().split(b"\n")
    if kept is not None:
        assert after.count(kept) == 1
    assert line not in after or line == kept
    records = read_quarantine(quarantine_path(store, path))
    assert [r.raw_bytes() for r in records] == ([line] if quarantined else [])
