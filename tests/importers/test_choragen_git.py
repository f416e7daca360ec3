"""`laptime import choragen-git`: task events rebuilt from a git history of task-file moves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from laptime import events as ev
from laptime.cli import cli
from laptime.importers.choragen_git import GitEntry, classify, parse_git_log
from laptime.index import Index
from laptime.store import Store

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git CLI")

CHAIN = "CHAIN-001-login"
TASKS = "docs/tasks"


class Repo:
    """A throwaway repository with fixed commit dates; never touches the user's git config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.minute = 0
        root.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        stamp = f"2025-12-07T10:{self.minute:02d}:00+00:00"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
        done = subprocess.run(["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=True)
        return done.stdout

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self.git("add", path)

    def move(self, old: str, new: str) -> None:
        (self.root / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, minute: int, message: str = "step") -> str:
        self.minute = minute
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def task(folder: str, name: str, chain: str = CHAIN) -> str:
    return f"{TASKS}/{folder}/{chain}/{name}.md"


def build_history(repo: Repo) -> dict[str, str]:
    """10:00 chain + two tasks in todo; 10:05 task 1 to in-progress; 10:20 task 1 done;
    10:25 task 2 in review; 10:30 changes requested (back to in-progress); 10:50 task 2
    done, request closed."""
    hashes = {}
    repo.write(f"{TASKS}/.chains/{CHAIN}.json", '{"id": "CHAIN-001-login"}\n')
    repo.write("docs/requests/change-requests/doing/CR-20251207-001-login.md", "# CR\n")
    repo.write(task("todo", "001-form"), "# form\nlots of text so that renames are detected\n")
    repo.write(task("todo", "002-api"), "# api\nlots of text so that renames are detected\n")
    repo.write("README.md", "not a task\n")
    hashes["create"] = repo.commit(0)
    repo.move(task("todo", "001-form"), task("in-progress", "001-form"))
    hashes["start1"] = repo.commit(5)
    repo.move(task("in-progress", "001-form"), task("done", "001-form"))
    hashes["done1"] = repo.commit(20)
    repo.move(task("todo", "002-api"), task("in-review", "002-api"))
    hashes["review2"] = repo.commit(25)
    repo.move(task("in-review", "002-api"), task("in-progress", "002-api"))
    hashes["changes2"] = repo.commit(30)
    repo.move(task("in-progress", "002-api"), task("done", "002-api"))
    repo.move(
        "docs/requests/change-requests/doing/CR-20251207-001-login.md",
        "docs/requests/change-requests/done/CR-20251207-001-login.md",
    )
    hashes["done2"] = repo.commit(50)
    return hashes


def laptime(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--home", str(store.root), *args], catch_exceptions=False)


def import_json(store: Store, path: Path) -> tuple[int, dict[str, Any]]:
    result = laptime(store, "import", "choragen-git", str(path), "--json")
    return result.exit_code, json.loads(result.stdout)["imports"][0]


def log_bytes(store: Store) -> bytes:
    return b"".join(p.read_bytes() for p in store.segments())


def log_events(store: Store) -> list[ev.Event]:
    return [ev.decode(line) for line in log_bytes(store).splitlines() if line]


def test_history_becomes_choragen_events(store: Store, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    hashes = build_history(repo)
    code, summary = import_json(store, repo.root / "docs")  # any folder inside the repository
    assert code == 0, summary
    assert summary["skipped_records"] == 0
    events = log_events(store)
    words = [
        (e.attrs["choragen.event"], e.ts[11:16])
        for e in events
        if isinstance(e, (ev.SpanStart, ev.SpanEnd, ev.Metric)) and "choragen.event" in e.attrs
    ]
    assert sorted(words) == sorted(
        [
            ("chain:created", "10:00"),
            ("request:created", "10:00"),
            ("task:started", "10:00"),
            ("task:started", "10:00"),
            ("task:completed", "10:20"),
            ("task:submitted", "10:25"),
            ("task:changes_requested", "10:30"),
            ("task:completed", "10:50"),
            ("request:closed", "10:50"),
        ]
    )
    done = next(e for e in events if isinstance(e, ev.SpanEnd) and e.ts[11:16] == "10:20")
    assert done.attrs["choragen.metadata"] == {
        "importedFromGit": True,
        "commitHash": hashes["done1"],
        "filePath": task("done", "001-form"),
    }
    assert done.source is not None
    assert done.source.importer == "choragen-git"
    # The pipeline report sees the two tasks: 20 and 50 minutes from creation to done/.
    shown = laptime(store, "report", "pipeline", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["tasks"]["completed"] == 2
    assert data["tasks"]["cycle_time_ms"]["avg"] == pytest.approx(35 * 60_000)
    assert data["requests"] == {"total": 1, "closed": 1}
    with Index(store) as index:
        index.update()
        assert index.query("SELECT name FROM runs WHERE attrs ->> '$.\"choragen.entity\"' = 'chain'") == [(CHAIN,)]


def test_reimport_adds_nothing_and_new_commits_add_only_themselves(store: Store, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    build_history(repo)
    assert import_json(store, repo.root)[0] == 0
    before = log_bytes(store)
    code, again = import_json(store, repo.root)
    assert (code, again["events_new"]) == (0, 0)
    assert log_bytes(store) == before
    # Losing the cache costs time, not correctness.
    (store.root / "imports.sqlite").unlink()
    code, again = import_json(store, repo.root)
    assert (code, again["events_new"]) == (0, 0)
    assert log_bytes(store) == before

    # Grown: one new commit; only it is read.
    repo.write(task("todo", "003-docs"), "# docs\nlots of text so that renames are detected\n")
    repo.commit(55)
    code, grown = import_json(store, repo.root)
    assert code == 0
    assert grown["records"] == 1  # one file change read, from the one new commit
    assert grown["events_new"] == 1  # the new task's start
    assert grown["events_already_stored"] == 0
    # ...and the result equals a fresh import of the whole history.
    whole = Store(tmp_path / "whole" / ".laptime")
    import_json(whole, repo.root)
    assert sorted(e.id for e in log_events(store)) == sorted(e.id for e in log_events(whole))


def test_bad_inputs(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = laptime(store, "import", "choragen-git", str(missing))
    assert result.exit_code == 1
    assert f"warning: {missing}: no such file or folder" in result.stderr

    plain = tmp_path / "plain"
    plain.mkdir()
    result = laptime(store, "import", "choragen-git", str(plain))
    assert result.exit_code == 1
    assert f"warning: {plain}: not a git repository" in result.stderr
    assert "1 records skipped" in result.stdout

    empty = Repo(tmp_path / "empty")
    result = laptime(store, "import", "choragen-git", str(empty.root))
    assert result.exit_code == 1
    assert "the repository has no commits yet" in result.stderr


def test_parse_git_log_reports_unreadable_lines() -> None:
    h = "a" * 40
    text = f"commit:{h}\t2025-12-07T10:00:00+00:00\n\nA\tdocs/x.md\nR087\told.md\tnew.md\nQ\tstrange\ncommit:zz\tx\n"
    items = list(parse_git_log(text))
    entries = [i for i in items if isinstance(i, GitEntry)]
    problems = [i for i in items if isinstance(i, str)]
    assert [(e.status, e.path, e.old_path) for e in entries] == [("A", "docs/x.md", None), ("R", "new.md", "old.md")]
    assert len(problems) == 2


def test_classify_follows_choragen() -> None:
    def entry(status: str, path: str, old: str | None = None) -> GitEntry:
        return GitEntry("b" * 40, 0, status, path, old)

    def word(e: GitEntry) -> str | None:
        rec = classify(e)
        return rec.event_type if rec else None

    assert word(entry("A", task("todo", "004-fix-rework"))) == "task:rework"
    assert word(entry("A", task("done", "004-fix"))) == "task:started"  # as Choragen: creation is the start
    assert word(entry("R", task("done", "004-fix"), task("done", "004-fixed"))) is None  # a rename inside done/
    assert word(entry("M", task("done", "004-fix"))) is None
    assert word(entry("A", f"{TASKS}/.chains/CHAIN-002-x.yaml")) == "chain:created"
    assert word(entry("A", "docs/requests/fix-requests/done/FR-20251207-002-x.md")) == "request:closed"
    assert word(entry("A", "docs/other/file.md")) is None


_paths = st.one_of(
    st.builds(
        task,
        st.sampled_from(["todo", "in-progress", "in-review", "done", "blocked", ""]),
        st.text(max_size=8),
        st.sampled_from([CHAIN, "CHAIN-x", "CHAIN-2-"]),
    ),
    st.text(max_size=30),
)


@given(st.lists(st.one_of(st.text(max_size=60), _paths.map(lambda p: f"A\t{p}")), max_size=8))
def test_fuzz_git_log_parser(lines: list[str]) -> None:
    text = "commit:" + "c" * 40 + "\t2025-12-07T10:00:00Z\n" + "\n".join(lines)
    for item in parse_git_log(text):
        if isinstance(item, GitEntry):
            record = classify(item)
            assert record is None or record.entity_id


@given(st.sampled_from("AMDR"), _paths, st.none() | _paths)
def test_fuzz_classify(status: str, path: str, old: str | None) -> None:
    record = classify(GitEntry("d" * 40, 1_000, status, path, old))
    if record is not None:
        assert record.metadata["filePath"] == path
        assert record.event_type.split(":")[0] == record.entity_type
