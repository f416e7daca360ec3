"""Terminal view of a ``CriticalPath`` (analysis.results): the path, stragglers, workers, dispatch."""

from __future__ import annotations

from typing import Any, Final

from laptime.report.format import bar, duration, percent, plural, table

# The most path segments and stragglers shown; the JSON has them all.
_SHOWN: Final = 12
_STRAGGLERS_SHOWN: Final = 5


def dispatch_line(cp: dict[str, Any]) -> str:
    """``continuous dispatch would have saved 9m 40s (23%)``, or that it would not."""
    if cp["dispatch_saving_ms"] <= 0:
        return f"continuous dispatch: no saving (observed {duration(cp['observed_makespan_ms'])})"
    return (
        f"continuous dispatch would have saved {duration(cp['dispatch_saving_ms'])} "
        f"({percent(cp['dispatch_saving_share'])}): {duration(cp['observed_makespan_ms'])} "
        f"-> {duration(cp['dispatch_makespan_ms'])} on {plural(cp['workers'], 'worker')}"
    )


def critical_path_lines(cp: dict[str, Any], width: int | None) -> list[str]:
    """The section of ``report show``: one short line for a run without parallel tasks."""
    if not cp["tasks"]:
        return ["no tasks recorded"]
    if not cp["parallel"]:
        return [f"no parallel tasks: {plural(cp['tasks'], 'task')} ran one after another; {dispatch_line(cp)}"]
    path = f"{duration(cp['path_task_ms'])} of tasks and {duration(cp['path_idle_ms'])} idle"
    out = [f"path: {path} over {duration(cp['wall_ms'])}"]
    segments = cp["segments"]
    shown = segments
    if len(segments) > _SHOWN:
        keep = {id(s) for s in sorted(segments, key=lambda s: -s["share"])[:_SHOWN]}
        shown = [s for s in segments if id(s) in keep]
    rows = [
        [
            s["name"] if s["kind"] == "task" else "(idle)",
            s["worker"] or "",
            f"{bar(s['share'])} {percent(s['share']).rjust(4)}",
            duration(s["duration_ms"]),
        ]
        for s in shown
    ]
    out += table(["segment", "worker", "share of wall time", "duration"], rows, "llll", width=width)
    if len(shown) < len(segments):
        rest = [s for s in segments if all(s is not k for k in shown)]
        out.append(f"... {plural(len(rest), 'more segment')} ({percent(sum(s['share'] for s in rest))})")
    stragglers = sorted((s for s in cp["stragglers"] if s["held_up_ms"] > 0), key=lambda s: -s["held_up_ms"])
    if stragglers:
        out += ["", "Stragglers (the task a batch waited for)"]
        rows = [
            [
                s["batch"],
                s["name"],
                s["worker"] or "",
                str(s["tasks"]),
                duration(s["held_up_ms"]),
                duration(s["idle_worker_ms"]),
            ]
            for s in stragglers[:_STRAGGLERS_SHOWN]
        ]
        out += table(["batch", "straggler", "worker", "tasks", "held up", "others idle"], rows, "lllrrr", width=width)
        if len(stragglers) > _STRAGGLERS_SHOWN:
            out.append(f"... {plural(len(stragglers) - _STRAGGLERS_SHOWN, 'more straggler')}")
    out.append("")
    utilisation = percent(cp["utilisation"])
    ratio = "-" if cp["wait_work_ratio"] is None else f"{cp['wait_work_ratio']:.2f}"
    out.append(
        f"workers: {utilisation} busy ({plural(cp['workers'], 'worker')}, at most {cp['max_concurrency']} at once); "
        f"waiting {duration(cp['waiting_ms'])} : working {duration(cp['working_ms'])} = {ratio}"
    )
    if cp["worker_use"]:
        rows = [
            [
                w["worker"],
                str(w["tasks"]),
                f"{bar(w['utilisation'])} {percent(w['utilisation']).rjust(4)}",
                duration(w["busy_ms"]),
            ]
            for w in cp["worker_use"]
        ]
        out += table(["worker", "tasks", "busy", "time"], rows, "lrll", width=width)
    out.append(dispatch_line(cp))
    return out
