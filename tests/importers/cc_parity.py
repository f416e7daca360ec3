"""Running the real ccusage 20.0.24 and laptime's usage report side by side.

ccusage is installed by ``make node_modules/.bin/ccusage`` (CI does). Tests that need it
call ``need_ccusage()``: it skips when the binary is absent, and fails under CI, where
it must be there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from importers import run_cli

if TYPE_CHECKING:
    from laptime.store import Store

ROOT = Path(__file__).resolve().parents[2]
CCUSAGE = ROOT / "node_modules" / ".bin" / "ccusage"
TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
OURS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")

Cells = dict[tuple[str, str], list[int]]  # (day, model) -> [input, output, cache write, cache read]


def need_ccusage() -> None:
    if CCUSAGE.exists():
        return
    hint = "ccusage is not installed: run `make node_modules/.bin/ccusage` (npm install ccusage@20.0.24)"
    if os.environ.get("CI"):
        pytest.fail(hint)
    pytest.skip(hint)


def ccusage_daily(config_dir: Path, *extra: str) -> dict[str, Any]:
    """``ccusage daily --offline --json`` on ``config_dir``, with a home of its own."""
    home = config_dir.parent / "ccusage-home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CLAUDE_CONFIG_DIR": str(config_dir)}
    out = subprocess.run(
        [str(CCUSAGE), "daily", "--offline", "--json", *extra], env=env, capture_output=True, check=True, timeout=120
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def usage_json(store: Store, *args: str) -> dict[str, Any]:
    """``laptime report usage --json ARGS``."""
    result = run_cli(store, "report", "usage", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def their_days(daily: dict[str, Any]) -> dict[str, list[int]]:
    """ccusage's token totals per day (``<synthetic>`` records included, as it counts them)."""
    return {d["period"]: [d[k] for k in TOKEN_KEYS] for d in daily["daily"]}


def our_days(usage: dict[str, Any]) -> dict[str, list[int]]:
    return {r["period"]: [r[k] for k in OURS] for r in usage["rows"]}


def their_cells(daily: dict[str, Any]) -> Cells:
    """ccusage's token totals per day and model (a nameless model is ``<synthetic>``: left out)."""
    return {
        (d["period"], m["modelName"]): [m[k] for k in TOKEN_KEYS]
        for d in daily["daily"]
        for m in d["modelBreakdowns"]
        if m["modelName"]
    }


def our_cells(usage: dict[str, Any]) -> Cells:
    return {(r["period"], m["model"]): [m[k] for k in OURS] for r in usage["rows"] for m in r["by_model"]}
