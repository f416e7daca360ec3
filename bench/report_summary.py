"""``laptime report summary --json`` over 100k runs / 5M events, warm index.

Budget (DESIGN.md, "Performance budgets"): under 0.5 s for the whole process.

A log of ``--runs`` runs (default 100,000) of about 50 events each (5M events) is
generated with the real encoder into a store's day segments (300 runs a UTC day):
phases plan / implement / verify (30% fail and retry) / review, each with LLM spans
(span_start + usage + span_end; three models, two providers, some cache, a few with a
reported cost and a few estimated), tool spans, validations, file changes, a queue
sample and a checkpoint. The index is then built once (``laptime refresh``), and the
timed command is the whole process, as a user runs it:

    python -m laptime.cli report summary --json     (stdout to /dev/null)

run ``--repeat`` times (default 7) after one warm-up, each time right after a baseline
process that only starts Python and imports the CLI (``python -c "import laptime.cli"``),
so that both see the same machine load; the median wall time is the figure, and the
baseline's median says how much of it is interpreter start-up and imports. The command's
own ``index.update()`` finds nothing new (warm index). The warm-up is the first summary
after the index was built when the store is new: it prices every task and model and
fills the index's cost caches; its time is reported apart.

Then ``--repeat`` fresh processes time the stages of the summary in-process (imports
beyond the CLI, opening the index, the no-op update, each group of queries), and the
median of each stage is printed.

PYTHONDONTWRITEBYTECODE is dropped from the children's environment: with it set, every
module edited since its .pyc was written is compiled again in every run, which no
installed laptime does.

    .venv/bin/python bench/report_summary.py [--quick] [--json] [--runs N] [--keep DIR]

``--keep DIR`` keeps (and reuses) the generated store in DIR.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

BUDGET_S = 0.5
RUNS_PER_DAY = 300
_MODELS = (("claude-sonnet-4-5", "anthropic"), ("claude-haiku-4-5", "anthropic"), ("gpt-4o", "openai"))


class Generator:
    """Writes summary-shaped runs into a store's day segments, in time order."""

    def __init__(self, store: Any, seed: int = 42, start_us: int = 1_767_225_600_000_000) -> None:
        from laptime import events as ev
        from laptime.clock import format_timestamp, new_id

        self.ev, self.encode, self.new_id, self.fmt = ev, ev.encode, new_id, format_timestamp
        self.store = store
        self.rng = random.Random(seed)
        self.now_us = start_us
        self.runs = 0
        self.events = 0
        self._day = ""
        self._handle: Any = None

    def _stamp(self) -> tuple[str, str]:
        ns = self.now_us * 1000
        return self.new_id(ns), self.fmt(ns)

    def _tick(self, seconds: float) -> None:
        self.now_us += max(1, int(seconds * 1_000_000))

    def _write(self, event: Any) -> None:
        day = event.ts[:10]
        if day != self._day:
            if self._handle is not None:
                self._handle.close()
            self.store.ensure()
            self._handle = self.store.segment_path(day).open("ab", buffering=1 << 20)
            self._day = day
        self._handle.write(self.encode(event))
        self.events += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _span(self, run: str, parent: str, kind: str, name: str, seconds: float, **attrs: Any) -> str:
        span, ts = self._stamp()
        self._write(self.ev.SpanStart(v=1, id=span, ts=ts, run=run, parent=parent, span=span, kind=kind, name=name,
                                      attrs=attrs))  # fmt: skip
        self._tick(seconds)
        return span

    def _end(self, run: str, span: str, outcome: str = "completed", **attrs: Any) -> None:
        eid, ts = self._stamp()
        self._write(self.ev.SpanEnd(v=1, id=eid, ts=ts, run=run, span=span, outcome=outcome, attrs=attrs))
        self._tick(0.01)

    def _llm(self, run: str, parent: str) -> None:
        rng = self.rng
        model, provider = rng.choice(_MODELS)
        seconds = rng.uniform(2, 40)
        span = self._span(run, parent, "llm", model, seconds)
        anthropic = provider == "anthropic"
        cread = rng.choice((0, rng.randint(1_000, 30_000)))
        cwrite = rng.choice((0, 0, rng.randint(500, 10_000))) if anthropic else 0
        inp = rng.randint(500, 20_000) + (0 if anthropic else cread)
        eid, ts = self._stamp()
        self._write(self.ev.LlmUsage(
            v=1, id=eid, ts=ts, run=run, parent=span, span=span, provider=provider, model=model,
            input_tokens=inp, output_tokens=rng.randint(50, 3_000), cache_read_tokens=cread,
            cache_write_tokens=cwrite, input_includes_cache=not anthropic, latency_ms=round(seconds * 1000, 1),
            estimated=rng.random() < 0.05, cost_usd=round(rng.uniform(0.01, 0.2), 4) if rng.random() < 0.05 else None,
        ))  # fmt: skip
        self._end(run, span)

    def _phase(self, run: str, name: str, llm_calls: int, tools: int, **attrs: Any) -> str:
        phase = self._span(run, run, "phase", name, 0.5, **attrs)
        for _ in range(llm_calls):
            self._llm(run, phase)
        for _ in range(tools):
            tool = self._span(run, phase, "tool", "edit_file", self.rng.uniform(1, 30))
            self._end(run, tool)
        return phase

    def run(self) -> None:
        rng, ev = self.rng, self.ev
        run_id, ts = self._stamp()
        runner = rng.choice(("claude-code", "my-pipeline", "aidf"))
        self._write(ev.SpanStart(v=1, id=run_id, ts=ts, run=run_id, span=run_id, kind="run",
                                 name=f"task-{rng.randint(0, 2_000)}", attrs={"runner": runner}))  # fmt: skip
        self._tick(1)
        self._end(run_id, self._phase(run_id, "plan", 1, 0))
        for attempt in range(2):
            implement = self._phase(
                run_id, "implement", rng.randint(3, 5), 3, **({"retry_of": "verify"} if attempt else {})
            )
            for _ in range(3):
                path = f"src/module_{rng.randint(0, 300)}/file_{rng.randint(0, 30)}.py"
                self._tick(0.05)
                eid, ts = self._stamp()
                added, removed = rng.randint(0, 200), rng.randint(0, 80)
                self._write(ev.FileChange(v=1, id=eid, ts=ts, run=run_id, parent=implement, path=path,
                                          lines_added=added, lines_removed=removed))  # fmt: skip
            self._end(run_id, implement)
            verify = self._span(run_id, run_id, "phase", "verify", 0.5)
            passed = rng.random() > 0.3 or attempt == 1
            for command in ("pytest -q", "ruff check"):
                self._tick(rng.uniform(2, 40))
                eid, ts = self._stamp()
                self._write(ev.Validation(v=1, id=eid, ts=ts, run=run_id, parent=verify, command=command,
                                          passed=passed, exit_code=0 if passed else 1))  # fmt: skip
            self._end(run_id, verify, "completed" if passed else "failed")
            if passed:
                break
        changes = rng.random() < 0.1
        review = self._phase(run_id, "review", 1, 0)
        self._end(run_id, review, **({"source_outcome": "changes_requested"} if changes else {}))
        self._tick(0.1)
        eid, ts = self._stamp()
        self._write(ev.QueueSample(v=1, id=eid, ts=ts, run=run_id, parent=run_id, ready=2, active=1))
        eid, ts = self._stamp()
        self._write(ev.Checkpoint(v=1, id=eid, ts=ts, run=run_id, parent=run_id, commit=f"{rng.getrandbits(40):010x}"))
        outcome = rng.choices(("completed", "failed", "blocked"), (85, 10, 5))[0]
        self._end(run_id, run_id, outcome)
        self.runs += 1
        day_us = 86_400_000_000
        day_start = self.now_us - self.now_us % day_us
        slot = day_us // RUNS_PER_DAY
        self.now_us = max(self.now_us + 1_000_000, day_start + ((self.now_us - day_start) // slot + 1) * slot)


def prepare(root: Path, runs: int) -> dict[str, Any]:
    """Generate the log (unless already there) and build the index."""
    from laptime.index import Index, event_tables
    from laptime.store import Store

    store = Store(root / ".laptime")
    marker = root / f"generated-{runs}"
    gen_s = 0.0
    if not marker.exists():
        gen = Generator(store)
        t0 = time.perf_counter()
        for _ in range(runs):
            gen.run()
        gen.close()
        gen_s = time.perf_counter() - t0
        marker.write_text(str(gen.events))
    t0 = time.perf_counter()
    with Index(store) as index:
        index.update()
        ingest_s = time.perf_counter() - t0
        events = sum(index.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in event_tables())
        n_runs = index.query("SELECT COUNT(*) FROM runs")[0][0]
        llm = index.query("SELECT COUNT(*) FROM llm_calls")[0][0]
    return {"events": events, "runs": n_runs, "llm_calls": llm, "generate_s": gen_s, "index_s": ingest_s,
            "store": str(store.root)}  # fmt: skip


def _env(store_root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "LAPTIME_HOME": store_root}


def _timed_run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def time_summary(store_root: str, repeat: int) -> dict[str, Any]:
    """The first run, then ``repeat`` runs each right after a baseline (start-up + CLI import)."""
    env = _env(store_root)
    cmd = [sys.executable, "-m", "laptime.cli", "report", "summary", "--json"]
    if not _has_main():
        cmd = [sys.executable, "-c", "from laptime.cli import main; main()", "report", "summary", "--json"]
    baseline_cmd = [sys.executable, "-c", "import laptime.cli"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm-up (and page cache)
    first = time.perf_counter() - t0
    samples, baseline = [], []
    for _ in range(repeat):
        baseline.append(_timed_run(baseline_cmd, env))
        samples.append(_timed_run(cmd, env))
    return {"first_s": first, "samples_s": samples, "baseline_s": baseline, "output_bytes": len(out.stdout)}


# The stages of a warm, unfiltered summary, timed in a fresh process (see time_stages).
_STAGES = r"""
import json, os, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import laptime.cli
mark("import laptime.cli (the baseline's part)")
import laptime.analysis.summary as summary
from laptime.analysis.cost import CostCalculator
from laptime.config import load_config
from laptime.index import Index
from laptime.pricing import PriceBook
from laptime.store import find_store
mark("import the summary's modules (index, cost, pricing, config)")
store = find_store(os.environ["LAPTIME_HOME"])
book = PriceBook.from_config(load_config(store))
mark("read the config")
index = Index(store)
mark("open the index")
index.update()
mark("update: nothing new")
now = time.time_ns() // 1000
parts = summary._store_wide(index, now_us=now, crashed_after_us=30 * 60 * 1_000_000)
mark("outcomes, durations, TVc, phases, rework, files (agg_*, rank_buckets)")
costs = CostCalculator(index, book)
models = costs.by_model()
costs.total()
mark("tokens and cost per model (model_cost_cache, agg_llm)")
[parts.p95_latency(m) for m in models]
mark("p95 latency per model (llm_calls_latency)")
costs.by_task(summary.TOP_TASKS)
mark("top tasks (task_cost_cache)")
index.close()
mark("close")
print(json.dumps([(name, t - prev) for (name, t), (_, prev) in zip(marks[1:], marks[:-1])]))
"""


def time_stages(store_root: str, repeat: int) -> list[tuple[str, float]]:
    """Median seconds of each stage of a warm unfiltered summary, each run in a fresh process."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _STAGES], env=_env(store_root), capture_output=True, check=True)
        runs.append(json.loads(out.stdout))
    return [(name, _util.median([run[i][1] for run in runs])) for i, (name, _) in enumerate(runs[0])]


def _has_main() -> bool:
    import importlib.util

    return importlib.util.find_spec("laptime.cli.__main__") is not None


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--runs", type=int, default=100_000, help="runs to generate (about 50 events each)")
        parser.add_argument("--repeat", type=int, default=7, help="timed runs of the command")
        parser.add_argument("--keep", help="keep (and reuse) the generated store in this folder")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    runs = 2_000 if args.quick and args.runs == 100_000 else args.runs
    facts = _util.machine_facts(quick=args.quick)
    with tempfile.TemporaryDirectory(prefix="laptime-bench-summary-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        data = prepare(root, runs)
        repeat = 3 if args.quick else args.repeat
        timing = time_summary(data["store"], repeat)
        stages = time_stages(data["store"], repeat)
    samples, baseline = timing["samples_s"], timing["baseline_s"]
    wall = _util.median(samples)
    budget = _util.Budget("report summary --json, whole process", wall, BUDGET_S, "s",
                          note=f"{data['runs']:,} runs, {data['events']:,} events, warm index")  # fmt: skip
    payload = {"machine": facts, "data": data, **timing, "median_s": wall, "baseline_median_s": _util.median(baseline),
               "stages_median_s": stages, "budget": budget.to_json()}  # fmt: skip
    if args.json:
        _util.emit_json(payload)
    else:
        _util.print_facts(facts)
        print(f"data: {data['runs']:,} runs, {data['events']:,} events ({data['llm_calls']:,} llm calls); "
              f"generated in {data['generate_s']:.1f} s, indexed in {data['index_s']:.1f} s")  # fmt: skip
        print(f"first run: {timing['first_s']:.3f} s (after a rebuild it prices every task and model)")
        print(f"report summary --json: median {wall:.3f} s over {len(samples)} runs ({_util.spread(samples)} s), "
              f"{timing['output_bytes']:,} bytes of JSON")  # fmt: skip
        print(f"baseline (start-up + import laptime.cli), interleaved: median {_util.median(baseline):.3f} s "
              f"({_util.spread(baseline)} s)")  # fmt: skip
        print(f"stages of a warm summary, in-process, median of {repeat} fresh processes:")
        for name, seconds in stages:
            print(f"  {seconds * 1000:7.1f} ms  {name}")
        print(budget.line())
    return 0 if budget.passed else 1


if __name__ == "__main__":
    sys.exit(main())
