"""Values past what the parsers below laptime take (Python's dates, re, JSON depth, the
filesystem's symlinks) are usage errors that name the option, never "a bug in laptime"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from helpers import invoke, record_fixed_run

if TYPE_CHECKING:
    from pathlib import Path

    from laptime.store import Store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report", "summary", "--baseline", "last:99999999999999999999"],
            "Error: --baseline: 'last:99999999999999999999' needs N of at most 2,147,483,648",
        ),
        (
            ["report", "summary", "--baseline", "..9999-12-31"],
            "Error: --baseline: '9999-12-31' in '..9999-12-31' is out of range; give a time from the year 1 to 9999",
        ),
        (
            ["report", "summary", "--since", "0001-01-01T00:00:00+14:00"],
            "Error: --since: '0001-01-01T00:00:00+14:00' is out of range; give a time from the year 1 to 9999",
        ),
        (
            ["event", "milestone", "m", "--run", "r", "--attr", "a=" + "[" * 5000],
            "Error: Invalid value for '--attr': 'a': the value nests deeper than laptime reads",
        ),
    ],
)
def test_values_past_the_parsers_are_usage_errors(store: Store, args: list[str], message: str) -> None:
    record_fixed_run(store)
    result = invoke(store.root, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == message


def test_a_home_in_a_symlink_loop_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = invoke(tmp_path / "a", "report", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: store path {tmp_path / 'a'} cannot be resolved (")
    assert result.stderr.rstrip().endswith("; point --home or LAPTIME_HOME at a folder")
