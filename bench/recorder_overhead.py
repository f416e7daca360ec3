"""Recorder overhead: one phase enter+exit, events written, vs an OpenTelemetry SDK span.

Budget (DESIGN.md, "Performance budgets"): a laptime phase enter+exit, with its events
appended to the log, costs at most 0.28 (goal 0.2) of an OpenTelemetry SDK span
(SimpleSpanProcessor, no-op exporter), on both wall and CPU time, measured side by side
in the same process.

In ONE process, rounds of ``--spans`` spans are interleaved (the order rotates each
round, so drift and noise hit every variant alike):

  laptime-buffered      ``with run.phase("p"):`` on ``Recorder(flush_interval=0.2)`` (the
                        default); the round ends with ``recorder.flush()`` inside the timed
                        region, so the bytes really reach the log
  laptime-writethrough  the same with ``flush_interval=0``: one write(2) per event
  laptime-spaced        laptime-buffered on a clock that moves 1.3 ms between readings, so
                        every event falls in a new millisecond, as when phases are spaced
                        out in real use (the id and timestamp caches miss every time)
  otel-simple           ``tracer.start_as_current_span("p")``, ``SimpleSpanProcessor`` on a
                        no-op ``SpanExporter``
  otel-batch            the same with ``BatchSpanProcessor``; the round ends with
                        ``force_flush()`` inside the timed region
  null-with             ``with contextlib.nullcontext():`` - the loop's own cost, for scale

The budget compares laptime-buffered with otel-simple, as the ratio of their medians
over the rounds, on wall time AND on CPU time of the whole process (all threads: the
log's flushing thread and OTel's batch worker count); both must pass. On a busy machine
CPU time is the steadier of the two. The per-round ratio (each round's two variants ran
back to back) is printed beside them, as a check on drift. Afterwards the log is read
back and must hold exactly the expected number of events (two per phase, plus the run's
start and end), and the no-op exporters must have seen every span.

    .venv/bin/python bench/recorder_overhead.py [--quick] [--json] [--profile]
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import io
import itertools
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # after the path tweak, so the script runs from anywhere

BUDGET_RATIO = 0.28  # DESIGN.md: the line an issue must reach
GOAL_RATIO = 0.2  # DESIGN.md: the goal


def _otel(batch: bool) -> tuple[Any, Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class NoopExporter(SpanExporter):
        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    exporter = NoopExporter()
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider, provider.get_tracer("laptime-bench"), exporter


def _count_lines(root: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in sorted((root / "log").glob("*.jsonl")))


def run_bench(rounds: int, spans: int, profile: bool) -> dict[str, Any]:
    import laptime

    tmp = tempfile.TemporaryDirectory(prefix="laptime-bench-")
    root = Path(tmp.name)
    # Phases spaced out in time, as in real use, miss the recorder's per-millisecond
    # cache of id and timestamp text on every event. A C-level counter as the clock
    # (no Python call) puts each reading 1.3 ms after the last, from now on.
    spaced_clock = itertools.count(time.time_ns(), 1_300_017).__next__
    recorders = {
        "laptime-buffered": laptime.Recorder(home=root / "buffered", flush_interval=0.2),
        "laptime-writethrough": laptime.Recorder(home=root / "writethrough", flush_interval=0),
        "laptime-spaced": laptime.Recorder(home=root / "spaced", flush_interval=0.2, clock=spaced_clock),
    }
    runs = {name: rec.run("bench", runner="bench") for name, rec in recorders.items()}
    for run in runs.values():
        run.__enter__()
    otel = {"otel-simple": _otel(batch=False), "otel-batch": _otel(batch=True)}

    def laptime_round(name: str) -> Callable[[int], None]:
        run, rec = runs[name], recorders[name]

        def body(n: int) -> None:
            phase = run.phase
            for _ in range(n):
                with phase("p"):
                    pass
            rec.flush()

        return body

    def otel_round(name: str) -> Callable[[int], None]:
        provider, tracer, _ = otel[name]
        batch = name == "otel-batch"

        def body(n: int) -> None:
            start = tracer.start_as_current_span
            for _ in range(n):
                with start("p"):
                    pass
            if batch:
                provider.force_flush()

        return body

    def null_round(n: int) -> None:
        null = contextlib.nullcontext
        for _ in range(n):
            with null():
                pass

    bodies: dict[str, Callable[[int], None]] = {
        "laptime-buffered": laptime_round("laptime-buffered"),
        "laptime-writethrough": laptime_round("laptime-writethrough"),
        "laptime-spaced": laptime_round("laptime-spaced"),
        "otel-simple": otel_round("otel-simple"),
        "otel-batch": otel_round("otel-batch"),
        "null-with": null_round,
    }
    names = list(bodies)
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu_samples: dict[str, list[float]] = {name: [] for name in names}
    counts = dict.fromkeys(names, 0)

    # Warm-up: one untimed short round each (imports, first segment open, thread start).
    for name in names:
        bodies[name](min(spans, 2_000))
        counts[name] += min(spans, 2_000)

    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            c0, t0 = time.process_time_ns(), time.perf_counter_ns()
            bodies[name](spans)
            elapsed, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - c0
            samples[name].append(elapsed / spans / 1000)  # microseconds per span, wall
            cpu_samples[name].append(cpu / spans / 1000)  # CPU of the whole process (all threads)
            counts[name] += spans

    profile_text = ""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        bodies["laptime-buffered"](spans)
        profiler.disable()
        counts["laptime-buffered"] += spans
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        profile_text = out.getvalue()

    # Close everything, then check nothing was dropped (or skipped).
    for run in runs.values():
        run.__exit__(None, None, None)
    for rec in recorders.values():
        rec.close()
    checks = {}
    for name in recorders:
        expected = 2 * counts[name] + 2  # span_start + span_end per phase, plus the run's pair
        written = _count_lines(root / name.removeprefix("laptime-"))
        checks[name] = {"expected_events": expected, "written_events": written, "ok": written == expected}
    for name, (provider, _, exporter) in otel.items():
        provider.shutdown()
        checks[name] = {"expected_spans": counts[name], "exported_spans": exporter.spans}
        checks[name]["ok"] = exporter.spans == counts[name]
    log_bytes = {name: sum(p.stat().st_size for p in (root / name.removeprefix("laptime-")).rglob("*.jsonl"))
                 for name in recorders}  # fmt: skip
    tmp.cleanup()

    medians = {name: _util.median(values) for name, values in samples.items()}
    return {
        "rounds": rounds,
        "spans_per_round": spans,
        "samples_us": samples,
        "median_us": medians,
        "cpu_samples_us": cpu_samples,
        "cpu_median_us": {name: _util.median(values) for name, values in cpu_samples.items()},
        "checks": checks,
        "log_bytes": log_bytes,
        "profile": profile_text,
    }


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--rounds", type=int, help="timed rounds per variant (default 15, quick 3)")
        parser.add_argument("--spans", type=int, help="spans per round (default 20000, quick 2000)")
        parser.add_argument("--profile", action="store_true", help="cProfile one extra laptime-buffered round")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    rounds = args.rounds or (3 if args.quick else 15)
    spans = args.spans or (2_000 if args.quick else 20_000)
    facts = _util.machine_facts(quick=args.quick)
    result = run_bench(rounds, spans, args.profile)
    med = result["median_us"]
    ratios = {
        "buffered/otel-simple": med["laptime-buffered"] / med["otel-simple"],
        "buffered/otel-batch": med["laptime-buffered"] / med["otel-batch"],
        "writethrough/otel-simple": med["laptime-writethrough"] / med["otel-simple"],
        "writethrough/otel-batch": med["laptime-writethrough"] / med["otel-batch"],
        "spaced/otel-simple": med["laptime-spaced"] / med["otel-simple"],
    }
    cpu = result["cpu_median_us"]
    cpu_ratio = cpu["laptime-buffered"] / cpu["otel-simple"]

    # Per-round ratios too: each round's variants ran back to back, so these pair out drift.
    def per_round(samples: dict[str, list[float]]) -> list[float]:
        return [a / b for a, b in zip(samples["laptime-buffered"], samples["otel-simple"], strict=True)]

    paired, paired_cpu = per_round(result["samples_us"]), per_round(result["cpu_samples_us"])
    n = rounds * spans
    subject = "phase (buffered) / OTel span (simple, no-op)"

    def budget(clock: str, value: float, rounds_: list[float], limit: float, what: str) -> _util.Budget:
        note = (
            f"n={n:,} per variant in {rounds} rounds; per-round paired median {_util.median(rounds_):.3f}x, "
            f"{min(rounds_):.3f}..{max(rounds_):.3f}"
        )
        return _util.Budget(f"{what}: {subject}, {clock}", value, limit, "x", note=note)

    budgets = [
        budget("wall", ratios["buffered/otel-simple"], paired, BUDGET_RATIO, "budget"),
        budget("CPU", cpu_ratio, paired_cpu, BUDGET_RATIO, "budget"),
        budget("wall", ratios["buffered/otel-simple"], paired, GOAL_RATIO, "goal"),
        budget("CPU", cpu_ratio, paired_cpu, GOAL_RATIO, "goal"),
    ]
    load_after = _util.load_average()
    ok = all(c["ok"] for c in result["checks"].values())

    if args.json:
        _util.emit_json(
            {
                "bench": "recorder_overhead",
                "machine": facts,
                "rounds": rounds,
                "spans_per_round": spans,
                "median_us_per_span": med,
                "samples_us_per_span": result["samples_us"],
                "cpu_median_us_per_span": cpu,
                "cpu_ratio_buffered_otel_simple": cpu_ratio,
                "ratios": ratios,
                "paired_ratio_median": _util.median(paired),
                "paired_cpu_ratio_median": _util.median(paired_cpu),
                "load_avg_after": load_after,
                "checks": result["checks"],
                "log_bytes": result["log_bytes"],
                "budget": budgets[0].to_json(),  # wall time vs 0.28 (run_all.py's row)
                "budgets": [b.to_json() for b in budgets],
                "budget_passed_wall_and_cpu": budgets[0].passed and budgets[1].passed,
                "goal_passed_wall_and_cpu": budgets[2].passed and budgets[3].passed,
                "events_verified": ok,
            }
        )
        return 0 if ok else 1

    print(f"== recorder overhead: {rounds} rounds x {spans:,} spans per variant, interleaved, one process")
    _util.print_facts(facts)
    ref = med["otel-simple"]
    rows = [
        [
            name,
            _util.fmt(med[name]),
            _util.spread(values),
            f"{med[name] / ref:.3f}",
            _util.fmt(cpu[name]),
            f"{cpu[name] / cpu['otel-simple']:.3f}",
            str(len(values) * spans),
        ]
        for name, values in result["samples_us"].items()
    ]
    header = ["variant", "median us/span", "min..max", "vs otel-simple", "CPU us/span", "CPU vs otel", "n timed"]
    print(_util.table(rows, header))
    print("ratios: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    print(
        "log bytes written: "
        + ", ".join(f"{k} {v:,} ({v / result['checks'][k]['written_events']:.0f} B/event)"
                    for k, v in result["log_bytes"].items())
    )  # fmt: skip
    for name, check in result["checks"].items():
        status = "ok" if check["ok"] else "MISMATCH"
        detail = ", ".join(f"{k}={v:,}" for k, v in check.items() if k != "ok")
        print(f"verify {name}: {detail} -> {status}")
    print(f"load avg after the run: {load_after}")
    for line in budgets:
        print(line.line())
    both = "PASS" if budgets[0].passed and budgets[1].passed else "MISS"
    goal = "PASS" if budgets[2].passed and budgets[3].passed else "MISS"
    print(f"{both}  budget <= {BUDGET_RATIO} on wall AND CPU time; {goal}  goal <= {GOAL_RATIO} on both")
    if result["profile"]:
        print("\ncProfile of one laptime-buffered round (sorted by tottime):")
        print(result["profile"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
