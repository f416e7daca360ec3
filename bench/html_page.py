"""The HTML run page of a 5,000-span run: its size, how long Python takes to write it, and
how long headless Chromium takes to load it.

Budget (issue 11): a 5,000-span run's page stays under 2 MB and renders in under 1 s.

The run is the demo run (``laptime demo`` in a temporary store) with its spans replaced by
5,000 generated ones: 20 phases, each with batches of 8 parallel tasks on workers w1..w8
(one straggler per batch), and LLM calls and tool calls inside the tasks, every 25th span
failed; the critical path runs through each batch's straggler. The page is
``render_run_page(detail, marks)``, exactly what ``laptime report html`` writes.

- size: bytes of the UTF-8 page;
- write: wall and CPU (process) time of ``render_run_page``, median of ``--rounds``;
- render: Chromium (Debian's /usr/bin/chromium via Playwright) navigation start to the end of
  the load event (``PerformanceNavigationTiming.loadEventEnd``) of the page from a file,
  median of ``--rounds`` (default 7, quick 5), each in a fresh tab, interleaved with a blank
  page of the same way in, whose load time is the browser's floor (reported as the ratio);
  and the renderer's main-thread task time over the load (CDP ``Performance.getMetrics``
  TaskDuration), which a loaded machine inflates less than the wall time.

    .venv/bin/python bench/html_page.py [--quick] [--json] [--rounds N] [--keep PATH]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec

import _util  # after the path tweak, so the script runs from anywhere
from laptime.analysis.results import RunDetail, SpanDetail
from laptime.clock import parse_timestamp_us, timestamp_from_us
from laptime.report.html import RunMarks, StragglerMark, render_run_page

SPANS = 5_000
PHASES = 20
WORKERS = 8
SIZE_BUDGET_MB = 2.0
RENDER_BUDGET_MS = 1000.0
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _demo_detail(tmp: Path) -> RunDetail:
    from click.testing import CliRunner

    from laptime.cli import cli

    home = str(tmp / ".laptime")
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", home, "demo"]).exit_code == 0
    shown = runner.invoke(cli, ["--home", home, "report", "show", "--json", "latest"])
    if shown.exit_code != 0:
        listed = runner.invoke(cli, ["--home", home, "report", "list", "--json"])
        run_id = msgspec.json.decode(listed.stdout)["runs"][0]["run_id"]
        shown = runner.invoke(cli, ["--home", home, "report", "show", run_id, "--json"])
    return msgspec.json.decode(shown.stdout, type=RunDetail)


def _span(  # noqa: PLR0917 - a generator's row builder, called positionally in three places
    i: int, kind: str, name: str, parent: str | None, t0: int, start_ms: int, ms: int, worker: str | None
) -> SpanDetail:
    start = t0 + start_ms * 1000
    return SpanDetail(
        span_id=f"s{i:05d}",
        parent_id=parent,
        depth=1 if kind == "phase" else 2,
        kind=kind,
        name=name,
        started_at=timestamp_from_us(start),
        ended_at=timestamp_from_us(start + ms * 1000),
        duration_ms=ms,
        outcome="failed" if i % 25 == 0 else "completed",
        error=None,
        attrs={"worker": worker} if worker else {},
    )


def generated_run(base: RunDetail, spans: int = SPANS) -> tuple[RunDetail, RunMarks]:
    """The demo run with ``spans`` generated spans (see the module's docstring), and its marks."""
    t0 = parse_timestamp_us(base.started_at)
    per_phase = spans // PHASES - 1  # spans inside each phase
    out: list[SpanDetail] = []
    critical: set[str] = set()
    stragglers: list[StragglerMark] = []
    clock_ms = 0
    i = 0
    for p in range(PHASES):
        phase_start = clock_ms
        phase_id = f"s{i:05d}"
        phase_index = len(out)
        out.append(_span(i, "phase", f"phase {p}", None, t0, phase_start, 0, None))  # its length is set below
        i += 1
        made = 0
        batch = 0
        while made < per_phase:
            ends = []
            for w in range(WORKERS):
                if made >= per_phase:
                    break
                length = 20_000 + ((i * 7919) % 13) * 1_000 + (30_000 if w == batch % WORKERS else 0)
                task = _span(i, "task", f"task {p}.{batch}.{w}", phase_id, t0, clock_ms, length, f"w{w + 1}")
                out.append(task)
                ends.append((length, task.span_id))
                i += 1
                made += 1
                inner = clock_ms
                for kind in ("llm", "tool"):
                    if made >= per_phase:
                        break
                    out.append(_span(i, kind, f"{kind} {i}", task.span_id, t0, inner, length // 3, f"w{w + 1}"))
                    inner += length // 3
                    i += 1
                    made += 1
            ends.sort()
            critical.add(ends[-1][1])
            if len(ends) > 1:
                stragglers.append(StragglerMark(ends[-1][1], f"phase {p} batch {batch}", ends[-1][0] - ends[-2][0]))
            clock_ms += ends[-1][0]
            batch += 1
        out[phase_index] = msgspec.structs.replace(
            out[phase_index],
            ended_at=timestamp_from_us(t0 + clock_ms * 1000),
            duration_ms=clock_ms - phase_start,
        )
    detail = msgspec.structs.replace(
        base, spans=out, total_duration_ms=clock_ms, ended_at=timestamp_from_us(t0 + clock_ms * 1000)
    )
    return detail, RunMarks(critical=frozenset(critical), stragglers=tuple(stragglers))


def _load_ms(browser: Any, url: str) -> tuple[float, float]:
    """Navigation start to the end of the load event (ms), and the renderer's main-thread task
    time over the load (CDP ``Performance.getMetrics`` TaskDuration, ms: steadier under load)."""
    page = browser.new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url, wait_until="load")
    ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    page.close()
    if errors:
        msg = f"console errors on {url}: {errors[:3]}"
        raise RuntimeError(msg)
    return float(ms), (after["TaskDuration"] - before.get("TaskDuration", 0.0)) * 1000


def main() -> int:
    def extra(parser: Any) -> None:
        parser.add_argument("--rounds", type=int, help="timed rounds (default 7, quick 5)")
        parser.add_argument("--keep", type=Path, help="also write the generated page here")

    args = _util.parse_args(__doc__.splitlines()[0], extra)
    rounds = args.rounds or (5 if args.quick else 7)
    facts = _util.machine_facts(quick=args.quick)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="laptime-bench-") as tmp_name:
        tmp = Path(tmp_name)
        detail, marks = generated_run(_demo_detail(tmp))
        drawn = sum(1 for s in detail.spans if s.kind != "run")
        if len(detail.spans) != SPANS:
            print(f"generated {len(detail.spans)} spans, not {SPANS}", file=sys.stderr)
            return 1
        write_wall, write_cpu = [], []
        page = ""
        for _ in range(rounds):
            w0, c0 = time.perf_counter(), time.process_time()
            page = render_run_page(detail, marks)
            write_wall.append((time.perf_counter() - w0) * 1000)
            write_cpu.append((time.process_time() - c0) * 1000)
        chart = page[page.index('<svg id="waterfall"') :]
        bars = chart[: chart.index("</svg>")].count('<rect class="bar ')
        if bars != drawn:
            print(f"the page draws {bars} bars for {drawn} spans", file=sys.stderr)
            return 1
        path = tmp / "run.html"
        path.write_text(page, encoding="utf-8")
        blank = tmp / "blank.html"
        blank.write_text("<!DOCTYPE html><html><head><title>blank</title></head><body></body></html>\n")
        if args.keep:
            args.keep.write_text(page, encoding="utf-8")
        size = len(page.encode())
        render: list[float] = []
        floor: list[float] = []
        render_task: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            _load_ms(browser, path.as_uri())  # warm-up: the browser's own first-page cost
            for _ in range(rounds):
                floor.append(_load_ms(browser, blank.as_uri())[0])
                load, task = _load_ms(browser, path.as_uri())
                render.append(load)
                render_task.append(task)
            browser.close()

    size_mb = size / 1_000_000
    render_ms = _util.median(render)
    budgets = [
        _util.Budget("run page size (5,000 spans)", size_mb, SIZE_BUDGET_MB, "MB"),
        _util.Budget(
            "run page render in Chromium",
            render_ms,
            RENDER_BUDGET_MS,
            "ms",
            note=f"{render_ms / _util.median(floor):.1f}x a blank page's {_util.fmt(_util.median(floor))} ms",
        ),
    ]
    if args.json:
        _util.emit_json(
            {
                "bench": "html_page",
                "machine": facts,
                "rounds": rounds,
                "spans": SPANS,
                "bytes": size,
                "write_ms": {"wall": write_wall, "cpu": write_cpu},
                "render_ms": render,
                "render_main_thread_task_ms": render_task,
                "blank_ms": floor,
                "budgets": [b.to_json() for b in budgets],
            }
        )
        return 0
    print(f"== HTML run page of {SPANS:,} spans: {rounds} rounds")
    _util.print_facts(facts)
    rows = [
        ["page size", f"{size:,} B", "", "1"],
        [
            "write (render_run_page) wall",
            f"{_util.fmt(_util.median(write_wall))} ms",
            _util.spread(write_wall),
            str(rounds),
        ],
        [
            "write (render_run_page) CPU",
            f"{_util.fmt(_util.median(write_cpu))} ms",
            _util.spread(write_cpu),
            str(rounds),
        ],
        ["Chromium load, run page", f"{_util.fmt(render_ms)} ms", _util.spread(render), str(rounds)],
        [
            "Chromium main-thread tasks, run page",
            f"{_util.fmt(_util.median(render_task))} ms",
            _util.spread(render_task),
            str(rounds),
        ],
        ["Chromium load, blank page", f"{_util.fmt(_util.median(floor))} ms", _util.spread(floor), str(rounds)],
    ]
    print(_util.table(rows, ["figure", "median", "min..max", "n"]))
    for b in budgets:
        print(b.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
