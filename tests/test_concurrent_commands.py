"""Issue 8: every command can run side by side with the others and with SDK writers.

Eight real CLI processes at a time, for rounds, while two SDK writer processes append
runs to the log: no command may fail (exit code, "database is locked", BusyError, a
traceback), what they print while the log grows must be consistent (valid JSON, run
counts that never go down from one round to the next), and once the writers have
stopped every concurrent output must equal the one a serial run prints for the same
store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import pytest

from helpers import T0, invoke, invoke_json, record_simple_run
from laptime.index import Index, IndexOpenError, open_index
from laptime.retention import compact, maintenance_lock

if TYPE_CHECKING:
    from laptime.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
# The console script of the interpreter running the tests (the venv's).
LAPTIME = str(Path(sys.executable).with_name("laptime"))

ROUNDS_WHILE_WRITING = 20
ROUNDS_AFTER_WRITING = 2
COMMAND_TIMEOUT_S = 120
FAILURE = re.compile(r"locked|BusyError|Traceback|delete it", re.IGNORECASE)

# One SDK writer: small runs, one after another, each event written at once (no
# buffering), until the stop file appears or it has recorded the most it may.
WRITER = """
import sys, time, pathlib
import laptime
home, name, stop, most = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4])
n = 0
with laptime.Recorder(home=home, flush_interval=0) as rec:
    while n < most and not stop.exists():
        n += 1
        with rec.run(f"{name}-task", runner="writer") as run:
            with run.phase("plan"):
                run.llm_call("claude-sonnet-4-20250514", provider="anthropic", input_tokens=100 + n,
                             output_tokens=20)
        time.sleep(0.2)
"""


def _commands(runr: Path) -> dict[str, list[str]]:
    """The eight commands of a round: readers, an import, and the index's two rebuilders."""
    return {
        "report summary": ["report", "summary", "--json"],
        "report list": ["report", "list", "--limit", "100000", "--json"],
        "report usage": ["report", "usage", "--json"],
        "status": ["status", "--json"],
        "doctor": ["doctor", "--json"],
        "import": ["import", "runr", str(runr), "--json", "--quiet"],
        "refresh": ["refresh", "--json"],
        "compact": ["compact", "--json"],
    }


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        CODEX_HOME=str(home / ".codex"),
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("LAPTIME_HOME", None)
    return env


def _start(store: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LAPTIME, "--home", str(store), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _round(store: Path, commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    """All the commands at once; name -> (exit code, stdout, stderr)."""
    procs = {name: _start(store, args, env) for name, args in commands.items()}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=COMMAND_TIMEOUT_S)
        out[name] = (proc.returncode, stdout, stderr)
    return out


def _failures(results: dict[str, tuple[int, str, str]]) -> list[str]:
    """What went wrong in a round: a failed command, a lock error on stderr, an output
    that is not JSON, or a health report that could not open the index."""
    failed = []
    for name, (code, stdout, stderr) in results.items():
        if code != 0 or FAILURE.search(stderr):
            failed.append(f"{name}: exit {code}: {stderr.strip()[-400:]}")
            continue
        try:
            data = json.loads(stdout)
        except json.JSONDecodeError:
            failed.append(f"{name}: not JSON: {stdout[:200]!r}")
            continue
        if isinstance(data, dict) and data.get("index_error"):
            failed.append(f"{name}: {data['index_error']}")
    return failed


def _runs_seen(name: str, data: Any) -> int | None:
    """The number of runs a command's output says the store holds, if it says."""
    if name in ("report summary", "status", "doctor"):
        return int(data["runs"])
    if name == "report list":
        return len(data["runs"])
    return None


def _comparable(name: str, data: Any) -> Any:
    """An output without what differs between two identical runs (wall-clock timings)."""
    if name == "refresh":
        return {k: v for k, v in data.items() if k not in ("seconds", "events_per_second")}
    return data


@pytest.fixture
def store_and_runr(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A store with one recorded run and one imported runr run, its index built."""
    env = _env(tmp_path)
    store = tmp_path / ".laptime"
    runr = tmp_path / "runr"
    shutil.copytree(FIXTURES / "runr" / "runs", runr)
    subprocess.run(
        [sys.executable, "-c", WRITER, str(store), "seed", str(tmp_path / "no-stop"), "1"],
        check=True,
        env=env,
        timeout=60,
    )
    for args in (["import", "runr", str(runr), "--quiet"], ["refresh"]):
        subprocess.run(
            [LAPTIME, "--home", str(store), *args],
            check=True,
            env=env,
            capture_output=True,
            timeout=60,
        )
    return store, runr, env


def test_commands_run_side_by_side_with_each_other_and_with_writers(
    store_and_runr: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    store, runr, env = store_and_runr
    commands = _commands(runr)
    stop = tmp_path / "stop-writers"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store), f"writer{i}", str(stop), "100000"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    failures_per_round: list[list[str]] = []
    floor = 0  # the most runs any command saw in an earlier round
    regressions: list[tuple[int, list[int]]] = []
    try:
        for _ in range(ROUNDS_WHILE_WRITING):
            results = _round(store, commands, env)
            failed = _failures(results)
            failures_per_round.append(failed)
            seen = []
            for name, (_, stdout, _) in results.items():
                if any(f.startswith(f"{name}:") for f in failed):
                    continue  # counted above
                runs = _runs_seen(name, json.loads(stdout))
                if runs is not None:
                    seen.append(runs)
            # Every command of this round started after the last round ended: none sees fewer.
            if min(seen, default=floor) < floor:
                regressions.append((floor, seen))
            floor = max(seen, default=floor)
    finally:
        stop.touch()
        for writer in writers:
            _, err = writer.communicate(timeout=60)
            assert writer.returncode == 0, err
    recorded = floor

    # The writers are done: the index catches up once, then rounds of concurrent commands
    # must print what the same commands print one at a time.
    settle = subprocess.run(
        [LAPTIME, "--home", str(store), "doctor", "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    total_runs = json.loads(settle.stdout)["runs"]
    assert total_runs >= recorded
    concurrent = []
    for _ in range(ROUNDS_AFTER_WRITING):
        results = _round(store, commands, env)
        failures_per_round.append(_failures(results))
        concurrent.append(results)
    serial = {name: _round(store, {name: args}, env)[name] for name, args in commands.items()}

    counts = [len(f) for f in failures_per_round]
    print("failures per round:", counts)
    for failed in failures_per_round:
        for failure in failed:
            print("  ", failure.replace("\n", " | ")[:300])
    assert not any(counts), (counts, [f for f in failures_per_round if f][:3])
    assert not regressions, regressions
    assert all(code == 0 for code, _, _ in serial.values()), serial
    assert json.loads(serial["report summary"][1])["runs"] == total_runs
    for results in concurrent:
        for name, (_, stdout, _) in results.items():
            assert _comparable(name, json.loads(stdout)) == _comparable(name, json.loads(serial[name][1])), name
    # The writers did write while the commands ran (else this test proves little).
    assert total_runs > 2 + ROUNDS_WHILE_WRITING


# -- the locking rules, one at a time, in-process ---------------------------------------


def _hold_write_lock(store: Store) -> apsw.Connection:
    """Another process's writer, mid-transaction: it holds the index's write lock."""
    other = apsw.Connection(str(store.index_path))
    other.execute("BEGIN IMMEDIATE")
    return other


def _runs(index: Index) -> int:
    return int(index.query("SELECT COUNT(*) FROM runs")[0][0])


class TestIndexLocking:
    def test_an_update_waits_for_another_writer_instead_of_failing(self, store: Store) -> None:
        """A deferred transaction that reads, then writes, cannot wait for the lock (WAL
        calls no busy handler for it): the update failed with "database is locked"."""
        record_simple_run(store, "r1")
        with Index(store) as index:
            index.update()
        record_simple_run(store, "r2", start=T0 + timedelta(hours=1))
        other = _hold_write_lock(store)
        release = threading.Timer(0.3, other.execute, ("COMMIT",))
        release.start()
        try:
            with Index(store) as index:
                stats = index.update()
                assert (stats.busy, _runs(index)) == (False, 2)
        finally:
            release.join()
            other.close()

    def test_a_reader_answers_from_the_committed_index_while_a_writer_holds_on(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        record_simple_run(store, "r1")
        with Index(store) as index:
            index.update()
        record_simple_run(store, "r2", start=T0 + timedelta(hours=1))
        monkeypatch.setattr("laptime.index.BUSY_TIMEOUT_MS", 200)
        other = _hold_write_lock(store)
        try:
            with open_index(store) as index:  # opens, and answers, without the lock
                assert _runs(index) == 1
            with Index(store) as index:
                assert index.update(wait=False).busy
                with pytest.raises(IndexOpenError, match="busy") as caught:
                    index.update()  # a writer (import) says why, and does not advise deleting
                assert "delete" not in str(caught.value)
            # The reports' cost caches are written best effort, inside their read snapshot:
            # under another writer they are not saved, and the report still answers.
            result = invoke(store.root, "report", "list", "--json")
            assert (result.exit_code, result.stderr) == (0, "")
            assert len(json.loads(result.stdout)["runs"]) == 1
            result = invoke(store.root, "report", "summary", "--json")
            assert (result.exit_code, result.stderr) == (0, "")
            assert json.loads(result.stdout)["runs"] == 1
        finally:
            other.close()
        assert len(invoke_json(store.root, "report", "list")["runs"]) == 2

    def test_an_unfinished_last_line_does_not_make_readers_take_the_lock(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        record_simple_run(store, "r1")
        with store.segment_path(T0.date().isoformat()).open("ab") as handle:
            handle.write(b'{"v":1,"type":"metric"')  # a writer killed mid-line
        with Index(store) as index:
            index.update()
        monkeypatch.setattr("laptime.index.BUSY_TIMEOUT_MS", 200)
        other = _hold_write_lock(store)
        try:
            with Index(store) as index:
                assert not index.update(wait=False).busy  # current: it did not ask for the lock
        finally:
            other.close()

    def test_a_reader_never_sees_a_half_rebuilt_index(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        """The rebuild is one transaction: until it commits, others read the old index."""
        for n in range(3):
            record_simple_run(store, f"r{n}", start=T0 + timedelta(hours=n))
        with Index(store) as index:
            index.update()
        seen: list[int] = []
        refresh_runs = Index._refresh_runs

        def look_then_refresh(self: Index, run_ids: set[str]) -> None:
            reader = apsw.Connection(str(store.index_path))  # another process, reading
            seen.append(reader.execute("SELECT COUNT(*) FROM runs").fetchall()[0][0])
            reader.close()
            refresh_runs(self, run_ids)

        monkeypatch.setattr(Index, "_refresh_runs", look_then_refresh)
        with Index(store) as index:
            index.rebuild()
            assert _runs(index) == 3
        assert seen == [3]


class TestMaintenanceLock:
    def test_compact_waits_for_an_import_to_finish(self, store: Store) -> None:
        record_simple_run(store, "r1")
        importing = threading.Event()

        def an_import() -> None:
            with maintenance_lock(store, exclusive=False):
                importing.set()
                time.sleep(0.3)

        thread = threading.Thread(target=an_import)
        thread.start()
        importing.wait()
        try:
            result = compact(store)
        finally:
            thread.join()
        assert result.segments_rewritten == 1
