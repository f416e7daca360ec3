"""The TypeScript recorder (clients/typescript) writes lines laptime reads as its own.

A Node script records a run with every kind of event into a temporary store; every line
it wrote must pass the shipped JSON Schema and the rules the schema leaves to the writer
(docs/events.md: canonical ``ts``, ``v`` exactly 1, integer non-negative counts, unique
ids, the span rules), and the Python reports must read the run back with the figures the
lines hold. Node 20 is on every developer's machine and in CI: this test does not skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from helpers import invoke_json
from laptime import events as ev

REPO = Path(__file__).resolve().parents[1]
CLIENT = REPO / "clients" / "typescript"
WRITE_RUN = CLIENT / "test" / "write-run.mjs"

TS_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ID_FORM = re.compile(r"^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$")  # UUIDv7 layout, 32 digits
COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "lines_added", "lines_removed")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict[str, Any]]]:
    """The store the Node script wrote, its run id and every line it wrote, parsed."""
    node = shutil.which("node")
    assert node is not None, "Node 20 is needed (it is on the machine and in CI)"
    home = tmp_path_factory.mktemp("ts-store") / ".laptime"
    done = subprocess.run(
        [node, str(WRITE_RUN)],
        env={"PATH": str(Path(node).parent), "LAPTIME_HOME": str(home), "HOME": str(home.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "a clean run warns about nothing"
    run_id = done.stdout.strip()
    lines = []
    for segment in sorted((home / "log").glob("*.jsonl")):
        raw = segment.read_bytes()
        assert raw.endswith(b"\n")
        for line in raw.decode("utf-8").splitlines():
            event = json.loads(line)
            assert segment.name == f"{event['ts'][:10]}.jsonl", "an event goes into the segment of its own UTC day"
            lines.append(event)
    return home, run_id, lines


def test_every_line_passes_the_shipped_schema(written: tuple[Path, str, list[dict[str, Any]]]) -> None:
    _, _, lines = written
    validator = jsonschema.Draft202012Validator(ev.load_json_schema())
    kinds = {line["type"] for line in lines}
    assert kinds >= {"span_start", "span_end", "llm", "validation", "file_change", "queue", "milestone"}
    assert kinds >= {"checkpoint", "scope_violation", "error", "metric"}
    for number, line in enumerate(lines, start=1):
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(line)]
        assert errors == [], f"line {number}: {errors}"
        assert next(iter(line)) == "type", "type comes first, as laptime writes it"


def test_lines_keep_the_rules_the_schema_leaves_to_the_writer(
    written: tuple[Path, str, list[dict[str, Any]]],
) -> None:
    _, run_id, lines = written
    ids = [line["id"] for line in lines]
    assert len(set(ids)) == len(ids)
    spans = {line["span"]: line for line in lines if line["type"] == "span_start"}
    for line in lines:
        assert line["v"] == 1
        assert line["v"] is not True
        assert TS_FORM.match(line["ts"]), line["ts"]
        assert ID_FORM.match(line["id"]), line["id"]
        assert line["run"] == run_id
        for field in COUNTS:
            if field in line:
                assert type(line[field]) is int
                assert line[field] >= 0
        if line["type"] == "span_start":
            assert line["id"] == line["span"]
            if line["kind"] == "run":
                assert "parent" not in line
            else:
                assert line["parent"] in spans
        elif line["type"] != "span_end":
            assert line["parent"] in spans, "a point event names the span it happened in"
    ends = [line["span"] for line in lines if line["type"] == "span_end"]
    assert sorted(ends) == sorted(spans), "every span the script opened was closed once"
    for line in lines:
        ev.decode(json.dumps(line))  # and laptime's own decoder takes each of them


def test_python_reports_read_the_run_back(written: tuple[Path, str, list[dict[str, Any]]]) -> None:
    home, run_id, lines = written
    report = invoke_json(home, "report", "show", run_id)
    starts = {line["span"]: line for line in lines if line["type"] == "span_start"}
    ends = {line["span"]: line for line in lines if line["type"] == "span_end"}
    llm = [line for line in lines if line["type"] == "llm"]
    top = [s for s in starts.values() if s.get("parent") == run_id]

    assert report["run_id"] == run_id
    assert report["name"] == starts[run_id]["name"]
    assert report["runner"] == "ts-test"
    assert report["outcome"] == "completed"
    assert report["started_at"] == starts[run_id]["ts"]
    assert report["ended_at"] == ends[run_id]["ts"]
    assert report["tvc_checkpoint"] == next(line["commit"] for line in lines if line["type"] == "checkpoint")
    names = {s["name"] for s in top}
    assert set(report["phases"]) == names
    for name in names:
        attempts = [s for s in top if s["name"] == name]
        assert report["phases"][name]["attempts"] == len(attempts)
        failed = [s for s in attempts if ends[s["span"]].get("outcome", "completed") != "completed"]
        assert report["phases"][name]["failed"] == len(failed)
    assert report["phases"]["implement"]["attempts"] == 2, "two phases run in parallel (Promise.all)"
    assert report["phases"]["review"]["failed"] == 1, "a span ended by hand as blocked"
    for model, row in report["models"].items():
        calls = [c for c in llm if c["model"] == model]
        assert row["calls"] == len(calls)
        assert row["output_tokens"] == sum(c.get("output_tokens", 0) for c in calls)
        assert row["cache_read_tokens"] == sum(c.get("cache_read_tokens", 0) for c in calls)
    assert set(report["workers"]) == {"(main)", "w1", "w2"}, "each implement phase's worker reaches its llm call"
