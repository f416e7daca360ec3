"""``laptime demo``: a realistic multi-agent run, recorded through the SDK on a simulated clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from helpers import invoke, invoke_json

if TYPE_CHECKING:
    from laptime.store import Store


def test_demo_twice_records_two_realistic_runs_and_prints_the_report(store: Store) -> None:
    home = store.root
    first = invoke(home, "demo")
    second = invoke(home, "demo")
    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        lines = result.stdout.splitlines()
        assert lines[0].startswith("recorded demo run ")
        assert lines[0].endswith(f" in {home}")
        assert lines[1] == ""
        scoreboard = lines[2:13]
        assert scoreboard[0].startswith("run ")
        assert [line.split()[0] for line in scoreboard[1:]] == [
            "outcome",
            "TVc",
            "phases",
            "llm",
            "by",
            "cost",
            "by",
            "verification",
            "changes",
            "milestones",
        ]
        assert scoreboard[1].startswith("outcome       completed in ")
        assert lines[13] == ""  # then the phase bars
        assert any(line.startswith("unattributed") for line in lines[14:])

    runs = invoke_json(home, "report", "list")["runs"]
    assert len(runs) == 2
    ids = [line.split()[3] for line in (first.stdout.splitlines()[0], second.stdout.splitlines()[0])]
    assert sorted(r["run_id"] for r in runs) == sorted(ids)
    assert ids[0] != ids[1]

    for run_id in ids:
        data = invoke_json(home, "report", "show", run_id)
        assert data["outcome"] == "completed"
        assert len(data["models"]) == 3
        assert len({name for name in data["workers"] if name != "(main)"}) >= 3
        assert data["tvc_ms"] is not None
        assert 0 < data["tvc_ms"] <= data["total_duration_ms"]
        results = [(v["command"], v["passed"]) for v in data["validations"]]
        first_fail = results.index(("pytest -q", False))
        assert ("pytest -q", True) in results[first_fail + 1 :]  # failed, then passed
        assert data["verification"]["retries"] >= 1
        assert any(c["verified"] for c in data["checkpoint_list"])
        assert data["phases"]["implement"]["attempts"] >= 2  # the fix after the failed verification
        assert data["changes"]["files_touched"] > 0
        assert data["milestones"]["completed"] == data["milestones"]["planned"] > 0
        assert any(s["kind"] == "llm" for s in data["spans"])
        parallel = [s for s in data["spans"] if s["kind"] == "task" and s["name"].startswith("worker-")]
        assert len(parallel) >= 3
