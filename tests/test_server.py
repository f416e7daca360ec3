"""``laptime serve``: the HTTP API on a live uvicorn (tests/server_helpers.py), against the CLI's own answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import FIXED_RUN_ID, T0, invoke, invoke_json, record_fixed_run, record_simple_run
from laptime.server.context import MAX_BATCH_EVENTS, MAX_BODY_BYTES
from laptime.store import Store
from server_helpers import Live, live_server

TOKEN = "tok-3f9a1c0d2b7e"  # noqa: S105 - a test's token, sent over loopback only


@pytest.fixture(name="seeded")
def _seeded(store: Store) -> Store:
    record_fixed_run(store)
    record_simple_run(store, "a0000000000000000000000000000002", start=T0 + timedelta(hours=1), seconds=90)
    record_simple_run(store, "a0000000000000000000000000000003", start=T0 + timedelta(hours=2), seconds=30)
    return store


@pytest.fixture(name="live")
def _live(seeded: Store) -> Iterator[Live]:
    with live_server(seeded) as live:
        yield live


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event_id(n: int) -> str:
    return f"0190000000007000800000000000{n:04x}"


def project_run(run: str, project: str, phases: list[tuple[str, float, float]], first_id: int) -> list[dict[str, Any]]:
    """Events of a run with ``project`` set and phase spans (name, start s, end s)."""
    end = max(e for _, _, e in phases)
    events: list[dict[str, Any]] = [
        {
            "v": 1,
            "id": run,
            "type": "span_start",
            "ts": _ts(0),
            "run": run,
            "span": run,
            "kind": "run",
            "name": f"{project} run",
            "attrs": {"project": project},
        },
    ]
    for i, (name, start, stop) in enumerate(phases):
        span = _event_id(first_id + 2 * i)
        events.append(
            {
                "v": 1,
                "id": span,
                "type": "span_start",
                "ts": _ts(start),
                "run": run,
                "parent": run,
                "span": span,
                "kind": "phase",
                "name": name,
            }
        )
        events.append(
            {
                "v": 1,
                "id": _event_id(first_id + 2 * i + 1),
                "type": "span_end",
                "ts": _ts(stop),
                "run": run,
                "parent": run,
                "span": span,
                "outcome": "completed",
            }
        )
    events.append(
        {
            "v": 1,
            "id": _event_id(first_id + 999),
            "type": "span_end",
            "ts": _ts(end),
            "run": run,
            "span": run,
            "outcome": "completed",
        }
    )
    return events


class TestLayering:
    def test_help_and_the_core_package_do_not_import_the_server_stack(self) -> None:
        code = (
            "import sys; import laptime, laptime.cli; from click.testing import CliRunner; "
            "CliRunner().invoke(laptime.cli.cli, ['--help']); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic', 'opentelemetry.proto') "
            "if m in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]"


class TestServeCommand:
    def test_a_non_loopback_address_needs_a_token(self, store: Store) -> None:
        result = invoke(store.root, "serve", "--host", "0.0.0.0")  # noqa: S104 - refused before binding
        assert result.exit_code == 2
        assert "--host 0.0.0.0 is not loopback: give a token with --token or LAPTIME_SERVER_TOKEN" in result.output

    def test_an_empty_token_is_refused(self, store: Store) -> None:
        result = invoke(store.root, "serve", "--token", " ")
        assert result.exit_code == 2
        assert "--token / LAPTIME_SERVER_TOKEN is empty" in result.output

    def test_a_port_in_use_is_laptimes_own_error(self, store: Store) -> None:
        """uvicorn said so itself and exited 3; now laptime says which address, exit 2."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = subprocess.run(
                [sys.executable, "-m", "laptime", "--home", str(store.root), "serve", "--port", str(port)],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port or --host"
        )

    def test_the_token_is_required_and_never_logged(self, seeded: Store) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "LAPTIME_SERVER_TOKEN": TOKEN}
        proc = subprocess.Popen(
            [sys.executable, "-m", "laptime", "--home", str(seeded.root), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            live = Live("127.0.0.1", port)
            deadline = time.monotonic() + 30
            while True:
                try:
                    live.get("/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            missing = live.get("/runs")
            wrong = live.get("/runs", {"Authorization": f"Bearer {TOKEN}x"})
            bare = live.get("/runs", {"Authorization": TOKEN})
            right = live.get(f"/runs/{FIXED_RUN_ID}", {"Authorization": f"Bearer {TOKEN}"})
            posted = live.request("POST", "/events", {"events": []}, {"Authorization": f"Bearer {TOKEN}"})
        finally:
            proc.terminate()
            output = proc.communicate(timeout=30)[0].decode()
        for reply in (missing, wrong, bare):
            assert reply.status == 401
            assert reply.json() == {"error": "missing or wrong token: send `Authorization: Bearer <token>`"}
            assert reply.headers["www-authenticate"] == "Bearer"
        assert right.status == 200
        assert right.json()["run_id"] == FIXED_RUN_ID
        assert posted.status == 200
        assert '"GET /runs HTTP/1.1" 401' in output  # the access log was captured
        assert TOKEN not in output


class TestReadEndpoints:
    def test_show_summary_usage_and_compare_equal_the_cli_json(self, live: Live, seeded: Store) -> None:
        home = seeded.root
        pairs = {
            f"/runs/{FIXED_RUN_ID[:6]}": ("report", "show", FIXED_RUN_ID[:6]),
            "/summary": ("report", "summary"),
            "/summary?runner=pipeline&since=2026-01-05": (
                "report",
                "summary",
                "--runner",
                "pipeline",
                "--since",
                "2026-01-05",
            ),
            "/usage?by=session": ("report", "usage", "--by", "session"),
            f"/compare?a={FIXED_RUN_ID}&b=a0000000000000000000000000000002": (
                "compare",
                FIXED_RUN_ID,
                "a0000000000000000000000000000002",
            ),
        }
        for path, args in pairs.items():
            reply = live.get(path)
            assert reply.status == 200, (path, reply.body)
            assert reply.json() == invoke_json(home, *args), path

    def test_usage_takes_exactly_the_zones_its_schema_lists(self, live: Live, seeded: Store) -> None:
        listed = live.get("/openapi.json").json()["paths"]["/usage"]["get"]["parameters"]
        (zone,) = [p for p in listed if p["name"] == "timezone"]
        names = zone["schema"]["enum"]
        assert {"local", "UTC", "Europe/Berlin"} <= set(names)
        berlin = live.get("/usage?timezone=Europe/Berlin")
        assert berlin.status == 200, berlin.body
        assert berlin.json() == invoke_json(seeded.root, "report", "usage", "--timezone", "Europe/Berlin")
        for unknown in ("Mars/Olympus", "utc", "posixrules"):  # not in the schema's list: refused, said why
            reply = live.get(f"/usage?timezone={unknown}")
            assert reply.status == 400, (unknown, reply.body)
            assert reply.json()["error"].startswith(f"timezone: unknown time zone {unknown!r}")
            assert unknown not in names

    def test_the_html_pages_are_the_clis(self, live: Live, seeded: Store, tmp_path: Path) -> None:
        reply = live.get(f"/runs/{FIXED_RUN_ID}/page")
        assert reply.status == 200, reply.body
        assert reply.headers["content-type"].startswith("text/html")
        assert reply.headers["content-security-policy"].startswith("default-src 'none'")
        out = tmp_path / "run.html"
        assert invoke(seeded.root, "report", "html", FIXED_RUN_ID, "-o", str(out)).exit_code == 0
        served, written = reply.body.decode(), out.read_text()
        # the same page; only where "all runs" links to differs (a route here, a file there)
        assert served.count("<rect") == written.count("<rect") > 0
        assert 'href="/summary/page"' in served
        summary = live.get("/summary/page")
        assert summary.status == 200, summary.body
        assert f'href="/runs/{FIXED_RUN_ID}/page"' in summary.body.decode()
        assert live.get("/runs/nope/page").status == 404

    def test_runs_pages_with_an_opaque_cursor(self, live: Live, seeded: Store) -> None:
        everything = invoke_json(seeded.root, "report", "list")["runs"]
        first = live.get("/runs?limit=2").json()
        assert [r["run_id"] for r in first["runs"]] == [r["run_id"] for r in everything[:2]]
        assert first["next_cursor"]
        second = live.get(f"/runs?limit=2&cursor={first['next_cursor']}").json()
        assert [r["run_id"] for r in second["runs"]] == [everything[2]["run_id"]]
        assert second["next_cursor"] is None
        assert first["runs"][0] == everything[0]

    def test_runs_filters_like_report_list(self, live: Live, seeded: Store) -> None:
        reply = live.get("/runs?since=2026-01-05T09:30:00Z&status=completed").json()
        cli = invoke_json(seeded.root, "report", "list", "--since", "2026-01-05T09:30:00Z", "--status", "completed")
        assert [r["run_id"] for r in reply["runs"]] == [r["run_id"] for r in cli["runs"]]
        assert len(reply["runs"]) == 2

    def test_limit_is_capped(self, live: Live) -> None:
        reply = live.get("/runs?limit=501")
        assert reply.status == 400
        assert reply.json()["errors"][0]["field"] == "limit"

    def test_run_metrics_are_the_phase_attempts(self, live: Live) -> None:
        rows = live.get(f"/runs/{FIXED_RUN_ID}/metrics").json()["metrics"]
        got = [(r["phase"], r["iteration"], r["duration_ms"], r["duration_seconds"], r["outcome"]) for r in rows]
        assert got == [
            ("plan", 1, 60_000, 60, "completed"),
            ("implement", 1, 120_000, 120, "completed"),
            ("verify", 1, 30_000, 30, "completed"),  # its validation failed, the phase span completed
            ("implement", 2, 30_000, 30, "completed"),
            ("verify", 2, 20_000, 20, "completed"),
        ]

    def test_unknown_ambiguous_and_hostile_run_ids(self, live: Live) -> None:
        assert live.get("/runs/zzzz").status == 404
        assert "no run matches 'zzzz'" in live.get("/runs/zzzz").json()["error"]
        ambiguous = live.get("/runs/a000")
        assert ambiguous.status == 409
        assert "matches several runs" in ambiguous.json()["error"]
        for path in (
            "/runs/..%2f..%2fetc",
            "/runs/..",
            "/runs/%2e%2e",
            "/runs/a%00b",
            "/runs/a%2fb/metrics",
            "/runs/a0..",
            "/runs/%7e%40",
            f"/compare?a=..&b={FIXED_RUN_ID}",
        ):
            reply = live.get(path)
            assert reply.status == 404, path
            assert "run_id" not in reply.json(), path
        assert live.get("/runs/a0..").json()["error"] == (
            "no run matches 'a0..': run ids hold letters, digits, `_`, `.`, `:` and `-` only (and never `..`)"
        )
        assert live.get("/runs/a%00b").json()["error"] == "no such resource: the path holds a NUL character"
        assert live.get("/runs/..%2f..%2fetc").json()["error"].startswith("no such endpoint: GET /runs/../../etc")

    def test_errors_are_json_with_the_right_allow_header(self, live: Live) -> None:
        missing = live.get("/nope")
        assert missing.status == 404
        assert missing.json() == {"error": "no such endpoint: GET /nope; GET /openapi.json lists them"}
        wrong_method = live.request("DELETE", "/runs")
        assert wrong_method.status == 405
        assert wrong_method.headers["allow"] == "GET"
        assert wrong_method.json() == {"error": "DELETE is not allowed on /runs"}
        bad_query = live.get("/summary?status=happy")
        assert bad_query.status == 400
        assert bad_query.json()["errors"][0]["field"] == "status"
        assert live.get("/runs?since=yesterday").json()["errors"][0]["field"] == "since"
        assert live.get("/runs?since=2026-02-30").json()["errors"][0]["field"] == "since"  # no such day
        leap = live.get("/runs?until=2024-02-29")  # a day that exists; every run is later
        assert (leap.status, leap.json()["runs"]) == (200, [])

    def test_openapi_uses_the_shipped_schemas(self, live: Live) -> None:
        from laptime.analysis.outputs import load_output_schema

        document = live.get("/openapi.json").json()
        ok = document["paths"]["/runs/{run_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/RunDetail"}
        shipped = load_output_schema("report show")["$defs"]["RunDetail"]
        assert document["components"]["schemas"]["RunDetail"]["required"] == shipped["required"]
        assert document["paths"]["/runs/{run_id}"]["get"]["responses"]["404"]


class TestProjectSummary:
    def test_every_phase_with_avg_p50_p90(self, store: Store) -> None:
        runs = [
            project_run("b" * 31 + "1", "webapp", [("setup", 0, 10), ("builder", 10, 70)], 0x100),
            project_run("b" * 31 + "2", "webapp", [("setup", 0, 20), ("builder", 20, 50), ("builder", 50, 80)], 0x200),
            project_run("b" * 31 + "3", "webapp", [("setup", 0, 60)], 0x300),
            project_run("c" * 32, "other", [("setup", 0, 5)], 0x400),
        ]
        with live_server(store) as live:
            assert live.request("POST", "/events", {"events": [e for r in runs for e in r]}).status == 200
            data = live.get("/projects/webapp/run-metrics/summary").json()
        assert data["total_runs"] == 3
        setup = data["phases"]["setup"]
        assert setup == {"runs": 3, "avg_ms": 30_000.0, "p50_ms": 20_000.0, "p90_ms": 52_000.0, "avg_iterations": 1.0}
        builder = data["phases"]["builder"]
        assert builder == {"runs": 2, "avg_ms": 60_000.0, "p50_ms": 60_000.0, "p90_ms": 60_000.0, "avg_iterations": 1.5}
        assert data["avg_iterations"] == pytest.approx(6 / 3)
        # newest first; all three start at T0, so by run id, descending (as report list)
        assert [(r["run_id"][-1], r["iterations"], r["total_ms"]) for r in data["recent_runs"]] == [
            ("3", 1, 60_000),
            ("2", 3, 80_000),
            ("1", 2, 70_000),
        ]


class TestPostEvents:
    def test_appends_and_is_idempotent(self, store: Store) -> None:
        events = project_run("d" * 32, "webapp", [("setup", 0, 10)], 0x500)
        with live_server(store) as live:
            first = live.request("POST", "/events", {"events": events})
            again = live.request("POST", "/events", {"events": events})
            shown = live.get(f"/runs/{'d' * 32}").json()
        assert first.json() == {"received": 4, "new": 4, "duplicates": 0}
        assert again.json() == {"received": 4, "new": 0, "duplicates": 4}
        assert shown["total_duration_ms"] == 10_000
        lines = [line for p in store.segments() for line in p.read_text().splitlines()]
        assert len(lines) == 4

    def test_a_bad_batch_names_each_bad_event_and_keeps_none(self, store: Store) -> None:
        events = project_run("e" * 32, "webapp", [("setup", 0, 10)], 0x600)
        events[1]["kind"] = "banana"
        events[2]["ts"] = "yesterday"
        del events[3]["run"]
        with live_server(store) as live:
            reply = live.request("POST", "/events", {"events": events})
            listed = live.get("/runs")
        assert reply.status == 422
        body = reply.json()
        assert body["error"] == "3 of 4 events are invalid; none was kept"
        assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "kind"), (2, "ts"), (3, "$")]
        assert "run" in body["errors"][2]["message"]
        assert not store.segments()
        assert listed.status == 404  # no store was even created
        assert listed.json()["error"].startswith("no laptime store at ")

    def test_limits_and_malformed_bodies(self, store: Store) -> None:
        event = project_run("f" * 32, "webapp", [("setup", 0, 10)], 0x700)[0]
        with live_server(store) as live:
            too_many = live.request("POST", "/events", {"events": [event] * (MAX_BATCH_EVENTS + 1)})
            too_big = live.request("POST", "/events", b"[" + b" " * MAX_BODY_BYTES + b"]")
            not_json = live.request("POST", "/events", b'{"events": [')
            wrong_shape = live.request("POST", "/events", {"event": []})
        assert too_many.status == 413
        assert too_many.json() == {
            "error": f"{MAX_BATCH_EVENTS + 1} events in one batch; send at most {MAX_BATCH_EVENTS}"
        }
        assert too_big.status == 413
        assert too_big.json() == {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}
        assert not_json.status == 400
        assert not_json.json()["error"].startswith("the body is not JSON")
        assert wrong_shape.status == 400
        assert not store.segments()
