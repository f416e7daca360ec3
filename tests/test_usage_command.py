"""``laptime usage``: import what is new from Claude Code and Codex, then report, in one
command (like ccusage); ``report usage`` stays the store-only view.

Every test points ``CLAUDE_CONFIG_DIR`` and ``CODEX_HOME`` at its own temporary folders
(the home folder is a temporary one too, tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from helpers import SONNET, make_recorder
from importers import FIXTURES, import_json
from importers.cc_parity import ccusage_daily, need_ccusage, our_cells, our_days, their_cells, their_days
from importers.cc_trees import generate
from laptime import SimulatedClock
from laptime.usage_cache import CACHE_DIRNAME

if TYPE_CHECKING:
    from click.testing import Result

    from laptime.store import Store

OPUS = "claude-opus-4-1-20250805"
KEYS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def _assistant(msg: str, ts: str, *, model: str = SONNET, tokens: tuple[int, int, int, int] = (10, 5, 0, 0)) -> str:
    """A Claude Code assistant record with the fields ccusage needs."""
    inp, out, cache_write, cache_read = tokens
    return json.dumps(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/home/dev/src/webapp",
            "sessionId": "5f0c2a9e-1111-4b7a-9c55-000000000001",
            "version": "2.0.14",
            "type": "assistant",
            "uuid": f"u-{msg}",
            "requestId": f"req-{msg}",
            "timestamp": ts,
            "message": {
                "id": msg,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "usage": {
                    "input_tokens": inp,
                    "output_tokens": out,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                },
            },
        },
        separators=(",", ":"),
    )


def _claude(root: Path) -> Path:
    """A config folder: one session over two days, 3 responses (one written twice)."""
    session = root / "projects" / "-home-dev-src-webapp" / "5f0c2a9e-1111-4b7a-9c55-000000000001.jsonl"
    session.parent.mkdir(parents=True)
    lines = [
        _assistant("msg_1", "2025-10-06T10:00:00.000Z", tokens=(100, 20, 1000, 5000)),
        _assistant("msg_2", "2025-10-06T11:00:00.000Z", model=OPUS, tokens=(7, 3, 0, 0)),
        _assistant("msg_2", "2025-10-06T11:00:01.000Z", model=OPUS, tokens=(7, 30, 0, 0)),  # its final copy
        _assistant("msg_3", "2025-10-07T09:00:00.000Z", tokens=(1, 2, 3, 4)),
    ]
    session.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root


@pytest.fixture(name="env", autouse=True)
def fixture_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Claude Code logs in the default location ($CLAUDE_CONFIG_DIR); no Codex home."""
    claude = _claude(tmp_path / "claude")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    return {"claude": claude, "codex": tmp_path / "no-codex"}


def run(store: Store, *args: str) -> Result:
    from click.testing import CliRunner

    from laptime.cli import cli

    return CliRunner().invoke(cli, ["--home", str(store.root), *args], prog_name="laptime")


def run_json(store: Store, *args: str) -> dict[str, Any]:
    result = run(store, *args, "--json")
    assert result.exit_code == 0, (result.output, result.stderr)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def day_tokens(data: dict[str, Any]) -> dict[str, list[int]]:
    return {row["period"]: [row[k] for k in KEYS] for row in data["rows"]}


TEXT = """\
Day         Models                                       Input  Output  Cache write  Cache read  Total  Cost
----------  -------------------------------------------  -----  ------  -----------  ----------  -----  ----
2025-10-06  claude-opus-4-1-20250805, claude-sonnet-4-5    107      50        1,000       5,000  6,157     -
2025-10-07  claude-sonnet-4-5                                1       2            3           4     10     -
----------  -------------------------------------------  -----  ------  -----------  ----------  -----  ----
Total                                                      108      52        1,003       5,004  6,167     -
3 calls, time zone UTC
"""


class TestOneCommand:
    def test_imports_the_default_location_then_reports(self, store: Store) -> None:
        result = run(store, "usage", "-z", "UTC", "--no-cost", "--json")
        assert (result.exit_code, result.stderr) == (0, "")
        data = json.loads(result.stdout)
        assert day_tokens(data) == {"2025-10-06": [107, 50, 1000, 5000], "2025-10-07": [1, 2, 3, 4]}
        assert data["totals"]["calls"] == 3
        # The store now holds them: `report usage` (store only) says the same, byte for byte.
        report = run(store, "report", "usage", "-z", "UTC", "--no-cost", "--json")
        assert report.stdout == result.stdout

    def test_the_table(self, store: Store) -> None:
        result = run(store, "usage", "-z", "UTC", "--no-cost")
        assert (result.exit_code, result.stderr) == (0, "")
        assert result.stdout == TEXT
        again = run(store, "usage", "-z", "UTC", "--no-cost")  # from the kept answer
        assert (again.exit_code, again.stdout) == (0, TEXT)
        assert run(store, "report", "usage", "-z", "UTC", "--no-cost").stdout == TEXT

    def test_the_same_filters_as_report_usage(self, store: Store) -> None:
        for args in (
            ["--by", "model"],
            ["--by", "session"],
            ["--by", "month", "--since", "2025-10-07"],
            ["--until", "2025-10-06"],
            ["--project", "webapp", "--by", "week"],
            ["--project", "nothing-like-it"],
        ):
            ours = run(store, "usage", "-z", "UTC", "--no-cost", "--json", *args)
            assert ours.exit_code == 0, ours.output
            assert ours.stdout == run(store, "report", "usage", "-z", "UTC", "--no-cost", "--json", *args).stdout
        assert run_json(store, "usage", "--by", "model", "-z", "UTC", "--no-cost")["rows"][0]["model"] == SONNET
        assert day_tokens(run_json(store, "usage", "--since", "2025-10-07", "-z", "UTC", "--no-cost")) == {
            "2025-10-07": [1, 2, 3, 4]
        }

    def test_both_usage_commands_share_their_options(self) -> None:
        import click

        from laptime.cli import cli

        def options(*path: str) -> dict[str, tuple[Any, ...]]:
            command: Any = cli
            ctx = click.Context(cli)
            for name in path:
                command = command.get_command(ctx, name)
            return {
                p.name or "": (tuple(p.opts), getattr(p, "help", None), p.default, repr(p.type)) for p in command.params
            }

        ours, theirs = options("usage"), options("report", "usage")
        assert set(theirs) == {"by", "since", "until", "project", "timezone", "no_cost", "as_json"}
        assert {name: ours[name] for name in theirs} == theirs
        assert set(ours) - set(theirs) == {"claude_code", "codex", "quiet"}

    def test_bad_options_are_usage_errors(self, store: Store) -> None:
        result = run(store, "usage", "--timezone", "Mars/Olympus")
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: --timezone: unknown time zone 'Mars/Olympus'")
        result = run(store, "usage", "--by", "year")
        assert result.exit_code == 2
        assert "Invalid value for '--by'" in result.stderr

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (
                ["--until", "9999-12-31"],
                "Error: --until: '9999-12-31' is out of range; give a day from 0001-01-02 to 9999-12-30",
            ),
            (["--since", "0001-01-01", "-z", "Asia/Tokyo"], "Error: --since: '0001-01-01' is out of range; give a day"),
            (["--since", "0001-01-01T00:00:00+14:00"], "Error: --since: '0001-01-01T00:00:00+14:00' is out of range"),
        ],
    )
    def test_days_at_the_ends_of_the_calendar_are_usage_errors(
        self, store: Store, args: list[str], message: str
    ) -> None:
        for command in (["usage"], ["report", "usage"]):
            result = run(store, *command, *args)
            assert result.exit_code == 2, result.output
            assert result.stderr.startswith(message), result.stderr


class TestWhere:
    def test_codex_home_is_read_too(self, env: dict[str, Path], store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        codex = shutil.copytree(FIXTURES / "codex", env["codex"])
        monkeypatch.setenv("CODEX_HOME", str(codex))
        data = run_json(store, "usage", "--by", "model", "-z", "UTC", "--no-cost")
        models = {row["model"] for row in data["rows"]}
        assert {SONNET, OPUS} <= models
        assert any(m.startswith("gpt") for m in models), models

    def test_a_missing_default_location_is_skipped_quietly(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "nowhere"))
        monkeypatch.setenv("CODEX_HOME", str(shutil.copytree(FIXTURES / "codex", tmp_path / "codex")))
        result = run(store, "usage", "-z", "UTC", "--no-cost", "--json")
        assert (result.exit_code, result.stderr) == (0, "")
        assert json.loads(result.stdout)["totals"]["calls"] > 0

    def test_the_home_folders_are_the_defaults_without_the_variables(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home = Path(os.environ["HOME"])  # a temporary folder (conftest)
        _claude(home / ".claude")
        monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
        monkeypatch.delenv("CODEX_HOME", raising=False)
        data = run_json(store, "usage", "-z", "UTC", "--no-cost")
        assert day_tokens(data) == {"2025-10-06": [107, 50, 1000, 5000], "2025-10-07": [1, 2, 3, 4]}
        del tmp_path

    def test_paths_given_replace_the_default_locations(self, tmp_path: Path, store: Store) -> None:
        codex = shutil.copytree(FIXTURES / "codex", tmp_path / "codex-given")
        data = run_json(store, "usage", "--codex", str(codex), "--by", "model", "-z", "UTC", "--no-cost")
        models = {row["model"] for row in data["rows"]}
        assert models
        assert not models & {SONNET, OPUS}  # $CLAUDE_CONFIG_DIR was not read
        codex_calls = data["totals"]["calls"]
        other = _claude(tmp_path / "other")
        data = run_json(store, "usage", "--claude-code", str(other), "-z", "UTC", "--no-cost")
        assert data["totals"]["calls"] == codex_calls + 3  # the store holds both now

    def test_a_relative_path_names_a_folder_of_the_working_directory(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _claude(tmp_path / "a" / "cfg")
        other = tmp_path / "b" / "cfg" / "projects" / "-p" / "s.jsonl"
        other.parent.mkdir(parents=True)
        other.write_text(_assistant("msg_b", "2025-10-09T10:00:00.000Z", tokens=(2, 2, 2, 2)) + "\n", encoding="utf-8")
        monkeypatch.chdir(tmp_path / "a")
        first = run_json(store, "usage", "--claude-code", "cfg", "-z", "UTC", "--no-cost")
        assert list(day_tokens(first)) == ["2025-10-06", "2025-10-07"]
        monkeypatch.chdir(tmp_path / "b")  # the same words, another folder: not the kept answer
        second = run_json(store, "usage", "--claude-code", "cfg", "-z", "UTC", "--no-cost")
        assert day_tokens(second)["2025-10-09"] == [2, 2, 2, 2]

    def test_a_missing_path_given_is_a_usage_error(self, env: dict[str, Path], tmp_path: Path, store: Store) -> None:
        missing = tmp_path / "not-there"
        result = run(store, "usage", "--claude-code", str(env["claude"]), "--codex", str(missing))
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == f"Error: --codex {missing}: no such file or folder\n"
        assert not store.root.exists()  # nothing was imported

    def test_nothing_anywhere_says_where_it_looked(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "a"))
        monkeypatch.setenv("CODEX_HOME", str(tmp_path / "b"))
        result = run(store, "usage")
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr == (
            f"Error: no Claude Code or Codex logs found in {tmp_path / 'a' / 'projects'}, {tmp_path / 'b' / 'sessions'}"
            f" and no laptime store at {store.root}; give --claude-code PATH or --codex PATH, or point --home at a "
            "store\n"
        )
        assert not store.root.exists()

    def test_a_folder_given_without_logs_and_no_store(self, tmp_path: Path, store: Store) -> None:
        empty = tmp_path / "empty"
        empty.mkdir()
        result = run(store, "usage", "--claude-code", str(empty))
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr.startswith(f"Error: no Claude Code or Codex logs found in {empty} and no laptime store")
        assert not store.root.exists()

    def test_bad_records_are_warned_about_once(self, env: dict[str, Path], store: Store) -> None:
        session = next((env["claude"] / "projects").rglob("*.jsonl"))
        with session.open("a", encoding="utf-8") as handle:
            handle.write("this is not json\n")
        first = run(store, "usage", "-z", "UTC", "--no-cost", "--json")
        assert first.exit_code == 0
        assert first.stderr == f"warning: {session}:5: not a JSON object (binary or garbled line); skipped\n"
        second = run(store, "usage", "-z", "UTC", "--no-cost", "--json", "--by", "model")
        assert (second.exit_code, second.stderr) == (0, "")  # the file was not read again
        assert run(store, "usage", "-q", "-z", "UTC", "--no-cost").stderr == ""


class TestWarm:
    def test_unchanged_logs_are_not_opened_again(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        from laptime.importers.claude_code import ClaudeCodeImporter

        first = run(store, "usage", "-z", "UTC", "--no-cost", "--json")

        def refuse(*_: object) -> None:
            pytest.fail("an unchanged file was read")

        monkeypatch.setattr(ClaudeCodeImporter, "read", refuse)
        assert run(store, "usage", "-z", "UTC", "--no-cost", "--json").stdout == first.stdout  # the kept answer
        shutil.rmtree(store.root / CACHE_DIRNAME)
        again = run(store, "usage", "-z", "UTC", "--no-cost", "--json")  # stat'ed against the import cache
        assert (again.exit_code, again.stdout) == (0, first.stdout)

    def test_a_grown_log_is_read(self, env: dict[str, Path], store: Store) -> None:
        run_json(store, "usage", "-z", "UTC", "--no-cost")
        session = next((env["claude"] / "projects").rglob("*.jsonl"))
        with session.open("a", encoding="utf-8") as handle:
            handle.write(_assistant("msg_4", "2025-10-07T10:00:00.000Z", tokens=(1000, 0, 0, 0)) + "\n")
        data = run_json(store, "usage", "-z", "UTC", "--no-cost")
        assert day_tokens(data)["2025-10-07"] == [1001, 2, 3, 4]

    def test_a_new_session_in_a_new_project_is_read(self, env: dict[str, Path], store: Store) -> None:
        run_json(store, "usage", "-z", "UTC", "--no-cost")
        (env["claude"] / "projects" / "-home-dev-new" / "sub").mkdir(parents=True)
        run_json(store, "usage", "-z", "UTC", "--no-cost")  # an empty folder changes nothing...
        new = env["claude"] / "projects" / "-home-dev-new" / "sub" / "s.jsonl"
        new.write_text(_assistant("msg_9", "2025-10-08T10:00:00.000Z", tokens=(1, 1, 1, 1)) + "\n", encoding="utf-8")
        data = run_json(store, "usage", "-z", "UTC", "--no-cost")  # ...a file in it does
        assert day_tokens(data)["2025-10-08"] == [1, 1, 1, 1]

    def test_a_default_location_that_appears_is_read(self, env: dict[str, Path], store: Store, tmp_path: Path) -> None:
        before = run_json(store, "usage", "--by", "model", "-z", "UTC", "--no-cost")
        shutil.copytree(FIXTURES / "codex", env["codex"])
        after = run_json(store, "usage", "--by", "model", "-z", "UTC", "--no-cost")
        assert len(after["rows"]) > len(before["rows"])
        del tmp_path

    def test_runs_recorded_with_the_sdk_since_are_counted(self, store: Store) -> None:
        from datetime import UTC, datetime

        run_json(store, "usage", "-z", "UTC", "--no-cost")
        clock = SimulatedClock(start=datetime(2025, 10, 7, 12, 0, tzinfo=UTC))
        with make_recorder(store, clock) as rec, rec.run("sdk run", run_id="sdk1") as sdk_run:
            sdk_run.llm_call(SONNET, provider="anthropic", input_tokens=500, output_tokens=50)
        assert day_tokens(run_json(store, "usage", "-z", "UTC", "--no-cost"))["2025-10-07"] == [501, 52, 3, 4]

    def test_a_price_override_changes_the_cost(self, store: Store) -> None:
        first = run_json(store, "usage", "-z", "UTC", "--by", "model")
        assert first["totals"]["cost_usd"] > 0
        store.config_path.write_text(
            '[[pricing.models]]\nmatch = "claude"\ninput_per_1m = 0\noutput_per_1m = 0\n'
            "cache_read_per_1m = 0\ncache_write_per_1m = 0\n",
            encoding="utf-8",
        )
        assert run_json(store, "usage", "-z", "UTC", "--by", "model")["totals"]["cost_usd"] == 0

    def test_an_age_is_never_answered_from_the_cache(self, store: Store) -> None:
        data = run_json(store, "usage", "--since", "36500d", "-z", "UTC", "--no-cost")
        assert data["totals"]["calls"] == 3
        assert not (store.root / CACHE_DIRNAME).exists()

    def test_a_file_that_grows_during_the_import_is_read_next_time(
        self, env: dict[str, Path], store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from laptime.importers import base

        session = next((env["claude"] / "projects").rglob("*.jsonl"))
        real = base.run_import

        def import_then_grow(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            with session.open("a", encoding="utf-8") as handle:  # Claude Code writes on meanwhile
                handle.write(_assistant("msg_5", "2025-10-07T11:00:00.000Z", tokens=(0, 100, 0, 0)) + "\n")
            return result

        monkeypatch.setattr(base, "run_import", import_then_grow)
        assert day_tokens(run_json(store, "usage", "-z", "UTC", "--no-cost"))["2025-10-07"] == [1, 2, 3, 4]
        monkeypatch.setattr(base, "run_import", real)
        assert day_tokens(run_json(store, "usage", "-z", "UTC", "--no-cost"))["2025-10-07"] == [1, 102, 3, 4]

    def test_few_answers_are_kept(self, store: Store) -> None:
        for day in range(1, 21):
            run_json(store, "usage", "--since", f"2025-09-{day:02d}", "-z", "UTC", "--no-cost")
        assert len(list((store.root / CACHE_DIRNAME).iterdir())) == 16


def test_equals_ccusage_on_a_generated_tree(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    need_ccusage()
    tree = generate(tmp_path / "config", 5)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tree.root))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    theirs = ccusage_daily(tree.root, "-z", "UTC")
    ours = run_json(store, "usage", "--by", "day", "-z", "UTC")
    assert our_days(ours) == their_days(theirs)
    assert our_cells(ours) == their_cells(theirs)
    assert import_json(store, "claude-code", tree.root)["events_new"] == 0  # all of it was imported
