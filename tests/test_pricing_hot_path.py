"""Price data off the hot path (issue 9): a warm ``report summary`` or ``report usage``
imports neither genai-prices nor pydantic, a cold store with a compiled price table does
not either, and a deleted table is compiled again (importing genai-prices once).

Each command runs in a fresh interpreter that calls the CLI in-process and then writes
``sorted(sys.modules)`` to a file, with HOME and XDG_CACHE_HOME in the test's folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from helpers import GPT, HAIKU, SONNET, T0, make_recorder
from laptime import SimulatedClock
from laptime.store import Store

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("genai_prices")

HEAVY = ("genai_prices", "pydantic", "pydantic_core")

PROBE = """
import sys
from laptime.cli import cli

out, args = sys.argv[1], sys.argv[2:]
try:
    cli.main(args=args, prog_name="laptime")
    code = 0
except SystemExit as exc:
    code = exc.code or 0
with open(out, "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def record(store: Store) -> None:
    """Priced calls over three days: short and long context, cache reads and writes."""
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec:
        for day in range(3):
            with rec.run(f"task {day % 2}", run_id=f"run{day}") as run, run.phase("work"):
                run.llm_call(
                    SONNET, provider="anthropic", input_tokens=3_000, output_tokens=900, cache_read_tokens=5_000
                )
                run.llm_call(SONNET, provider="anthropic", input_tokens=250_000, output_tokens=10, cache_write_tokens=4)
                run.llm_call(HAIKU, provider="anthropic", input_tokens=700, output_tokens=70, cache_write_tokens=2_000)
                run.llm_call(GPT, provider="openai", input_tokens=9_000, output_tokens=300, cache_read_tokens=4_000)
                clock.advance(60)
            clock.advance(86_400)


class Runner:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.env = {k: v for k, v in os.environ.items() if k not in {"LAPTIME_CACHE_DIR", "LAPTIME_HOME"}}
        self.env["HOME"] = str(tmp_path / "home")
        self.env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
        self.cache = tmp_path / "xdg" / "laptime"
        self.n = 0

    def run(self, store: Store, *args: str) -> tuple[object, set[str]]:
        """The command's JSON output and the modules its process imported."""
        self.n += 1
        out = self.tmp / f"modules-{self.n}.txt"
        command = [sys.executable, "-c", PROBE, str(out), "--home", str(store.root), *args, "--json"]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return json.loads(done.stdout), set(out.read_text().split("\n"))

    def tables(self) -> list[Path]:
        return sorted(self.cache.glob("prices-*.msgpack")) if self.cache.exists() else []


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


SUMMARY = ("report", "summary")
USAGE = ("report", "usage", "--by", "day")


def test_warm_reports_and_a_cold_store_never_import_genai_prices(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    store = Store(tmp_path / "a" / ".laptime")
    record(store)

    # The first report compiles the table: the one time genai-prices is imported.
    first_usage, modules = runner.run(store, *USAGE)
    assert "genai_prices" in modules
    assert len(runner.tables()) == 1
    first_summary, _ = runner.run(store, *SUMMARY)

    # Warm (index and price table): neither genai-prices nor pydantic, same numbers.
    for args, before in ((SUMMARY, first_summary), (USAGE, first_usage)):
        output, modules = runner.run(store, *args)
        assert heavy(modules) == [], args
        assert output == before
    assert first_summary["cost"]["cost_usd"] > 0  # type: ignore[index]

    # A cold store (no index yet) with the price table compiled: nothing heavy either.
    cold = Store(tmp_path / "b" / ".laptime")
    record(cold)
    for args, before in ((USAGE, first_usage), (SUMMARY, first_summary)):
        output, modules = runner.run(cold, *args)
        assert heavy(modules) == [], args
        assert output == before


def test_a_deleted_table_is_compiled_again_once(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    store = Store(tmp_path / ".laptime")
    record(store)
    reference, _ = runner.run(store, *USAGE)
    (table,) = runner.tables()
    table.unlink()
    again, modules = runner.run(store, *USAGE)
    assert "genai_prices" in modules
    assert runner.tables() == [table]
    assert again == reference
    warm, modules = runner.run(store, *USAGE)
    assert heavy(modules) == []
    assert warm == reference


def test_without_xdg_the_table_goes_to_dot_cache(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    del runner.env["XDG_CACHE_HOME"]
    runner.cache = tmp_path / "home" / ".cache" / "laptime"
    store = Store(tmp_path / ".laptime")
    record(store)
    clock_day = (T0 + timedelta(days=1)).strftime("%Y-%m-%d")
    usage, _ = runner.run(store, *USAGE)
    assert clock_day in json.dumps(usage)
    assert len(runner.tables()) == 1


def test_a_read_only_cache_folder_is_no_error(tmp_path: Path) -> None:
    """A cache folder the user cannot write (as root: capabilities dropped, so permissions
    apply): the report is the same, genai-prices is imported for this process, no file."""
    import shutil

    runner = Runner(tmp_path)
    store = Store(tmp_path / ".laptime")
    record(store)
    reference, _ = runner.run(store, *USAGE)
    (table,) = runner.tables()
    table.unlink()
    runner.cache.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions would not apply")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps]
    store.root.chmod(0o777)  # the store itself stays writable for the capability-less process
    for path in store.root.rglob("*"):
        path.chmod(0o777)
    try:
        out = tmp_path / "modules-ro.txt"
        command = [*prefix, sys.executable, "-c", PROBE, str(out), "--home", str(store.root), *USAGE, "--json"]
        done = subprocess.run(command, capture_output=True, text=True, env=runner.env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert json.loads(done.stdout) == reference
        assert "genai_prices" in out.read_text().split("\n")
        assert runner.tables() == []
        assert list(runner.cache.iterdir()) == []
    finally:
        runner.cache.chmod(0o755)
