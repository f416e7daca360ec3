"""Special files never hang an import (issue 8, line 4).

Opening a FIFO for reading blocks until some process opens it for writing, so an
importer that opens one waits forever. laptime reads regular files only: a FIFO, a
socket or a device, inside a tree or given as the path, is skipped with a warning that
names it, and the rest of the tree is imported.

Each case runs the real CLI in a subprocess with a timeout, so a hang fails the test
instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from importers import FIXTURES, copy_fixture, make_pcc_db
from laptime.importers.base import find_files, special_kind

if TYPE_CHECKING:
    from collections.abc import Callable

TIMEOUT_S = 30  # an import of these small trees takes well under a second
HANG_TIMEOUT_S = 4
FORMATS = ("runr", "aidf", "choragen", "choragen-git", "pcc", "langgraph-logs", "claude-code", "codex", "otlp")

_CLAUDE_LINE = {
    "parentUuid": None,
    "isSidechain": False,
    "userType": "external",
    "cwd": "/work/p",
    "sessionId": "s-1",
    "version": "2.0.0",
    "gitBranch": "main",
    "type": "assistant",
    "uuid": "u-1",
    "timestamp": "2026-01-05T10:00:00.000Z",
    "requestId": "req-1",
    "message": {
        "id": "msg-1",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    },
}


@dataclass
class Case:
    """An importer's input tree, where the FIFO goes in it, and where a lone FIFO goes."""

    tree: Path
    fifo_in_tree: Path
    lone_fifo: Path


def _git(root: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": "2025-12-07T10:00:00+00:00",
        "GIT_COMMITTER_DATE": "2025-12-07T10:00:00+00:00",
    }
    subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, check=True)


def _case(fmt: str, tmp: Path) -> Case:  # noqa: PLR0911 - one branch per format
    """A small real input of ``fmt`` under ``tmp`` (FIFOs not yet made)."""
    lone = tmp / "lone"
    lone.mkdir()
    if fmt == "runr":
        runs = copy_fixture("runr", tmp) / "runs"
        second = runs / "20260106000000"
        second.mkdir()
        shutil.copy(runs / "20260105090000" / "state.json", second / "state.json")
        return Case(runs, second / "timeline.jsonl", lone / "timeline.jsonl")
    if fmt == "aidf":
        root = copy_fixture("aidf", tmp)
        return Case(root, root / ".ai" / "reports" / "2026-01-05" / "run-00000000.json", lone / "run-00000000.json")
    if fmt == "choragen":
        root = tmp / "project"
        (root / ".choragen" / "metrics").mkdir(parents=True)
        (root / "archive").mkdir()
        shutil.copy(FIXTURES / "choragen" / "synthetic.jsonl", root / ".choragen" / "metrics" / "events.jsonl")
        return Case(root, root / "archive" / "events.jsonl", lone / "events.jsonl")
    if fmt == "choragen-git":
        root = tmp / "repo"
        (root / "docs" / "tasks" / "todo" / "CHAIN-001-x").mkdir(parents=True)
        (root / "docs" / "tasks" / "todo" / "CHAIN-001-x" / "001-a.md").write_text("# a\n")
        _git(root, "init", "-q", "-b", "main")
        _git(root, "add", ".")
        _git(root, "commit", "-q", "-m", "a task")
        # git reads its object database, never the working tree's files; the FIFO
        # there must simply not stop the import.
        return Case(root, root / "docs" / "tasks" / "todo" / "CHAIN-001-x" / "002-b.md", lone / "repo")
    if fmt == "pcc":
        root = tmp / "dbs"
        root.mkdir()
        make_pcc_db(root / "runner.db")
        return Case(root, root / "aaa.db", lone / "runner.db")
    if fmt == "langgraph-logs":
        root = copy_fixture("langgraph-logs", tmp) / "llm_logs"
        return Case(root, root / "response_20251206_000000.json", lone / "request_20251206_000000.json")
    if fmt == "claude-code":
        root = tmp / "claude"
        (root / "projects" / "-work-p").mkdir(parents=True)
        (root / "projects" / "-work-p" / "s-1.jsonl").write_text(json.dumps(_CLAUDE_LINE, separators=(",", ":")) + "\n")
        return Case(root, root / "projects" / "aaa.jsonl", lone / "s-2.jsonl")
    if fmt == "codex":
        root = copy_fixture("codex", tmp)
        return Case(root, root / "sessions" / "2025" / "10" / "06" / "aaa.jsonl", lone / "rollout.jsonl")
    assert fmt == "otlp"
    root = copy_fixture("otlp", tmp)
    return Case(root, root / "aaa.json", lone / "trace.json")


def laptime(tmp: Path, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """``laptime ARGS`` in a child process; a hang shows up as TimeoutExpired."""
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "LAPTIME_HOME": str(tmp / "store"),
        "CLAUDE_CONFIG_DIR": str(tmp / "home" / "claude"),
        "CODEX_HOME": str(tmp / "home" / "codex"),
    }
    code = "import sys; from laptime.cli import cli; cli(sys.argv[1:], prog_name='laptime')"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    entries = json.loads(done.stdout)["imports"]
    assert len(entries) == 1, entries
    data: dict[str, Any] = entries[0]
    return data


# `import auto` on a tree calls each importer's detect(), and these two open files of
# their own choosing to sniff them, in files this change may not touch:
AUTO_TREE_HANGS: dict[str, str] = {}  # every importer's detect goes through open_regular now


def _params(auto: bool) -> list[Any]:
    out = []
    for fmt in FORMATS:
        marks = []
        if auto and fmt in AUTO_TREE_HANGS:
            marks.append(pytest.mark.xfail(strict=True, raises=subprocess.TimeoutExpired, reason=AUTO_TREE_HANGS[fmt]))
        out.append(pytest.param(fmt, marks=marks, id=fmt))
    return out


@pytest.mark.parametrize("fmt", _params(auto=False))
def test_a_fifo_inside_the_tree_is_skipped_with_a_warning(fmt: str, tmp_path: Path) -> None:
    case = _case(fmt, tmp_path)
    os.mkfifo(case.fifo_in_tree)
    done = laptime(tmp_path, "import", fmt, str(case.tree), "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    summary = _summary(done)
    assert summary["events_new"] > 0  # the rest of the tree still counts
    problems = [(p["file"], p["message"]) for p in summary["problems"]]
    if fmt == "choragen-git":
        assert problems == []  # git never opens working-tree files
    else:
        assert problems == [(str(case.fifo_in_tree), "a FIFO, not a regular file; skipped")]


@pytest.mark.parametrize("fmt", _params(auto=False))
def test_a_fifo_given_as_the_path_is_skipped_with_a_warning(fmt: str, tmp_path: Path) -> None:
    case = _case(fmt, tmp_path)
    os.mkfifo(case.lone_fifo)
    done = laptime(tmp_path, "import", fmt, str(case.lone_fifo))
    assert done.returncode == 1, (done.stdout, done.stderr)  # nothing could be imported
    assert done.stderr == f"warning: {case.lone_fifo}: a FIFO, not a regular file; skipped\n"
    assert "1 records skipped" in done.stdout


@pytest.mark.parametrize("fmt", _params(auto=True))
def test_import_auto_over_a_tree_with_a_fifo(fmt: str, tmp_path: Path) -> None:
    case = _case(fmt, tmp_path)
    os.mkfifo(case.fifo_in_tree)
    # The known hangs get a short timeout: the suite need not wait long to see them.
    timeout = HANG_TIMEOUT_S if fmt in AUTO_TREE_HANGS else TIMEOUT_S
    done = laptime(tmp_path, "import", "auto", str(case.tree), "--json", timeout=timeout)
    assert done.returncode == 0, (done.stdout, done.stderr)
    summary = _summary(done)
    assert summary["format"] == fmt
    assert summary["events_new"] > 0
    if fmt != "choragen-git":
        assert {p["file"] for p in summary["problems"]} == {str(case.fifo_in_tree)}


def test_import_auto_given_a_fifo_warns_and_goes_on_with_the_other_paths(tmp_path: Path) -> None:
    case = _case("choragen", tmp_path)
    os.mkfifo(case.lone_fifo)
    good = case.tree / ".choragen" / "metrics" / "events.jsonl"
    done = laptime(tmp_path, "import", "auto", str(case.lone_fifo), str(good))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stderr == f"warning: {case.lone_fifo}: a FIFO, not a regular file; skipped\n"
    assert done.stdout.startswith("choragen: ")
    only = laptime(tmp_path, "import", "auto", str(case.lone_fifo))
    assert only.returncode == 1
    assert only.stderr == f"warning: {case.lone_fifo}: a FIFO, not a regular file; skipped\n"


def _socket_at(path: Path) -> Callable[[], None]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock.close


def test_sockets_and_devices_are_skipped_too(tmp_path: Path) -> None:
    case = _case("choragen", tmp_path)
    close = _socket_at(case.fifo_in_tree)
    try:
        done = laptime(tmp_path, "import", "choragen", str(case.tree), os.devnull, "--json")
    finally:
        close()
    assert done.returncode == 0, (done.stdout, done.stderr)
    problems = [(p["file"], p["message"]) for p in _summary(done)["problems"]]
    assert problems == [
        (str(case.fifo_in_tree), "a socket, not a regular file; skipped"),
        (os.devnull, "a character device, not a regular file; skipped"),
    ]


def test_find_files_yields_special_files_for_the_caller_to_skip_and_never_sniffs_them(tmp_path: Path) -> None:
    """``keep`` may open a file to look inside (pcc does); it is never called on a FIFO."""
    (tmp_path / "a.db").write_bytes(b"x")
    os.mkfifo(tmp_path / "b.db")
    sniffed: list[Path] = []

    def keep(path: Path) -> bool:
        sniffed.append(path)
        return True

    assert list(find_files(tmp_path, ("*.db",), keep=keep)) == [tmp_path / "a.db", tmp_path / "b.db"]
    assert sniffed == [tmp_path / "a.db"]
    assert list(find_files(tmp_path / "b.db", ("*.db",), keep=keep)) == [tmp_path / "b.db"]
    assert special_kind(tmp_path / "b.db") == "a FIFO"
    assert special_kind(tmp_path / "a.db") is None
    assert special_kind(tmp_path) is None
    assert special_kind(tmp_path / "missing") is None


def test_runr_run_folder_holding_only_a_fifo_is_warned_about(tmp_path: Path) -> None:
    runs = copy_fixture("runr", tmp_path) / "runs"
    (runs / "20260107000000").mkdir()
    os.mkfifo(runs / "20260107000000" / "timeline.jsonl")
    done = laptime(tmp_path, "import", "runr", str(runs), "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert [p["file"] for p in _summary(done)["problems"]] == [str(runs / "20260107000000" / "timeline.jsonl")]
