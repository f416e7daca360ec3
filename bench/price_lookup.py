"""Price data off the hot path: a warm ``laptime report usage --json`` with the compiled
price table, against the same process with genai-prices imported, and the table's build.

Issue 9, acceptance 2: prices come from genai-prices, compiled once into a cached table
(``laptime.price_table``); a warm report imports neither genai-prices nor pydantic.

A store of ``--runs`` runs (default 300) of 12 LLM calls each over 90 UTC days (three
models, two providers, cache reads and writes, some long-context calls) is recorded with
the SDK and indexed once. Then, interleaved (order rotating each round), ``--repeat``
rounds (default 11; ``--quick`` 3) of three whole processes on that store, stdout to a
pipe, index warm:

- ``table``: ``laptime report usage --by day --json`` (prices read from the compiled
  table in a cache folder the bench made warm first);
- ``genai``: the same command in a process that first imports genai-prices and loads
  its price snapshot (``import genai_prices; data_snapshot.get_snapshot()``): the least
  the lookup paid before the table whenever a (model, day) group was not in the index's
  price cache (a fresh store, a new day, a new model);
- ``in memory``: the same command with an unwritable cache folder (the table is compiled
  in the process, as a fallback: genai-prices imported and every model measured).

Wall time (``perf_counter`` around the process) and CPU time (user + system of the child,
from ``os.wait4``) per process; medians, per-round paired ratios, n. Then the one-time
build: ``--builds`` fresh processes (default 5; ``--quick`` 2) that each load the table
into an empty cache folder (import genai-prices, compile, write).

Checks: the three variants print the same JSON, which has a priced cost; a ``table``
process imports neither genai_prices nor pydantic (``sys.modules`` after the command);
a build writes the table file. Any failure exits 1.

    .venv/bin/python bench/price_lookup.py [--quick] [--json] [--runs N] [--repeat N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

_MODELS = (("claude-sonnet-4-5", "anthropic"), ("claude-haiku-4-5", "anthropic"), ("gpt-4o", "openai"))
_COMMAND = ("report", "usage", "--by", "day", "--json")
_RUN_CLI = "import sys\nfrom laptime.cli import main\nsys.argv[0] = 'laptime'\nmain()\n"
_WITH_GENAI = "import genai_prices\nfrom genai_prices import data_snapshot\ndata_snapshot.get_snapshot()\n" + _RUN_CLI
_MODULES = (
    "import sys\nfrom laptime.cli import cli\ntry:\n    cli.main(args=sys.argv[1:], prog_name='laptime')\n"
    "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
)
_BUILD = (
    "import time\nt0 = time.perf_counter()\nfrom laptime.price_table import load_table\n"
    "table, info = load_table()\nprint(time.perf_counter() - t0, info.rebuilt, info.path)\n"
)


def prepare(root: Path, runs: int) -> dict[str, Any]:
    """A store with priced calls, indexed."""
    import random

    from laptime import Recorder, SimulatedClock
    from laptime.index import Index
    from laptime.store import Store

    store = Store(root / ".laptime")
    rng = random.Random(9)
    clock = SimulatedClock(start=datetime(2026, 1, 1, tzinfo=UTC))
    t0 = time.perf_counter()
    with Recorder(home=store.root, clock=clock, flush_interval=0.2) as rec:
        for n in range(runs):
            with rec.run(f"task {n % 17}", run_id=f"run{n:05d}") as run:
                for _ in range(12):
                    model, provider = _MODELS[rng.randrange(len(_MODELS))]
                    long_context = rng.random() < 0.05
                    run.llm_call(
                        model,
                        provider=provider,
                        input_tokens=rng.randint(250_000, 400_000) if long_context else rng.randint(100, 20_000),
                        output_tokens=rng.randint(10, 4_000),
                        cache_read_tokens=rng.choice([0, rng.randint(1, 50_000)]),
                        cache_write_tokens=0 if provider == "openai" else rng.choice([0, rng.randint(1, 8_000)]),
                        input_includes_cache=provider == "openai",
                    )
                    clock.advance(rng.randint(5, 120))
            clock.advance(90 * 86_400 // runs)
    with Index(store) as index:
        index.update()
        calls = index.query("SELECT COUNT(*) FROM llm_calls")[0][0]
        days = index.query("SELECT COUNT(DISTINCT substr(ts, 1, 10)) FROM llm_calls")[0][0]
    return {"runs": runs, "llm_calls": calls, "days": days, "prepare_s": time.perf_counter() - t0}


def _env(store: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "XDG_CACHE_HOME"}}
    return {**env, "LAPTIME_HOME": str(store), "LAPTIME_CACHE_DIR": str(cache)}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall and CPU (user + system) seconds of one process, and its stdout."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} exited {proc.returncode}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, out.read()


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--runs", type=int, default=300, help="runs of 12 LLM calls to record")
        parser.add_argument("--repeat", type=int, default=11, help="interleaved rounds of the three processes")
        parser.add_argument("--builds", type=int, default=5, help="fresh processes that build the table")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    repeat = 3 if args.quick else args.repeat
    builds = 2 if args.quick else args.builds
    facts = _util.machine_facts(quick=args.quick)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="laptime-bench-prices-") as tmp:
        root = Path(tmp)
        data = prepare(root, 60 if args.quick else args.runs)
        store = root / ".laptime"
        cache = root / "cache"
        blocker = root / "not-a-folder"
        blocker.write_text("the in-memory variant's cache folder would be inside this file\n")
        variants = {
            "table": ([sys.executable, "-c", _RUN_CLI, *_COMMAND], _env(store, cache)),
            "genai": ([sys.executable, "-c", _WITH_GENAI, *_COMMAND], _env(store, cache)),
            "in memory": ([sys.executable, "-c", _RUN_CLI, *_COMMAND], _env(store, blocker / "cache")),
        }
        outputs = {name: timed(cmd, env)[2] for name, (cmd, env) in variants.items()}  # warm-up: index, table
        if len(set(outputs.values())) != 1:
            failures.append("the variants printed different JSON")
        totals = json.loads(outputs["table"])["totals"]
        if not totals.get("cost_usd"):
            failures.append("no priced cost in the report")
        probe = subprocess.run(
            [sys.executable, "-c", _MODULES, *_COMMAND],
            env=variants["table"][1],
            capture_output=True,
            text=True,
            check=False,
        )
        heavy = sorted(m for m in probe.stderr.split() if m.split(".")[0] in {"genai_prices", "pydantic"})
        if probe.returncode != 0 or heavy:
            failures.append(f"a warm table process imported {heavy or probe.stderr[-200:]}")
        names = list(variants)
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                w, c, _ = timed(*variants[name])
                wall[name].append(w)
                cpu[name].append(c)
        build_wall, build_cpu, build_in = [], [], []
        for b in range(builds):
            folder = root / f"build-{b}"
            w, c, out = timed([sys.executable, "-c", _BUILD], _env(store, folder))
            inside, rebuilt, path = out.decode().split()
            build_wall.append(w)
            build_cpu.append(c)
            build_in.append(float(inside))
            if rebuilt != "True" or not Path(path).is_file():
                failures.append(f"build {b} did not write a table ({out.decode().strip()})")
        table_bytes = next(cache.glob("prices-*.msgpack")).stat().st_size
    med = {n: {"wall_s": _util.median(wall[n]), "cpu_s": _util.median(cpu[n])} for n in names}
    paired = {
        f"table/{n}": {
            "wall": _util.median([a / b for a, b in zip(wall["table"], wall[n], strict=True)]),
            "cpu": _util.median([a / b for a, b in zip(cpu["table"], cpu[n], strict=True)]),
        }
        for n in names[1:]
    }
    budget = _util.Budget(
        "warm report usage: compiled table / genai-prices imported (paired, wall)",
        paired["table/genai"]["wall"],
        1.0,
        "x",
        note=f"n={repeat}, CPU {paired['table/genai']['cpu']:.3f}x",
    )
    build = {
        "n": builds,
        "wall_s": _util.median(build_wall),
        "cpu_s": _util.median(build_cpu),
        "in_process_s": _util.median(build_in),
        "table_bytes": table_bytes,
    }
    payload = {"machine": facts, "data": data, "n": repeat, "median": med, "paired_ratio": paired, "build": build,
               "samples": {"wall": wall, "cpu": cpu}, "budget": budget.to_json(), "failures": failures}  # fmt: skip
    if args.json:
        _util.emit_json(payload)
    else:
        _util.print_facts(facts)
        print(f"data: {data['runs']:,} runs, {data['llm_calls']:,} llm calls over {data['days']} days; "
              f"`laptime {' '.join(_COMMAND)}`, warm index, {repeat} interleaved rounds")  # fmt: skip
        rows = [
            [n, f"{med[n]['wall_s'] * 1000:.1f}", _util.spread([x * 1000 for x in wall[n]]),
             f"{med[n]['cpu_s'] * 1000:.1f}",
             "1" if n == "table" else f"{1 / paired[f'table/{n}']['wall']:.2f}",
             "1" if n == "table" else f"{1 / paired[f'table/{n}']['cpu']:.2f}"]
            for n in names
        ]  # fmt: skip
        print(_util.table(rows, ["process", "wall ms", "min..max", "CPU ms", "vs table (wall)", "vs table (CPU)"]))
        inside = build["in_process_s"] * 1000
        print(f"one-time build (fresh process, empty cache folder, n={builds}): wall {build['wall_s'] * 1000:.0f} ms, "
              f"CPU {build['cpu_s'] * 1000:.0f} ms, of which import + compile + write {inside:.0f} ms; "
              f"table file {table_bytes:,} bytes")  # fmt: skip
        print(budget.line())
        for failure in failures:
            print(f"FAIL  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
