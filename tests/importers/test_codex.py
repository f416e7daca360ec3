"""Codex CLI: ``$CODEX_HOME/sessions/**.jsonl`` and ``archived_sessions/``.

The fixture (``fixtures/codex``): session A (2025-10-06, gpt-5-codex) has a token_count
without info, one shell call (10:00:03-10:00:05), turns of 1000/200/100 (input/cached/
output) given twice (a repeat), 2000/1000/200, and 500/0/50 given only as a cumulative
total. Session B, archived, is a fork: it replays A's first two turns (same cumulative
totals), then adds 500/300/50. So: input 4000 (of which 1500 cached), output 400.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers import FIXTURES, import_json, make_unreadable, problems_text, run_cli, snapshot
from laptime import events as ev
from laptime.importers.base import FileState, ImportContext, ImportResult
from laptime.importers.codex import CodexImporter
from laptime.index import Index

if TYPE_CHECKING:
    from laptime.store import Store

CODEX = FIXTURES / "codex"
SESSION_A = "codex-0199a1b2-aaaa-7000-8000-000000000001"
SESSION_B = "codex-0199a1b2-bbbb-7000-8000-000000000002"


def usage_json(store: Store, *args: str) -> dict[str, Any]:
    result = run_cli(store, "report", "usage", "--json", "--timezone", "UTC", "--no-cost", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def query(store: Store, sql: str) -> list[dict[str, Any]]:
    with Index(store) as index:
        index.update()
        return index.query_dicts(sql)


def _token_count(ts: str, total: list[int] | None, last: list[int] | None) -> str:
    def tok(v: list[int]) -> dict[str, int]:
        return {
            "input_tokens": v[0],
            "cached_input_tokens": v[1],
            "output_tokens": v[2],
            "reasoning_output_tokens": 0,
            "total_tokens": v[0] + v[2],
        }

    info: dict[str, Any] = {}
    if total is not None:
        info["total_token_usage"] = tok(total)
    if last is not None:
        info["last_token_usage"] = tok(last)
    return json.dumps({"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}})


class TestImport:
    def test_sessions_become_runs_with_deduplicated_usage(self, store: Store) -> None:
        summary = import_json(store, "codex", CODEX)
        assert summary["runs"] == 2
        assert summary["skipped_records"] == 0
        totals = usage_json(store, "--by", "model")["totals"]
        assert (totals["input_tokens"], totals["cache_read_tokens"], totals["output_tokens"]) == (2500, 1500, 400)
        assert totals["total_tokens"] == 4400
        assert totals["calls"] == 4
        by_day = {r["period"]: r["total_tokens"] for r in usage_json(store)["rows"]}
        assert by_day == {"2025-10-06": 3850, "2025-10-07": 550}

    def test_runs_llm_and_tool_spans(self, store: Store) -> None:
        import_json(store, "codex", CODEX)
        runs = query(
            store, "SELECT run_id, name, runner, attrs, started_us, ended_us, outcome FROM runs ORDER BY run_id"
        )
        assert [r["run_id"] for r in runs] == [SESSION_A, SESSION_B]
        attrs = json.loads(runs[0]["attrs"])
        assert attrs["cwd"] == "/home/dev/src/api"
        assert attrs["project"] == "api"
        assert runs[0]["runner"] == "codex"
        assert runs[0]["outcome"] == "completed"
        assert (runs[0]["ended_us"] - runs[0]["started_us"]) == 120_000_000
        tools = query(store, "SELECT name, started_at, ended_at, parent_id FROM spans WHERE kind = 'tool'")
        assert tools == [
            {
                "name": "shell",
                "started_at": "2025-10-06T10:00:03.000000Z",
                "ended_at": "2025-10-06T10:00:05.000000Z",
                "parent_id": SESSION_A,
            }
        ]
        calls = query(store, "SELECT model, provider, input_includes_cache, attrs FROM llm_calls ORDER BY ts")
        assert {(c["model"], c["provider"], c["input_includes_cache"]) for c in calls} == {("gpt-5-codex", "openai", 1)}
        assert json.loads(calls[0]["attrs"]) == {"reasoning_tokens": 40}

    def test_codex_home_reads_sessions_and_archived(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home = tmp_path / "codex-home"
        shutil.copytree(CODEX, home)
        monkeypatch.setenv("CODEX_HOME", str(home))
        assert CodexImporter().default_paths() == [home / "sessions", home / "archived_sessions"]
        summary = import_json(store, "codex")
        assert summary["files_read"] == 2
        assert summary["runs"] == 2

    def test_default_codex_home_is_in_the_home_folder(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CODEX_HOME", raising=False)
        assert CodexImporter().default_paths() == [Path(os.environ["HOME"]) / ".codex" / "sessions"]

    def test_auto_detects_codex(self, store: Store) -> None:
        assert import_json(store, "auto", CODEX / "sessions")["format"] == "codex"


class TestIdempotency:
    def test_importing_twice_adds_nothing(self, store: Store) -> None:
        import_json(store, "codex", CODEX)
        before = snapshot(store)
        again = import_json(store, "codex", CODEX)
        assert again["events_new"] == 0
        assert again["files_unchanged"] == 2
        assert snapshot(store) == before
        (store.root / "imports.sqlite").unlink()
        third = import_json(store, "codex", CODEX)
        assert third["events_new"] == 0
        assert snapshot(store)[1] == before[1]

    def test_a_grown_file_adds_only_its_new_part(self, tmp_path: Path, store: Store) -> None:
        home = tmp_path / "h"
        shutil.copytree(CODEX, home)
        (path,) = (home / "sessions").rglob("*.jsonl")
        import_json(store, "codex", path)
        size = path.stat().st_size
        with path.open("a") as handle:
            handle.write(_token_count("2025-10-06T10:03:00.000Z", [3600, 1200, 360], None) + "\n")
            handle.write(_token_count("2025-10-06T10:04:00.000Z", [3600, 1200, 360], None)[:40])  # half written
        grown = import_json(store, "codex", path)
        assert grown["events_new"] == 3  # llm span start, usage, span end; the run's end moves
        assert grown["bytes_read"] < path.stat().st_size - size + 10
        totals = usage_json(store)["totals"]
        assert (totals["input_tokens"], totals["output_tokens"]) == (2400, 360)
        runs = query(store, "SELECT ended_us - started_us AS d FROM runs")
        assert runs == [{"d": 180_000_000}]


class TestBadInput:
    def test_each_bad_line_is_named(self, tmp_path: Path, store: Store) -> None:
        path = tmp_path / "s.jsonl"
        good = _token_count("2025-10-06T10:00:00.000Z", [10, 0, 5], [10, 0, 5])
        lines = [
            good,
            good[:30],
            good.replace('"output_tokens": 5', '"output_tokens": "five"'),
            json.dumps({"type": "event_msg", "payload": {"type": "token_count"}}),
            "\x00\x01 garbage",
            "",
        ]
        path.write_text("\n".join(lines) + "\n")
        summary = import_json(store, "codex", path)
        problems = problems_text(summary)
        assert summary["skipped_records"] == 4
        for line in (2, 3, 4, 5):
            assert any(p.startswith(f"{path}:{line}: ") for p in problems), problems
        assert "output_tokens" in problems[1]

    def test_empty_unreadable_and_missing(self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        empty = tmp_path / "empty.jsonl"
        empty.touch()
        import_json(store, "codex", empty)
        locked = tmp_path / "locked.jsonl"
        locked.write_text(_token_count("2025-10-06T10:00:00.000Z", [10, 0, 5], None) + "\n")
        make_unreadable(locked, monkeypatch)
        summary = import_json(store, "codex", locked, tmp_path / "nope", expect=1)
        assert summary["skipped_records"] == 2
        assert any("permission denied" in p for p in problems_text(summary))


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_tokens = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("input_tokens", "cached_input_tokens", "output_tokens", "total_tokens"), _values)
)
_payload = st.fixed_dictionaries(
    {"type": st.sampled_from(["token_count", "function_call", "function_call_output"]) | _values},
    optional={
        "info": st.fixed_dictionaries({}, optional={"total_token_usage": _tokens, "last_token_usage": _tokens})
        | _values,
        "id": _values,
        "model": _values,
        "call_id": _values,
        "name": _values,
        "cwd": _values,
    },
)
_record = st.fixed_dictionaries(
    {"type": st.sampled_from(["session_meta", "turn_context", "event_msg", "response_item"]) | _values},
    optional={
        "timestamp": st.sampled_from(["2025-10-06T10:00:00.000Z", "nope"]) | _values,
        "payload": _payload | _values,
    },
)
_line = _record.map(lambda r: json.dumps(r).encode()) | st.binary(max_size=100).map(lambda b: b.replace(b"\n", b""))


class TestFuzz:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lines=st.lists(_line, max_size=8))
    def test_the_record_parser_never_raises(self, lines: list[bytes]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "s.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in lines))
            result = ImportResult("codex")
            ctx = ImportContext(result, None)
            ctx.file = path
            state = FileState()
            events = list(CodexImporter().read(path, state, ctx))
            assert state.offset == path.stat().st_size
            for event in events:
                assert ev.decode(ev.encode(event)) == event
            assert all(p.line is not None and 1 <= p.line <= len(lines) for p in result.problems)
