"""OTLP export checked by a real receiver no one here wrote (issue 12 line 3): Arize Phoenix,
from PyPI, started on loopback; laptime exports to it, and the spans read back over its
HTTP API have laptime's names, parents, timing and tokens.

Phoenix lives in a venv of its own (``make phoenix``, which ``.ci/run`` runs). Without it
the test is skipped, except in CI, where it must run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers import FIXED_RUN_ID, invoke, invoke_json, record_fixed_run
from laptime.store import Store

ROOT = Path(__file__).resolve().parents[1]
PHOENIX = Path(os.environ.get("LAPTIME_PHOENIX", ROOT / ".venv-phoenix" / "bin" / "phoenix"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PHOENIX.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{PHOENIX} is missing: .ci/run installs it with `make phoenix`")
        pytest.skip(f"Arize Phoenix is not installed ({PHOENIX}); `make phoenix` installs it")
    port, grpc_port = _free_port(), _free_port()
    work = tmp_path_factory.mktemp("phoenix")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_LOG_MIGRATIONS": "false",
    }
    log = (work / "phoenix.log").open("wb")
    server = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"Phoenix did not start: {(work / 'phoenix.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield base
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _spans(base: str, project: str, want: int) -> list[dict[str, Any]]:
    """Every span of ``project``, read back through Phoenix's REST API (it ingests in the
    background, so wait until ``want`` have arrived)."""
    deadline = time.monotonic() + 60
    while True:
        spans: list[dict[str, Any]] = []
        cursor = None
        while True:
            url = f"{base}/v1/projects/{project}/spans?limit=100" + (f"&cursor={cursor}" if cursor else "")
            try:
                with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                    page = json.loads(response.read())
            except OSError:
                page = {"data": [], "next_cursor": None}
            spans.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if len(spans) >= want or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def _us(iso: str) -> int:
    return int(datetime.fromisoformat(iso).astimezone(UTC).timestamp() * 1_000_000)


def test_phoenix_reads_back_names_parents_timing_and_tokens(phoenix: str, store: Store) -> None:
    record_fixed_run(store)
    exported = json.loads(invoke(store.root, "export", "otlp", "--run", FIXED_RUN_ID, "-o", "-").output)
    ours = {s["spanId"]: s for r in exported["resourceSpans"] for ss in r["scopeSpans"] for s in ss["spans"]}
    result = invoke(
        store.root,
        "export",
        "otlp",
        "--endpoint",
        phoenix,
        "--run",
        FIXED_RUN_ID,
        "--resource",
        "openinference.project.name=laptime-fixed",
    )
    assert result.exit_code == 0, result.output
    theirs = _spans(phoenix, "laptime-fixed", len(ours))
    assert len(theirs) == len(ours)
    by_id = {s["context"]["span_id"]: s for s in theirs}
    assert set(by_id) == set(ours)
    for span_id, span in by_id.items():
        mine = ours[span_id]
        assert span["name"] == mine["name"]
        assert span["context"]["trace_id"] == mine["traceId"]
        assert span.get("parent_id") == mine.get("parentSpanId")
        assert _us(span["start_time"]) * 1000 == int(mine["startTimeUnixNano"])
        assert _us(span["end_time"]) * 1000 == int(mine["endTimeUnixNano"])
    # names by kind, parents by structure
    names = sorted(s["name"] for s in theirs)
    assert names.count("invoke_workflow") == 1
    assert names.count("chat claude-sonnet-4-5") == 2
    assert names.count("chat claude-haiku-4-5") == 2
    root = next(s for s in theirs if s["name"] == "invoke_workflow")
    assert root.get("parent_id") is None
    phases = [s for s in theirs if s["attributes"].get("laptime.kind") == "phase"]
    assert sorted(p["name"] for p in phases) == ["implement", "implement", "plan", "verify", "verify"]
    assert all(p["parent_id"] == root["context"]["span_id"] for p in phases)
    # tokens: the convention's input counts the cache; the run's totals come back
    chats = [s for s in theirs if s["name"].startswith("chat ")]
    attrs = [s["attributes"] for s in chats]
    report = invoke_json(store.root, "report", FIXED_RUN_ID, "--json")
    tokens = report["tokens"]
    assert sum(a["gen_ai.usage.output_tokens"] for a in attrs) == tokens["output_tokens"]
    assert sum(a["gen_ai.usage.cache_read.input_tokens"] for a in attrs) == tokens["cache_read_tokens"]
    assert sum(a["gen_ai.usage.input_tokens"] for a in attrs) == (
        tokens["input_tokens"] + tokens["cache_read_tokens"] + tokens["cache_write_tokens"]
    )
    assert root["attributes"]["laptime.cost_usd"] == pytest.approx(report["cost_usd"])
    verify = [s for s in phases if s["name"] == "verify"]
    assert sorted(e["name"] for s in verify for e in s["events"]) == ["laptime.validation"] * 3


def test_live_export_reaches_phoenix(phoenix: str, store: Store, tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "import laptime\n"
        "with laptime.run('live-to-phoenix') as run:\n"
        "    with run.phase('plan'):\n"
        "        run.llm_call('gpt-4o', provider='openai', input_tokens=90, output_tokens=9)\n"
        "print(run.id)\n"
    )
    env = {
        **os.environ,
        "LAPTIME_HOME": str(store.root),
        "LAPTIME_OTEL": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
        "OTEL_RESOURCE_ATTRIBUTES": "openinference.project.name=laptime-live",
    }
    done = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    spans = _spans(phoenix, "laptime-live", 3)
    assert sorted(s["name"] for s in spans) == ["chat gpt-4o", "invoke_workflow", "plan"]
    root = next(s for s in spans if s["name"] == "invoke_workflow")
    assert root["context"]["trace_id"] == run_id
    chat = next(s for s in spans if s["name"] == "chat gpt-4o")
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 90
    assert chat["attributes"]["gen_ai.provider.name"] == "openai"
