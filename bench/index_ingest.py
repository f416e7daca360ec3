"""Index ingest: events per second from the JSONL log into SQLite.

Budget (DESIGN.md, "Performance budgets"): at least 500k events/s from log to SQLite on
one core.

A realistic log is generated straight into a temporary store's day segments with the
real encoder (``laptime.events.encode``), ids (``laptime.clock.new_id``) and timestamps:
many runs shaped like ``laptime demo`` (phases, tasks, tools and llm spans as
span_start/span_end pairs, llm usage, validations with retries, file changes,
milestones, queue samples, a checkpoint), about 300 runs per UTC day. Then:

  1. full rebuild: ``Index(store)`` + ``rebuild()`` + ``close()`` on a fresh index file,
     as ``laptime refresh`` does; median of 3
  2. incremental: append 10% more events (later runs: the last segment grows and new
     days appear), then ``update()`` on a copy of the base index; median of 3
  3. no-op: ``update()`` when nothing is new; median of 20

Wall and CPU time are both reported (the machine may be shared; CPU time is this
process alone). Row counts in the index are checked against what was generated.

    .venv/bin/python bench/index_ingest.py [--quick] [--json] [--events N] [--profile]
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

BUDGET_EVENTS_PER_S = 500_000
RUNS_PER_DAY = 300
_SONNET, _HAIKU, _GPT = "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o"


class LogGenerator:
    """Writes demo-like runs into a store's day segments, in time order."""

    def __init__(self, store: Any, seed: int = 42, start_us: int = 1_767_225_600_000_000) -> None:
        from laptime import events as ev
        from laptime.clock import format_timestamp, new_id

        self.ev = ev
        self.encode = ev.encode
        self.new_id = new_id
        self.fmt = format_timestamp
        self.store = store
        self.rng = random.Random(seed)
        self.now_us = start_us  # 2026-01-01T00:00:00Z
        self.counts: dict[str, int] = {}
        self.runs = 0
        self.events = 0
        self._files: dict[str, Any] = {}
        self._ts_ns = 0
        self._ts = ""
        self.last_outcome = "completed"  # of the last span closed: verify retries on "failed"

    # -- plumbing -------------------------------------------------------------------

    def _tick(self, seconds: float) -> None:
        self.now_us += max(1, int(seconds * 1_000_000))

    def _stamp(self) -> tuple[str, str]:
        ns = self.now_us * 1000
        if ns != self._ts_ns:
            self._ts_ns, self._ts = ns, self.fmt(ns)
        return self.new_id(ns), self._ts

    def _write(self, event: Any) -> None:
        line = self.encode(event)
        day = event.ts[:10]
        handle = self._files.get(day)
        if handle is None:
            self.store.ensure()
            handle = self._files[day] = self.store.segment_path(day).open("ab", buffering=1 << 20)
        handle.write(line)
        self.events += 1
        name = type(event).__name__
        self.counts[name] = self.counts.get(name, 0) + 1

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    # -- event shapes ---------------------------------------------------------------

    def _span(self, run: str, parent: str, kind: str, name: str, body: Callable[[str], None], **attrs: Any) -> None:
        span, ts = self._stamp()
        self._write(self.ev.SpanStart(v=1, id=span, ts=ts, run=run, parent=parent, span=span, kind=kind, name=name,
                                      attrs=attrs))  # fmt: skip
        outcome = "completed"
        try:
            body(span)
        except _VerifyFailedError:
            outcome = "failed"
        self.last_outcome = outcome
        self._tick(0.001)
        eid, ts = self._stamp()
        self._write(self.ev.SpanEnd(v=1, id=eid, ts=ts, run=run, span=span, outcome=outcome,
                                    error="exit code 1" if outcome == "failed" else None))  # fmt: skip

    def _llm(self, run: str, parent: str, model: str, worker: str | None) -> None:
        rng = self.rng
        seconds = rng.uniform(4, 60)
        anthropic = model != _GPT
        inp, out = rng.randint(800, 16_000), rng.randint(100, 2_500)
        cache_read = rng.choice((0, rng.randint(2_000, 20_000)))
        cache_write = rng.choice((0, 0, rng.randint(500, 18_000))) if anthropic else 0

        def body(span: str) -> None:
            self._tick(seconds)
            eid, ts = self._stamp()
            self._write(
                self.ev.LlmUsage(
                    v=1, id=eid, ts=ts, run=run, parent=span, span=span,
                    provider="anthropic" if anthropic else "openai", model=model,
                    input_tokens=inp, output_tokens=out, cache_read_tokens=cache_read,
                    cache_write_tokens=cache_write, input_includes_cache=not anthropic,
                    latency_ms=seconds * 1000, worker=worker,
                )
            )  # fmt: skip

        self._span(run, parent, "llm", model, body, **({"worker": worker} if worker else {}))

    def _point(self, make: Callable[[str, str], Any]) -> None:
        self._tick(0.05)
        eid, ts = self._stamp()
        self._write(make(eid, ts))

    def _worker(self, run: str, parent: str, n: int) -> None:
        rng, worker = self.rng, f"worker-{n}"

        def body(task: str) -> None:
            for _ in range(rng.randint(1, 4)):
                self._llm(run, task, rng.choice((_SONNET, _SONNET, _HAIKU)), worker)
                self._span(run, task, "tool", "edit_file", lambda _s: self._tick(rng.uniform(5, 90)), worker=worker)
            for _ in range(rng.randint(1, 3)):
                path = f"src/module_{rng.randint(0, 400)}/file_{rng.randint(0, 40)}.py"
                added, removed = rng.randint(0, 200), rng.randint(0, 80)
                self._point(lambda i, ts, path=path, added=added, removed=removed: self.ev.FileChange(
                    v=1, id=i, ts=ts, run=run, parent=task, path=path, change=rng.choice(("modified", "created")),
                    lines_added=added, lines_removed=removed))  # fmt: skip

        self._span(run, parent, "task", f"{worker}: subtask {rng.randint(1, 99)}", body, worker=worker)

    def run(self) -> None:
        """One run, shaped like ``laptime demo`` with random sizes (about 60-200 events)."""
        rng, ev = self.rng, self.ev
        run_id, ts = self._stamp()
        goals = rng.randint(1, 4)
        attrs = {"runner": rng.choice(("claude-code", "my-pipeline", "laptime-demo")), "repo": "acme/web"}
        self._write(ev.SpanStart(v=1, id=run_id, ts=ts, run=run_id, span=run_id, kind="run",
                                 name=f"task {self.runs}: fix something", attrs=attrs))  # fmt: skip
        for g in range(goals):
            self._point(lambda i, ts, g=g: ev.Milestone(v=1, id=i, ts=ts, run=run_id, parent=run_id,
                                                        name=f"goal {g}", status="planned", index=g))  # fmt: skip

        def plan(phase: str) -> None:
            self._span(run_id, phase, "task", "director", lambda t: self._llm(run_id, t, _SONNET, "director"),
                       worker="director")  # fmt: skip
            self._point(lambda i, ts: ev.QueueSample(v=1, id=i, ts=ts, run=run_id, parent=phase, ready=3, waiting=1))

        def implement(phase: str) -> None:
            for n in range(1, rng.randint(2, 4) + 1):
                self._worker(run_id, phase, n)

        def verify(phase: str) -> None:
            passed = rng.random() > 0.3
            for command, tier in (("pytest -q", "unit"), ("ruff check", "lint")):
                seconds = rng.uniform(2, 60)
                self._span(run_id, phase, "validation", command, lambda _s, s=seconds: self._tick(s), tier=tier)
                self._point(lambda i, ts, c=command, t=tier, s=seconds: ev.Validation(
                    v=1, id=i, ts=ts, run=run_id, parent=phase, command=c, passed=passed,
                    exit_code=0 if passed else 1, duration_ms=s * 1000, tier=t))  # fmt: skip
            if not passed:
                raise _VerifyFailedError

        self._span(run_id, run_id, "phase", "plan", plan)
        for attempt in range(3):
            self._span(run_id, run_id, "phase", "implement", implement, **({"retry_of": "verify"} if attempt else {}))
            self._span(run_id, run_id, "phase", "verify", verify)
            if self.last_outcome == "completed":
                break
        self._span(run_id, run_id, "phase", "review",
                   lambda p: self._span(run_id, p, "task", "strategist: review",
                                        lambda t: self._llm(run_id, t, _GPT, "strategist")))  # fmt: skip
        for g in range(goals):
            self._point(lambda i, ts, g=g: ev.Milestone(v=1, id=i, ts=ts, run=run_id, parent=run_id,
                                                        name=f"goal {g}", status="completed", index=g))  # fmt: skip
        self._point(lambda i, ts: ev.Checkpoint(v=1, id=i, ts=ts, run=run_id, parent=run_id,
                                                commit=f"{rng.getrandbits(40):010x}", verified=True))  # fmt: skip
        self._tick(1)
        eid, ts = self._stamp()
        self._write(ev.SpanEnd(v=1, id=eid, ts=ts, run=run_id, span=run_id, outcome="completed"))
        self.runs += 1
        # Spread runs over days: RUNS_PER_DAY a day, whatever their simulated length.
        day_us = 86_400_000_000
        day_start = self.now_us - self.now_us % day_us
        slot = day_us // RUNS_PER_DAY
        self.now_us = max(self.now_us + slot // 4, day_start + ((self.now_us - day_start) // slot + 1) * slot)

    def generate(self, n_events: int) -> None:
        """Write whole runs until at least ``n_events`` events have been written."""
        target = self.events + n_events
        while self.events < target:
            self.run()


class _VerifyFailedError(Exception):
    pass


def _index_counts(store: Any) -> tuple[int, int]:
    from laptime.index import Index, event_tables

    with Index(store) as index:
        total = sum(index.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in event_tables())
        runs = index.query("SELECT COUNT(*) FROM runs")[0][0]
    return total, runs


def _remove_index(store: Any) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(str(store.index_path) + suffix)
        if path.exists():
            path.unlink()


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def run_bench(n_events: int, profile: bool) -> dict[str, Any]:
    from laptime.index import Index
    from laptime.store import Store

    tmp = tempfile.TemporaryDirectory(prefix="laptime-bench-")
    store = Store(Path(tmp.name) / ".laptime")
    gen = LogGenerator(store)
    gen_wall, _, _ = _timed(lambda: gen.generate(n_events))
    gen.close()
    base_events, base_runs = gen.events, gen.runs
    base_segments = len(store.segments())
    base_bytes = sum(p.stat().st_size for p in store.segments())

    # 1. full rebuild, on a fresh index file each time (laptime refresh)
    def rebuild() -> Any:
        with Index(store) as index:
            return index.rebuild()

    rebuilds = []
    for _ in range(3):
        _remove_index(store)
        wall, cpu, stats = _timed(rebuild)
        rebuilds.append({"wall_s": wall, "cpu_s": cpu, "events": stats.events, "bad_lines": len(stats.bad_lines)})
    indexed, indexed_runs = _index_counts(store)
    profile_text = ""
    if profile:
        _remove_index(store)
        profiler = cProfile.Profile()
        profiler.enable()
        rebuild()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        profile_text = out.getvalue()
    base_index = Path(tmp.name) / "base-index.sqlite"
    shutil.copyfile(store.index_path, base_index)  # closed: WAL checkpointed into the main file

    # 2. incremental: 10% more, appended later in time
    gen.generate(n_events // 10)
    gen.close()
    added = gen.events - base_events
    increments = []
    for _ in range(3):
        _remove_index(store)
        shutil.copyfile(base_index, store.index_path)
        index = Index(store)
        wall, cpu, stats = _timed(index.update)
        index.close()
        increments.append({"wall_s": wall, "cpu_s": cpu, "events": stats.events})
    total_indexed, total_runs = _index_counts(store)

    # 3. no-op update
    noops = []
    with Index(store) as index:
        for _ in range(20):
            wall, cpu, stats = _timed(index.update)
            noops.append({"wall_s": wall, "cpu_s": cpu, "events": stats.events})
    all_segments = len(store.segments())
    tmp.cleanup()

    checks = {
        "rebuild_events": (rebuilds[0]["events"], base_events),
        "rebuild_rows": (indexed, base_events),
        "rebuild_runs": (indexed_runs, base_runs),
        "increment_events": (increments[0]["events"], added),
        "final_rows": (total_indexed, gen.events),
        "final_runs": (total_runs, gen.runs),
        "noop_events": (max(n["events"] for n in noops), 0),
    }
    return {
        "events": base_events,
        "runs": base_runs,
        "segments": base_segments,
        "log_bytes": base_bytes,
        "bytes_per_event": base_bytes / base_events,
        "mix": dict(sorted(gen.counts.items(), key=lambda kv: -kv[1])),
        "generate_s": gen_wall,
        "rebuilds": rebuilds,
        "added_events": added,
        "segments_after_append": all_segments,
        "increments": increments,
        "noops": noops,
        "checks": {k: {"got": a, "expected": b, "ok": a == b} for k, (a, b) in checks.items()},
        "profile": profile_text,
    }


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--events", type=int, help="events in the base log (default 1,000,000; quick 50,000)")
        parser.add_argument("--profile", action="store_true", help="cProfile one extra full rebuild")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    n_events = args.events or (50_000 if args.quick else 1_000_000)
    facts = _util.machine_facts(quick=args.quick)
    r = run_bench(n_events, args.profile)

    def rates(samples: list[dict[str, Any]], key: str) -> list[float]:
        return [s["events"] / s[key] for s in samples]

    rebuild_rate = _util.median(rates(r["rebuilds"], "wall_s"))
    rebuild_cpu_rate = _util.median(rates(r["rebuilds"], "cpu_s"))
    inc_rate = _util.median(rates(r["increments"], "wall_s"))
    inc_cpu_rate = _util.median(rates(r["increments"], "cpu_s"))
    noop_ms = _util.median([s["wall_s"] * 1000 for s in r["noops"]])
    budgets = [
        _util.Budget("index rebuild", rebuild_rate, BUDGET_EVENTS_PER_S, "events/s", higher_is_better=True,
                     note=f"CPU-time rate {_util.fmt(rebuild_cpu_rate)}/s"),
        _util.Budget("incremental update", inc_rate, BUDGET_EVENTS_PER_S, "events/s", higher_is_better=True,
                     note=f"CPU-time rate {_util.fmt(inc_cpu_rate)}/s"),
    ]  # fmt: skip
    ok = all(c["ok"] for c in r["checks"].values())

    if args.json:
        _util.emit_json(
            {
                "bench": "index_ingest",
                "machine": facts,
                **{k: v for k, v in r.items() if k != "profile"},
                "rebuild_events_per_s": rebuild_rate,
                "rebuild_cpu_events_per_s": rebuild_cpu_rate,
                "increment_events_per_s": inc_rate,
                "increment_cpu_events_per_s": inc_cpu_rate,
                "noop_update_ms": noop_ms,
                "budgets": [b.to_json() for b in budgets],
                "counts_verified": ok,
            }
        )
        return 0 if ok else 1

    mb = r["log_bytes"] / 1e6
    print(
        f"== index ingest: {r['events']:,} events, {r['runs']:,} runs, {r['segments']} day segments, "
        f"{mb:,.0f} MB ({r['bytes_per_event']:.0f} B/event); generated in {r['generate_s']:.1f} s"
    )
    _util.print_facts(facts)
    print("mix: " + ", ".join(f"{k} {v / sum(r['mix'].values()):.0%}" for k, v in r["mix"].items()))
    rows = []
    for label, samples in (("full rebuild", r["rebuilds"]), ("incremental +10%", r["increments"])):
        walls = [s["wall_s"] for s in samples]
        rows.append([
            label,
            f"{samples[0]['events']:,}",
            str(len(samples)),
            f"{_util.median(walls):.3f}",
            _util.spread(walls),
            _util.fmt(_util.median(rates(samples, "wall_s"))),
            _util.fmt(_util.median(rates(samples, "cpu_s"))),
            f"{_util.median(rates(samples, 'wall_s')) / BUDGET_EVENTS_PER_S:.2f}",
        ])  # fmt: skip
    walls = [s["wall_s"] for s in r["noops"]]
    rows.append(["no-op update", "0", str(len(walls)), f"{noop_ms / 1000:.4f}", _util.spread(walls), "-", "-", "-"])
    print(
        _util.table(
            rows, ["pass", "events", "n", "median s", "min..max s", "events/s (wall)", "events/s (cpu)", "vs 500k"]
        )
    )
    print(f"no-op update: median {noop_ms:.2f} ms over {r['segments_after_append']} segments")
    for name, check in r["checks"].items():
        print(f"verify {name}: {check['got']:,} == {check['expected']:,} -> {'ok' if check['ok'] else 'MISMATCH'}")
    for budget in budgets:
        print(budget.line())
    if r["profile"]:
        print("\ncProfile of one full rebuild (sorted by tottime):")
        print(r["profile"])
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.pop("LAPTIME_HOME", None)
    sys.exit(main())
