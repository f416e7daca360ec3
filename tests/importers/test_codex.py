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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers import FIXTURES, import_json, log_events, make_unreadable, problems_text, run_cli, snapshot
from importers.codex_tree import session_meta, token_count, turn_context, write_session
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

    def test_each_model_span_is_one_line_ending_at_its_count(self, store: Store) -> None:
        """The model's span is whole when its token count arrives: one compact ``span``
        line, from the last input to the count, indexed as its start and end."""
        import_json(store, "codex", CODEX)
        logged = [e for e in log_events(store) if getattr(e, "kind", None) == "llm"]
        assert logged
        assert {type(e) for e in logged} == {ev.Span}
        assert not [e for e in log_events(store) if isinstance(e, ev.SpanEnd) and e.span in {s.span for s in logged}]
        rows = query(
            store,
            "SELECT s.started_at, s.ended_at, c.ts FROM spans s JOIN llm_calls c ON c.span = s.span_id "
            "WHERE s.kind = 'llm' ORDER BY c.ts",
        )
        assert len(rows) == len(logged) == len(query(store, "SELECT id FROM llm_calls"))
        assert all(r["ended_at"] == r["ts"] and r["started_at"] <= r["ts"] for r in rows)
        assert all(e.id == e.span and e.ts <= e.end_ts for e in logged)

    def test_codex_home_reads_sessions_and_archived(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home = tmp_path / "codex-home"
        shutil.copytree(CODEX, home)
        monkeypatch.setenv("CODEX_HOME", str(home))
        assert CodexImporter().default_paths() == [home]  # both folders, read as one set
        summary = import_json(store, "codex")
        assert summary["files_read"] == 2
        assert summary["runs"] == 2
        (home / "history.jsonl").write_text("{}\n")  # Codex's prompt history: not a session
        assert [p.name for p in CodexImporter().discover(home)] == [
            "rollout-2025-10-06T10-00-00-0199a1b2-aaaa-7000-8000-000000000001.jsonl",
            "rollout-2025-10-07T09-00-00-0199a1b2-bbbb-7000-8000-000000000002.jsonl",
        ]

    def test_default_codex_home_is_in_the_home_folder(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CODEX_HOME", raising=False)
        assert CodexImporter().default_paths() == [Path(os.environ["HOME"]) / ".codex" / "sessions"]

    def test_auto_detects_codex(self, store: Store) -> None:
        assert import_json(store, "auto", CODEX / "sessions")["format"] == "codex"


class TestReport:
    def test_reasoning_tokens_get_a_column_of_their_own(self, store: Store) -> None:
        import_json(store, "codex", CODEX)
        result = run_cli(store, "report", "usage", "--timezone", "UTC", "--no-cost")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "Day         Models       Input  Output  Reasoning  Cache write  Cache read  Total  Cost",
            "----------  -----------  -----  ------  ---------  -----------  ----------  -----  ----",
            "2025-10-06  gpt-5-codex  2,300     350        100            0       1,200  3,850     -",
            "2025-10-07  gpt-5-codex    200      50          0            0         300    550     -",
            "----------  -----------  -----  ------  ---------  -----------  ----------  -----  ----",
            "Total                    2,500     400        100            0       1,500  4,400     -",
            "4 calls, time zone UTC",
        ]
        data = usage_json(store)
        assert [r["reasoning_tokens"] for r in data["rows"]] == [100, 0]
        assert [m["reasoning_tokens"] for m in data["rows"][0]["by_model"]] == [100]
        assert data["totals"]["reasoning_tokens"] == 100


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
        assert grown["events_new"] == 2  # the llm span (one compact line) and its usage; the run's end moves
        assert grown["bytes_read"] < path.stat().st_size - size + 10
        totals = usage_json(store)["totals"]
        assert (totals["input_tokens"], totals["output_tokens"]) == (2400, 360)
        runs = query(store, "SELECT ended_us - started_us AS d FROM runs")
        assert runs == [{"d": 180_000_000}]


def _daily(store: Store) -> dict[str, list[int]]:
    """Per UTC day: [input without cache, cache read, output, reasoning, calls]."""
    keys = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens", "calls")
    return {r["period"]: [r[k] for k in keys] for r in usage_json(store)["rows"]}


def _day(*calls: list[int]) -> list[int]:
    """What ``_daily`` shows for these calls ([input, cached, output, reasoning] each)."""
    inp, cached, out, reasoning = (sum(c[i] for c in calls) for i in range(4))
    return [inp - cached, cached, out, reasoning, len(calls)]


def _plus(*usages: list[int]) -> list[int]:
    return [sum(column) for column in zip(*usages, strict=True)]


T0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
U1, U2, U3, U4, U5 = (
    [1000, 200, 100, 40],
    [2000, 1000, 200, 60],
    [700, 0, 70, 10],
    [900, 500, 30, 0],
    [400, 100, 40, 20],
)


def _resumed_session() -> list[dict[str, Any]]:
    """Day 1: U1, U2. Resumed on day 2 with the counter back at 0: U3 (emitted twice),
    then U4 given only as the cumulative total. Resumed on day 3, at 0 again, with a
    total only: U5."""
    day2, day3 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    return [
        session_meta(T0, SESSION_A.removeprefix("codex-"), "/home/dev/src/api"),
        turn_context(T0, "/home/dev/src/api", "gpt-5-codex"),
        token_count(T0 + timedelta(seconds=5), None, None),
        token_count(T0 + timedelta(seconds=10), U1, U1),
        token_count(T0 + timedelta(seconds=60), _plus(U1, U2), U2),
        turn_context(day2, "/home/dev/src/api", "gpt-5-codex"),
        token_count(day2 + timedelta(seconds=10), U3, U3),
        token_count(day2 + timedelta(seconds=10), U3, U3),
        token_count(day2 + timedelta(seconds=50), _plus(U3, U4), None),
        turn_context(day3, "/home/dev/src/api", "gpt-5-codex"),
        token_count(day3 + timedelta(seconds=10), U5, None),
    ]


class TestCounterResets:
    """A resumed session can restart its counter at 0: a count whose cumulative total
    differs from the previous one is a new call, even when the total went down."""

    EXPECTED: ClassVar = {
        "2025-10-06": _day(U1, U2),
        "2025-10-07": _day(U3, U4),
        "2025-10-08": _day(U5),
    }

    def test_every_call_after_a_reset_counts(self, tmp_path: Path, store: Store) -> None:
        path = write_session(tmp_path / "home", "sessions/s.jsonl", _resumed_session())
        import_json(store, "codex", path)
        assert _daily(store) == self.EXPECTED

    def test_a_reset_in_the_grown_part_of_a_file(self, tmp_path: Path, store: Store) -> None:
        records = _resumed_session()
        path = write_session(tmp_path / "home", "sessions/s.jsonl", records[:5])
        import_json(store, "codex", path)
        for cut in (7, 9, len(records)):  # the counter carried across reads
            write_session(tmp_path / "home", "sessions/s.jsonl", records[:cut])
            import_json(store, "codex", path)
        assert _daily(store) == self.EXPECTED


class TestForkReplays:
    """A fork re-emits its parent's calls under the fork's time; each is stored once, at
    the parent's time, whichever folder holds which file."""

    def _tree(self, home: Path, *, with_id: bool) -> None:
        parent, fork = SESSION_A.removeprefix("codex-"), SESSION_B.removeprefix("codex-")
        cwd = "/home/dev/src/api"
        write_session(  # the parent, archived since
            home,
            f"archived_sessions/rollout-2025-10-06T09-00-00-{parent}.jsonl",
            [
                session_meta(T0, parent, cwd),
                turn_context(T0, cwd, "gpt-5-codex"),
                token_count(T0 + timedelta(seconds=10), U1, U1),
                token_count(T0 + timedelta(seconds=10), U1, U1),
                token_count(T0 + timedelta(seconds=60), _plus(U1, U2), None),
            ],
        )
        at = T0 + timedelta(days=1)
        burst = [at + timedelta(milliseconds=n) for n in range(1, 5)]
        write_session(  # the fork, still in sessions/ (read first, before the fix)
            home,
            f"sessions/2025/10/07/rollout-2025-10-07T09-00-00-{fork}.jsonl",
            [
                session_meta(at, fork, cwd, parent if with_id else None),
                turn_context(burst[0], cwd, "gpt-5-codex"),
                token_count(burst[1], U1, U1),
                token_count(burst[2], U1, U1),
                token_count(burst[3], _plus(U1, U2), None),
                turn_context(at + timedelta(seconds=30), cwd, "gpt-5-codex"),
                token_count(at + timedelta(seconds=40), _plus(U1, U2, U3), U3),
            ],
        )

    @pytest.mark.parametrize("with_id", [True, False])
    def test_a_replayed_call_keeps_its_original_day_and_run(self, tmp_path: Path, store: Store, with_id: bool) -> None:
        home = tmp_path / "home"
        self._tree(home, with_id=with_id)
        import_json(store, "codex", home)
        assert _daily(store) == {"2025-10-06": _day(U1, U2), "2025-10-07": _day(U3)}
        runs = query(store, "SELECT run, COUNT(*) AS n FROM llm_calls GROUP BY run ORDER BY run")
        assert runs == [{"run": SESSION_A, "n": 2}, {"run": SESSION_B, "n": 1}]
        # The replay does not stretch the parent's model spans to the fork's time, a day
        # later: each ends at the parent's own count (it did, while a span's end was a line
        # of its own, which the replay's later copy replaced).
        spans = query(store, "SELECT run_id, started_at, ended_at FROM spans WHERE kind = 'llm' ORDER BY start_us")
        assert [(s["run_id"], s["started_at"], s["ended_at"]) for s in spans] == [
            (SESSION_A, "2025-10-06T09:00:10.000000Z", "2025-10-06T09:00:10.000000Z"),
            (SESSION_A, "2025-10-06T09:00:10.000000Z", "2025-10-06T09:01:00.000000Z"),
            (SESSION_B, "2025-10-07T09:00:00.004000Z", "2025-10-07T09:00:40.000000Z"),  # from the replay's last input
        ]

    def test_the_codex_home_by_default(self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        home = tmp_path / "home"
        self._tree(home, with_id=False)
        monkeypatch.setenv("CODEX_HOME", str(home))
        import_json(store, "codex")
        assert _daily(store) == {"2025-10-06": _day(U1, U2), "2025-10-07": _day(U3)}
        # The parent's copy is already stored: reading the fork again changes nothing.
        again = import_json(store, "codex", home / "sessions")
        assert again["events_new"] == 0

    def test_a_byte_identical_copy_adds_nothing(self, tmp_path: Path, store: Store) -> None:
        home = tmp_path / "home"
        self._tree(home, with_id=True)
        (fork,) = (home / "sessions").rglob("*.jsonl")
        shutil.copyfile(fork, home / "archived_sessions" / fork.name)
        summary = import_json(store, "codex", home)
        assert summary["files_read"] == 3
        assert _daily(store) == {"2025-10-06": _day(U1, U2), "2025-10-07": _day(U3)}


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


class TestWhereTheTimeGoes:
    """A session says how much was the model (the last input to a token count), how much
    tools (a call to its output) and how much waiting for the user (a count with no call
    open, to the next message); the split is the one of docs/analysis.md."""

    def test_model_tools_and_waiting_for_the_user(self, tmp_path: Path, store: Store) -> None:
        from helpers import invoke_json

        t0 = datetime(2025, 10, 6, 10, 0, tzinfo=UTC)

        def at(seconds: int) -> datetime:
            return t0 + timedelta(seconds=seconds)

        def item(seconds: int, payload: dict[str, Any], kind: str = "response_item") -> dict[str, Any]:
            return {
                "timestamp": at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "type": kind,
                "payload": payload,
            }

        user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "secret prompt"}]}
        records = [
            session_meta(at(0), "0199a1b2-cccc-7000-8000-000000000009", "/src/app"),
            turn_context(at(1), "/src/app", "gpt-5-codex"),
            item(2, user),
            item(2, {"type": "user_message", "message": "secret prompt"}, "event_msg"),
            item(10, {"type": "function_call", "name": "shell", "call_id": "call_1", "arguments": "{}"}),
            token_count(at(12), [100, 0, 10, 0], None),  # the model: 0:02-0:12, a tool call open
            item(30, {"type": "function_call_output", "call_id": "call_1", "output": "secret output"}),
            item(40, {"type": "agent_message", "message": "done"}, "event_msg"),
            token_count(at(45), [200, 0, 20, 0], None),  # the model: 0:30-0:45, the turn ends
            item(105, user),  # the user took a minute
            item(105, {"type": "user_message", "message": "secret prompt"}, "event_msg"),
            token_count(at(110), [300, 0, 30, 0], None),  # the model: 1:45-1:50
        ]
        name = "sessions/2025/10/06/rollout-2025-10-06T10-00-00-x.jsonl"
        path = write_session(tmp_path / "codex", name, records)
        import_json(store, "codex", path)
        run = invoke_json(store.root, "report", "list")["runs"][0]["run_id"]
        split = invoke_json(store.root, "report", "show", run)["time_split"]
        assert split["wall_ms"] == 110_000
        # 0:10-0:12 is both the model and the tool: a second each
        assert (split["llm_ms"], split["tool_ms"], split["human_wait_ms"], split["other_ms"]) == (
            29_000, 19_000, 60_000, 2_000,
        )  # fmt: skip
        assert "secret" not in "".join(p.read_text() for p in store.segments())

        # Read in two parts (a live session), the same events come out.
        grown = type(store)(tmp_path / "grown" / ".laptime")
        half = write_session(
            tmp_path / "codex2", "sessions/2025/10/06/rollout-2025-10-06T10-00-00-x.jsonl", records[:9]
        )
        import_json(grown, "codex", half)
        write_session(tmp_path / "codex2", "sessions/2025/10/06/rollout-2025-10-06T10-00-00-x.jsonl", records)
        import_json(grown, "codex", half)
        assert invoke_json(grown.root, "report", "show", run)["time_split"] == split


class TestReadsOfAGrowingTree:
    """A Codex home imported again and again while its sessions grow (each file gains, in
    place, the records written up to a moment) ends with the spans and usage rows of one
    import of the whole: tool calls, model spans, waits for the user and forks that cross
    an import keep their ends, and every resumed read picks up its state."""

    _SPANS = (
        "SELECT span_id, run_id, parent_id, kind, name, started_at, ended_at, outcome, attrs FROM spans "
        "ORDER BY start_us, span_id"
    )
    _LLM = (
        "SELECT id, run, parent, model, ts, input_tokens, output_tokens, cache_read_tokens, attrs FROM llm_calls "
        "ORDER BY ts, id"
    )

    def _answers(self, store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return query(store, self._SPANS), query(store, self._LLM)

    @pytest.mark.parametrize("seed", [3, 5, 11])
    def test_imports_at_random_moments_equal_one_import(self, tmp_path: Path, seed: int) -> None:
        import random

        from importers.codex_tree import generate
        from laptime.store import Store as StoreType

        tree = generate(tmp_path / "tree", sessions=8, forks=3, days=2, seed=seed)
        files = sorted(tree.root.rglob("*.jsonl"))
        content = {f.relative_to(tree.root): f.read_bytes().splitlines(keepends=True) for f in files}
        whole = StoreType(tmp_path / "whole" / ".laptime")
        import_json(whole, "codex", tree.root)
        expected = self._answers(whole)
        assert {s["kind"] for s in expected[0]} == {"run", "llm", "tool", "other"}  # "other": waits for the user
        moments = sorted({json.loads(line)["timestamp"] for lines in content.values() for line in lines})
        rng = random.Random(seed)
        for case in range(3):
            cuts = sorted(rng.sample(moments, rng.randint(1, 3)))
            home, store = tmp_path / f"home-{case}", StoreType(tmp_path / f"store-{case}" / ".laptime")
            written = dict.fromkeys(content, 0)
            for cut in [*cuts, None]:
                for relative, lines in content.items():
                    upto = [line for line in lines if cut is None or json.loads(line)["timestamp"] <= cut]
                    assert upto == lines[: len(upto)]  # Codex writes in time order
                    if len(upto) > written[relative]:
                        path = home / relative
                        path.parent.mkdir(parents=True, exist_ok=True)
                        with path.open("ab") as handle:  # grown in place: the import resumes at its offset
                            handle.write(b"".join(upto[written[relative] :]))
                        written[relative] = len(upto)
                import_json(store, "codex", home)
            assert self._answers(store) == expected, (seed, cuts)


def test_a_state_from_before_where_the_time_goes_is_read_again_from_the_start(tmp_path: Path) -> None:
    """A session read in part by a laptime whose state had no ``model_from``, ``turn_end`` and
    ``open_calls`` (before 058734e): once it grew, it is read again from its start, so its
    waits for the user and model spans are those of one import of the whole. (Resumed with
    that state, the first wait after the cut was missing and the first model span had no
    length.)"""
    import apsw

    from importers.codex_tree import generate
    from laptime.store import Store as StoreType

    tree = generate(tmp_path / "tree", sessions=6, forks=0, days=1, seed=3)
    whole = StoreType(tmp_path / "whole" / ".laptime")
    import_json(whole, "codex", tree.root)
    home, store = tmp_path / "home", StoreType(tmp_path / "parts" / ".laptime")
    files = {f.relative_to(tree.root): f.read_bytes().splitlines(keepends=True) for f in tree.root.rglob("*.jsonl")}
    for relative, lines in files.items():
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_bytes(b"".join(lines[: len(lines) // 2]))
    import_json(store, "codex", home)
    cache = apsw.Connection(str(store.root / "imports.sqlite"))
    try:
        for path, extra in cache.execute("SELECT path, extra FROM files").fetchall():
            state = json.loads(extra)
            assert state.pop("v") == 2
            for name in ("model_from", "turn_end", "open_calls"):
                del state[name]
            cache.execute("UPDATE files SET extra = ? WHERE path = ?", (json.dumps(state), path))
    finally:
        cache.close()
    for relative, lines in files.items():
        with (home / relative).open("ab") as handle:
            handle.write(b"".join(lines[len(lines) // 2 :]))
    grown = import_json(store, "codex", home)
    assert grown["bytes_read"] == sum(len(b"".join(lines)) for lines in files.values())  # every file from its start
    answers = TestReadsOfAGrowingTree()._answers  # the same two queries
    assert answers(store) == answers(whole)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_an_unreadable_import_cache_is_set_aside(tmp_path: Path, store: Store, damage: str) -> None:
    """The import cache is a cache: an unreadable one is moved aside and built anew, and
    the files read again add nothing (their ids are stored)."""
    home = tmp_path / "h"
    shutil.copytree(CODEX, home)
    first = import_json(store, "codex", home)
    assert first["events_new"] > 0
    log = log_events(store)
    cache = store.root / "imports.sqlite"
    for suffix in ("-wal", "-shm"):
        cache.with_name(cache.name + suffix).unlink(missing_ok=True)
    data = cache.read_bytes()
    cache.write_bytes(b"not a database at all " * 200 if damage == "garbage" else data[: len(data) // 2 + 7])
    again = import_json(store, "codex", home)
    assert (again["events_new"], again["files_read"]) == (0, first["files_read"])
    assert log_events(store) == log
    assert len(list(store.root.glob("imports.sqlite.unreadable-*"))) == 1
    assert import_json(store, "codex", home)["files_unchanged"] == first["files_read"]  # the new cache works


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_an_import_cache_that_is_not_a_file_is_named(tmp_path: Path, store: Store, kind: str) -> None:
    home = tmp_path / "h"
    shutil.copytree(CODEX, home)
    store.ensure()
    cache = store.root / "imports.sqlite"
    if kind == "folder":
        cache.mkdir()
    else:
        os.mkfifo(cache)
    result = run_cli(store, "import", "codex", str(home))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: the import cache {cache} is not a file; move it away (the next import builds a new cache)"
    )
