"""LangGraph-style ``llm_logs/``: request_*.json and response_*.json (the real samples).

The samples: one request at 22:42:39.482 (task_78e162a2, estimated_tokens 1037) and two
responses, at 22:42:39.438 (before the request: it answers an earlier request that is
not in the sample) and at 22:43:02.732 (it answers the request).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importers import (
    FIXTURES,
    assert_valid_events,
    copy_fixture,
    import_json,
    log_events,
    make_unreadable,
    problems_text,
    run_cli,
    show,
    snapshot,
)
from laptime.importers.langgraph import STATUS_OUTCOMES, Request, parse_request, response_events
from laptime.importers.records import RecordError
from laptime.store import Store

LOGS = FIXTURES / "langgraph-logs" / "llm_logs"
PAIRED = "task_78e162a2:request_20251206_224239"
ALONE = "task_78e162a2:response_20251206_224239"


def _ai_chars(name: str) -> int:
    doc = json.loads((LOGS / name).read_text())
    return sum(len(m["content"]) for m in doc["messages"] if m["type"] == "AIMessage")


def test_import_pairs_requests_with_responses(store: Store) -> None:
    summary = import_json(store, "langgraph-logs", LOGS)
    assert summary["files_read"] == 3
    assert summary["runs"] == 2
    paired = show(store, PAIRED)
    assert paired["runner"] == "langgraph-logs"
    assert paired["name"] == "task_78e162a2"  # no prompt text without --store-text
    assert paired["started_at"] == "2025-12-06T22:42:39.482130Z"  # no offset in the source: read as UTC
    assert paired["ended_at"] == "2025-12-06T22:43:02.732856Z"
    assert paired["total_duration_ms"] == 23_251  # 23,250.726 ms, in integer ms
    assert paired["outcome"] == "completed"
    assert paired["tokens"]["input_tokens"] == 1037  # the request's estimated_tokens (total_chars // 4)
    assert paired["tokens"]["output_tokens"] == _ai_chars("response_20251206_224302.json") // 4
    assert paired["tokens"]["estimated_tokens"] == paired["tokens"]["total_tokens"]
    [llm] = [s for s in paired["spans"] if s["kind"] == "llm"]
    assert llm["duration_ms"] == 23_251
    model = paired["models"]["unknown"]
    assert model["avg_latency_ms"] == 23_251
    alone = show(store, ALONE)
    assert alone["outcome"] == "completed"
    assert alone["total_duration_ms"] == 0
    assert alone["tokens"]["output_tokens"] == _ai_chars("response_20251206_224239.json") // 4
    assert alone["llm_calls"] == 1


def test_files_and_failure_statuses(store: Store, tmp_path: Path) -> None:
    logs = tmp_path / "llm_logs"
    logs.mkdir()
    request = {
        "timestamp": "2026-01-05T10:00:00",
        "task_id": "t1",
        "total_chars": 400,
        "estimated_tokens": 100,
        "messages": [],
    }
    response = {
        "timestamp": "2026-01-05T10:00:30",
        "task_id": "t1",
        "status": "failed_qa",
        "files_modified": ["app.py", "tests/test_app.py"],
        "messages": [{"type": "AIMessage", "content": "x" * 80, "tool_calls": []}],
    }
    (logs / "request_20260105_100000.json").write_text(json.dumps(request))
    (logs / "response_20260105_100030.json").write_text(json.dumps(response))
    import_json(store, "langgraph-logs", logs)
    kpi = show(store, "t1:request_20260105_100000")
    assert kpi["outcome"] == "failed"
    assert kpi["total_duration_ms"] == 30_000
    assert kpi["changes"]["files_touched"] == 2
    assert (kpi["tokens"]["input_tokens"], kpi["tokens"]["output_tokens"]) == (100, 20)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("complete", "completed"),
        ("awaiting_qa", "completed"),
        ("failed", "failed"),
        ("failed_qa", "failed"),
        ("blocked", "blocked"),
        ("waiting_human", "blocked"),
        ("abandoned", "stopped"),
    ],
)
def test_statuses_map_onto_laptime_outcomes(status: str, outcome: str) -> None:
    assert STATUS_OUTCOMES[status] == outcome


def test_importing_twice_adds_nothing(store: Store) -> None:
    import_json(store, "langgraph-logs", LOGS)
    before = snapshot(store)
    assert import_json(store, "langgraph-logs", LOGS)["events_new"] == 0
    assert snapshot(store) == before
    (store.root / "imports.sqlite").unlink()
    assert import_json(store, "langgraph-logs", LOGS)["events_new"] == 0
    assert snapshot(store) == before


def test_a_new_response_adds_only_its_part(store: Store, tmp_path: Path) -> None:
    logs = copy_fixture("langgraph-logs", tmp_path) / "llm_logs"
    later = logs / "response_20251206_224302.json"
    kept = tmp_path / later.name
    shutil.move(later, kept)
    first = import_json(store, "langgraph-logs", logs)
    assert show(store, PAIRED)["ended_at"] is None  # the request is waiting for its response
    shutil.move(kept, later)
    grown = import_json(store, "langgraph-logs", logs)
    assert grown["files_read"] == 1
    reference = type(store)(tmp_path / "reference")
    full = import_json(reference, "langgraph-logs", LOGS)
    assert first["events_new"] + grown["events_new"] == full["events_new"]
    assert sorted(e.id for e in log_events(store)) == sorted(e.id for e in log_events(reference))


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{\n  "timestamp": "2025-12-06T22:42:39",\n  "task_id": "t', 3, "not valid JSON"),  # truncated
        ('{\n  "timestamp": "2025-12-06T22:42:39",\n  "task_id": 7\n}', 3, "`task_id`: expected a string"),
        ('{\n  "task_id": "t"\n}', 1, "missing field `timestamp`"),
        ('{\n  "timestamp": "x",\n  "task_id": "t",\n  "files_modified": {"a": 1}\n}', 2, "not an ISO 8601"),
        ("\x00\x9c\xff garbage", 1, "not valid JSON"),
        ("", None, "empty file"),
    ],
)
def test_bad_files_warn_with_file_and_line(
    store: Store, tmp_path: Path, content: str, line: int | None, message: str
) -> None:
    import_json(store, "langgraph-logs", LOGS)
    before = snapshot(store)
    bad = tmp_path / "response_20260101_000000.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape") if content else b"")
    summary = import_json(store, "langgraph-logs", bad, expect=1)
    [warning] = problems_text(summary)
    prefix = f"{bad}:{line}: " if line is not None else f"{bad}: "
    assert warning.startswith(prefix), warning
    assert message in warning
    assert summary["skipped_records"] == 1
    assert snapshot(store) == before


def test_unreadable_and_missing(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = copy_fixture("langgraph-logs", tmp_path) / "llm_logs"
    target = logs / "request_20251206_224239.json"
    make_unreadable(target, monkeypatch)
    summary = import_json(store, "langgraph-logs", target, expect=1)
    assert problems_text(summary) == [f"{target}: permission denied"]
    assert import_json(store, "langgraph-logs", tmp_path / "missing", expect=1)["skipped_records"] == 1


_scalars = st.none() | st.booleans() | st.integers(-(2**66), 2**66) | st.floats(allow_nan=False) | st.text(max_size=8)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
_message = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["AIMessage", "HumanMessage", "ToolMessage"]) | _scalars,
        "content": _json,
        "tool_calls": _json,
    },
)
_doc = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.sampled_from(["2025-12-06T22:42:39.482130", "2025-12-06"]) | _scalars,
        "task_id": st.sampled_from(["task_1", ""]) | _scalars,
        "status": st.sampled_from(["complete", "failed"]) | _scalars,
        "files_modified": st.lists(st.text(max_size=5) | _scalars, max_size=3) | _json,
        "messages": st.lists(_message | _json, max_size=3) | _json,
        "estimated_tokens": st.integers(-5, 10**7) | _scalars,
        "total_chars": _scalars,
        "config": st.dictionaries(st.just("model"), _scalars) | _json,
    },
)
_REQUEST = Request("request_1", "task_1", 1_765_060_959_000_000_000, 10, "t", "m")


@settings(max_examples=400, deadline=None)
@given(doc=_doc, paired=st.booleans())
def test_fuzz_request_and_response_parsers_raise_only_record_errors(doc: dict[str, Any], paired: bool) -> None:
    try:
        data = json.dumps(doc).encode()
    except (ValueError, OverflowError):
        return
    with contextlib.suppress(RecordError):
        parse_request(data, "request_1")
    with contextlib.suppress(RecordError):
        assert_valid_events(response_events(data, "response_1", "f", _REQUEST if paired else None))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzz_bytes_raise_only_record_errors(data: bytes) -> None:
    for parse in (lambda d: parse_request(d, "r"), lambda d: response_events(d, "s", "f", None)):
        with contextlib.suppress(RecordError):
            parse(data)


def test_prompt_text_is_stored_only_with_store_text(store: Store, tmp_path: Path) -> None:
    """Issue 8 line 9: files holding a fake secret; without the opt-in, it is nowhere in the store."""
    secret = "sk-FAKE-0123456789abcdef"  # noqa: S105 - a fake key the test plants and then looks for
    logs = tmp_path / "llm_logs"
    shutil.copytree(LOGS, logs)
    for request in logs.glob("request_*.json"):
        doc = json.loads(request.read_text(encoding="utf-8"))
        for message in doc["messages"]:
            if message.get("type") in ("HumanMessage", "human") and isinstance(message.get("content"), str):
                message["content"] = f"Task: deploy with key {secret}\n" + message["content"]
        request.write_text(json.dumps(doc), encoding="utf-8")
    for response in logs.glob("response_*.json"):
        doc = json.loads(response.read_text(encoding="utf-8"))
        for message in doc.get("messages", []):
            if isinstance(message.get("content"), str):
                message["content"] += f" (used {secret})"
        response.write_text(json.dumps(doc), encoding="utf-8")
    import_json(store, "langgraph-logs", logs)
    stored = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert secret.encode() not in stored
    other = Store(tmp_path / "opted-in" / ".laptime")
    result = run_cli(other, "import", "langgraph-logs", str(logs), "--store-text", "--json")
    assert result.exit_code == 0, result.output
    assert secret.encode() in b"".join(p.read_bytes() for p in other.root.rglob("*") if p.is_file())
