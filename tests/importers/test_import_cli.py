"""``laptime import``: exit codes, warnings with file:line, the summary, ``auto``,
``--json``, ``--quiet`` and the progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from importers import FIXTURES, copy_fixture, import_json, make_pcc_db, run_cli, snapshot
from laptime.importers import get_importer
from laptime.importers.base import detect_format, run_import

if TYPE_CHECKING:
    from laptime.store import Store

RUNS = FIXTURES / "runr" / "runs"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_clean_import_prints_a_summary_and_exits_0(store: Store) -> None:
    result = run_cli(store, "import", "runr", str(RUNS))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("runr: 32 new events in 1 runs from 2 files read (0 unchanged)")
    assert "0 records skipped" in result.stdout
    again = run_cli(store, "import", "runr", str(RUNS))
    assert again.exit_code == 0
    assert "0 new events" in again.stdout
    assert "(2 unchanged)" in again.stdout


def test_warnings_name_file_and_line_and_the_summary_counts_skips(store: Store, tmp_path: Path) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    timeline = next(runs.glob("*/timeline.jsonl"))
    lines = timeline.read_bytes().splitlines(keepends=True)
    timeline.write_bytes(lines[0] + b"{oops\n" + b"".join(lines[1:]) + b'{"seq": "bad"}\n')
    result = run_cli(store, "import", "runr", str(runs))
    assert result.exit_code == 0  # something was imported
    assert f"warning: {timeline}:2: not valid JSON" in result.stderr
    assert f"warning: {timeline}:{len(lines) + 2}: `seq`: expected an integer" in result.stderr
    assert "2 records skipped" in result.stdout
    quiet = run_cli(type(store)(tmp_path / "other-store"), "import", "runr", str(runs), "--quiet")
    assert quiet.exit_code == 0
    assert quiet.stderr == ""  # --quiet: the summary only
    assert "2 records skipped" in quiet.stdout


def test_quiet_keeps_the_summary_and_drops_warnings(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "runs" / "x" / "timeline.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text("{broken\n")
    result = run_cli(store, "import", "runr", str(bad), "--quiet")
    assert result.exit_code == 1
    assert result.stderr == ""
    assert "1 records skipped" in result.stdout


def test_exit_1_when_nothing_could_be_imported_and_stored_data_stays(store: Store, tmp_path: Path) -> None:
    import_json(store, "runr", RUNS)
    before = snapshot(store)
    result = run_cli(store, "import", "aidf", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert f"warning: {tmp_path / 'missing'}: no such file or folder" in result.stderr
    garbage = tmp_path / "run-00000000.json"
    garbage.write_bytes(b"\x00\x01\x02\xff")
    assert run_cli(store, "import", "aidf", str(garbage)).exit_code == 1
    assert snapshot(store) == before


def test_usage_errors_exit_2(store: Store, tmp_path: Path) -> None:
    assert run_cli(store, "import", "nosuchformat", str(RUNS)).exit_code == 2
    assert run_cli(store, "import", "auto").exit_code == 2
    result = run_cli(store, "import", "auto", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    result = run_cli(store, "import", "auto", str(unknown))
    assert result.exit_code == 2
    assert "name the format" in result.stderr
    assert run_cli(store, "import", "runr").exit_code == 2  # no default location for runr


def test_auto_detects_each_format(store: Store, tmp_path: Path) -> None:
    db = make_pcc_db(tmp_path / "runner.db")
    langgraph = FIXTURES / "langgraph-logs" / "llm_logs"
    cases = {
        RUNS: "runr",
        RUNS / "20260105090000": "runr",
        RUNS / "20260105090000" / "timeline.jsonl": "runr",
        FIXTURES / "aidf": "aidf",
        FIXTURES / "aidf" / ".ai" / "reports" / "2026-01-05" / "run-3f2a9c1e.json": "aidf",
        db: "pcc",
        langgraph: "langgraph-logs",
        langgraph / "response_20251206_224239.json": "langgraph-logs",
    }
    for path, expected in cases.items():
        assert detect_format(path) == expected, path
    result = run_cli(store, "import", "auto", str(RUNS), str(FIXTURES / "aidf"), str(db), str(langgraph), "--json")
    assert result.exit_code == 0, result.output
    summaries = {s["format"]: s for s in json.loads(result.stdout)["imports"]}
    assert set(summaries) == {"runr", "aidf", "pcc", "langgraph-logs"}
    assert all(s["events_new"] > 0 and s["skipped_records"] == 0 for s in summaries.values())


def test_json_summary_lists_every_problem(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "runs" / "x" / "timeline.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text("".join(f'{{"seq": {i}}}\n' for i in range(30)))
    summary = import_json(store, "runr", bad, expect=1)
    assert summary["skipped_records"] == 30
    assert [p["line"] for p in summary["problems"]] == list(range(1, 31))
    assert {p["file"] for p in summary["problems"]} == {str(bad)}
    (store.root / "imports.sqlite").unlink()
    text = run_cli(store, "import", "runr", str(bad))
    assert text.stderr.count("warning: ") == 21  # 20 shown, then a count of the rest
    assert "and 10 more (--json lists them all)" in text.stderr


def test_progress_bar_on_a_terminal_shows_files_bytes_and_records(store: Store) -> None:
    stream = FakeTTY()
    result = run_import(store, get_importer("runr"), [RUNS], progress_stream=stream, progress_delay=0)
    assert result.events_new > 0
    shown = stream.getvalue()
    assert "2/2 files" in shown
    assert "MB" in shown
    assert "records" in shown
    assert shown.endswith("\n")


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_is_silent_off_a_terminal_or_when_quiet(store: Store, quiet: bool) -> None:
    tty = FakeTTY()
    run_import(store, get_importer("runr"), [RUNS], progress_stream=tty, progress_delay=0, quiet=True)
    assert tty.getvalue() == ""
    plain = io.StringIO()  # not a terminal
    run_import(store, get_importer("aidf"), [FIXTURES / "aidf"], progress_stream=plain, progress_delay=0, quiet=quiet)
    assert plain.getvalue() == ""


def test_progress_bar_waits_for_its_delay(store: Store) -> None:
    stream = FakeTTY()
    run_import(store, get_importer("runr"), [RUNS], progress_stream=stream, progress_delay=3600)
    assert stream.getvalue() == ""  # quick imports print nothing


def test_the_cli_prints_no_progress_bar_when_output_is_captured(store: Store) -> None:
    result = run_cli(store, "import", "runr", str(RUNS))
    assert "files ·" not in result.stderr
