"""Where a run was started: the CI build (provider, build id, URL) and the git branch and commit.

``ci_context(env)`` is pure: a mapping of environment variables in, a typed ``CiContext``
(or None outside CI) out. ``git_context(cwd)`` reads ``.git`` directly (``HEAD``, the loose
ref, ``packed-refs``; a worktree's ``.git`` file and its ``commondir``), never runs ``git``,
so a run start costs a few file reads and works where git is not installed.
``run_context(env, cwd)`` puts both together as the run attributes the recorder writes at
run start (and ``laptime exec`` can write; ``LAPTIME_RUN_CONTEXT=0`` turns them off):

- ``ci.provider``: ``github``, ``gitlab``, ``jenkins``, ``circleci``, ``bitbucket``,
  ``azure`` or ``buildkite``;
- ``ci.build_id`` and ``ci.build_url``: the build (pipeline run) and its page;
- ``vcs.branch`` and ``vcs.commit``: the branch being built (the source branch of a pull
  or merge request) and the commit; from CI when it says, else from the working
  directory's repository.

They map onto OpenTelemetry's ``cicd.pipeline.run.id``, ``cicd.pipeline.run.url.full``,
``vcs.ref.head.name`` and ``vcs.ref.head.revision``. The variables each provider sets are
in docs/events.md ("CI and git context").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final

import msgspec

PROVIDER_ATTR: Final = "ci.provider"
BUILD_ID_ATTR: Final = "ci.build_id"
BUILD_URL_ATTR: Final = "ci.build_url"
BRANCH_ATTR: Final = "vcs.branch"
COMMIT_ATTR: Final = "vcs.commit"

#: Set to 0 (or false, no, off) to record no CI or git context on runs.
ENABLE_ENV: Final = "LAPTIME_RUN_CONTEXT"

_HEADS: Final = "refs/heads/"


class CiContext(msgspec.Struct, frozen=True):
    """A CI build, as its provider's environment variables describe it."""

    provider: str
    build_id: str | None = None
    build_url: str | None = None
    branch: str | None = None
    commit: str | None = None


class GitContext(msgspec.Struct, frozen=True):
    """The branch (None on a detached HEAD) and commit checked out in a repository."""

    branch: str | None
    commit: str | None


def _get(env: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set to something other than blank."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _branch_name(ref: str | None) -> str | None:
    """``refs/heads/x`` -> ``x``; other refs (``refs/pull/1/merge``, tags) say no branch."""
    if ref is None:
        return None
    if ref.startswith(_HEADS):
        return ref[len(_HEADS) :]
    return None if ref.startswith("refs/") else ref


def _github(env: Mapping[str, str]) -> CiContext:
    server = _get(env, "GITHUB_SERVER_URL") or "https://github.com"
    repo, run = _get(env, "GITHUB_REPOSITORY"), _get(env, "GITHUB_RUN_ID")
    url = f"{server.rstrip('/')}/{repo}/actions/runs/{run}" if repo and run else None
    # GITHUB_HEAD_REF is the source branch of a pull request; GITHUB_REF_NAME is otherwise
    # the branch (or, for a tag push, the tag: then GITHUB_REF_TYPE says "tag").
    branch = _get(env, "GITHUB_HEAD_REF")
    if branch is None and env.get("GITHUB_REF_TYPE", "branch") == "branch":
        branch = _get(env, "GITHUB_REF_NAME")
    return CiContext("github", run, url, branch, _get(env, "GITHUB_SHA"))


def _gitlab(env: Mapping[str, str]) -> CiContext:
    branch = _get(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH")
    if branch is None and not _get(env, "CI_COMMIT_TAG"):
        branch = _get(env, "CI_COMMIT_REF_NAME")
    return CiContext(
        "gitlab", _get(env, "CI_PIPELINE_ID"), _get(env, "CI_PIPELINE_URL"), branch, _get(env, "CI_COMMIT_SHA")
    )


def _jenkins(env: Mapping[str, str]) -> CiContext:
    # CHANGE_BRANCH: a multibranch pipeline's pull request source; BRANCH_NAME: its branch;
    # GIT_BRANCH: the git plugin's, with the remote in front (origin/main).
    branch = _get(env, "CHANGE_BRANCH", "BRANCH_NAME")
    if branch is None and (git_branch := _get(env, "GIT_BRANCH")) is not None:
        branch = _branch_name(git_branch.split("/", 1)[1] if git_branch.startswith("origin/") else git_branch)
    return CiContext(
        "jenkins", _get(env, "BUILD_NUMBER", "BUILD_ID"), _get(env, "BUILD_URL"), branch, _get(env, "GIT_COMMIT")
    )


def _circleci(env: Mapping[str, str]) -> CiContext:
    return CiContext(
        "circleci",
        _get(env, "CIRCLE_BUILD_NUM"),
        _get(env, "CIRCLE_BUILD_URL"),
        _get(env, "CIRCLE_BRANCH"),
        _get(env, "CIRCLE_SHA1"),
    )


def _bitbucket(env: Mapping[str, str]) -> CiContext:
    build = _get(env, "BITBUCKET_BUILD_NUMBER")
    repo = _get(env, "BITBUCKET_REPO_FULL_NAME")
    if repo is None and (workspace := _get(env, "BITBUCKET_WORKSPACE")) and (slug := _get(env, "BITBUCKET_REPO_SLUG")):
        repo = f"{workspace}/{slug}"
    url = f"https://bitbucket.org/{repo}/addon/pipelines/home#!/results/{build}" if repo and build else None
    return CiContext("bitbucket", build, url, _get(env, "BITBUCKET_BRANCH"), _get(env, "BITBUCKET_COMMIT"))


def _azure(env: Mapping[str, str]) -> CiContext:
    build = _get(env, "BUILD_BUILDID")
    collection, project = (
        _get(env, "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "SYSTEM_COLLECTIONURI"),
        _get(env, "SYSTEM_TEAMPROJECT"),
    )
    url = (
        f"{collection.rstrip('/')}/{project}/_build/results?buildId={build}"
        if collection and project and build
        else None
    )
    branch = _branch_name(_get(env, "SYSTEM_PULLREQUEST_SOURCEBRANCH", "BUILD_SOURCEBRANCH"))
    return CiContext("azure", build, url, branch, _get(env, "BUILD_SOURCEVERSION"))


def _buildkite(env: Mapping[str, str]) -> CiContext:
    return CiContext(
        "buildkite",
        _get(env, "BUILDKITE_BUILD_NUMBER"),
        _get(env, "BUILDKITE_BUILD_URL"),
        _get(env, "BUILDKITE_BRANCH"),
        _get(env, "BUILDKITE_COMMIT"),
    )


# (the variable that says the provider runs the job, its reader), tried in this order.
_PROVIDERS: Final[tuple[tuple[str, Callable[[Mapping[str, str]], CiContext]], ...]] = (
    ("GITHUB_ACTIONS", _github),
    ("GITLAB_CI", _gitlab),
    ("BUILDKITE", _buildkite),
    ("CIRCLECI", _circleci),
    ("BITBUCKET_BUILD_NUMBER", _bitbucket),
    ("TF_BUILD", _azure),
    ("JENKINS_URL", _jenkins),
    ("JENKINS_HOME", _jenkins),
)

#: Every variable ``ci_context`` reads to detect a provider (tests clear them).
DETECTING_VARS: Final[tuple[str, ...]] = tuple(name for name, _ in _PROVIDERS)


def ci_context(env: Mapping[str, str]) -> CiContext | None:
    """The CI build ``env`` describes, or None when no supported provider's marker is set."""
    for marker, read in _PROVIDERS:
        if _get(env, marker) and env.get(marker, "").strip().lower() not in ("false", "0"):
            return read(env)
    return None


def _read(path: str) -> str | None:
    """A small file's text, stripped; None when it cannot be read. (os and plain strings,
    not pathlib: this runs at every run start, and pathlib costs several times more.)"""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - see above
            return handle.read().decode("utf-8", "replace").strip()
    except OSError:
        return None


def _git_dir(start: str) -> str | None:
    """The git directory of the repository holding ``start``: ``.git`` itself, or where a
    worktree's (or submodule's) ``.git`` file points."""
    folder = start
    while True:
        dot_git = os.path.join(folder, ".git")  # noqa: PTH118 - os.path on the run-start path (see _read)
        if os.path.isdir(dot_git):  # noqa: PTH112
            return dot_git
        text = _read(dot_git)
        if text is not None and text.startswith("gitdir:"):
            return os.path.join(folder, text[len("gitdir:") :].strip())  # noqa: PTH118 - an absolute target wins
        parent = os.path.dirname(folder)  # noqa: PTH120
        if parent == folder:
            return None
        folder = parent


def _resolve(git_dir: str, common: str, ref: str) -> str | None:
    """The commit a ref names: its loose file (in the worktree's or the common dir), else packed-refs."""
    for base in (git_dir, common):
        value = _read(os.path.join(base, ref))  # noqa: PTH118
        if value:
            return value
    packed = _read(os.path.join(common, "packed-refs"))  # noqa: PTH118
    if packed:
        for line in packed.splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and not line.startswith(("#", "^")):
                return sha
    return None


def git_context(cwd: str | os.PathLike[str] | None = None) -> GitContext | None:
    """The branch and commit checked out where ``cwd`` (default: the working directory) is,
    or None outside a git repository. Never raises."""
    try:
        git_dir = _git_dir(os.path.abspath(os.fspath(cwd) if cwd is not None else os.getcwd()))  # noqa: PTH100, PTH109
        if git_dir is None:
            return None
        head = _read(os.path.join(git_dir, "HEAD"))  # noqa: PTH118
        if not head:
            return None
        common_text = _read(os.path.join(git_dir, "commondir"))  # noqa: PTH118
        common = os.path.join(git_dir, common_text) if common_text else git_dir  # noqa: PTH118
        if head.startswith("ref:"):
            ref = head[len("ref:") :].strip()
            return GitContext(_branch_name(ref), _resolve(git_dir, common, ref))
        return GitContext(None, head)  # a detached HEAD holds the commit itself
    except (OSError, ValueError):  # an unreadable or odd repository: no context, never an error
        return None


def run_context(env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The run attributes for a run started here: CI's first, git's for what CI left out;
    none when ``LAPTIME_RUN_CONTEXT`` turns them off."""
    env = os.environ if env is None else env
    if env.get(ENABLE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return {}
    ci = ci_context(env)
    attrs: dict[str, str] = {}
    branch = commit = None
    if ci is not None:
        attrs[PROVIDER_ATTR] = ci.provider
        if ci.build_id:
            attrs[BUILD_ID_ATTR] = ci.build_id
        if ci.build_url:
            attrs[BUILD_URL_ATTR] = ci.build_url
        branch, commit = ci.branch, ci.commit
    if branch is None or commit is None:
        git = git_context(cwd)
        if git is not None:
            # On a CI commit, a detached checkout's branch stays unknown rather than wrong.
            branch = branch or git.branch
            commit = commit or git.commit
    if branch:
        attrs[BRANCH_ATTR] = branch
    if commit:
        attrs[COMMIT_ATTR] = commit
    return attrs
