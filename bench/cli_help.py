"""``laptime --help`` wall time, next to the interpreter's own start-up.

Budget (DESIGN.md, "Performance budgets"): ``laptime --help`` runs in under 100 ms.

Each command runs as a subprocess, 2 warm-ups then ``--runs`` timed runs (default 20),
interleaved so machine noise hits all alike:

  python -c pass              the interpreter alone (the floor nobody can go under)
  python -c "import click"    plus click, which the CLI needs anyway
  laptime --help              the console script the user types (the budget line)
  python -m laptime.cli --help  the same without the console-script wrapper (through
                              ``-c "from laptime.cli import main; main()"`` when
                              ``laptime.cli`` has no ``__main__``)

The laptime-specific cost is ``laptime --help`` minus ``import click``. Then
``python -X importtime`` lists the 10 slowest imports (cumulative) behind ``--help``.
The subprocesses run in an empty temporary folder with ``LAPTIME_HOME`` pointing into
it, so no real store is touched.

    .venv/bin/python bench/cli_help.py [--quick] [--json] [--runs N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

BUDGET_MS = 100.0


def _laptime_script() -> list[str]:
    script = Path(sys.executable).with_name("laptime")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-c", "from laptime.cli import main; main()", "--help"]


def _module_cmd() -> tuple[str, list[str]]:
    """``python -m laptime.cli --help``, or the same through ``-c`` if the package has no ``__main__``."""
    probe = subprocess.run([sys.executable, "-m", "laptime.cli", "--help"], capture_output=True, check=False)
    if probe.returncode == 0 and probe.stdout:
        return "python -m laptime.cli --help", [sys.executable, "-m", "laptime.cli", "--help"]
    return "python -c 'main()' --help", [sys.executable, "-c", "from laptime.cli import main; main()", "--help"]


def _time_once(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def _importtime(cmd: list[str], env: dict[str, str], cwd: str, top: int = 10) -> list[dict[str, Any]]:
    argv = [cmd[0], "-X", "importtime", *cmd[1:]]
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|", 2))
        rows.append({"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)})
    total = sum(r["self_us"] for r in rows)
    rows.sort(key=lambda r: -r["cumulative_us"])
    return [{"total_self_us": total, "modules": len(rows)}, *rows[:top]]


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--runs", type=int, help="timed runs per command (default 20, quick 5)")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    runs = args.runs or (5 if args.quick else 20)
    facts = _util.machine_facts(quick=args.quick)
    py = sys.executable
    module_label, module_cmd = _module_cmd()
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import click'": [py, "-c", "import click"],
        "laptime --help": _laptime_script(),
        module_label: module_cmd,
    }
    with tempfile.TemporaryDirectory(prefix="laptime-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["LAPTIME_HOME"] = str(Path(tmp) / ".laptime")
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(2):
            for cmd in commands.values():
                _time_once(cmd, env, tmp)
        for _ in range(runs):
            for name, cmd in commands.items():
                samples[name].append(_time_once(cmd, env, tmp))
        imports = _importtime(module_cmd, env, tmp)

    med = {name: _util.median(values) for name, values in samples.items()}
    own_ms = med["laptime --help"] - med["python -c 'import click'"]
    budget = _util.Budget(
        "laptime --help wall time", med["laptime --help"], BUDGET_MS, "ms", note=f"laptime's own share {own_ms:.1f} ms"
    )

    if args.json:
        _util.emit_json(
            {
                "bench": "cli_help",
                "machine": facts,
                "runs": runs,
                "commands": {name: " ".join(cmd) for name, cmd in commands.items()},
                "importtime_cmd": " ".join(module_cmd),
                "median_ms": med,
                "samples_ms": samples,
                "laptime_own_ms": own_ms,
                "importtime_top": imports,
                "budget": budget.to_json(),
            }
        )
        return 0

    print(f"== laptime --help: {runs} timed runs per command after 2 warm-ups, interleaved")
    _util.print_facts(facts)
    base = med["python -c pass"]
    rows = [
        [name, f"{med[name]:.1f}", _util.spread(values), f"{med[name] - base:+.1f}", str(len(values))]
        for name, values in samples.items()
    ]
    print(_util.table(rows, ["command", "median ms", "min..max ms", "vs python -c pass", "n"]))
    print(f"laptime's own cost (laptime --help minus import click): {own_ms:.1f} ms")
    summary, *top = imports
    print(
        f"\n-X importtime behind `python {' '.join(module_cmd[1:])}`: "
        f"{summary['modules']} modules, {summary['total_self_us'] / 1000:.1f} ms in imports; top 10 cumulative:"
    )
    print(
        _util.table(
            [[r["module"], f"{r['cumulative_us'] / 1000:.1f}", f"{r['self_us'] / 1000:.1f}"] for r in top],
            ["module", "cumulative ms", "self ms"],
        )
    )
    print(budget.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
