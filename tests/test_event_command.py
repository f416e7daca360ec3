"""``laptime event ...`` (issue 11, line 3): one point event from a shell, checked like the SDK's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

from laptime.cli import cli
from laptime.events import decode

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "run-from-shell"
SPAN = "0123456789abcdef0123456789abcdef"
ID_RULE = "(letters, digits and -_.: only, at most 200)"


def event(store: Store, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--home", str(store.root), "event", *args], env=env, prog_name="laptime")


def lines(store: Store) -> list[dict[str, Any]]:
    found = []
    for segment in sorted(store.log_dir.glob("*.jsonl")):
        for line in segment.read_bytes().splitlines():
            decode(line)  # every line is one the log accepts
            found.append(json.loads(line))
    return found


def only(store: Store) -> dict[str, Any]:
    [line] = lines(store)
    del line["id"], line["ts"]
    return line


class TestEachKind:
    def test_milestone(self, store: Store) -> None:
        result = event(store, "milestone", "schema migrated", "--index", "2", "--run", RUN)
        assert (result.exit_code, result.output) == (0, "")
        assert only(store) == {
            "type": "milestone",
            "v": 1,
            "run": RUN,
            "parent": RUN,
            "name": "schema migrated",
            "status": "completed",
            "index": 2,
        }

    def test_checkpoint_under_the_span_named_in_the_environment(self, store: Store) -> None:
        env = {"LAPTIME_RUN_ID": RUN, "LAPTIME_SPAN_ID": SPAN}
        result = event(store, "checkpoint", "abc123", "--verified", env=env)
        assert (result.exit_code, result.output) == (0, "")
        assert only(store) == {
            "type": "checkpoint",
            "v": 1,
            "run": RUN,
            "parent": SPAN,
            "commit": "abc123",
            "verified": True,
        }

    def test_metric_with_unit_and_json_attrs(self, store: Store) -> None:
        result = event(
            store,
            "metric",
            "rows",
            "1200.5",
            "--unit",
            "rows",
            "--attr",
            "n=3",
            "--attr",
            "ok=true",
            "--attr",
            'tags=["a","b"]',
            "--attr",
            "word=plain text",
            "--attr",
            "big=1e999",
            "--attr",
            "nested=[1, NaN]",
            "--run",
            RUN,
        )
        assert (result.exit_code, result.output) == (0, "")
        assert only(store) == {
            "type": "metric",
            "v": 1,
            "run": RUN,
            "parent": RUN,
            "attrs": {
                "n": 3,
                "ok": True,
                "tags": ["a", "b"],
                "word": "plain text",
                "big": "1e999",
                "nested": "[1, NaN]",
            },
            "name": "rows",
            "value": 1200.5,
            "unit": "rows",
        }

    def test_file(self, store: Store) -> None:
        result = event(store, "file", "src/app.ts", "--change", "created", "--lines-added", "40", "--run", RUN)
        assert (result.exit_code, result.output) == (0, "")
        assert only(store) == {
            "type": "file_change",
            "v": 1,
            "run": RUN,
            "parent": RUN,
            "path": "src/app.ts",
            "change": "created",
            "lines_added": 40,
        }

    def test_validation(self, store: Store) -> None:
        args = ["validation", "npm test", "--failed", "--exit-code", "1", "--duration-ms", "5400", "--tier", "unit"]
        result = event(store, *args, "--run", RUN)
        assert (result.exit_code, result.output) == (0, "")
        assert only(store) == {
            "type": "validation",
            "v": 1,
            "run": RUN,
            "parent": RUN,
            "command": "npm test",
            "passed": False,
            "exit_code": 1,
            "duration_ms": 5400.0,
            "tier": "unit",
        }

    def test_error_and_scope_violation(self, store: Store) -> None:
        assert event(store, "error", "rate limited", "--type", "RateLimit", "--run", RUN).exit_code == 0
        assert event(store, "scope-violation", "infra/prod.tf", "--reason", "not mine", "--run", RUN).exit_code == 0
        kinds = [
            (e["type"], e.get("message") or e.get("path"), e.get("error_type") or e.get("reason")) for e in lines(store)
        ]
        assert kinds == [("error", "rate limited", "RateLimit"), ("scope_violation", "infra/prod.tf", "not mine")]


class TestErrors:
    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["metric", "rows", "12"], ("Error: no run to record into: give --run ID, or call this inside "
             "`laptime exec` (which sets $LAPTIME_RUN_ID)")),
            (["metric", "rows", "abc", "--run", RUN], "Error: Invalid value for 'VALUE': 'abc' is not a finite number"),
            (["metric", "rows", "nan", "--run", RUN], "Error: Invalid value for 'VALUE': 'nan' is not a finite number"),
            (["metric", "rows", "inf", "--run", RUN], "Error: Invalid value for 'VALUE': 'inf' is not a finite number"),
            (["metric", " ", "1", "--run", RUN], "Error: Invalid value for 'NAME': must not be empty"),
            (["milestone", "m", "--status", "done", "--run", RUN],
             "Error: Invalid value for '--status': 'done' is not one of 'planned', 'completed'."),
            (["file", "a.py", "--change", "added", "--run", RUN],
             "Error: Invalid value for '--change': 'added' is not one of 'created', 'modified', 'deleted'."),
            (["file", "a.py", "--lines-added", "-1", "--run", RUN],
             "Error: Invalid value for '--lines-added': -1 is not in the range x>=0."),
            (["validation", "pytest", "--run", RUN], "Error: give --passed or --failed"),
            (["validation", "pytest", "--passed", "--tier", "a b", "--run", RUN],
             "Error: Invalid value for '--tier': 'a b' is not a tier (letters, digits and -_.: only, at most 64)"),
            (["validation", "pytest", "--passed", "--duration-ms", "-5", "--run", RUN],
             "Error: Invalid value for '--duration-ms': -5 is below 0"),
            (["checkpoint", "--attr", "=1", "--run", RUN], "Error: Invalid value for '--attr': '=1' is not KEY=VALUE"),
            (["checkpoint", "--run", "a b"],
             f"Error: Invalid value for '--run': 'a b' is not a run or span id {ID_RULE}"),
            (["checkpoint", "--run", RUN, "--parent", 'x"y'],
             f"Error: Invalid value for '--parent': 'x\"y' is not a run or span id {ID_RULE}"),
        ],
    )  # fmt: skip
    def test_bad_arguments_exit_2_naming_the_field_and_write_nothing(
        self, store: Store, args: list[str], error: str
    ) -> None:
        result = event(store, *args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == error
        assert not store.log_dir.exists() or lines(store) == []


def test_a_value_recorded_with_a_default_warns_and_exits_0(store: Store) -> None:
    # a file name that is not UTF-8 reaches Python with a lone surrogate (surrogateescape)
    result = event(store, "file", "caf\udce9.txt", "--run", RUN)
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: laptime got an invalid path in file_change (not valid UTF-8")
    line = only(store)
    assert (line["path"], line["attrs"]) == ("caf\\udce9.txt", {"invalid_path": "caf\\udce9.txt"})
