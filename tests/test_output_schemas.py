"""Every command's --json output has a JSON Schema that ships in the package, and keeps to it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click
import jsonschema
import pytest

from helpers import invoke, record_fixed_run
from laptime.analysis.outputs import OUTPUT_TYPES, load_output_schema, output_schema, schema_file
from laptime.cli import cli

if TYPE_CHECKING:
    from laptime.store import Store

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DOC = REPO / "docs" / "output.md"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_output_schemas", REPO / "scripts" / "gen_output_schemas.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _json_commands(group: click.Group, prefix: str = "") -> list[str]:
    """Every command of the CLI that takes --json, as `report list` etc."""
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out += _json_commands(command, path + " ")
        elif any("--json" in p.opts for p in command.params if isinstance(p, click.Option)):
            out.append(path)
    return out


class TestShipped:
    @pytest.mark.parametrize("command", sorted(OUTPUT_TYPES))
    def test_the_shipped_schema_is_the_generated_one(self, command: str) -> None:
        assert load_output_schema(command) == output_schema(command), "run: python scripts/gen_output_schemas.py"
        shipped = REPO / "src" / "laptime" / "schema" / "output" / schema_file(command)
        assert shipped.read_text(encoding="utf-8") == _script().render(command)

    @pytest.mark.parametrize("command", sorted(OUTPUT_TYPES))
    def test_is_a_valid_draft_2020_12_schema(self, command: str) -> None:
        jsonschema.Draft202012Validator.check_schema(load_output_schema(command))

    def test_every_command_that_prints_json_has_a_schema(self) -> None:
        commands = _json_commands(cli)
        assert "report scoreboard" in commands  # `laptime report RUN` is the scoreboard command
        missing = sorted(set(commands) - set(OUTPUT_TYPES) - {"report scoreboard"})
        assert missing == [], f"no typed result / schema for: {missing}"

    @pytest.mark.parametrize("command", sorted(OUTPUT_TYPES))
    def test_every_schema_is_documented(self, command: str) -> None:
        text = DOC.read_text(encoding="utf-8")
        assert f"`laptime {command} --json`" in text
        assert schema_file(command) in text

    def test_check_mode_finds_a_stale_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        script = _script()
        monkeypatch.setattr(script, "OUTPUT_DIR", tmp_path)
        assert script.main(["--check"]) == 1
        assert script.main([]) == 0
        assert script.main(["--check"]) == 0
        (tmp_path / "kpi.schema.json").write_text("{}\n", encoding="utf-8")
        assert script.main(["--check"]) == 1


def _outputs(store: Store, tmp_path: Path) -> dict[str, Any]:
    """Each command's --json on a store with a recorded run and an imported runr run."""
    record_fixed_run(store)
    runs = tmp_path / "runr"
    shutil.copytree(FIXTURES / "runr" / "runs", runs)
    home = store.root

    def run(*args: str, code: int = 0) -> Any:
        result = invoke(home, *args, "--json")
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout)

    out = {
        "import": run("import", "runr", str(runs)),
        "report": run("report"),
        "kpi": run("kpi"),
        "report show": run("report", "show", "f1xed"),
        "report list": run("report", "list"),
        "status": run("status"),
        "status --report": run("status", "--report"),
        "doctor": run("doctor"),
        "pricing": run("pricing"),
        "compact": run("compact"),
        "report clean": run("report", "clean", "--before", "2020-01-01"),
        "refresh": run("refresh"),
        "report summary": run("report", "summary"),
        "report usage": run("report", "usage", "--by", "session"),
        "usage": run("usage", "--by", "session", "--codex", str(FIXTURES / "codex")),
        "report pipeline": run("report", "pipeline"),
        "compare": run("compare", "f1xed", "20260105090000"),
        "compare SPEC SPEC": run("compare", "last:5", "last:1"),
        "estimate": run("estimate"),
        "estimate --backtest": run("estimate", "--backtest"),
    }
    out["demo"] = json.loads(invoke(tmp_path / "demo-store", "demo", "--json").stdout)
    # a receiver that is not there: the delivery fails (exit 1), and redeliver tries again
    store.config_path.write_text('[webhook]\nurl = "http://127.0.0.1:9/hook"\nretries = 0\ntimeout = 1\n')
    out["webhook send"] = run("webhook", "send", "f1xed", "--event", "completed", code=1)
    out["webhook redeliver"] = run("webhook", "redeliver", code=1)
    out["export otlp"] = run("export", "otlp", "-o", str(tmp_path / "runs.otlp.json"))
    return out


class TestOutputs:
    def test_every_command_output_keeps_to_its_schema(self, store: Store, tmp_path: Path) -> None:
        outputs = _outputs(store, tmp_path)
        assert set(outputs) == set(OUTPUT_TYPES)
        for command, data in outputs.items():
            jsonschema.validate(data, load_output_schema(command), cls=jsonschema.Draft202012Validator)

    def test_lists_come_inside_an_object(self, store: Store, tmp_path: Path) -> None:
        for command, data in _outputs(store, tmp_path).items():
            assert isinstance(data, dict), command

    def test_the_vocabulary(self, store: Store, tmp_path: Path) -> None:
        """Integer *_ms, *_tokens names, cost_usd with cost_source, everywhere."""
        bad: list[str] = []

        def walk(node: Any, path: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    here = f"{path}.{key}"
                    scalar = not isinstance(value, dict | list)  # a *_ms object holds statistics
                    if key.endswith("_ms") and scalar and value is not None and not isinstance(value, int):
                        bad.append(f"{here} = {value!r} is not integer ms")
                    if key in ("input", "output", "cache_read", "cache_write", "tokens_in", "tokens_out"):
                        bad.append(f"{here}: say {key.removeprefix('tokens_')}_tokens")
                    walk(value, here)
            elif isinstance(node, list):
                for item in node:
                    walk(item, path + "[]")

        for command, data in _outputs(store, tmp_path).items():
            walk(data, command)
        assert bad == []
