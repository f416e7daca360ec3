"""Claude Code: ``<config>/projects/<project>/<sessionId>.jsonl``.

The parity tests generate a realistic log tree (``fixtures/claude-code/generate.py``),
run the real ccusage 20.0.24 on it (``make node_modules/.bin/ccusage``) and compare
token totals per day and per model, and cost. The rest uses small hand-written files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers import FIXTURES, import_json, log_events, make_unreadable, problems_text, run_cli, snapshot
from importers.cc_parity import (
    OURS,
    TOKEN_KEYS,
    ccusage_daily,
    need_ccusage,
    our_cells,
    our_days,
    their_cells,
    their_days,
    usage_json,
)
from laptime import events as ev
from laptime.importers.base import FileState, ImportContext, ImportResult, run_import
from laptime.importers.claude_code import ClaudeCodeImporter, LineScanner
from laptime.index import Index
from laptime.store import Store

if TYPE_CHECKING:
    from types import ModuleType

SESSION = "5f0c2a9e-1111-4b7a-9c55-000000000001"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cc_generate", FIXTURES / "claude-code" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(
    message_id: str,
    request_id: str | None,
    *,
    ts: str = "2025-10-06T10:00:00.000Z",
    inp: int = 10,
    out: int = 5,
    cache_read: int = 0,
    cache_5m: int = 0,
    cache_1h: int = 0,
    sidechain: bool = False,
    session: str = SESSION,
    model: str = "claude-sonnet-4-5-20250929",
    stop: str | None = "end_turn",
    content: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    record: dict[str, Any] = {
        "parentUuid": None,
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": "/home/dev/src/webapp",
        "sessionId": session,
        "version": "2.0.14",
        "gitBranch": "main",
        "type": "assistant",
        "uuid": f"u-{message_id}-{request_id}-{ts}-{inp}-{out}-{sidechain}",
        "timestamp": ts,
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content if content is not None else [{"type": "text", "text": "ok"}],
            "stop_reason": stop,
            "usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_creation_input_tokens": cache_5m + cache_1h,
                "cache_read_input_tokens": cache_read,
                "cache_creation": {"ephemeral_5m_input_tokens": cache_5m, "ephemeral_1h_input_tokens": cache_1h},
                "service_tier": "standard",
            },
        },
        **extra,
    }
    if request_id is not None:
        record["requestId"] = request_id
    return json.dumps(record, separators=(",", ":"))


def _user(ts: str = "2025-10-06T09:59:50.000Z", text: str = "fix the login") -> str:
    record = {
        "parentUuid": None,
        "isSidechain": False,
        "type": "user",
        "sessionId": SESSION,
        "uuid": "u-user",
        "timestamp": ts,
        "message": {"role": "user", "content": text},
    }
    return json.dumps(record, separators=(",", ":"))


def write_tree(root: Path, files: dict[str, list[str]]) -> Path:
    """``root/projects/<name>`` for each name -> lines; returns the config folder."""
    for name, lines in files.items():
        path = root / "projects" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return root


def llm_rows(store: Store) -> list[dict[str, Any]]:
    with Index(store) as index:
        index.update()
        return index.query_dicts(
            "SELECT run, parent, model, ts, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
            "worker, attrs FROM llm_calls ORDER BY ts, id"
        )


def spans(store: Store) -> list[dict[str, Any]]:
    with Index(store) as index:
        index.update()
        return index.query_dicts(
            "SELECT span_id, run_id, parent_id, kind, name, started_at, ended_at, outcome, attrs FROM spans "
            "ORDER BY start_us, span_id"
        )


# -- parity with ccusage ----------------------------------------------------------------------


@pytest.fixture(name="tree", scope="module")
def fixture_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("claude") / "config"
    counts = _generator().generate(
        root, target_bytes=3_000_000, seed=11, filler_scale=0.3, turns=(2, 6), gap_hours=(3, 16)
    )
    assert counts["subagents"] > 0
    return root


class TestCcusageParity:
    @pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
    def test_tokens_per_day_and_model_equal_ccusage(self, tree: Path, store: Store, zone: str) -> None:
        need_ccusage()
        theirs = ccusage_daily(tree, "-z", zone)
        import_json(store, "claude-code", tree)
        ours = usage_json(store, "--by", "day", "--timezone", zone)
        assert len(theirs["daily"]) >= 2
        assert [d["period"] for d in theirs["daily"]] == [r["period"] for r in ours["rows"]]
        for day, row in zip(theirs["daily"], ours["rows"], strict=True):
            assert [day[k] for k in TOKEN_KEYS] == [row[k] for k in OURS], day["period"]
            assert day["totalTokens"] == row["total_tokens"]
            their_models = {
                m["modelName"]: [m[k] for k in TOKEN_KEYS] for m in day["modelBreakdowns"] if m["modelName"]
            }
            our_models = {m["model"]: [m[k] for k in OURS] for m in row["by_model"]}
            assert their_models == our_models, day["period"]
        totals = theirs["totals"]
        assert [totals[k] for k in TOKEN_KEYS] == [ours["totals"][k] for k in OURS]

    def test_cost_per_day_within_half_a_percent(self, tree: Path, store: Store) -> None:
        need_ccusage()
        pytest.importorskip("genai_prices")
        theirs = ccusage_daily(tree, "-z", "UTC")
        import_json(store, "claude-code", tree)
        ours = usage_json(store, "--by", "day", "--timezone", "UTC")
        compared = 0
        for day, row in zip(theirs["daily"], ours["rows"], strict=True):
            for model in day["modelBreakdowns"]:
                mine = next(m for m in row["by_model"] if m["model"] == model["modelName"])
                if model["cost"] and mine["cost_usd"] is not None:
                    assert mine["cost_usd"] == pytest.approx(model["cost"], rel=0.005), (day["period"], model)
                    compared += 1
        assert compared >= 2

    def test_the_dedup_cases_equal_ccusage(self, tmp_path: Path, store: Store) -> None:
        """Each FORMATS.md rule on its own day, against ccusage."""
        need_ccusage()
        other = "5f0c2a9e-1111-4b7a-9c55-000000000002"
        main = [
            # day 1: streamed copies, small first: the largest counts
            _record("m1", "r1", ts="2025-10-01T10:00:00.000Z", inp=3, out=1, stop=None),
            _record("m1", "r1", ts="2025-10-01T10:00:01.000Z", inp=3, out=90, cache_5m=100, cache_1h=50),
            # day 2: the largest first, a smaller copy after it
            _record("m2", "r2", ts="2025-10-02T10:00:00.000Z", inp=7, out=70),
            _record("m2", "r2", ts="2025-10-02T10:00:00.500Z", inp=7, out=2, stop=None),
            # day 3: the parent response, replayed in a subagent file with a new requestId
            _record("m3", "r3", ts="2025-10-03T10:00:00.000Z", inp=11, out=33, cache_read=1000),
            # day 4: <synthetic> and API errors (zero usage, as Claude Code writes them)
            _record("m4", "r4", ts="2025-10-04T10:00:00.000Z", inp=0, out=0, model="<synthetic>"),
            _record("m5", "r5", ts="2025-10-04T10:00:00.000Z", inp=0, out=0, isApiErrorMessage=True),
            _record("m6", "r6", ts="2025-10-04T11:00:00.000Z", inp=5, out=5),
            # day 5: a copy in the main file and a larger sidechain copy: the main one counts
            _record("m7", "r7", ts="2025-10-05T10:00:00.000Z", inp=20, out=2),
            _record("m7", "r7", ts="2025-10-05T10:00:01.000Z", inp=40, out=4, sidechain=True),
        ]
        sub = [
            _record("m3", "r3-side", ts="2025-10-03T10:05:00.000Z", inp=11, out=33, cache_read=1000, sidechain=True),
            _record("s1", "rs1", ts="2025-10-03T10:06:00.000Z", inp=2, out=2, sidechain=True),
        ]
        resumed = [  # day 1 again: a resumed session begins with a verbatim copy
            _record("m1", "r1", ts="2025-10-01T10:00:01.000Z", inp=3, out=90, cache_5m=100, cache_1h=50),
            _record("m8", "r8", ts="2025-10-01T12:00:00.000Z", inp=1, out=1, session=other),
        ]
        config = write_tree(
            tmp_path / "config",
            {
                f"-p/{SESSION}.jsonl": main,
                f"-p/{SESSION}/subagents/agent-a1.jsonl": sub,
                f"-p/{other}.jsonl": resumed,
            },
        )
        theirs = ccusage_daily(config, "-z", "UTC")
        import_json(store, "claude-code", config)
        ours = usage_json(store, "--timezone", "UTC")
        expected = [[d["period"], *(d[k] for k in TOKEN_KEYS)] for d in theirs["daily"]]
        assert [[r["period"], *(r[k] for k in OURS)] for r in ours["rows"]] == expected
        assert expected == [
            ["2025-10-01", 4, 91, 150, 0],
            ["2025-10-02", 7, 70, 0, 0],
            ["2025-10-03", 13, 35, 0, 1000],
            ["2025-10-04", 5, 5, 0, 0],
            ["2025-10-05", 20, 2, 0, 0],
        ]


# -- /btw side questions: sidechain replays of parent responses ------------------------------

ASIDE_AGENT = "aside_question-8f3c2b1a9d4e6f70"
HAIKU = "claude-haiku-4-5-20251001"
SONNET = "claude-sonnet-4-5-20250929"
# What each response of the tree below is, and what its counted copy holds.
PARENT = {  # message id -> (ts, model, input, output, cache write, cache read): the main copies
    "m1": ("2025-10-06T10:00:01.000Z", SONNET, 3, 80, 500, 2000),
    "m2": ("2025-10-06T10:01:00.000Z", SONNET, 5, 40, 0, 4000),
}
ANSWER = {
    "a1": ("2025-10-07T09:00:05.000Z", SONNET, 2, 30, 0, 96_000),
    "t1": ("2025-10-06T10:00:30.000Z", HAIKU, 1, 9, 0, 0),
}


def _aside_tree(root: Path) -> list[Path]:
    """A session whose /btw side question, the next day, replays both parent responses
    with a new requestId, larger cache reads (one under another model), then answers;
    and a subagent of its own. Returns [main, aside, subagent]."""

    def copy(mid: str, rid: str, ts: str, spec: tuple[str, str, int, int, int, int], **kw: Any) -> str:
        _, model, inp, out, c1h, read = spec
        return _record(mid, rid, ts=ts, model=model, inp=inp, out=out, cache_1h=c1h, cache_read=read, **kw)

    m1, m2 = PARENT["m1"], PARENT["m2"]
    main = [
        _user(),
        copy("m1", "r1", "2025-10-06T10:00:00.000Z", (*m1[:3], 1, m1[4], m1[5]), stop=None),  # streamed: early copy
        copy("m1", "r1", m1[0], m1),
        copy("m2", "r2", m2[0], m2),
    ]
    side = {"sidechain": True, "agentId": ASIDE_AGENT}
    aside = [
        copy("m1", "req_side", "2025-10-07T09:00:00.000Z", (*m1[:5], 90_000), **side),
        copy("m2", "req_side", "2025-10-07T09:00:00.100Z", (m2[0], HAIKU, *m2[2:5], 95_000), **side),
        copy("a1", "req_a1", ANSWER["a1"][0], ANSWER["a1"], **side),
    ]
    task = [copy("t1", "req_t1", ANSWER["t1"][0], ANSWER["t1"], sidechain=True, agentId="a7")]
    config = write_tree(
        root,
        {
            f"-p/{SESSION}.jsonl": main,
            f"-p/{SESSION}/subagents/agent-{ASIDE_AGENT}.jsonl": aside,
            f"-p/{SESSION}/subagents/agent-a7.jsonl": task,
        },
    )
    folder = config / "projects" / "-p"
    return [
        folder / f"{SESSION}.jsonl",
        folder / SESSION / "subagents" / f"agent-{ASIDE_AGENT}.jsonl",
        folder / SESSION / "subagents" / "agent-a7.jsonl",
    ]


def _aside_expected() -> dict[tuple[str, str], list[int]]:
    """(UTC day, model) -> tokens: the main copies and the side answer; no replay."""
    out: dict[tuple[str, str], list[int]] = {}
    for ts, model, *tokens in (*PARENT.values(), *ANSWER.values()):
        cell = out.setdefault((ts[:10], model), [0, 0, 0, 0])
        # tokens: input, output, cache write, cache read (the report's order)
        for i, n in enumerate(tokens):
            cell[i] += n
    return out


ORDERS = [(0, 1, 2), (1, 0, 2), (1, 2, 0), (2, 1, 0), (0, 2, 1), (2, 0, 1)]


class TestSidechainReplays:
    """A side question's replay never replaces the main-chain copy of a response."""

    @pytest.mark.parametrize("separate", [False, True], ids=["one-import", "import-per-file"])
    @pytest.mark.parametrize("order", ORDERS, ids=lambda o: "-".join(("main", "aside", "task")[i] for i in o))
    def test_the_main_copy_counts_whatever_the_file_order(
        self, tmp_path: Path, store: Store, order: tuple[int, ...], separate: bool
    ) -> None:
        files = _aside_tree(tmp_path / "config")
        ordered = [files[i] for i in order]
        if separate:
            for file in ordered:
                import_json(store, "claude-code", file)
        else:
            import_json(store, "claude-code", *ordered)
        ours = usage_json(store, "--by", "day", "--timezone", "UTC")
        assert our_cells(ours) == _aside_expected()
        calls = {json.loads(c["attrs"])["message_id"]: c for c in llm_rows(store)}
        assert calls["m1"]["worker"] == "main"
        assert "sidechain" not in json.loads(calls["m1"]["attrs"])
        assert json.loads(calls["m1"]["attrs"])["request_id"] == "r1"
        with Index(store) as index:  # the rule does not depend on the order of the log either
            index.rebuild()
        assert our_cells(usage_json(store, "--by", "day", "--timezone", "UTC")) == _aside_expected()

    @pytest.mark.parametrize("seed", range(4))
    def test_shuffled_files_in_shuffled_imports(self, tmp_path: Path, store: Store, seed: int) -> None:
        """With a resumed session and a second side question, in random batches."""
        files = _aside_tree(tmp_path / "config")
        main = files[0].read_text().splitlines()
        other = "5f0c2a9e-1111-4b7a-9c55-000000000003"
        resumed = [*main, _record("m9", "r9", ts="2025-10-07T08:00:00.000Z", session=other, inp=4, out=4)]
        second_aside = [
            _record(
                "m9",
                "req_side2",
                ts="2025-10-07T08:30:00.000Z",
                inp=4,
                out=4,
                cache_read=50_000,
                sidechain=True,
                session=other,
                agentId="aside_question-0000000000000002",
            ),
        ]
        folder = files[0].parent
        (folder / f"{other}.jsonl").write_text("".join(f"{line}\n" for line in resumed))
        aside2 = folder / other / "subagents" / "agent-aside_question-0000000000000002.jsonl"
        aside2.parent.mkdir(parents=True)
        aside2.write_text("".join(f"{line}\n" for line in second_aside))
        files += [folder / f"{other}.jsonl", aside2]
        rng = random.Random(seed)
        rng.shuffle(files)
        cut = sorted(rng.sample(range(1, len(files)), 2))
        for batch in (files[: cut[0]], files[cut[0] : cut[1]], files[cut[1] :]):
            import_json(store, "claude-code", *batch)
        expected = _aside_expected()
        expected[("2025-10-07", SONNET)] = [
            a + b for a, b in zip(expected[("2025-10-07", SONNET)], [4, 4, 0, 0], strict=True)
        ]
        assert our_cells(usage_json(store, "--by", "day", "--timezone", "UTC")) == expected

    def test_equals_ccusage(self, tmp_path: Path, store: Store) -> None:
        need_ccusage()
        files = _aside_tree(tmp_path / "config")
        theirs = ccusage_daily(tmp_path / "config", "-z", "UTC")
        import_json(store, "claude-code", files[1], files[2], files[0])
        ours = usage_json(store, "--by", "day", "--timezone", "UTC")
        assert their_cells(theirs) == our_cells(ours) == _aside_expected()
        assert their_days(theirs) == our_days(ours)


# -- the events -------------------------------------------------------------------------------


class TestEvents:
    def test_sessions_become_runs_with_llm_tool_and_subagent_spans(self, tmp_path: Path, store: Store) -> None:
        tool = [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "pytest"}}]
        main = [
            _user(),
            _record("m1", "r1", ts="2025-10-06T10:00:00.000Z", stop=None, content=[{"type": "text", "text": "hm"}]),
            _record("m1", "r1", ts="2025-10-06T10:00:02.000Z", stop="tool_use", content=tool, cache_1h=30),
            _record("m2", "r2", ts="2025-10-06T10:00:30.000Z"),
        ]
        sub = [_record("s1", "rs1", ts="2025-10-06T10:00:10.000Z", sidechain=True, agentId="a1")]
        config = write_tree(
            tmp_path / "c",
            {
                f"-home-dev-src-webapp/{SESSION}.jsonl": main,
                f"-home-dev-src-webapp/{SESSION}/subagents/agent-a1.jsonl": sub,
            },
        )
        summary = import_json(store, "claude-code", config)
        assert summary["runs"] == 1
        assert summary["skipped_records"] == 0
        run = f"cc-{SESSION}"
        rows = spans(store)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(row)
        (run_span,) = by_kind["run"]
        assert run_span["span_id"] == run
        assert run_span["started_at"] == "2025-10-06T09:59:50.000000Z"  # the first record, a user prompt
        assert run_span["ended_at"] == "2025-10-06T10:00:30.000000Z"
        assert run_span["outcome"] == "completed"
        attrs = json.loads(run_span["attrs"])
        assert attrs["project"] == "-home-dev-src-webapp"
        assert attrs["cwd"] == "/home/dev/src/webapp"
        assert attrs["runner"] == "claude-code"
        assert [s["name"] for s in by_kind["llm"]] == ["claude-sonnet-4-5-20250929"] * 3
        first_llm = by_kind["llm"][0]
        assert (first_llm["started_at"], first_llm["ended_at"]) == (
            "2025-10-06T10:00:00.000000Z",
            "2025-10-06T10:00:02.000000Z",
        )
        (tool_span,) = by_kind["tool"]
        assert tool_span["name"] == "Bash"
        assert tool_span["parent_id"] == run
        assert tool_span["ended_at"] == "2025-10-06T10:00:30.000000Z"  # the next response of the same conversation
        (agent,) = by_kind["task"]
        assert agent["parent_id"] == run
        assert agent["name"] == "subagent a1"
        sub_llm = [s for s in by_kind["llm"] if s["parent_id"] == agent["span_id"]]
        assert len(sub_llm) == 1
        calls = llm_rows(store)
        assert len(calls) == 3
        m1 = next(c for c in calls if json.loads(c["attrs"])["message_id"] == "m1")
        assert json.loads(m1["attrs"])["cache_write_1h_tokens"] == 30
        assert m1["cache_write_tokens"] == 30
        assert {c["worker"] for c in calls} == {"main", "a1"}
        events = log_events(store)
        assert all(e.source is not None and e.source.importer == "claude-code" for e in events if e.source)
        llm = [e for e in events if isinstance(e, ev.LlmUsage)]
        assert all(e.provider == "anthropic" and not e.input_includes_cache for e in llm)

    def test_report_show_works_on_an_imported_session(self, tmp_path: Path, store: Store) -> None:
        config = write_tree(tmp_path / "c", {f"-p/{SESSION}.jsonl": [_user(), _record("m1", "r1")]})
        import_json(store, "claude-code", config)
        result = run_cli(store, "report", "show", f"cc-{SESSION}", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outcome"] == "completed"


# -- idempotency ------------------------------------------------------------------------------


class TestIdempotency:
    def test_importing_the_same_files_twice_adds_nothing(self, tree: Path, store: Store) -> None:
        first = import_json(store, "claude-code", tree)
        assert first["events_new"] > 100
        before = snapshot(store)
        second = import_json(store, "claude-code", tree)
        assert second["events_new"] == 0
        assert second["files_unchanged"] == second["files_seen"]
        assert snapshot(store) == before
        # Without the import cache every file is read again, and still nothing is added.
        (store.root / "imports.sqlite").unlink()
        third = import_json(store, "claude-code", tree)
        assert third["events_new"] == 0
        assert third["files_read"] == third["files_seen"]
        assert snapshot(store)[1] == before[1]
        # Without the index too (it is derived): the import rebuilds it from the log first,
        # so the log does not get a second copy of every event.
        log_bytes = sum(p.stat().st_size for p in store.segments())
        for file in [store.root / "imports.sqlite", *store.root.glob("index.sqlite*")]:
            file.unlink()
        fourth = import_json(store, "claude-code", tree)
        assert fourth["events_new"] == 0
        assert sum(p.stat().st_size for p in store.segments()) == log_bytes

    def test_a_grown_file_adds_only_its_new_part(self, tmp_path: Path, store: Store) -> None:
        path = tmp_path / "c" / "projects" / "-p" / f"{SESSION}.jsonl"
        lines = [_user(), *(_record(f"m{i}", f"r{i}", ts=f"2025-10-06T10:0{i}:00.000Z") for i in range(6))]
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines[:4]) + "\n")
        first = import_json(store, "claude-code", path)
        bytes_first = first["bytes_read"]
        # A half-written line is left for later.
        with path.open("a") as handle:
            handle.write(lines[4] + "\n" + lines[5][:50])
        second = import_json(store, "claude-code", path)
        # m3's llm span (one `span` line) and usage, and the wait for the user after m2 (read
        # before: the import cache keeps the last turn's end); the run's end moves
        assert second["events_new"] == 3
        assert second["bytes_read"] < bytes_first + len(lines[4]) + 100
        with path.open("a") as handle:
            handle.write(lines[5][50:] + "\n")
        third = import_json(store, "claude-code", path)
        assert third["events_new"] == 3
        assert third["skipped_records"] == 0
        calls = llm_rows(store)
        assert len(calls) == 5
        # The same as one import of the whole file.
        fresh = type(store)(tmp_path / "fresh")
        import_json(fresh, "claude-code", path)
        assert llm_rows(fresh) == calls
        assert spans(fresh) == spans(store)
        # And a rebuilt index equals the incremental one (the run's end was moved twice).
        before = spans(store)
        with Index(store) as index:
            index.rebuild()
        assert spans(store) == before
        assert llm_rows(store) == calls

    def test_a_streamed_copy_with_more_tokens_in_a_later_import_wins(self, tmp_path: Path, store: Store) -> None:
        path = tmp_path / "c" / "projects" / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text(_record("m1", "r1", out=1, stop=None) + "\n")
        import_json(store, "claude-code", path)
        with path.open("a") as handle:
            handle.write(_record("m1", "r1", out=500, ts="2025-10-06T10:00:03.000Z") + "\n")
        import_json(store, "claude-code", path)
        (call,) = llm_rows(store)
        assert call["output_tokens"] == 500


# -- where the logs are -----------------------------------------------------------------------


class TestDiscovery:
    def test_default_paths_are_both_config_folders(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
        home = Path(os.environ["HOME"])
        for base in (home / ".claude", home / ".config" / "claude"):
            (base / "projects").mkdir(parents=True)
        assert ClaudeCodeImporter().default_paths() == [
            home / ".config" / "claude" / "projects",
            home / ".claude" / "projects",
        ]

    def test_claude_config_dir_may_list_several_folders(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        a, b = tmp_path / "a", tmp_path / "b"
        for base in (a, b):
            (base / "projects").mkdir(parents=True)
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{a}, {b}")
        assert ClaudeCodeImporter().default_paths() == [a / "projects", b / "projects"]

    def test_import_without_a_path_reads_claude_config_dir(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = write_tree(tmp_path / "c", {f"-p/{SESSION}.jsonl": [_record("m1", "r1")]})
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
        summary = import_json(store, "claude-code")
        assert summary["events_new"] > 0

    def test_the_whole_tree_is_scanned_sessions_first(self, tmp_path: Path) -> None:
        config = write_tree(
            tmp_path / "c",
            {
                "-p/s/subagents/agent-1.jsonl": ["{}"],
                "-p/s.jsonl": ["{}"],
                "-q/deep/er/x.jsonl": ["{}"],
                "-p/notes.txt": ["x"],
            },
        )
        found = [p.relative_to(config / "projects").as_posix() for p in ClaudeCodeImporter().discover(config)]
        assert found == ["-p/s.jsonl", "-p/s/subagents/agent-1.jsonl", "-q/deep/er/x.jsonl"]

    def test_auto_detects_a_config_folder(self, tmp_path: Path, store: Store) -> None:
        config = write_tree(tmp_path / "c", {f"-p/{SESSION}.jsonl": [_user(), _record("m1", "r1")]})
        summary = import_json(store, "auto", config)
        assert summary["format"] == "claude-code"


# -- bad input --------------------------------------------------------------------------------


class TestBadInput:
    def test_each_bad_line_is_named_and_the_rest_imported(self, tmp_path: Path, store: Store) -> None:
        good = _record("m1", "r1")
        wrong_type = _record("m2", "r2").replace('"output_tokens":5', '"output_tokens":"five"')
        missing = json.loads(_record("m3", "r3"))
        del missing["timestamp"]
        lines = [
            good,
            good[: len(good) // 2],  # truncated JSON, with "usage":{ in it
            wrong_type,
            json.dumps(missing, separators=(",", ":")),
            "\x00\x01\xfe garbage \xff",
            '{"type":"user","message":{"role":"user","content":"tr',  # truncated, no usage
            "",
        ]
        path = tmp_path / "c" / "projects" / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
        summary = import_json(store, "claude-code", path)
        problems = problems_text(summary)
        assert summary["skipped_records"] == 5
        assert any(p.startswith(f"{path}:2: ") and "truncated" in p for p in problems), problems
        assert any(p.startswith(f"{path}:3: ") and "output_tokens" in p for p in problems), problems
        assert any(p.startswith(f"{path}:4: ") and "timestamp" in p for p in problems), problems
        assert any(p.startswith(f"{path}:5: ") and "not a JSON object" in p for p in problems), problems
        assert any(p.startswith(f"{path}:6: ") and "truncated" in p for p in problems), problems
        assert len(llm_rows(store)) == 1

    def test_the_cli_prints_warnings_and_a_summary(self, tmp_path: Path, store: Store) -> None:
        path = tmp_path / "s.jsonl"
        path.write_text(_record("m1", "r1") + "\n" + "not json at all\n")
        result = run_cli(store, "import", "claude-code", str(path))
        assert result.exit_code == 0
        assert f"warning: {path}:2: not a JSON object" in result.stderr
        assert "1 records skipped" in result.stdout

    def test_empty_unreadable_and_missing_files(
        self, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        empty = tmp_path / "empty.jsonl"
        empty.write_bytes(b"")
        assert import_json(store, "claude-code", empty)["events_new"] == 0  # readable, holds nothing: exit 0
        locked = tmp_path / "locked.jsonl"
        locked.write_text(_record("m1", "r1") + "\n")
        make_unreadable(locked, monkeypatch)
        summary = import_json(store, "claude-code", locked, tmp_path / "nope", expect=1)
        problems = problems_text(summary)
        assert any(str(locked) in p and "permission denied" in p for p in problems), problems
        assert any(str(tmp_path / "nope") in p and "no such file" in p for p in problems), problems
        assert summary["skipped_records"] == 2

    def test_what_is_stored_is_never_lost(self, tmp_path: Path, store: Store) -> None:
        good = tmp_path / "good.jsonl"
        good.write_text(_record("m1", "r1") + "\n")
        import_json(store, "claude-code", good)
        before = snapshot(store)
        bad = tmp_path / "bad.jsonl"
        bad.write_bytes(b'\xff\xfe\x00garbage\n{"usage":{\n')
        summary = import_json(store, "claude-code", bad, expect=1)
        assert summary["skipped_records"] == 2
        assert snapshot(store) == before

    def test_something_imported_beside_bad_input_exits_0(self, tmp_path: Path, store: Store) -> None:
        good = tmp_path / "good.jsonl"
        good.write_text(_record("m1", "r1") + "\nbroken\n")
        summary = import_json(store, "claude-code", good, tmp_path / "missing")
        assert summary["events_new"] > 0
        assert summary["skipped_records"] == 2


def _fuzz_line() -> st.SearchStrategy[bytes]:
    scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )
    usage = st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": values,
            "output_tokens": values,
            "cache_creation_input_tokens": values,
            "cache_read_input_tokens": values,
            "cache_creation": values,
        },
    )
    message = st.fixed_dictionaries(
        {"usage": usage},
        optional={"id": values, "model": values, "content": values, "stop_reason": values},
    )
    record = st.fixed_dictionaries(
        {"type": st.sampled_from(["assistant", "user", "summary"]) | values, "message": message | values},
        optional={
            "timestamp": st.sampled_from(["2025-10-06T10:00:00.000Z", "2025-13-45T99:00:00.000Z", "yesterday"])
            | values,
            "sessionId": values,
            "requestId": values,
            "isSidechain": values,
            "isApiErrorMessage": values,
            "agentId": values,
            "costUSD": values,
        },
    )
    as_json = record.map(lambda r: json.dumps(r, separators=(",", ":"), allow_nan=True).encode())
    cut = st.tuples(as_json, st.integers(0, 200)).map(lambda t: t[0][: t[1]])
    return as_json | cut | st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" "))


class TestFuzz:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(lines=st.lists(_fuzz_line(), max_size=8))
    def test_the_record_parser_never_raises(self, lines: list[bytes]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "s.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in lines))
            result = ImportResult("claude-code")
            ctx = ImportContext(result, None)
            ctx.file = path
            state = FileState()
            events = list(ClaudeCodeImporter().read(path, state, ctx))
            assert state.offset == path.stat().st_size
            for event in events:
                assert ev.decode(ev.encode(event)) == event
            for problem in result.problems:
                assert problem.line is not None
                assert 1 <= problem.line <= len(lines)


# -- memory and streaming ---------------------------------------------------------------------


class TestStreaming:
    @pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
    def test_scanner_finds_the_same_lines_whatever_the_chunk_size(self, tmp_path: Path, chunk: int) -> None:
        snapshot_line = '{"type":"file-history-snapshot","s":"' + "y" * 1500 + '"}'
        lines = [_user(), "x" * 300, _record("m1", "r1"), snapshot_line]
        lines += [_record("m2", "r2"), _record("m3", "r3")]
        path = tmp_path / "s.jsonl"
        path.write_text("\n".join(lines) + "\n")
        scanner = LineScanner(path, chunk_bytes=chunk, max_line_bytes=1000)
        hits = [(h.line, h.data is not None) for h in scanner]
        assert hits == [(2, False), (3, True), (5, True), (6, True)]  # line 2: not JSON; 4: long, no usage
        assert scanner.end == path.stat().st_size
        assert scanner.lines == 6

    def test_a_long_usage_line_is_reported_not_read(self, tmp_path: Path) -> None:
        path = tmp_path / "s.jsonl"
        huge = _record("m1", "r1", content=[{"type": "text", "text": "z" * 5000}])
        path.write_text(huge + "\n" + _record("m2", "r2") + "\n")
        hits = list(LineScanner(path, chunk_bytes=64, max_line_bytes=1000))
        assert [(h.line, h.data is None) for h in hits] == [(1, True), (2, False)]
        assert "longer than" in hits[0].problem

    @pytest.mark.slow
    def test_a_300_mb_line_does_not_raise_peak_memory_above_200_mb(self, tmp_path: Path) -> None:
        config = tmp_path / "c"
        path = config / "projects" / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        with path.open("wb") as handle:
            handle.write(_record("m1", "r1").encode() + b"\n")
            handle.write(b'{"type":"file-history-snapshot","snapshot":{"a.py":"')
            block = b"0123456789abcdef" * (1 << 16)  # 1 MiB
            for _ in range(300):
                handle.write(block)
            handle.write(b'"}}\n')
            handle.write(_record("m2", "r2", ts="2025-10-06T11:00:00.000Z").encode() + b"\n")
        script = (
            "import json, sys\n"
            "from pathlib import Path\n"
            "from laptime.importers.base import run_import\n"
            "from laptime.importers.claude_code import ClaudeCodeImporter\n"
            "from laptime.store import Store\n"
            "r = run_import(Store(Path(sys.argv[1])), ClaudeCodeImporter(), [Path(sys.argv[2])], quiet=True)\n"
            # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from a
            # big pytest process would report the parent's size.
            "peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "print(json.dumps([r.events_new, r.skipped_records, r.bytes_read, peak]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "store"), str(config)],
            capture_output=True,
            check=True,
            timeout=300,
        )
        # The child's own peak: RUSAGE_CHILDREN would be the largest of every child this
        # test process ever waited for (ccusage's node process among them).
        events_new, skipped, bytes_read, peak_kb = json.loads(out.stdout)
        peak_mb = peak_kb / 1024
        assert bytes_read > 300 << 20
        assert skipped == 0
        # run start and end, two llm spans (a `span` line and usage each), the wait between them
        assert events_new == 7
        assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"


class TestProgress:
    def test_a_terminal_gets_a_progress_line(self, tree: Path, store: Store) -> None:
        class Tty:
            def __init__(self) -> None:
                self.text = ""

            def isatty(self) -> bool:
                return True

            def write(self, text: str) -> None:
                self.text += text

            def flush(self) -> None:
                pass

        stream = Tty()
        run_import(store, ClaudeCodeImporter(), [tree], progress_stream=stream, progress_delay=0)  # type: ignore[arg-type]
        assert " files · " in stream.text
        assert "records" in stream.text


class TestReadsOfAGrowingFile:
    """A session read in parts, as its files grow, gives the spans one read of the whole
    gives: a tool asked for in one read ends when the next response starts, in a later
    read; a response whose records straddle two reads ends at its last record."""

    def _files(self) -> dict[str, list[str]]:
        tool_a = [{"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {"command": "pytest"}}]
        tool_b = [{"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"file": "x.py"}}]
        tool_c = [{"type": "tool_use", "id": "toolu_c", "name": "Grep", "input": {"pattern": "def"}}]
        main = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop=None),
            _record("m1", "r1", ts="2025-10-06T10:00:15.000Z", stop="tool_use", content=tool_a),
            # the tool runs until m2 starts; m2 asks for a tool in its first record and streams on
            _record("m2", "r2", ts="2025-10-06T10:00:45.000Z", stop=None, content=tool_b),
            _record("m2", "r2", ts="2025-10-06T10:00:50.000Z", stop=None),
            _record("m2", "r2", ts="2025-10-06T10:00:55.000Z", stop="tool_use", out=40),
            _record("m3", "r3", ts="2025-10-06T10:01:30.000Z"),
            _user(ts="2025-10-06T10:02:00.000Z", text="and the docs"),
            _record("m4", "r4", ts="2025-10-06T10:02:10.000Z"),
        ]
        side = {"sidechain": True, "agentId": "a9"}
        sub = [
            _record("s1", "q1", ts="2025-10-06T10:00:20.000Z", stop="tool_use", content=tool_c, **side),
            _record("s2", "q2", ts="2025-10-06T10:00:40.000Z", stop=None, **side),
            _record("s2", "q2", ts="2025-10-06T10:00:42.000Z", **side),
        ]
        return {f"-p/{SESSION}.jsonl": main, f"-p/{SESSION}/subagents/agent-a9.jsonl": sub}

    def _answers(self, store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return spans(store), llm_rows(store)

    @staticmethod
    def _imports(
        tmp_path: Path, name: str, steps: list[dict[str, list[str]]], *, drop_index_last: bool = False
    ) -> Store:
        """A store that imported the tree of each step in turn (a file's lines so far);
        with ``drop_index_last``, its index deleted before the last import."""
        store = Store(tmp_path / name / ".laptime")
        for i, files in enumerate(steps):
            if drop_index_last and i == len(steps) - 1:
                for file in store.root.glob("index.sqlite*"):
                    file.unlink()  # derived: `laptime` says so when it cannot read it
            import_json(store, "claude-code", write_tree(tmp_path / name / "c", files))
        return store

    def _import_in_parts(self, tmp_path: Path, name: str, cuts: list[int]) -> Store:
        """The main file written up to each cut in turn (then whole), imported after each.
        The subagent file grows with it, as it does in Claude Code: it starts after the
        response that asked for the subagent (the main file's third line)."""
        (main, main_lines), (sub, sub_lines) = self._files().items()
        steps = []
        for cut in [*cuts, len(main_lines)]:
            sub_cut = len(sub_lines) if cut == len(main_lines) else max(0, min(cut - 2, len(sub_lines)))
            steps.append({main: main_lines[:cut], sub: sub_lines[:sub_cut]})
        return self._imports(tmp_path, name, steps)

    def test_every_cut_of_the_main_file_and_the_subagent_file(self, tmp_path: Path) -> None:
        whole = self._answers(self._import_in_parts(tmp_path, "whole", []))
        tools = {s["name"]: (s["started_at"], s["ended_at"]) for s in whole[0] if s["kind"] == "tool"}
        assert tools == {
            "Bash": ("2025-10-06T10:00:15.000000Z", "2025-10-06T10:00:45.000000Z"),
            "Read": ("2025-10-06T10:00:45.000000Z", "2025-10-06T10:01:30.000000Z"),
            "Grep": ("2025-10-06T10:00:20.000000Z", "2025-10-06T10:00:40.000000Z"),
        }
        run = next(s for s in whole[0] if s["kind"] == "run")
        assert (run["started_at"], run["ended_at"]) == ("2025-10-06T10:00:00.000000Z", "2025-10-06T10:02:10.000000Z")
        n_main = len(next(iter(self._files().values())))
        for cut in range(1, n_main):
            assert self._answers(self._import_in_parts(tmp_path, f"two-{cut}", [cut])) == whole, f"cut at {cut}"
        for first in range(1, n_main - 1):
            for second in range(first + 1, n_main):
                store = self._import_in_parts(tmp_path, f"three-{first}-{second}", [first, second])
                assert self._answers(store) == whole, f"cuts at {first} and {second}"

    def _whole_and_parts(
        self, tmp_path: Path, lines: list[str], cuts: list[int], *, drop_index: bool = False
    ) -> tuple[Store, Store]:
        name = f"-p/{SESSION}.jsonl"
        whole = self._imports(tmp_path, "whole", [{name: lines}])
        steps = [{name: lines[:cut]} for cut in [*cuts, len(lines)]]
        return whole, self._imports(tmp_path, "parts", steps, drop_index_last=drop_index)

    def test_a_turn_goes_on_when_a_tool_was_asked_in_an_earlier_read(self, tmp_path: Path) -> None:
        """The records read first ask for a tool, the ones read next do not: no wait for
        the user before the next response, as in one read of the whole."""
        tool = [{"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": {"command": "make"}}]
        lines = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop=None, content=tool),
            _record("m1", "r1", ts="2025-10-06T10:00:06.000Z", stop=None),
            _record("m2", "r2", ts="2025-10-06T10:00:40.000Z"),
        ]
        whole, parts = self._whole_and_parts(tmp_path, lines, [2])
        assert not [s for s in spans(whole) if s["name"] == "waiting for the user"]
        assert spans(parts) == spans(whole)

    def test_a_file_read_by_an_older_laptime_is_read_again_from_its_start(self, tmp_path: Path) -> None:
        """The import cache's state of a file read before by a laptime whose state had no
        version (nor the time of the first line): the grown file is read again from byte 0,
        so the run still starts at the prompt read alone, as in one read of the whole.
        (Resumed with that state, the run started at the first answer.)"""
        lines = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop="tool_use"),
            _record("m2", "r2", ts="2025-10-06T10:00:40.000Z"),
        ]
        name = f"-p/{SESSION}.jsonl"
        whole = self._imports(tmp_path, "whole", [{name: lines}])
        store = self._imports(tmp_path, "parts", [{name: lines[:1]}])
        cache = apsw.Connection(str(store.root / "imports.sqlite"))
        try:
            ((path, extra),) = cache.execute("SELECT path, extra FROM files").fetchall()
            state = json.loads(extra)
            assert state["v"] == 2
            older = {"line": state["line"], "tails": state["tails"]}  # as laptime wrote it before the version
            cache.execute("UPDATE files SET extra = ? WHERE path = ?", (json.dumps(older), path))
        finally:
            cache.close()
        tree = write_tree(tmp_path / "parts" / "c", {name: lines})
        grown = import_json(store, "claude-code", tree)
        assert grown["bytes_read"] == (tree / "projects" / name).stat().st_size
        run = next(s for s in spans(store) if s["kind"] == "run")
        assert run["started_at"] == "2025-10-06T10:00:00.000000Z"
        assert spans(store) == spans(whole)
        assert llm_rows(store) == llm_rows(whole)

    def test_a_state_of_the_same_format_without_its_version_is_resumed(self, tmp_path: Path) -> None:
        """A state written between 5606586 and 2e30981 has ``open`` but no version: it is the
        same format, so the grown file is read on from where it was, and the tool asked for
        before the cut ends at the next response, as in one read of the whole."""
        tool = [{"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": {"command": "make"}}]
        lines = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop="tool_use", content=tool),
            _record("m2", "r2", ts="2025-10-06T10:00:40.000Z"),
        ]
        name = f"-p/{SESSION}.jsonl"
        whole = self._imports(tmp_path, "whole", [{name: lines}])
        store = self._imports(tmp_path, "parts", [{name: lines[:2]}])
        cache = apsw.Connection(str(store.root / "imports.sqlite"))
        try:
            ((path, extra),) = cache.execute("SELECT path, extra FROM files").fetchall()
            state = json.loads(extra)
            assert state["open"]  # the response that asked for the tool, still open
            del state["v"]
            cache.execute("UPDATE files SET extra = ? WHERE path = ?", (json.dumps(state), path))
        finally:
            cache.close()
        read_before = (tmp_path / "parts" / "c" / "projects" / name).stat().st_size
        tree = write_tree(tmp_path / "parts" / "c", {name: lines})
        grown = import_json(store, "claude-code", tree)
        assert grown["bytes_read"] == (tree / "projects" / name).stat().st_size - read_before
        tools = [(s["started_at"], s["ended_at"]) for s in spans(store) if s["kind"] == "tool"]
        assert tools == [("2025-10-06T10:00:05.000000Z", "2025-10-06T10:00:40.000000Z")]
        assert spans(store) == spans(whole)

    def test_a_moved_end_after_the_index_was_deleted(self, tmp_path: Path) -> None:
        """The index is derived and may be deleted between two imports: the next import
        brings it up to date first, so the tool's end still moves."""
        tool = [{"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": {"command": "make"}}]
        lines = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop="tool_use", content=tool),
            _record("m2", "r2", ts="2025-10-06T10:00:40.000Z"),
        ]
        whole, parts = self._whole_and_parts(tmp_path, lines, [2], drop_index=True)
        tools = [(s["started_at"], s["ended_at"]) for s in spans(parts) if s["kind"] == "tool"]
        assert tools == [("2025-10-06T10:00:05.000000Z", "2025-10-06T10:00:40.000000Z")]
        assert spans(parts) == spans(whole)

    @staticmethod
    def _random_session(rng: random.Random) -> list[tuple[str, str]]:
        """(file, line) in the order Claude Code writes them: main-chain responses of one
        to three records, tools asked for in any record, now and then a subagent's
        responses, or a side question that replays the parent responses so far, stamped
        later, then answers; user prompts between turns."""
        main, sub, aside = (
            f"-p/{SESSION}.jsonl",
            f"-p/{SESSION}/subagents/agent-a9.jsonl",
            f"-p/{SESSION}/subagents/agent-{ASIDE_AGENT}.jsonl",
        )
        clock = [0.0]

        def at(step: float) -> str:
            clock[0] += step
            millis = round(clock[0] * 1000)
            return f"2025-10-06T10:{millis // 60_000:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}Z"

        tools = iter(range(1, 1000))

        def maybe_tool(p: float, name: str) -> list[dict[str, Any]] | None:
            return [{"type": "tool_use", "id": f"toolu_{next(tools)}", "name": name}] if rng.random() < p else None

        out = [(main, _user(ts=at(0)))]
        parent: list[tuple[str, list[dict[str, Any]] | None, str | None, int]] = []
        for i in range(rng.randint(1, 4)):
            records = rng.randint(1, 3)
            for j in range(records):
                content, stop = maybe_tool(0.4, "Bash"), None
                if j == records - 1:
                    stop = rng.choice([None, "tool_use", "end_turn"])
                out.append(
                    (
                        main,
                        _record(f"m{i}", f"r{i}", ts=at(rng.choice([1, 2, 5])), stop=stop, content=content, out=5 + j),
                    )
                )
                parent.append((f"m{i}", content, stop, 5 + j))
            if rng.random() < 0.3:
                for k in range(rng.randint(1, 2)):
                    line = _record(
                        f"s{i}{k}",
                        f"q{i}{k}",
                        ts=at(rng.choice([1, 3])),
                        content=maybe_tool(0.5, "Grep"),
                        stop=rng.choice([None, "tool_use"]),
                        sidechain=True,
                        agentId="a9",
                    )
                    out.append((sub, line))
            if rng.random() < 0.3:
                at(rng.choice([2, 30]))
                side = {"sidechain": True, "agentId": ASIDE_AGENT}
                for key, content, stop, tokens in parent:
                    out.append(
                        (aside, _record(key, "req_side", ts=at(0.1), content=content, stop=stop, out=tokens, **side))
                    )
                out.append((aside, _record(f"a{i}", f"ra{i}", ts=at(1), **side)))
            at(rng.choice([3, 10]))
            if rng.random() < 0.5:
                out.append((main, _user(ts=at(1), text="go on")))
        return out

    def test_random_sessions_imported_at_random_moments(self, tmp_path: Path) -> None:
        """Sixty random sessions, each imported at one to three random moments while it is
        written and then whole, against one import of everything."""
        for seed in range(60):
            rng = random.Random(seed)
            written = self._random_session(rng)
            cuts = sorted(rng.sample(range(1, len(written)), min(len(written) - 1, rng.randint(1, 3))))

            def tree(n: int, lines: list[tuple[str, str]] = written) -> dict[str, list[str]]:
                files: dict[str, list[str]] = {}
                for file, line in lines[:n]:
                    files.setdefault(file, []).append(line)
                return files

            whole = self._imports(tmp_path, f"{seed}-whole", [tree(len(written))])
            parts = self._imports(tmp_path, f"{seed}-parts", [tree(n) for n in [*cuts, len(written)]])
            assert spans(parts) == spans(whole), f"seed {seed}, cuts {cuts}"
            assert llm_rows(parts) == llm_rows(whole), f"seed {seed}, cuts {cuts}"

    def test_a_replay_read_in_parts_keeps_the_parent_spans(self, tmp_path: Path) -> None:
        """A side question replays a parent response, tools and all, the next day, then
        answers. Read up to the replay, then on, the replay's tool would end at the answer
        a day later; the parent's span keeps the end its own file gave it, as in one read."""
        tool = [{"type": "tool_use", "id": "toolu_p", "name": "Bash", "input": {"command": "make"}}]
        side = {"sidechain": True, "agentId": ASIDE_AGENT}
        main = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop="tool_use", content=tool),
            _record("m2", "r2", ts="2025-10-06T10:00:30.000Z"),
        ]
        aside = [
            _record("m1", "req_side", ts="2025-10-07T09:00:00.000Z", stop="tool_use", content=tool, **side),
            _record("m2", "req_side", ts="2025-10-07T09:00:00.100Z", **side),
            _record("a1", "req_a1", ts="2025-10-07T09:00:05.000Z", **side),
        ]
        main_name, aside_name = f"-p/{SESSION}.jsonl", f"-p/{SESSION}/subagents/agent-{ASIDE_AGENT}.jsonl"
        whole = self._imports(tmp_path, "whole", [{main_name: main, aside_name: aside}])
        steps = [{main_name: main, aside_name: aside[:1]}, {main_name: main, aside_name: aside}]
        parts = self._imports(tmp_path, "parts", steps)
        tool_span = [s for s in spans(whole) if s["kind"] == "tool"]
        assert [(s["started_at"], s["ended_at"]) for s in tool_span] == [
            ("2025-10-06T10:00:05.000000Z", "2025-10-06T10:00:30.000000Z")
        ]
        assert spans(parts) == spans(whole)
        assert llm_rows(parts) == llm_rows(whole)


class TestWhereTheTimeGoes:
    """A session's report says how much was the model, how much tools, and how much waiting
    for the user (docs/analysis.md): llm spans from a response's records, tool spans from a
    tool_use to the next response, and a wait after a turn the model ended."""

    def test_model_tools_and_waiting_for_the_user(self, tmp_path: Path, store: Store) -> None:
        from helpers import invoke_json

        path = tmp_path / "c" / "projects" / "-p" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True)
        tool = [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "secret"}}]
        lines = [
            _user(ts="2025-10-06T10:00:00.000Z"),
            # the model answers in two records, 10:00:05-10:00:15, and ends its turn
            _record("m1", "r1", ts="2025-10-06T10:00:05.000Z", stop=None),
            _record("m1", "r1", ts="2025-10-06T10:00:15.000Z"),
            # the user thinks for 45 s, then the model asks for a tool at 10:01:00-10:01:10
            _user(ts="2025-10-06T10:00:59.000Z", text="now run the tests"),
            _record("m2", "r2", ts="2025-10-06T10:01:00.000Z", stop=None),
            _record("m2", "r2", ts="2025-10-06T10:01:10.000Z", stop="tool_use", content=tool),
            # the tool runs until the next response starts, 10:01:40-10:01:50
            _record("m3", "r3", ts="2025-10-06T10:01:40.000Z"),
            _record("m3", "r3", ts="2025-10-06T10:01:50.000Z"),
        ]
        path.write_text("\n".join(lines) + "\n")
        import_json(store, "claude-code", path)
        run = invoke_json(store.root, "report", "list")["runs"][0]["run_id"]
        split = invoke_json(store.root, "report", "show", run)["time_split"]
        assert split["wall_ms"] == 110_000  # the first user record (10:00:00) to the last (10:01:50)
        assert (split["llm_ms"], split["tool_ms"], split["human_wait_ms"]) == (30_000, 30_000, 45_000)
        assert split["other_ms"] == 5_000  # 10:00:00-10:00:05: the request before the first record
        waits = [s for s in spans(store) if s.get("kind") == "other"]
        assert [(w["name"], json.loads(w["attrs"])) for w in waits] == [
            ("waiting for the user", {"waiting_on": "human"})
        ]
        assert "secret" not in "".join(p.read_text() for p in store.segments())
