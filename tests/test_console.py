"""The console script (``laptime.console``): a kept ``laptime usage`` answer is printed
without loading click or the CLI, exactly as the CLI prints it; everything else goes to
the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from laptime.console import UsageRequest, read_usage_request

_SESSION = "5f0c2a9e-1111-4b7a-9c55-000000000001"


def _click_reads(argv: list[str]) -> UsageRequest:
    """What the CLI (click) makes of ``argv``, as a UsageRequest."""
    from laptime.cli import cli
    from laptime.cli.usage import usage_now

    at = argv.index("usage")  # (the first argument that is not a group option's, in these command lines)
    group = cli.make_context("laptime", argv[:at], resilient_parsing=True)
    params = usage_now.make_context("usage", argv[at + 1 :], parent=group).params
    return UsageRequest(
        home=group.params["home"],
        no_color=group.params["no_color"],
        by=params["by"],
        since=params["since"],
        until=params["until"],
        project=params["project"],
        timezone=params["timezone"],
        no_cost=params["no_cost"],
        as_json=params["as_json"],
        quiet=params["quiet"],
        given={"--claude-code": list(params["claude_code"]), "--codex": list(params["codex"])},
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["usage"],
        ["usage", "--json"],
        ["usage", "--by", "model", "--json", "-z", "UTC"],
        ["--home", "/x/store", "usage", "--by=week", "--since=2025-10-01", "--until", "2025-10-31T12:00:00"],
        ["--home=/x", "--no-color", "usage", "--project", "web=app", "--no-cost", "-q", "--timezone", "Europe/Paris"],
        ["usage", "--claude-code", "a", "--claude-code=b/", "--codex", "/c", "--quiet", "--json"],
        ["usage", "--by", "day", "--by", "month", "--since", "7d", "--since", "2025-01-01"],
    ],
)
def test_a_command_line_is_read_as_the_cli_reads_it(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAPTIME_HOME")  # click reads it as --home; laptime.console leaves it to find_store
    assert read_usage_request(argv) == _click_reads(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--version"],
        ["usage", "--help"],
        ["usage", "-h"],
        ["report", "usage", "--json"],
        ["usage", "extra"],
        ["usage", "--by"],
        ["usage", "--since", "-1"],
        ["usage", "--since", ""],
        ["usage", "-zUTC"],
        ["usage", "-z=UTC"],
        ["usage", "--", "--json"],
        ["usage", "--jso"],
        ["usage", "--json=1"],
        ["--home", "", "usage"],
        ["--home", "--no-color", "usage"],
        ["--bogus", "usage"],
    ],
)
def test_anything_else_is_left_to_the_cli(argv: list[str]) -> None:
    assert read_usage_request(argv) is None


def _tree(root: Path) -> Path:
    from test_usage_command import _assistant

    session = root / "projects" / "-home-dev-src-webapp" / f"{_SESSION}.jsonl"
    session.parent.mkdir(parents=True)
    lines = [_assistant("msg_1", "2025-10-06T10:00:00.000Z"), _assistant("msg_2", "2025-10-07T10:00:00.000Z")]
    session.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return session


# Runs the console script in a fresh interpreter, then says on stderr whether click was loaded.
_RUN = """
import sys
from laptime.console import main
try:
    main()
finally:
    sys.stderr.write("\\nclick loaded: %s\\n" % ("click" in sys.modules))
"""


def _laptime(tmp_path: Path, *args: str) -> tuple[int, str, bool]:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "LAPTIME_HOME": str(tmp_path / "store"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
        "CODEX_HOME": str(tmp_path / "no-codex"),
        "PYTHONIOENCODING": "utf-8",
    }
    out = subprocess.run(
        [sys.executable, "-c", _RUN, *args], env=env, capture_output=True, text=True, encoding="utf-8", check=False
    )
    loaded = out.stderr.rstrip().rsplit("\n", 1)[-1]
    assert loaded in ("click loaded: True", "click loaded: False"), out.stderr
    return out.returncode, out.stdout, loaded.endswith("True")


@pytest.mark.parametrize("form", [["--json"], []], ids=["json", "table"])
def test_a_kept_answer_is_printed_without_the_cli(tmp_path: Path, form: list[str]) -> None:
    session = _tree(tmp_path / "claude")
    args = ["usage", "-z", "UTC", "--no-cost", *form]
    first = _laptime(tmp_path, *args)
    assert first[0] == 0
    assert first[2]  # computed by the CLI, which keeps the answer
    again = _laptime(tmp_path, *args)
    assert again == (0, first[1], False)  # the same bytes, click never loaded
    if form:
        assert [row["period"] for row in json.loads(again[1])["rows"]] == ["2025-10-06", "2025-10-07"]
    else:
        assert again[1].startswith("Day ")
    from test_usage_command import _assistant

    with session.open("a", encoding="utf-8") as handle:
        handle.write(_assistant("msg_3", "2025-10-08T10:00:00.000Z") + "\n")
    grown = _laptime(tmp_path, *args)
    assert grown[0] == 0
    assert grown[2]  # a log changed: the CLI reads it
    assert grown[1] != first[1]
    assert _laptime(tmp_path, *args) == (0, grown[1], False)


def test_an_age_and_other_commands_go_to_the_cli(tmp_path: Path) -> None:
    _tree(tmp_path / "claude")
    assert _laptime(tmp_path, "usage", "--since", "30d", "--json")[0::2] == (0, True)
    assert _laptime(tmp_path, "usage", "--since", "30d", "--json")[0::2] == (0, True)  # never kept
    code, out, loaded = _laptime(tmp_path, "report", "usage", "--json", "-z", "UTC")
    assert (code, loaded) == (0, True)
    assert json.loads(out)["rows"]
    code, out, loaded = _laptime(tmp_path, "usage", "--by", "decade")
    assert (code, loaded) == (2, True)


def test_a_broken_cache_file_is_ignored(tmp_path: Path) -> None:
    from laptime.usage_cache import CACHE_DIRNAME

    _tree(tmp_path / "claude")
    first = _laptime(tmp_path, "usage", "-z", "UTC", "--no-cost", "--json")
    (kept,) = (tmp_path / "store" / CACHE_DIRNAME).iterdir()
    entry: dict[str, Any] = json.loads(kept.read_text(encoding="utf-8"))
    broken = [{**entry, "stamp": stamp} for stamp in ([1, 2], [[1, 2, 3]], "x", [["a"]])]
    broken += [{**entry, "output": output} for output in ("not json {", "{}", "5", '{"rows": 5}', None)]
    for content in [*(json.dumps(b) for b in broken), "[" * 100_000, "{"]:
        for form in (["--json"], []):
            kept.write_text(content, encoding="utf-8")
            code, out, loaded = _laptime(tmp_path, "usage", "-z", "UTC", "--no-cost", *form)
            assert (code, loaded) == (0, True), out  # computed again by the CLI, no traceback
            if form:
                assert out == first[1]
            else:
                assert out.startswith("Day ")
    kept.unlink()
    os.mkfifo(kept)  # a FIFO in its place: never opened for reading (that would block)
    assert _laptime(tmp_path, "usage", "-z", "UTC", "--no-cost", "--json") == (0, first[1], True)


def test_two_installations_keep_answers_of_their_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stamp names only its own installation's code: another laptime on the same store
    (pipx and a project's venv) must not print this one's answer, nor this one its."""
    from laptime import usage_cache
    from laptime.store import Store

    store = Store(tmp_path / "store")
    key = usage_cache.cache_key(store, {}, by="day", since=None, until=None, project=None, timezone="UTC", no_cost=True)
    assert key is not None
    usage_cache.save(store, key, [], '{"rows": [], "by": "this laptime"}')
    assert usage_cache.cached(store, key) == '{"rows": [], "by": "this laptime"}'
    monkeypatch.setattr(usage_cache, "__file__", str(tmp_path / "other" / "laptime" / "usage_cache.py"))
    other = usage_cache.cache_key(
        store, {}, by="day", since=None, until=None, project=None, timezone="UTC", no_cost=True
    )
    assert other is not None
    assert other != key
    assert usage_cache.cached(store, other) is None
