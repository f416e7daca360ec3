"""Importer tests, and what they share: running ``laptime import`` and reading back the store.

Every test imports into its own temporary store and copies the fixtures it changes into
its own temporary folder: nothing here touches the home folder, the network or
``../shared``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner, Result

from laptime import events as ev
from laptime.cli import cli
from laptime.index import Index, event_tables

if TYPE_CHECKING:
    import pytest

    from laptime.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run_cli(store: Store, *args: str) -> Result:
    """``laptime --home STORE ARGS...``; stdout and stderr apart."""
    return CliRunner().invoke(cli, ["--home", str(store.root), *args], prog_name="laptime")


def import_json(store: Store, fmt: str, *paths: Path | str, expect: int = 0) -> dict[str, Any]:
    """``laptime import FMT PATHS --json``, asserting the exit code; the parsed summary."""
    result = run_cli(store, "import", fmt, *map(str, paths), "--json")
    assert result.exit_code == expect, (result.exit_code, result.output, result.stderr)
    entries: list[dict[str, Any]] = json.loads(result.stdout)["imports"]
    assert len(entries) == 1, entries  # one format: one summary
    return entries[0]


def show(store: Store, run_id: str) -> dict[str, Any]:
    """``laptime report show RUN --json``: the KPIs and details of one run."""
    result = run_cli(store, "report", "show", run_id, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def log_bytes(store: Store) -> int:
    """The total size of the log segments."""
    return sum(p.stat().st_size for p in (store.root / "log").glob("*.jsonl"))


def log_events(store: Store) -> list[ev.Event]:
    """Every event in the log, in order."""
    out = []
    for segment in sorted((store.root / "log").glob("*.jsonl")):
        out.extend(ev.decode(line) for line in segment.read_bytes().splitlines() if line.strip())
    return out


def index_counts(store: Store) -> dict[str, int]:
    """Rows per event table of the index, brought up to date."""
    index = Index(store)
    try:
        index.update()
        return {t: index.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in (*event_tables(), "runs")}
    finally:
        index.close()


def snapshot(store: Store) -> tuple[int, dict[str, int]]:
    return log_bytes(store), index_counts(store)


def copy_fixture(name: str, dest: Path) -> Path:
    """A writable copy of ``tests/fixtures/NAME`` under ``dest``."""
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` unreadable: chmod 000, and, as root ignores modes, make opening it fail."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    real_open = Path.open
    real_read_bytes = Path.read_bytes
    target = path.resolve()

    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.resolve() == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    def guarded_read_bytes(self: Path) -> bytes:
        if self.resolve() == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "open", guarded_open)
    monkeypatch.setattr(Path, "read_bytes", guarded_read_bytes)


def assert_valid_events(events: list[ev.Event]) -> None:
    """Each event survives a round trip through the log format."""
    for event in events:
        assert ev.decode(ev.encode(event)) == event


def problems_text(summary: dict[str, Any]) -> list[str]:
    """The warnings of a ``--json`` summary as ``file:line: message`` strings."""
    return [
        f"{p['file']}:{p['line']}: {p['message']}" if p["line"] is not None else f"{p['file']}: {p['message']}"
        for p in summary["problems"]
    ]


def make_pcc_db(path: Path) -> Path:
    """A small work-order runner database (pcc): one run with one builder phase."""
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, created_at TEXT, started_at TEXT, finished_at TEXT);
           CREATE TABLE run_phase_metrics (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, phase TEXT NOT NULL,
             iteration INTEGER NOT NULL DEFAULT 1, started_at TEXT NOT NULL, ended_at TEXT, duration_seconds INTEGER,
             outcome TEXT, metadata TEXT);
           INSERT INTO runs VALUES ('r1', 'completed', NULL, '2026-01-12 10:00:00', '2026-01-12 10:05:00');
           INSERT INTO run_phase_metrics VALUES
             ('p1', 'r1', 'builder', 1, '2026-01-12 10:00:00', '2026-01-12 10:05:00', 300, 'success', NULL);"""
    )
    db.commit()
    db.close()
    return path
