"""Faults in the store (issue 8, line 5): unreadable segments, a read-only store, a full disk.

Root ignores file permissions, and CI runs as root: the permission cases run the CLI in
a subprocess under ``setpriv`` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped
(skipped only where the kernel refuses), and the full disk is a small tmpfs (skipped
only where the kernel refuses the mount).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import T0, invoke, record_simple_run
from laptime.index import Index

if TYPE_CHECKING:
    from collections.abc import Iterator

    from laptime.store import Store

LAPTIME = Path(sys.executable).parent / "laptime"
DROP_DAC = [
    "setpriv",
    "--bounding-set",
    "-dac_override,-dac_read_search",
    "--inh-caps",
    "-dac_override,-dac_read_search",
]
needs_setpriv = pytest.mark.skipif(
    shutil.which("setpriv") is None, reason="needs util-linux setpriv to drop root's capabilities"
)

RUN_A = "run-a-00000000000000000000000000000"
RUN_B = "run-b-00000000000000000000000000000"
DAY_A = T0.date().isoformat()  # 2026-01-05
DAY_B = (T0 + timedelta(days=1)).date().isoformat()


def unprivileged(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    """``laptime --home STORE ARGS...`` as a root that file permissions bind."""
    done = subprocess.run(
        [*DROP_DAC, str(LAPTIME), "--home", str(store.root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if "setpriv" in done.stderr and ("Operation not permitted" in done.stderr or "Invalid argument" in done.stderr):
        pytest.skip("the kernel refused to drop the capabilities")
    return done


def two_days(store: Store) -> None:
    """Run A in DAY_A's segment, run B in DAY_B's."""
    record_simple_run(store, RUN_A, start=T0, name="alpha")
    record_simple_run(store, RUN_B, start=T0 + timedelta(days=1), name="beta")


def run_ids(stdout: str) -> list[str]:
    return sorted(r["run_id"] for r in json.loads(stdout)["runs"])


# -- 1. unreadable segments ----------------------------------------------------------------


@needs_setpriv
class TestUnreadableSegment:
    def test_reports_carry_on_over_the_rest_with_one_warning(self, store: Store) -> None:
        two_days(store)
        segment = store.segment_path(DAY_A)
        segment.chmod(0)
        for args in (("report", "list"), ("report", "summary"), ("report", RUN_B)):
            done = unprivileged(store, *args)
            assert done.returncode == 0, (args, done.stderr)
            assert "Traceback" not in done.stderr
            warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
            assert len(warnings) == 1, (args, done.stderr)
            assert str(segment) in warnings[0]
            assert "Permission denied" in warnings[0]
        listed = unprivileged(store, "report", "list", "--json")
        assert run_ids(listed.stdout) == [RUN_B]

    def test_what_the_index_holds_for_it_is_kept(self, store: Store) -> None:
        two_days(store)
        with Index(store) as index:
            index.update()
        segment = store.segment_path(DAY_A)
        with segment.open("ab") as handle:  # grown since: the update must read it, and cannot
            handle.write(b'{"type":"metric"}\n')
        segment.chmod(0)
        done = unprivileged(store, "report", "list", "--json")
        assert done.returncode == 0, done.stderr
        assert run_ids(done.stdout) == [RUN_A, RUN_B]
        assert str(segment) in done.stderr

    def test_doctor_exits_1_and_names_it(self, store: Store) -> None:
        two_days(store)
        segment = store.segment_path(DAY_A)
        segment.chmod(0)
        done = unprivileged(store, "doctor")
        assert done.returncode == 1, done.stderr
        assert f"unreadable {segment}: cannot be read: Permission denied" in done.stdout
        assert "health     ok" not in done.stdout
        as_json = unprivileged(store, "doctor", "--json")
        assert as_json.returncode == 1
        assert json.loads(as_json.stdout)["unreadable_segments"] == [
            {"file": str(segment), "reason": "cannot be read: Permission denied"}
        ]


class TestSegmentIsAFolder:
    def test_doctor_names_it_and_reports_carry_on(self, store: Store) -> None:
        record_simple_run(store, RUN_B, start=T0 + timedelta(days=1), name="beta")
        folder = store.segment_path(DAY_A)
        folder.mkdir()
        (folder / "x").write_text("not a segment", encoding="utf-8")
        doctor = invoke(store.root, "doctor")
        assert doctor.exit_code == 1, doctor.output
        assert f"unreadable {folder}: a folder, not a segment file" in doctor.stdout
        listed = invoke(store.root, "report", "list", "--json")
        assert listed.exit_code == 0, listed.output
        assert run_ids(listed.stdout) == [RUN_B]
        assert listed.stderr.count("warning:") == 1
        assert str(folder) in listed.stderr


class TestLogIsAFile:
    def test_doctor_names_it_and_reports_answer_from_the_index(self, store: Store) -> None:
        two_days(store)
        with Index(store) as index:
            index.update()
        shutil.rmtree(store.log_dir)
        store.log_dir.write_text("oops", encoding="utf-8")
        doctor = invoke(store.root, "doctor")
        assert doctor.exit_code == 1, doctor.output
        assert f"unreadable {store.log_dir}: the log folder is a file" in doctor.stdout
        listed = invoke(store.root, "report", "list", "--json")
        assert listed.exit_code == 0, listed.output
        # The index is derived from the log, and the log is out of reach, not gone.
        assert run_ids(listed.stdout) == [RUN_A, RUN_B]
        assert listed.stderr.count("warning:") == 1
        assert str(store.log_dir) in listed.stderr


# -- 2. a read-only store ------------------------------------------------------------------


def make_read_only(store: Store) -> None:
    """The store's folder and every file in it lose their write bits."""
    for path in [store.root, *store.root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


def snapshot_of(store: Store) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.root.rglob("*")}


def indexed_store(store: Store) -> None:
    two_days(store)
    with Index(store) as index:
        index.update()


@needs_setpriv
class TestReadOnlyStore:
    def test_reports_work_and_write_nothing(self, store: Store) -> None:
        indexed_store(store)
        make_read_only(store)
        before = snapshot_of(store)
        for args in (("report", "list"), ("report", "summary"), ("report", RUN_B), ("doctor",)):
            done = unprivileged(store, *args)
            assert done.returncode == 0, (args, done.stderr)
            assert done.stderr == "", (args, done.stderr)
        listed = unprivileged(store, "report", "list", "--json")
        assert run_ids(listed.stdout) == [RUN_A, RUN_B]
        assert snapshot_of(store) == before

    def test_a_log_ahead_of_the_index_answers_from_the_index_with_a_warning(self, store: Store) -> None:
        record_simple_run(store, RUN_A, start=T0, name="alpha")
        with Index(store) as index:
            index.update()
        record_simple_run(store, RUN_B, start=T0 + timedelta(days=1), name="beta")
        make_read_only(store)
        done = unprivileged(store, "report", "list", "--json")
        assert done.returncode == 0, done.stderr
        assert run_ids(done.stdout) == [RUN_A]
        assert done.stderr == (
            f"warning: the store {store.root} is read-only; this answers from its index as last written, "
            "without what the log gained since\n"
        )

    @pytest.mark.parametrize(
        ("args", "doing"),
        [
            (("refresh",), "`laptime refresh`"),
            (("compact",), "`laptime clean` or `compact`"),
            (("import", "runr", "RUNR"), "`laptime import`"),
        ],
    )
    def test_writers_exit_1_with_one_line_naming_the_store(
        self, store: Store, args: tuple[str, ...], doing: str
    ) -> None:
        indexed_store(store)
        make_read_only(store)
        before = snapshot_of(store)
        runr = Path(__file__).parent / "fixtures" / "runr"
        done = unprivileged(store, *(str(runr) if a == "RUNR" else a for a in args))
        assert done.returncode == 1, done.stderr
        assert done.stderr == (
            f"Error: the store {store.root} is read-only ({store.root} is not writable by this user); "
            f"{doing} needs to write it, nothing was changed\n"
        )
        assert snapshot_of(store) == before

    def test_demo_never_claims_a_run_it_could_not_write(self, store: Store) -> None:
        indexed_store(store)
        make_read_only(store)
        done = unprivileged(store, "demo")
        assert done.returncode == 1
        assert "recorded demo run" not in done.stdout
        assert f"Error: the store {store.root} is read-only" in done.stderr

    def test_demo_with_a_read_only_segment_says_the_run_did_not_reach_the_log(self, store: Store) -> None:
        store.ensure()
        # Today's segment (the demo ends now) exists and cannot be written; the folder can.
        from datetime import UTC, datetime

        for day in {datetime.now(UTC).date(), (datetime.now(UTC) - timedelta(minutes=30)).date()}:
            segment = store.segment_path(day.isoformat())
            segment.write_bytes(b"")
            segment.chmod(0o444)
        done = unprivileged(store, "demo")
        assert done.returncode == 1, done.stdout
        assert "recorded demo run" not in done.stdout
        assert "did not reach the log" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only bind mount of a folder (skipped where the kernel refuses the mount)."""
    source = tmp_path / "source"
    source.mkdir()
    target = tmp_path / "ro"
    target.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"the kernel refused a bind mount: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield source
        # The caller fills ``source``, then remounts ``target`` read-only itself.
    finally:
        subprocess.run(["umount", str(target)], check=False)


class TestReadOnlyMount:
    def test_reports_work_and_refresh_fails_clearly(self, read_only_mount: Path) -> None:
        from laptime.store import Store as StoreType

        source = StoreType(read_only_mount / ".laptime")
        indexed_store(source)
        target = read_only_mount.parent / "ro"
        done = subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"the kernel refused a read-only remount: {done.stderr.decode(errors='replace').strip()}")
        store = StoreType(target / ".laptime")
        laptime = [str(LAPTIME), "--home", str(store.root)]
        listed = subprocess.run([*laptime, "report", "list", "--json"], capture_output=True, text=True, check=False)
        assert listed.returncode == 0, listed.stderr
        assert run_ids(listed.stdout) == [RUN_A, RUN_B]
        refresh = subprocess.run([*laptime, "refresh"], capture_output=True, text=True, check=False)
        assert refresh.returncode == 1
        assert refresh.stderr == (
            f"Error: the store {store.root} is read-only ({store.root} is on a read-only file system); "
            "`laptime refresh` needs to write it, nothing was changed\n"
        )


# -- 3. a full disk ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (an index needs some 300 KiB, so 256 KiB would hold no store at all);
    skipped only where the kernel refuses the mount. Unmounted in teardown."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"the kernel refused a tmpfs mount: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, *, leave: int = 0) -> Path:
    """Fill ``disk`` up to ``leave`` bytes of free space; the filler file is returned."""
    filler = disk / "filler"
    with filler.open("wb") as handle:
        block = b"\0" * 4096
        while True:
            free = shutil.disk_usage(disk).free
            if free <= leave:
                break
            try:
                handle.write(block[: min(len(block), free - leave)])
                handle.flush()
            except OSError:
                break
    return filler


def log_bytes(store: Store) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.segments()}


def full_disk_message(store: Store, doing: str) -> str:
    return (
        f"Error: the disk holding the store {store.root} is full; {doing} stopped and the log keeps only whole lines "
        "(the index catches up later); free some space and run it again\n"
    )


class TestFullDisk:
    def test_import_is_a_clear_error_and_the_log_is_intact(self, small_disk: Path) -> None:
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        indexed_store(store)
        before = log_bytes(store)
        fill(small_disk)
        result = invoke(store.root, "import", "runr", str(Path(__file__).parent / "fixtures" / "runr"))
        assert result.exit_code == 1, result.output
        assert result.stderr == full_disk_message(store, "`laptime import`")
        assert log_bytes(store) == before
        (small_disk / "filler").unlink()
        again = invoke(store.root, "import", "runr", str(Path(__file__).parent / "fixtures" / "runr"))
        assert again.exit_code == 0, again.output
        assert len(run_ids(invoke(store.root, "report", "list", "--json").stdout)) > 2

    def test_refresh_is_a_clear_error_and_the_index_stands(self, small_disk: Path) -> None:
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        indexed_store(store)
        before = log_bytes(store)
        # Room to open the index, not to rebuild it.
        fill(small_disk, leave=16 * 1024)
        result = invoke(store.root, "refresh")
        assert result.exit_code == 1, result.output
        assert result.stderr in {
            full_disk_message(store, "`laptime refresh`"),
            full_disk_message(store, "opening the index"),
        }
        assert log_bytes(store) == before
        (small_disk / "filler").unlink()
        assert run_ids(invoke(store.root, "report", "list", "--json").stdout) == [RUN_A, RUN_B]

    def test_refresh_on_a_disk_with_no_room_at_all(self, small_disk: Path) -> None:
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        indexed_store(store)
        before = log_bytes(store)
        fill(small_disk)
        result = invoke(store.root, "refresh")
        assert result.exit_code == 1
        assert "delete it" not in result.stderr  # the index is fine: deleting it would lose it for nothing
        assert result.stderr in {
            full_disk_message(store, "`laptime refresh`"),
            full_disk_message(store, "opening the index"),
        }
        assert log_bytes(store) == before

    def test_compact_is_a_clear_error_and_the_log_is_intact(self, small_disk: Path) -> None:
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        indexed_store(store)
        before = log_bytes(store)
        fill(small_disk)
        result = invoke(store.root, "compact")
        assert result.exit_code == 1
        assert "No space left on device" in result.stderr
        assert "the segment is unchanged" in result.stderr
        assert log_bytes(store) == before

    def test_a_line_cut_short_by_the_disk_is_taken_back(self, small_disk: Path) -> None:
        from laptime.log import LogWriter
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        record_simple_run(store, RUN_A, start=T0)
        before = log_bytes(store)
        fill(small_disk, leave=8 * 1024)
        writer = LogWriter(store, flush_interval=0)
        line = b'{"type":"metric","pad":"' + b"x" * (64 * 1024) + b'"}\n'  # more than the disk has left
        with pytest.raises(OSError, match="No space left on device"):
            writer.append(line, DAY_A)
        writer.close()
        assert log_bytes(store) == before


@needs_setpriv
class TestReadOnlyStoreWithoutIndex:
    def test_a_report_says_there_is_no_index_and_does_not_advise_deleting_it(self, store: Store) -> None:
        two_days(store)  # a log, never indexed
        make_read_only(store)
        done = unprivileged(store, "report", "list")
        assert done.returncode == 1
        assert done.stderr == (
            f"Error: the store {store.root} is read-only ({store.root} is not writable by this user) and has no "
            f"index {store.index_path} to answer from; make it writable and run `laptime refresh`\n"
        )


class TestDemoOnAFullDisk:
    def test_demo_never_claims_a_run_the_disk_could_not_take(self, small_disk: Path) -> None:
        from laptime.store import Store as StoreType

        store = StoreType(small_disk / ".laptime")
        indexed_store(store)
        fill(small_disk)
        done = subprocess.run(
            [str(LAPTIME), "--home", str(store.root), "demo"], capture_output=True, text=True, check=False, timeout=120
        )
        assert done.returncode == 1
        assert "recorded demo run" not in done.stdout
        assert "did not reach the log" in done.stderr
        assert "Traceback" not in done.stderr


@needs_setpriv
def test_cost_limits_on_a_read_only_store_price_without_keeping(store: Store) -> None:
    """Budget checks keep run costs in the index; a read-only store prices them in a temp
    table instead, with the same answer, and writes nothing."""
    indexed_store(store)
    store.config_path.write_text("[budgets]\ncost_usd = 0.0004\n", encoding="utf-8")
    make_read_only(store)
    before = snapshot_of(store)
    done = unprivileged(store, "report", "summary", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    listed = unprivileged(store, "report", "list", "--over-budget", "--json")
    assert listed.returncode == 0, listed.stderr
    assert snapshot_of(store) == before
    for path in [store.root, *store.root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    writable = unprivileged(store, "report", "summary", "--json")
    assert json.loads(done.stdout)["budgets"] == json.loads(writable.stdout)["budgets"]
    assert json.loads(done.stdout)["budgets"]["runs_over_budget"] == 2  # one call each: $0.00045
    assert run_ids(listed.stdout) == run_ids(unprivileged(store, "report", "list", "--over-budget", "--json").stdout)
