"""``laptime report``, ``report list`` and ``report show``: exact output and exit codes.

Runs are recorded through the SDK on a simulated clock with fixed ids (tests/helpers.py),
so every number below was worked out by hand from the recorded script.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import (
    FIXED_RUN_ID,
    T0,
    invoke,
    invoke_json,
    kpi_of,
    record_fixed_run,
    record_simple_run,
    record_unfinished,
)

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

SCOREBOARD = """\
run f1xed0000000 · fix-login · pipeline · started 2026-01-05 09:00:00Z
outcome       completed in 5m 00s
TVc           4m 30s at checkpoint abc1234567
phases        plan 1m 00s 20% · implement 2m 30s 50% ×2 · verify 50.0s 17% ×2 · unattributed 40.0s
llm           4 calls · 3.4k in · 770 out · cache 5.0k read / 100 write
by model      claude-sonnet-4-5 2 (3.0k/700) · claude-haiku-4-5 2 (400/70)
cost          $0.02 · claude-sonnet-4-5 $0.02 · claude-haiku-4-5 $0.0008
by worker     w2 2 · director 1 · w1 1
verification  3 runs · 2 passed · 1 failed · 1 retry · tiers unit, lint
changes       2 files (+1 new, 0 deleted) · +53 −3 lines
milestones    2/3 completed · 1 checkpoint
"""

PHASE_BARS = """\
plan          ████▊░░░░░░░░░░░░░░░░░░░  20%  1m 00s
implement     ████████████░░░░░░░░░░░░  50%  2m 30s
verify        ████░░░░░░░░░░░░░░░░░░░░  17%  50.0s
unattributed  ███▎░░░░░░░░░░░░░░░░░░░░  13%  40.0s
"""

# The fixed run: its LLM calls are usage events with a latency (2.5 s in all), the
# validations carry durations; nothing else is an activity.
TIME_SPLIT = """\
Where the time went
LLM calls           ▎░░░░░░░░░░░░░░░░░░░░░░░   0.8%  2.5s
validation          ███▋░░░░░░░░░░░░░░░░░░░░  15.0%  45.0s
other               ████████████████████▎░░░  84.2%  4m 12s

"""
CRITICAL_PATH = """\
Critical path and dispatch
no tasks recorded

"""
SHOW_SECTIONS = """\
Spans (5)
span       kind   duration  outcome    start      worker
---------  -----  --------  ---------  ---------  ------
plan       phase    1m 00s  completed  09:00:00Z
implement  phase    2m 00s  completed  09:01:10Z
verify     phase     30.0s  completed  09:03:10Z
implement  phase     30.0s  completed  09:03:40Z
verify     phase     20.0s  completed  09:04:10Z

LLM by model
model              calls    in  out  cache read  cache write  avg latency     cost
-----------------  -----  ----  ---  ----------  -----------  -----------  -------
claude-haiku-4-5       2   400   70           0            0            -  $0.0008
claude-sonnet-4-5      2  3.0k  700        5.0k          100         2.0s    $0.02

Cost by phase
phase         cost
---------  -------
implement    $0.01
plan       $0.0079

LLM by phase
phase      model              calls    in  out
---------  -----------------  -----  ----  ---
implement  claude-haiku-4-5       2   400   70
implement  claude-sonnet-4-5      1  2.0k  500
plan       claude-sonnet-4-5      1  1.0k  200

Validations (3)
at         command     result  exit  tier  duration
---------  ----------  ------  ----  ----  --------
09:03:10Z  pytest -q   FAILED     1  unit     30.0s
09:04:10Z  pytest -q   passed     0  unit     15.0s
09:04:10Z  ruff check  passed     0  lint      5.0s

Files (2)
path  change    added  removed
----  --------  -----  -------
a.py  modified    +13       −3
b.py  created     +40       −0
"""

# The three runs of the `three_runs` store, newest first.
LIST_TEXT = """\
run           started               duration  outcome    llm  tokens     cost  name       runner
------------  --------------------  --------  ---------  ---  ------  -------  ---------  --------
aaaa2222      2026-01-07 09:00:00Z    1m 30s  failed       1     110  $0.0004  third
aaaa1111      2026-01-06 09:00:00Z    1m 00s  completed    3     330  $0.0014  second     r2
f1xed0000000  2026-01-05 09:00:00Z    5m 00s  completed    4    9.3k    $0.02  fix-login  pipeline
"""

SEED_000_KEYS = {
    "run_id",
    "started_at",
    "ended_at",
    "total_duration_ms",
    "outcome",
    "phases",
    "models",
    "verification",
    "changes",
    "milestones",
    "tvc_ms",
    "unattributed_ms",
}


@pytest.fixture
def home(store: Store) -> Path:
    record_fixed_run(store)
    return store.root


@pytest.fixture
def three_runs(store: Store) -> Path:
    record_fixed_run(store)
    record_simple_run(store, "aaaa1111", start=T0 + timedelta(days=1), name="second", calls=3, runner="r2")
    record_simple_run(store, "aaaa2222", start=T0 + timedelta(days=2), name="third", seconds=90, outcome="failed")
    return store.root


def _ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["run_id"] for r in rows]


# -- the scoreboard -----------------------------------------------------------------------


def test_report_prints_the_10_line_scoreboard_and_cost_line_of_the_latest_run(home: Path) -> None:
    result = invoke(home, "report")
    assert result.exit_code == 0
    assert result.stdout == SCOREBOARD + "\n" + PHASE_BARS
    assert len(result.stdout.split("\n\n")[0].splitlines()) == 11
    assert result.stderr == ""


@pytest.mark.parametrize("args", [["report", FIXED_RUN_ID], ["report", "f1x"], ["report", "scoreboard", "f1xed"]])
def test_report_run_prints_the_given_runs_scoreboard(three_runs: Path, args: list[str]) -> None:
    result = invoke(three_runs, *args)
    assert result.exit_code == 0
    assert result.stdout == SCOREBOARD + "\n" + PHASE_BARS


def test_report_latest_is_the_newest_run(three_runs: Path) -> None:
    result = invoke(three_runs, "report")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == [
        "run aaaa2222 · third · started 2026-01-07 09:00:00Z",
        "outcome       failed in 1m 30s",
    ]


def test_report_json_holds_seed_000_fields_plus_tvc_and_unattributed(home: Path, store: Store) -> None:
    data = invoke_json(home, "report")
    assert set(data) >= SEED_000_KEYS
    assert data == invoke_json(home, "report", "f1x")
    assert data == kpi_of(store, FIXED_RUN_ID)  # the CLI adds nothing and loses nothing
    assert data["tvc_ms"] == 270_000.0
    assert data["unattributed_ms"] == 40_000.0
    assert data["phases"]["implement"] == {"duration_ms": 150_000.0, "attempts": 2, "failed": 0, "share": 0.5}
    assert data["verification"] == {
        "commands_run": 3,
        "passed": 2,
        "failed": 1,
        "retries": 1,
        "tiers_executed": ["unit", "lint"],
    }
    assert set(data["models"]["claude-haiku-4-5"]) >= {
        "calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "avg_latency_ms",
        "by_phase",
    }


# -- report list --------------------------------------------------------------------------


def test_report_list_text(three_runs: Path) -> None:
    result = invoke(three_runs, "report", "list")
    assert result.exit_code == 0
    assert result.stdout == LIST_TEXT


def test_report_list_json(three_runs: Path) -> None:
    rows = invoke_json(three_runs, "report", "list")["runs"]
    assert rows[0] == {
        "run_id": "aaaa2222",
        "short_id": "aaaa2222",
        "name": "third",
        "runner": None,
        "started_at": "2026-01-07T09:00:00.000000Z",
        "ended_at": "2026-01-07T09:01:30.000000Z",
        "total_duration_ms": 90_000.0,
        "outcome": "failed",
        "llm_calls": 1,
        "total_tokens": 110,
        "cost_usd": pytest.approx(100 * 3 / 1e6 + 10 * 15 / 1e6),  # sonnet: $3 in, $15 out per 1M
        "cost_source": "priced",
    }
    assert _ids(rows) == ["aaaa2222", "aaaa1111", FIXED_RUN_ID]
    assert rows[2]["total_tokens"] == 9270  # 3400 in + 770 out + 5000 cache read + 100 cache write


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--since", "2026-01-06"], ["aaaa2222", "aaaa1111"]),
        (["--until", "2026-01-06"], [FIXED_RUN_ID]),
        (["--since", "2026-01-06", "--until", "2026-01-07"], ["aaaa1111"]),
        (["--since", "2026-01-06T09:00:00Z"], ["aaaa2222", "aaaa1111"]),  # since is inclusive
        (["--since", "2026-01-06T09:00:00.000001Z"], ["aaaa2222"]),
        (["--since", "2026-01-06T10:00:00+01:00"], ["aaaa2222", "aaaa1111"]),  # 09:00 UTC
        (["--until", "2026-01-07T09:00:00"], ["aaaa1111", FIXED_RUN_ID]),  # until is exclusive; naive is UTC
        (["--since", "2027-01-01"], []),
        (["--status", "failed"], ["aaaa2222"]),
        (["--status", "completed"], ["aaaa1111", FIXED_RUN_ID]),
        (["--status", "completed", "--limit", "1"], ["aaaa1111"]),  # filtered first, then limited
        (["--status", "running"], []),
        (["--limit", "2"], ["aaaa2222", "aaaa1111"]),
        (["--limit", "99999999999999999999"], ["aaaa2222", "aaaa1111", FIXED_RUN_ID]),
    ],
)
def test_report_list_filters(three_runs: Path, options: list[str], expected: list[str]) -> None:
    assert _ids(invoke_json(three_runs, "report", "list", *options)["runs"]) == expected


def test_report_list_since_and_until_take_ages(store: Store) -> None:
    now = datetime.now(UTC)
    record_simple_run(store, "old", start=now - timedelta(days=10))
    record_simple_run(store, "new", start=now - timedelta(days=2))
    home = store.root
    assert _ids(invoke_json(home, "report", "list", "--since", "7d")["runs"]) == ["new"]
    assert _ids(invoke_json(home, "report", "list", "--until", "7d")["runs"]) == ["old"]
    assert _ids(invoke_json(home, "report", "list", "--since", "72h")["runs"]) == ["new"]
    assert _ids(invoke_json(home, "report", "list", "--since", "5000m")["runs"]) == ["new"]
    assert _ids(invoke_json(home, "report", "list", "--since", "2w")["runs"]) == ["new", "old"]
    assert _ids(invoke_json(home, "report", "list", "--since", "1d")["runs"]) == []


def test_report_list_with_no_match_says_so(three_runs: Path) -> None:
    result = invoke(three_runs, "report", "list", "--status", "crashed")
    assert result.exit_code == 0
    assert result.stdout == "no runs match\n"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--since", "yesterday"), ("--until", "2026-02-30"), ("--since", "2026-01-06T25:00"), ("--until", "7 days")],
)
def test_report_list_bad_date_is_exit_2_naming_the_option(three_runs: Path, option: str, value: str) -> None:
    result = invoke(three_runs, "report", "list", option, value)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {option}: {value!r} is not a date; use YYYY-MM-DD, an ISO datetime, or an age like 7d, 12h, 30m, 2w\n"
    )


def test_report_list_age_too_far_back_is_exit_2_not_a_traceback(three_runs: Path) -> None:
    result = invoke(three_runs, "report", "list", "--since", "1000000000d")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --since: '1000000000d' ")


@pytest.mark.parametrize(("option", "value"), [("--status", "weird"), ("--limit", "0"), ("--limit", "x")])
def test_report_list_bad_status_or_limit_is_exit_2(three_runs: Path, option: str, value: str) -> None:
    result = invoke(three_runs, "report", "list", option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr


# -- report show --------------------------------------------------------------------------


def test_report_show_text(home: Path) -> None:
    result = invoke(home, "report", "show", "f1x")
    assert result.exit_code == 0
    sections = TIME_SPLIT + CRITICAL_PATH + SHOW_SECTIONS
    assert result.stdout == SCOREBOARD + "\nPhase breakdown\n" + PHASE_BARS + "\n" + sections


def test_report_show_json(home: Path, store: Store) -> None:
    data = invoke_json(home, "report", "show", FIXED_RUN_ID)
    kpi = kpi_of(store, FIXED_RUN_ID)
    assert {k: v for k, v in data.items() if k in kpi} == kpi
    assert [(s["name"], s["depth"], s["kind"], s["duration_ms"]) for s in data["spans"]] == [
        ("plan", 1, "phase", 60_000.0),
        ("implement", 1, "phase", 120_000.0),
        ("verify", 1, "phase", 30_000.0),
        ("implement", 1, "phase", 30_000.0),
        ("verify", 1, "phase", 20_000.0),
    ]
    assert data["spans"][0]["attrs"] == {"goal": "login"}
    assert data["spans"][3]["attrs"] == {"retry_of": "verify"}
    assert data["validations"] == [
        {
            "at": "2026-01-05T09:03:10.000000Z",
            "command": "pytest -q",
            "passed": False,
            "exit_code": 1,
            "duration_ms": 30_000.0,
            "tier": "unit",
        },
        {
            "at": "2026-01-05T09:04:10.000000Z",
            "command": "pytest -q",
            "passed": True,
            "exit_code": 0,
            "duration_ms": 15_000.0,
            "tier": "unit",
        },
        {
            "at": "2026-01-05T09:04:10.000000Z",
            "command": "ruff check",
            "passed": True,
            "exit_code": 0,
            "duration_ms": 5_000.0,
            "tier": "lint",
        },
    ]
    assert data["files"] == [
        {"path": "a.py", "change": "modified", "lines_added": 13, "lines_removed": 3},
        {"path": "b.py", "change": "created", "lines_added": 40, "lines_removed": 0},
    ]
    assert data["checkpoint_list"] == [
        {"at": "2026-01-05T09:04:30.000000Z", "commit": "abc1234567890", "verified": False}
    ]


def test_report_show_needs_a_run(home: Path) -> None:
    result = invoke(home, "report", "show")
    assert result.exit_code == 2
    assert "Missing argument 'RUN'" in result.stderr


# -- run ids: prefixes, ambiguity, unknown ---------------------------------------------------


AMBIGUOUS = "Error: 'aaaa' matches several runs (aaaa1111, aaaa2222); give more characters of the id\n"
UNKNOWN = "Error: no run matches 'zzz'; `laptime report list` shows the recorded runs\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "aaaa"], AMBIGUOUS),
        (["report", "aaaa", "--json"], AMBIGUOUS),
        (["report", "show", "aaaa"], AMBIGUOUS),
        (["report", "show", "aaaa", "--json"], AMBIGUOUS),
        (["report", "zzz"], UNKNOWN),
        (["report", "show", "zzz"], UNKNOWN),
        (["report", "show", "zzz", "--json"], UNKNOWN),
        (["report", "show", " "], "Error: the run id is empty; give a full id or a unique prefix\n"),
    ],
)
def test_ambiguous_or_unknown_run_id_is_exit_2_with_a_clear_message(
    three_runs: Path, args: list[str], message: str
) -> None:
    result = invoke(three_runs, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message


def test_unique_prefix_picks_the_run(three_runs: Path) -> None:
    assert invoke_json(three_runs, "report", "aaaa2")["run_id"] == "aaaa2222"
    assert invoke_json(three_runs, "report", "show", "aaaa1")["run_id"] == "aaaa1111"


# -- no store, empty store, bad config ---------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["report"], ["report", "--json"], ["report", "list"], ["report", "show", "abc"], ["report", "abc"]]
)
def test_no_store_is_exit_2_with_a_clear_message(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "nowhere" / ".laptime"
    result = invoke(missing, *args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: no laptime store at {missing}; record a run with the SDK, run `laptime demo`, "
        "or point --home / LAPTIME_HOME at an existing store\n"
    )
    assert not missing.exists()  # reading never creates a store


def test_empty_store(store: Store) -> None:
    store.ensure()
    for args in (["report"], ["report", "--json"]):
        result = invoke(store.root, *args)
        assert result.exit_code == 2
        assert result.stderr == (
            "Error: no runs recorded yet; record one with the SDK, `laptime import`, or try `laptime demo`\n"
        )
    result = invoke(store.root, "report", "show", "abc")
    assert result.exit_code == 2
    assert result.stderr == "Error: no run matches 'abc'; `laptime report list` shows the recorded runs\n"
    result = invoke(store.root, "report", "list")
    assert (result.exit_code, result.stdout) == (0, "no runs match\n")
    assert invoke_json(store.root, "report", "list")["runs"] == []


@pytest.mark.parametrize("args", [["report"], ["report", "list"], ["report", "show", "f1x"], ["report", "--json"]])
def test_bad_config_key_is_exit_2_naming_the_key(home: Path, store: Store, args: list[str]) -> None:
    store.config_path.write_text("crashed_after_minute = 5\n")
    result = invoke(home, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {store.config_path}: unknown key 'crashed_after_minute' "
        "(known keys: budgets, crashed_after_minutes, pricing, webhook)\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crashed_after_minutes = 'soon'\n", "crashed_after_minutes must be a positive number of minutes, got 'soon'"),
        ("crashed_after_minutes = 0\n", "crashed_after_minutes must be a positive number of minutes, got 0"),
        ("crashed_after_minutes = true\n", "crashed_after_minutes must be a positive number of minutes, got True"),
        ("crashed_after_minutes =\n", "not valid TOML"),
    ],
)
def test_bad_config_value_is_exit_2_naming_file_and_key(home: Path, store: Store, text: str, message: str) -> None:
    store.config_path.write_text(text)
    result = invoke(home, "report", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {store.config_path}: {message}")


# -- running and crashed, with the threshold from the config -----------------------------------


def test_unfinished_run_is_running_then_crashed_per_config(store: Store) -> None:
    # Its last event was 8 minutes ago (wide margins both sides: no timing assumption).
    record_unfinished(store, "live", start=datetime.now(UTC) - timedelta(minutes=10), seconds=120)
    home = store.root
    data = invoke_json(home, "report", "live")
    assert (data["outcome"], data["ended_at"], data["total_duration_ms"]) == ("running", None, 120_000.0)
    assert _ids(invoke_json(home, "report", "list", "--status", "running")["runs"]) == ["live"]
    assert invoke(home, "report").stdout.splitlines()[1] == "outcome       running in 2m 00s"

    store.config_path.write_text("crashed_after_minutes = 5\n")
    assert invoke_json(home, "report", "live")["outcome"] == "crashed"
    assert _ids(invoke_json(home, "report", "list", "--status", "crashed")["runs"]) == ["live"]
    assert invoke_json(home, "report", "list", "--status", "running")["runs"] == []
    assert invoke(home, "report", "show", "live").stdout.splitlines()[1] == "outcome       crashed in 2m 00s"


def test_crash_threshold_can_live_in_pyproject(tmp_path: Path) -> None:
    from laptime.store import Store

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.laptime]\ncrashed_after_minutes = 5\n")
    store = Store(project / ".laptime")
    record_unfinished(store, "live", start=datetime.now(UTC) - timedelta(minutes=10), seconds=120)
    assert invoke_json(store.root, "report", "live")["outcome"] == "crashed"
    (project / "pyproject.toml").write_text("[tool.laptime]\ncrash_after = 5\n")
    result = invoke(store.root, "report", "live")
    assert result.exit_code == 2
    assert "[tool.laptime]: unknown key 'crash_after'" in result.stderr


def test_old_unfinished_run_is_crashed_by_default(store: Store) -> None:
    record_unfinished(store, "dead", start=T0)
    assert invoke_json(store.root, "report", "list")["runs"][0]["outcome"] == "crashed"


def test_json_output_is_valid_json_for_every_view(three_runs: Path) -> None:
    for args in (["report"], ["report", "list"], ["report", "show", "aaaa1"]):
        result = invoke(three_runs, *args, "--json")
        assert result.exit_code == 0
        json.loads(result.stdout)


def test_report_list_prints_prefixes_unique_among_stored_runs(store: Store) -> None:
    """Two runs started in the same millisecond share the first 12 digits of their UUIDv7 ids:
    `report list` prints a longer prefix for them, and each printed id works in `report show`."""
    from helpers import record_simple_run

    twins = ["019b8a10c8007aaa8000000000000001", "019b8a10c8007aaa8000000000000002"]
    for run_id in [*twins, "019b8a10c9007bbb8000000000000003"]:
        record_simple_run(store, run_id)
    rows = {r["run_id"]: r for r in invoke_json(store.root, "report", "list")["runs"]}
    assert rows[twins[0]]["short_id"] == twins[0]  # they differ in the last digit only
    assert rows[twins[1]]["short_id"] == twins[1]
    assert rows["019b8a10c9007bbb8000000000000003"]["short_id"] == "019b8a10c900"
    printed = invoke(store.root, "report", "list").stdout
    for row in rows.values():
        assert row["short_id"] in printed
        shown = invoke_json(store.root, "report", "show", row["short_id"])
        assert shown["run_id"] == row["run_id"]
