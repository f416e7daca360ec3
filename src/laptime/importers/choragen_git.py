"""Choragen task history rebuilt from git, like ``choragen metrics:import --from-git``.

Choragen keeps each task as a file that moves between status folders,
``docs/tasks/{backlog,todo,in-progress,in-review,done,blocked}/CHAIN-NNN-slug/NNN-slug.md``;
chains as ``docs/tasks/.chains/CHAIN-NNN-slug.{json,yaml}``; requests as
``docs/requests/{change,fix}-requests/<status>/(CR|FR)-YYYYMMDD-NNN-slug.md``.
``git log --reverse -M --name-status`` over those folders gives, per commit (timestamped
at the commit's author date, as Choragen does):

- a task file added: ``task:started`` (``task:rework`` when named ``*-rework[-N].md``);
- a task file moved into ``done/``: ``task:completed``; into ``in-review/``:
  ``task:submitted``; from ``in-review/`` back to another folder:
  ``task:changes_requested``;
- a chain file added: ``chain:created``;
- a request file added: ``request:created`` (``request:closed`` when added in ``done/``);
  moved into ``done/``: ``request:closed``.

Each becomes a Choragen record with metadata ``{importedFromGit, commitHash, filePath}``
and goes through the same mapping as ``laptime import choragen``. Ids derive from the
commit hash, the file path and the event type, so re-imports add nothing; the last
commit read is remembered, so a later import reads only new commits.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from laptime import events as ev
from laptime.clock import parse_timestamp_us
from laptime.importers.base import FileState, ImportContext, Importer
from laptime.importers.choragen import Builder, ChoragenRecord

NAME = "choragen-git"
PATHSPECS = ("docs/tasks", "docs/requests")
_TASK = re.compile(r"docs/tasks/([^/]+)/(CHAIN-\d+-[^/]+)/(\d+-[^/]+)\.md$")
_CHAIN = re.compile(r"docs/tasks/\.chains/(CHAIN-\d+-[^/]+)\.(?:ya?ml|json)$")
_REQUEST = re.compile(r"docs/requests/(?:change-requests|fix-requests)/([^/]+)/((?:CR|FR)-\d{8}-\d+)[^/]*\.md$")
_REWORK = re.compile(r"-rework(-\d+)?\.md$")
_HASH = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_GIT_TIMEOUT_S = 300


class GitError(RuntimeError):
    """git failed or is missing; the message is git's own."""


@dataclass(frozen=True, slots=True)
class GitEntry:
    """One file change of one commit."""

    commit: str
    ts_us: int
    status: str  # A, M, D or R
    path: str
    old_path: str | None = None


def parse_git_log(text: str) -> Iterator[GitEntry | str]:
    """Entries from ``git log --name-status --format=commit:%H%x09%aI``; a str for a
    line that could not be read (reported, never raised)."""
    commit: tuple[str, int] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("commit:"):
            parts = line[7:].split("\t")
            commit = None
            if len(parts) != 2 or not _HASH.match(parts[0]):
                yield f"unreadable commit line {line[:80]!r}"
                continue
            try:
                commit = (parts[0], parse_timestamp_us(parts[1]))
            except (ValueError, OverflowError):
                yield f"commit {parts[0][:12]} has an unreadable date {parts[1][:40]!r}"
            continue
        if commit is None:
            continue
        parts = line.split("\t")
        status = parts[0][:1]
        if status == "R" and len(parts) == 3:
            yield GitEntry(commit[0], commit[1], "R", parts[2], parts[1])
        elif status in ("A", "M", "D") and len(parts) == 2:
            yield GitEntry(commit[0], commit[1], status, parts[1])
        elif status not in ("C", "T", "U", "X", "B"):
            yield f"commit {commit[0][:12]}: unreadable file line {line[:80]!r}"


def _folder(match: re.Match[str] | None) -> str | None:
    return match.group(1) if match else None


def classify(entry: GitEntry) -> ChoragenRecord | None:
    """The Choragen event a file change stands for, if any."""
    event: str | None = None
    entity_id = chain_id = None
    task = _TASK.search(entry.path)
    if task:
        folder, chain_id, entity_id = task.groups()
        old = _folder(_TASK.search(entry.old_path)) if entry.old_path else None
        if entry.status == "A":
            event = "task:rework" if _REWORK.search(entry.path) else "task:started"
        elif entry.status == "R" and old is not None and old != folder:
            if folder == "done":
                event = "task:completed"
            elif folder == "in-review":
                event = "task:submitted"
            elif old == "in-review":
                event = "task:changes_requested"
    elif chain := _CHAIN.search(entry.path):
        if entry.status == "A":
            event, entity_id, chain_id = "chain:created", chain.group(1), chain.group(1)
    elif request := _REQUEST.search(entry.path):
        folder, entity_id = request.groups()
        old = _folder(_REQUEST.search(entry.old_path)) if entry.old_path else None
        if entry.status == "A":
            event = "request:closed" if folder == "done" else "request:created"
        elif entry.status == "R" and folder == "done" and old not in (None, "done"):
            event = "request:closed"
    if event is None or entity_id is None:
        return None
    return ChoragenRecord(
        id=f"git:{entry.commit}:{event}:{entry.path}",
        ts_us=entry.ts_us,
        event_type=event,
        entity_type=event.split(":", 1)[0],
        entity_id=entity_id,
        chain_id=chain_id,
        request_id=entity_id if event.startswith("request:") else None,
        metadata={"importedFromGit": True, "commitHash": entry.commit, "filePath": entry.path},
    )


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(repo), "-c", "core.quotePath=false", *args],  # noqa: S607 - git from PATH, as a user runs it
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {_GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise GitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout


class ChoragenGitImporter(Importer):
    """``laptime import choragen-git .`` (a folder inside the repository)."""

    name: ClassVar[str] = NAME
    append_only: ClassVar[bool] = True

    def __init__(self) -> None:
        self._roots: dict[Path, Path] = {}

    def discover(self, path: Path) -> Iterator[Path]:
        """The repository's HEAD reflog, which changes whenever HEAD moves (so an
        unchanged repository is skipped unopened), or the folder itself when it is no
        repository (``read`` then says so)."""
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            root = Path(_git(path, "rev-parse", "--show-toplevel").strip())
            git_dir = Path(_git(path, "rev-parse", "--absolute-git-dir").strip())
        except GitError:
            yield path
            return
        marker = git_dir / "logs" / "HEAD"
        if not marker.is_file():
            marker = git_dir / "HEAD"
        self._roots[marker] = root
        yield marker

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (path / "docs" / "tasks").is_dir() and (path / ".git").exists()

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        root = self._roots.get(file)
        if root is None:
            ctx.warn(None, "not a git repository", file=file)
            return
        try:
            head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
        except GitError:
            ctx.warn(None, "the repository has no commits yet", file=root)
            return
        last = state.extra.get("last_commit")
        span = "HEAD"
        if isinstance(last, str) and _HASH.match(last):
            if last == head:
                return
            try:
                _git(root, "merge-base", "--is-ancestor", last, head)
                span = f"{last}..HEAD"
            except GitError:
                state.extra = {}  # history rewritten: read it all again; ids drop what is known
        try:
            text = _git(
                root, "log", "--reverse", "-M", "--name-status", "--diff-filter=ADMR",
                "--format=commit:%H%x09%aI", span, "--", *PATHSPECS,
            )  # fmt: skip
        except GitError as exc:
            ctx.warn(None, f"git log failed: {exc}", file=root)
            return
        builder = Builder(root, state.extra, importer=NAME)
        for item in parse_git_log(text):
            if isinstance(item, str):
                ctx.warn(None, item, file=root)
                continue
            ctx.record(1)
            record = classify(item)
            if record is not None:
                yield from builder.events(record, f"{item.commit}:{item.path}")
        state.extra["last_commit"] = head
        state.offset = file.stat().st_size if file.exists() else 0
