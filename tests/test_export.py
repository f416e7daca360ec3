"""``laptime report export`` (CSV, JSON Lines, --detailed) and ``laptime kpi RUN -o``.

The CSV is parsed back with the ``csv`` module: quotes, commas and newlines round-trip,
and a cell a spreadsheet would run as a formula comes back with a leading ``'``.
Prices come from the store's config (tests/test_compare.py's PRICES), so costs are
known: the fixed run costs $0.022125.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import FIXED_RUN_ID, T0, invoke, invoke_json, record_fixed_run, record_simple_run
from laptime.exporters import PHASE_COLUMNS, RUN_COLUMNS
from laptime.exporters.csv_export import neutralize, write_csv
from test_compare import PRICES

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store

NASTY = 'say "hi", then\nbreak'
FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.fixture
def runs(store: Store) -> Store:
    record_fixed_run(store)
    record_simple_run(store, "r2", start=T0 + timedelta(hours=1), name=NASTY, seconds=42.5, calls=2, outcome="failed")
    for i, name in enumerate(FORMULAS):
        record_simple_run(store, f"x{i}", start=T0 + timedelta(hours=2 + i), name=name, seconds=10, calls=0)
    store.config_path.write_text(PRICES, encoding="utf-8")
    return store


def _csv(tmp_path: Path, home: Path, *args: str) -> tuple[bytes, list[list[str]]]:
    out = tmp_path / "out.csv"
    result = invoke(home, "report", "export", "--csv", str(out), *args)
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    with out.open(newline="", encoding="utf-8") as handle:
        return raw, list(csv.reader(handle))


def test_csv_one_row_per_run(runs: Store, tmp_path: Path) -> None:
    raw, rows = _csv(tmp_path, runs.root)
    assert rows[0] == list(RUN_COLUMNS)
    assert len(rows) == 1 + 2 + len(FORMULAS)
    # oldest first; the fixed run: 2 loop rounds (implement and verify come round again)
    assert rows[1] == [
        FIXED_RUN_ID,
        "2026-01-05T09:00:00.000000Z",
        "fix-login",
        "completed",
        "2",
        "3400",
        "770",
        "9270",  # 3400 + 770 + 5000 cache read + 100 cache write
        "0.022125",
        "300.0",
        "2",
        "anthropic",
        "claude-haiku-4-5; claude-sonnet-4-5",  # 2 calls each: by name
        "0",
        "1",
    ]
    # 2 sonnet calls of 100 in / 10 out: 2 * (300 + 150) / 1M
    assert rows[2] == [
        "r2",
        "2026-01-05T10:00:00.000000Z",
        NASTY,
        "failed",
        "1",
        "200",
        "20",
        "220",
        "0.0009",
        "42.5",
        "0",
        "anthropic",
        "claude-sonnet-4-5",
        "0",
        "0",
    ]
    assert raw.count(b"\r\n") == len(rows)  # RFC 4180 records end with CRLF...
    assert b'"say ""hi"", then\nbreak"' in raw  # ...and a field with quotes, comma or LF is quoted


def test_formula_cells_are_neutralized(runs: Store, tmp_path: Path) -> None:
    raw, rows = _csv(tmp_path, runs.root)
    tasks = [row[2] for row in rows[3:]]
    assert tasks == ["'" + name for name in FORMULAS]
    assert not any(line.startswith((b"=", b"+", b"-", b"@")) for line in raw.split(b","))
    # a run without llm calls costs 0, and numbers are never touched
    assert [row[8] for row in rows[3:]] == ["0.0"] * len(FORMULAS)
    assert rows[1][2] == "fix-login"  # ordinary text is left alone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("", ""),
        (-1, -1),
        (2.5, 2.5),
        (None, None),
    ],
)
def test_neutralize(value: object, expected: object) -> None:
    assert neutralize(value) == expected


# Every trigger: ASCII, full-width, small-form, and U+2212 MINUS SIGN.
TRIGGERS = ["=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20"]
TRIGGERS += ["\ufe66", "\ufe62", "\ufe63", "\ufe6b", "\u2212"]
# Blanks a spreadsheet skips before it looks for a formula: ASCII space, NBSP, other
# Unicode spaces (en quad, narrow NBSP, ideographic space), line breaks, and the
# invisible zero-width characters.
BLANKS = ["", " ", "   ", "\u00a0", "\u2000", "\u202f", "\u3000", "\n", "\x0b", "\x0c", "\u200b", "\ufeff"]
BLANKS += [" \u00a0\u3000 "]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("blank", BLANKS)
def test_neutralize_every_trigger_after_any_blanks(trigger: str, blank: str) -> None:
    text = f"{blank}{trigger}SUM(A1:A9)"
    assert neutralize(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        "sum",
        "  sum = 1",  # a trigger later in the cell is no formula
        "\u00a0a=1",
        "1-2",  # a numeric-looking text that does not start with a trigger
        "2026-01-05",
        "   ",  # blanks only
        "\u00a0\u3000",
        "\u200b",
        "'=1",  # already quoted
        "\uff41=1",  # full-width letter a: not a trigger
        "\u2010x",  # HYPHEN is not a minus
        "fix-login",
    ],
)
def test_neutralize_leaves_other_text_alone(text: str) -> None:
    assert neutralize(text) == text


def test_numbers_stay_numbers_in_the_csv() -> None:
    """A negative number laptime writes (an int or a float) is a number, not a formula."""
    buffer = io.StringIO(newline="")
    write_csv(buffer, ["delta", "n", "text"], [{"delta": -1.5, "n": -3, "text": " -1.5"}])
    assert buffer.getvalue().splitlines()[1] == "-1.5,-3,' -1.5"


def test_blank_and_full_width_formulas_are_neutralized_in_the_export(store: Store, tmp_path: Path) -> None:
    names = [" =1+1", "\u00a0+1", "\u3000@A1", "\uff1dHYPERLINK()", "\u200b-1", " \t=1", "plain name"]
    for i, name in enumerate(names):
        record_simple_run(store, f"b{i}", start=T0 + timedelta(hours=i), name=name, seconds=10, calls=0)
    _, rows = _csv(tmp_path, store.root)
    assert [row[2] for row in rows[1:]] == ["'" + name for name in names[:-1]] + ["plain name"]
    assert [row[8] for row in rows[1:]] == ["0.0"] * len(names)  # the cost stays a number


def test_write_csv_round_trips_awkward_text() -> None:
    values = ["a,b", 'quote " inside', "line\nbreak", "crlf\r\nbreak", "  spaces  ", "ünïcode", ""]
    buffer = io.StringIO(newline="")
    n = write_csv(buffer, ["v", "n"], [{"v": v, "n": i} for i, v in enumerate(values)] + [{"v": None}])
    assert n == len(values) + 1
    parsed = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert parsed[0] == ["v", "n"]
    assert [row[0] for row in parsed[1:]] == [*values, ""]
    assert [row[1] for row in parsed[1:]] == [*map(str, range(len(values))), ""]


def test_detailed_csv_one_row_per_phase_span(runs: Store, tmp_path: Path) -> None:
    _, rows = _csv(tmp_path, runs.root, "--detailed", "--until", "2026-01-05T09:30:00Z")
    assert rows[0] == list(PHASE_COLUMNS)
    body = [dict(zip(PHASE_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(r["phase"], r["attempt"], r["iteration"], r["duration_seconds"]) for r in body] == [
        ("plan", "1", "1", "60.0"),
        ("implement", "1", "1", "120.0"),
        ("verify", "1", "1", "30.0"),
        ("implement", "2", "2", "30.0"),
        ("verify", "2", "2", "20.0"),
    ]
    assert {r["run_id"] for r in body} == {FIXED_RUN_ID}
    # plan: sonnet 1000/200 + 5000 cache read + 100 cache write = 0.003 + 0.003 + 0.0015 + 0.000375
    assert (body[0]["llm_calls"], body[0]["input_tokens"], body[0]["output_tokens"], body[0]["cost_usd"]) == (
        "1",
        "1000",
        "200",
        "0.007875",
    )
    # implement: sonnet 2000/500 (0.0135) + haiku 300/50 (0.00055)
    assert (body[1]["llm_calls"], body[1]["cost_usd"]) == ("2", "0.01405")
    assert body[3]["started_at"] == "2026-01-05T09:03:40.000000Z"
    assert body[3]["ended_at"] == "2026-01-05T09:04:10.000000Z"
    assert sum(float(r["cost_usd"]) for r in body) == pytest.approx(0.022125)


def test_jsonl_matches_csv_with_types(runs: Store, tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = invoke(runs.root, "report", "export", "--jsonl", str(out), "--status", "failed")
    assert result.exit_code == 0, result.output
    assert "wrote 1 run rows" in result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert list(row) == list(RUN_COLUMNS)
    assert row["task"] == NASTY  # JSON needs no neutralising
    assert (row["status"], row["iterations"], row["total_tokens"], row["duration_seconds"]) == ("failed", 1, 220, 42.5)
    assert row["cost_usd"] == pytest.approx(0.0009)


def test_csv_and_jsonl_together_and_filters(runs: Store, tmp_path: Path) -> None:
    result = invoke(
        runs.root,
        "report",
        "export",
        "--csv",
        str(tmp_path / "a.csv"),
        "--jsonl",
        str(tmp_path / "a.jsonl"),
        "--since",
        "2026-01-05T10:00:00Z",
        "--until",
        "2026-01-05T12:00:00Z",
    )
    assert result.exit_code == 0, result.output
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as handle:
        ids = [row[0] for row in csv.reader(handle)][1:]
    jsonl_ids = [json.loads(line)["run_id"] for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert ids == jsonl_ids == ["r2", "x0"]


def test_export_needs_a_target(runs: Store) -> None:
    result = invoke(runs.root, "report", "export")
    assert result.exit_code == 2
    assert "give --csv FILE and/or --jsonl FILE" in result.output
    result = invoke(runs.root, "report", "export", "--csv", "-", "--since", "yesterday-ish")
    assert result.exit_code == 2


def test_export_to_stdout(runs: Store) -> None:
    result = invoke(runs.root, "report", "export", "--csv", "-", "--status", "failed")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert [r[0] for r in rows] == ["run_id", "r2"]


def test_kpi_file_equals_report_json(runs: Store, tmp_path: Path) -> None:
    out = tmp_path / "kpi.json"
    result = invoke(runs.root, "kpi", FIXED_RUN_ID[:8], "-o", str(out))
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == invoke_json(runs.root, "report", FIXED_RUN_ID)
    assert written["run_id"] == FIXED_RUN_ID
    assert written["total_duration_ms"] == 300_000.0


def test_kpi_defaults_to_the_latest_run_and_stdout(runs: Store) -> None:
    result = invoke(runs.root, "kpi")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == invoke_json(runs.root, "report")
    assert json.loads(result.stdout)["run_id"] == f"x{len(FORMULAS) - 1}"


def test_kpi_unknown_run_is_a_usage_error(runs: Store, tmp_path: Path) -> None:
    result = invoke(runs.root, "kpi", "zzz", "-o", str(tmp_path / "k.json"))
    assert result.exit_code == 2
    assert "no run matches 'zzz'" in result.output
    assert not (tmp_path / "k.json").exists()
