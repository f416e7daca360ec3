"""Terminal views: colour only on a terminal, lines that fit its width, plurals and counts.

Every text command takes one decision (``laptime.report.style.terminal_style``): colour
when stdout is a terminal, ``NO_COLOR`` is unset or empty and ``--no-color`` was not
given; lines cut with ``…`` to the terminal's width (``COLUMNS``) on a terminal only.
The tests simulate a terminal by patching ``stdout_is_terminal``, the one isatty check,
and run click with ``color=True`` so that click itself never strips the codes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from helpers import FIXED_RUN_ID, SONNET, T0, make_recorder, record_fixed_run, record_simple_run
from laptime import SimulatedClock
from laptime.cli import cli
from laptime.report import style
from laptime.report.format import count, integer, plural, table
from laptime.report.style import ellipsize, visible_len
from test_compare import B_RUN_ID, PRICES, record_slower_run

if TYPE_CHECKING:
    from laptime.store import Store

LONG_RUN_ID = "10n9000000000000000000000000000a"
LONG_NAME = "migrate-the-billing-service-to-the-new-ledger-and-backfill-every-invoice"
LONG_PATH = "services/billing/ledger/migrations/versions/0042_backfill_every_invoice_line.py"
GREEN, RED, RESET = "\x1b[32m", "\x1b[31;1m", "\x1b[0m"

# Every text command of the views, with the arguments the fixture's store needs.
TEXT_COMMANDS = [
    ("report",),
    ("report", "list"),
    ("report", "show", FIXED_RUN_ID[:6]),
    ("compare", FIXED_RUN_ID[:6], B_RUN_ID[:4]),
    ("status", "--report"),
    ("report", "summary"),
    ("report", "usage", "--timezone", "UTC"),
    ("report", "usage", "--by", "session", "--timezone", "UTC"),
    ("pricing",),
]


def record_long_run(store: Store) -> None:
    """A run with a long name that touched a file at a long path, on a long-named model."""
    clock = SimulatedClock(start=T0 + timedelta(days=2))
    with (
        make_recorder(store, clock) as rec,
        rec.run(LONG_NAME, run_id=LONG_RUN_ID, runner="pipeline") as run,
        run.phase("implement"),
    ):
        run.llm_call(SONNET + "-with-an-extra-long-deployment-suffix", input_tokens=1234, output_tokens=56)
        run.file_change(LONG_PATH, "modified", lines_added=1200, lines_removed=3)
        run.validation("pytest -q tests/billing/ledger/test_backfill_every_invoice.py", passed=True, exit_code=0)
        clock.advance(75)


@pytest.fixture
def runs(store: Store) -> Store:
    record_fixed_run(store)
    record_slower_run(store)
    record_long_run(store)
    store.config_path.write_text(PRICES, encoding="utf-8")
    return store


def run_cli(home: object, *args: str, env: dict[str, str] | None = None) -> Result:
    """``laptime --home HOME ARGS`` with click never stripping colour codes itself."""
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="laptime", color=True, env=env)
    assert result.exit_code == 0, result.output
    return result


def piped(monkeypatch: pytest.MonkeyPatch, home: object, *args: str) -> list[str]:
    """The lines of ``laptime --home HOME ARGS`` with stdout not a terminal."""
    monkeypatch.setattr(style, "stdout_is_terminal", lambda: False)
    try:
        return run_cli(home, *args).stdout.splitlines()
    finally:
        monkeypatch.setattr(style, "stdout_is_terminal", lambda: True)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """stdout is a terminal, 200 columns wide unless a test sets COLUMNS."""
    monkeypatch.setattr(style, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return monkeypatch


# -- colour on -----------------------------------------------------------------------


def test_outcome_words_are_coloured_on_a_terminal(runs: Store, terminal: pytest.MonkeyPatch) -> None:
    lines = run_cli(runs.root, "report", FIXED_RUN_ID[:6]).stdout.splitlines()
    assert f"outcome       {GREEN}completed{RESET} in 5m 00s" in lines
    failed = run_cli(runs.root, "report", B_RUN_ID[:4]).stdout.splitlines()
    assert f"outcome       {RED}failed{RESET} in 9m 10s" in failed
    # the failed verification count is red too
    assert any(f"{RED}2 failed{RESET}" in line for line in failed if line.startswith("verification"))
    listing = run_cli(runs.root, "report", "list").stdout
    assert f"{GREEN}completed{RESET}" in listing
    assert f"{RED}failed{RESET}" in listing
    summary = run_cli(runs.root, "report", "summary").stdout.splitlines()
    assert summary[1].startswith(f"outcomes      {GREEN}completed{RESET} 2 · {RED}failed{RESET} 1")
    show = run_cli(runs.root, "report", "show", B_RUN_ID[:4]).stdout
    assert f"{RED}FAILED{RESET}" in show
    assert f"{GREEN}passed{RESET}" in show


def test_compare_colours_outcomes_and_paints_no_phase_without_a_baseline(
    runs: Store, terminal: pytest.MonkeyPatch
) -> None:
    # implement is 157% slower, but one run of history cannot tell that from noise
    # (analysis.regression): no phase row is red, and no delta is green (no fixed percentage)
    lines = run_cli(runs.root, "compare", FIXED_RUN_ID[:6], B_RUN_ID[:4]).stdout.splitlines()
    assert [line for line in lines if line.startswith(RED)] == []
    assert lines[1].endswith(f"· {RED}failed{RESET} in 9m 10s · $0.04")
    assert f"outcome       {GREEN}completed{RESET} → {RED}failed{RESET}" in lines
    assert "not tested: 1 baseline run; a test needs at least 5" in lines
    reverse = run_cli(runs.root, "compare", B_RUN_ID[:4], FIXED_RUN_ID[:6]).stdout.splitlines()
    implement = next(line for line in reverse if line.startswith("implement"))
    assert "\x1b[" not in implement


def test_status_trend_arrows_are_coloured(store: Store, terminal: pytest.MonkeyPatch) -> None:
    for i in range(1, 6):
        record_simple_run(store, f"p{i}", start=T0 + timedelta(hours=i), outcome="failed" if i == 3 else None)
    record_simple_run(store, "last", start=T0 + timedelta(hours=6), seconds=90)
    lines = run_cli(store.root, "status", "--report").stdout.splitlines()
    duration = next(line for line in lines if line.startswith("  duration"))
    success = next(line for line in lines if line.startswith("  success"))
    cost = next(line for line in lines if line.startswith("  cost"))
    assert f"{RED}↑ +50%{RESET}" in duration  # slower than the previous runs: worse
    assert f"{GREEN}↑{RESET}" in success  # succeeded where one of five failed: better
    assert "\x1b[" not in cost  # → within 5%: no colour
    assert f"outcome    {GREEN}completed{RESET} in 1m 30s" in lines


def test_an_empty_no_color_keeps_the_colour(runs: Store, terminal: pytest.MonkeyPatch) -> None:
    # https://no-color.org: only a non-empty value turns colour off
    assert "\x1b[" in run_cli(runs.root, "report", env={"NO_COLOR": ""}).stdout


# -- colour off ----------------------------------------------------------------------


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=[" ".join(a[:2]) for a in TEXT_COMMANDS])
def test_no_colour_when_piped(runs: Store, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" not in run_cli(runs.root, *args).stdout


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=[" ".join(a[:2]) for a in TEXT_COMMANDS])
def test_no_colour_with_no_color_set(runs: Store, terminal: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    assert "\x1b[" not in run_cli(runs.root, *args, env={"NO_COLOR": "1"}).stdout


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=[" ".join(a[:2]) for a in TEXT_COMMANDS])
def test_no_colour_with_the_no_color_flag(runs: Store, terminal: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, ["--no-color", "--home", str(runs.root), *args], prog_name="laptime", color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout


def test_the_no_color_flag_before_report(
    runs: Store, terminal: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPTIME_HOME", str(runs.root))
    coloured = CliRunner().invoke(cli, ["report"], prog_name="laptime", color=True)
    plain = CliRunner().invoke(cli, ["--no-color", "report"], prog_name="laptime", color=True)
    assert coloured.exit_code == plain.exit_code == 0
    assert "\x1b[" in coloured.stdout
    assert "\x1b[" not in plain.stdout
    assert coloured.stdout.replace(GREEN, "").replace(RESET, "") == plain.stdout


# -- width ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=[" ".join(a[:2]) for a in TEXT_COMMANDS])
def test_every_line_fits_a_narrow_terminal(runs: Store, terminal: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    terminal.setenv("COLUMNS", "60")
    lines = run_cli(runs.root, *args).stdout.splitlines()
    too_long = [line for line in lines if visible_len(line) > 60]
    assert not too_long
    full = piped(terminal, runs.root, *args)
    # the same views piped are not cut to the width (report list cuts long names to 48
    # characters, piped or not), and were wider than 60 to begin with
    assert any(len(line) > 60 for line in full)
    assert sum("…" in line for line in lines) > sum("…" in line for line in full)


def test_long_cells_end_in_an_ellipsis(runs: Store, terminal: pytest.MonkeyPatch) -> None:
    terminal.setenv("COLUMNS", "60")
    lines = run_cli(runs.root, "--no-color", "report", "show", LONG_RUN_ID[:6]).stdout.splitlines()
    # the text columns (path, command, model) gave way; the numbers are whole
    files = lines.index("Files (1)")
    assert lines[files + 3] == "services/billing/ledger/migratio…  modified  +1,200       −3"
    validations = lines.index("Validations (1)")
    assert lines[validations + 3] == "09:00:00Z  pytest -q tests/bi…  passed     0  -            -"
    by_phase = lines.index("LLM by phase")
    assert lines[by_phase + 3] == "implement  claude-sonnet-4-5-with-an-extr…      1  1.2k   56"
    assert lines[0] == "run 10n900000000 · migrate-the-billing-service-to-the-new-l…"


def test_scoreboard_lines_are_cut_to_the_width(runs: Store, terminal: pytest.MonkeyPatch) -> None:
    full = piped(terminal, runs.root, "report", FIXED_RUN_ID[:6])
    terminal.setenv("COLUMNS", "60")
    narrow = run_cli(runs.root, "--no-color", "report", FIXED_RUN_ID[:6]).stdout.splitlines()
    assert narrow == [line if len(line) <= 60 else line[:59] + "…" for line in full]
    by_model = next(line for line in narrow if line.startswith("by model"))
    assert by_model.endswith("…")
    assert len(by_model) == 60


def test_piped_output_is_never_cut_even_with_columns(runs: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    text = run_cli(runs.root, "report", "show", LONG_RUN_ID[:6]).stdout
    assert LONG_PATH in text
    assert "…" not in text


def test_table_narrows_text_columns_first() -> None:
    rows = [["a-rather-long-model-name-indeed", "1,234", "$12.00"], ["short", "5", "$0.01"]]
    lines = table(["model", "calls", "cost"], rows, "lrr", width=30)
    assert lines == [
        "model            calls    cost",
        "---------------  -----  ------",
        "a-rather-long-…  1,234  $12.00",
        "short                5   $0.01",
    ]
    # too narrow for the numbers even with the text column at its floor: the ends go
    tight = table(["model", "calls", "cost"], rows, "lrr", width=16)
    assert tight[2] == "a-rathe…  1,234…"
    assert all(len(line) <= 16 for line in tight)


def test_ellipsize_keeps_colour_codes_and_closes_them() -> None:
    assert ellipsize(f"{GREEN}completed{RESET} in 5m", 6) == f"{GREEN}compl…{RESET}"
    assert ellipsize("short", 10) == "short"
    assert visible_len(f"{RED}failed{RESET}") == 6


# -- words and numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "one", "two"),
    [
        ("call", "1 call", "2 calls"),
        ("run", "1 run", "2 runs"),
        ("file", "1 file", "2 files"),
        ("retry", "1 retry", "2 retries"),
        ("checkpoint", "1 checkpoint", "2 checkpoints"),
        ("scope violation", "1 scope violation", "2 scope violations"),
        ("task", "1 task", "2 tasks"),
        ("entry", "1 entry", "2 entries"),
        ("day", "1 day", "2 days"),
        ("match", "1 match", "2 matches"),
    ],
)
def test_plural_of_one_and_two(word: str, one: str, two: str) -> None:
    assert plural(1, word) == one
    assert plural(2, word) == two


def test_counts_have_thousands_separators_and_roll_over() -> None:
    assert plural(1234, "run") == "1,234 runs"
    assert integer(1234567) == "1,234,567"
    assert count(999_949) == "999.9k"
    assert count(999_960) == "1.00M"  # was 1000.0k
    assert count(3400) == "3.4k"


def test_one_of_each_in_the_text_views(store: Store) -> None:
    record_simple_run(store, "only", name="only-task")
    summary = run_cli(store.root, "report", "summary").stdout.splitlines()
    assert summary[0] == "Summary of 1 run"
    assert "Top 1 most expensive task" in summary
    usage = run_cli(store.root, "report", "usage", "--timezone", "UTC").stdout.splitlines()
    assert usage[-1].startswith("1 call, time zone UTC")
    status = run_cli(store.root, "status", "--report").stdout.splitlines()
    assert "llm        1 call · 100 in · 10 out · 110 tokens in all" in status


def test_two_of_each_in_the_text_views(store: Store) -> None:
    record_simple_run(store, "one", name="task-a", calls=2)
    record_simple_run(store, "two", name="task-b", start=T0 + timedelta(hours=1), calls=2)
    summary = run_cli(store.root, "report", "summary").stdout.splitlines()
    assert summary[0] == "Summary of 2 runs"
    assert "Top 2 most expensive tasks" in summary
    usage = run_cli(store.root, "report", "usage", "--timezone", "UTC").stdout.splitlines()
    assert usage[-1].startswith("4 calls, time zone UTC")
    status = run_cli(store.root, "status", "--report").stdout.splitlines()
    assert "llm        2 calls · 200 in · 20 out · 220 tokens in all" in status


@pytest.mark.parametrize("args", TEXT_COMMANDS, ids=[" ".join(a[:2]) for a in TEXT_COMMANDS])
def test_one_name_for_unattributed_time(runs: Store, args: tuple[str, ...]) -> None:
    text = run_cli(runs.root, *args).stdout
    assert "(unattributed)" not in text
    assert "outside phases" not in text
