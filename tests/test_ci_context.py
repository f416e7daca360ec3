"""CI and git context on runs: each provider's variables, git's files, the recorder's run attrs."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from laptime import Recorder
from laptime.ci_context import ENABLE_ENV, CiContext, GitContext, ci_context, git_context, run_context

if TYPE_CHECKING:
    from pathlib import Path

SHA = "9d59409acf479dfa0df1aa568182e43e43df8bbe"
SHA2 = "1111111111111111111111111111111111111111"

PROVIDERS = [
    pytest.param(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_RUN_ID": "1234",
            "GITHUB_REF_NAME": "main",
            "GITHUB_REF_TYPE": "branch",
            "GITHUB_SHA": SHA,
        },
        CiContext("github", "1234", "https://github.com/acme/app/actions/runs/1234", "main", SHA),
        id="github-push",
    ),
    pytest.param(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://ghe.example.com/",
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_RUN_ID": "77",
            "GITHUB_HEAD_REF": "fix/login",
            "GITHUB_REF_NAME": "12/merge",
            "GITHUB_SHA": SHA,
        },
        CiContext("github", "77", "https://ghe.example.com/acme/app/actions/runs/77", "fix/login", SHA),
        id="github-pull-request",
    ),
    pytest.param(
        {"GITHUB_ACTIONS": "true", "GITHUB_REF_NAME": "v1.0", "GITHUB_REF_TYPE": "tag", "GITHUB_RUN_ID": "5"},
        CiContext("github", "5", None, None, None),
        id="github-tag",
    ),
    pytest.param(
        {
            "GITLAB_CI": "true",
            "CI_PIPELINE_ID": "998",
            "CI_PIPELINE_URL": "https://gitlab.com/acme/app/-/pipelines/998",
            "CI_COMMIT_BRANCH": "main",
            "CI_COMMIT_REF_NAME": "main",
            "CI_COMMIT_SHA": SHA,
        },
        CiContext("gitlab", "998", "https://gitlab.com/acme/app/-/pipelines/998", "main", SHA),
        id="gitlab",
    ),
    pytest.param(
        {
            "GITLAB_CI": "true",
            "CI_PIPELINE_ID": "999",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature-x",
            "CI_COMMIT_REF_NAME": "refs/merge-requests/3/head",
            "CI_COMMIT_SHA": SHA,
        },
        CiContext("gitlab", "999", None, "feature-x", SHA),
        id="gitlab-merge-request",
    ),
    pytest.param(
        {
            "JENKINS_URL": "https://ci.example.com/",
            "BUILD_NUMBER": "153",
            "BUILD_URL": "https://ci.example.com/job/app/153/",
            "GIT_BRANCH": "origin/release",
            "GIT_COMMIT": SHA,
        },
        CiContext("jenkins", "153", "https://ci.example.com/job/app/153/", "release", SHA),
        id="jenkins-git-plugin",
    ),
    pytest.param(
        {"JENKINS_HOME": "/var/jenkins", "BUILD_NUMBER": "9", "BRANCH_NAME": "PR-24", "CHANGE_BRANCH": "fix/x"},
        CiContext("jenkins", "9", None, "fix/x", None),
        id="jenkins-multibranch-pr",
    ),
    pytest.param(
        {
            "CIRCLECI": "true",
            "CIRCLE_BUILD_NUM": "42",
            "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/app/42",
            "CIRCLE_BRANCH": "dev",
            "CIRCLE_SHA1": SHA,
        },
        CiContext("circleci", "42", "https://circleci.com/gh/acme/app/42", "dev", SHA),
        id="circleci",
    ),
    pytest.param(
        {
            "BITBUCKET_BUILD_NUMBER": "23704",
            "BITBUCKET_REPO_FULL_NAME": "acme/app",
            "BITBUCKET_BRANCH": "main",
            "BITBUCKET_COMMIT": SHA,
        },
        CiContext(
            "bitbucket", "23704", "https://bitbucket.org/acme/app/addon/pipelines/home#!/results/23704", "main", SHA
        ),
        id="bitbucket",
    ),
    pytest.param(
        {
            "TF_BUILD": "True",
            "BUILD_BUILDID": "310",
            "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": "https://dev.azure.com/fabrikam/",
            "SYSTEM_TEAMPROJECT": "Web",
            "BUILD_SOURCEBRANCH": "refs/heads/feature/a",
            "BUILD_SOURCEVERSION": SHA,
        },
        CiContext("azure", "310", "https://dev.azure.com/fabrikam/Web/_build/results?buildId=310", "feature/a", SHA),
        id="azure",
    ),
    pytest.param(
        {
            "TF_BUILD": "True",
            "BUILD_BUILDID": "311",
            "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
            "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/topic",
        },
        CiContext("azure", "311", None, "topic", None),
        id="azure-pull-request",
    ),
    pytest.param(
        {
            "BUILDKITE": "true",
            "BUILDKITE_BUILD_NUMBER": "59034",
            "BUILDKITE_BUILD_URL": "https://buildkite.com/rails/rails/builds/59034",
            "BUILDKITE_BRANCH": "main",
            "BUILDKITE_COMMIT": SHA,
        },
        CiContext("buildkite", "59034", "https://buildkite.com/rails/rails/builds/59034", "main", SHA),
        id="buildkite",
    ),
]


class TestCiContext:
    @pytest.mark.parametrize(("env", "expected"), PROVIDERS)
    def test_each_provider(self, env: dict[str, str], expected: CiContext) -> None:
        assert ci_context(env) == expected

    def test_outside_ci(self) -> None:
        assert ci_context({"CI": "true", "HOME": "/root", "GITHUB_ACTIONS": "false"}) is None


def _repo(root: Path, head: str, refs: dict[str, str] | None = None, packed: str | None = None) -> Path:
    git = root / ".git"
    git.mkdir(parents=True)
    (git / "HEAD").write_text(head + "\n")
    for ref, sha in (refs or {}).items():
        (git / ref).parent.mkdir(parents=True, exist_ok=True)
        (git / ref).write_text(sha + "\n")
    if packed is not None:
        (git / "packed-refs").write_text(packed)
    return git


class TestGitContext:
    def test_loose_ref_from_a_subfolder(self, tmp_path: Path) -> None:
        _repo(tmp_path, "ref: refs/heads/fix/login", {"refs/heads/fix/login": SHA})
        (tmp_path / "src" / "deep").mkdir(parents=True)
        assert git_context(tmp_path / "src" / "deep") == GitContext("fix/login", SHA)

    def test_packed_ref(self, tmp_path: Path) -> None:
        packed = (
            f"# pack-refs with: peeled fully-peeled sorted\n{SHA2} refs/heads/other\n{SHA} refs/heads/main\n^{SHA2}\n"
        )
        _repo(tmp_path, "ref: refs/heads/main", packed=packed)
        assert git_context(tmp_path) == GitContext("main", SHA)

    def test_detached_head(self, tmp_path: Path) -> None:
        _repo(tmp_path, SHA)
        assert git_context(tmp_path) == GitContext(None, SHA)

    def test_unborn_branch(self, tmp_path: Path) -> None:
        _repo(tmp_path, "ref: refs/heads/main")
        assert git_context(tmp_path) == GitContext("main", None)

    def test_worktree_git_file(self, tmp_path: Path) -> None:
        main = _repo(tmp_path / "main", "ref: refs/heads/main", {"refs/heads/main": SHA, "refs/heads/wt": SHA2})
        wt_dir = main / "worktrees" / "wt"
        wt_dir.mkdir(parents=True)
        (wt_dir / "HEAD").write_text("ref: refs/heads/wt\n")
        (wt_dir / "commondir").write_text("../..\n")
        (tmp_path / "wt").mkdir()
        (tmp_path / "wt" / ".git").write_text(f"gitdir: {wt_dir}\n")
        assert git_context(tmp_path / "wt") == GitContext("wt", SHA2)

    def test_no_repository(self, tmp_path: Path) -> None:
        assert not any((p / ".git").exists() for p in (tmp_path, *tmp_path.parents))
        assert git_context(tmp_path) is None

    @pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
    def test_agrees_with_git(self, tmp_path: Path) -> None:
        def git(*args: str, cwd: Path = tmp_path) -> str:
            return subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                cwd=cwd,
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()

        git("init", "-q", "-b", "trunk")
        git("commit", "-q", "--allow-empty", "-m", "one")
        git("pack-refs", "--all")
        git("worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
        git("commit", "-q", "--allow-empty", "-m", "two", cwd=tmp_path / "side")
        assert git_context(tmp_path) == GitContext("trunk", git("rev-parse", "HEAD"))
        assert git_context(tmp_path / "side") == GitContext("side", git("rev-parse", "HEAD", cwd=tmp_path / "side"))


class TestRunContext:
    def test_ci_first_git_fills_in(self, tmp_path: Path) -> None:
        _repo(tmp_path, "ref: refs/heads/local", {"refs/heads/local": SHA2})
        env = {"CIRCLECI": "true", "CIRCLE_BUILD_NUM": "42", "CIRCLE_BRANCH": "dev"}
        assert run_context(env, tmp_path) == {
            "ci.provider": "circleci",
            "ci.build_id": "42",
            "vcs.branch": "dev",
            "vcs.commit": SHA2,
        }

    def test_outside_ci_git_only(self, tmp_path: Path) -> None:
        _repo(tmp_path, "ref: refs/heads/main", {"refs/heads/main": SHA})
        assert run_context({}, tmp_path) == {"vcs.branch": "main", "vcs.commit": SHA}

    def test_turned_off(self, tmp_path: Path) -> None:
        _repo(tmp_path, "ref: refs/heads/main", {"refs/heads/main": SHA})
        assert run_context({ENABLE_ENV: "0", "BUILDKITE": "true"}, tmp_path) == {}


class TestRecorder:
    def test_run_start_carries_the_context(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        _repo(tmp_path / "repo", "ref: refs/heads/main", {"refs/heads/main": SHA})
        monkeypatch.chdir(tmp_path / "repo")
        monkeypatch.delenv(ENABLE_ENV)
        for name, value in {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_RUN_ID": "1234",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_HEAD_REF": "fix/login",
        }.items():
            monkeypatch.setenv(name, value)
        home = tmp_path / ".laptime"
        with Recorder(home=home) as rec, rec.run("build", runner="ci", **{"vcs.commit": "given"}):
            pass
        lines = [
            json.loads(line) for f in sorted((home / "log").glob("*.jsonl")) for line in f.read_text().splitlines()
        ]
        start = next(e for e in lines if e["type"] == "span_start")
        assert start["attrs"] == {
            "ci.provider": "github",
            "ci.build_id": "1234",
            "ci.build_url": "https://github.com/acme/app/actions/runs/1234",
            "vcs.branch": "fix/login",
            "vcs.commit": "given",  # the caller's attrs win
            "runner": "ci",
        }
