"""``laptime report pipeline``: Choragen-style pipeline metrics over tasks and chains."""

from __future__ import annotations

from typing import Any

import click

from laptime.cli._common import UsageProblem, echo_json, json_option, open_index, parse_when

_WINDOW_HELP = (
    "events whose own timestamp is {0}: YYYY-MM-DD, ISO datetime, or an age like {1}. "
    "Event time, as Choragen's metrics:summary counts, not chain start."
)


@click.command("pipeline")
@click.option("--runner", help="Only runs of this runner, e.g. choragen.")
@click.option("--chain", "chain", metavar="ID", help="Only tasks of this Choragen chain (its chainId).")
@click.option("--since", help="Count " + _WINDOW_HELP.format("at or after this", "7d"))
@click.option("--until", help="Count " + _WINDOW_HELP.format("before this", "1d"))
@json_option
@click.pass_context
def pipeline(  # noqa: PLR0917 - click passes one positional parameter per option
    ctx: click.Context,
    runner: str | None,
    chain: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Pipeline metrics: task cycle time (avg, p50, p90), rework and first-time-right
    rates, tasks per chain, chains, requests and tokens by model.

    A task is a task span name within a run; its cycle time runs from its latest
    start to its completion. Percentiles interpolate linearly (Choragen's own
    nearest-rank values are in --json, for comparison).

    --since/--until select by event time, as Choragen does: only events whose own
    timestamp lies in the window count, whenever their chain started. A task started
    before --since and completed after it counts as completed, with no cycle time; one
    completed at or after --until does not count as completed.

    \b
    Examples:
      laptime import choragen .choragen/metrics/events.jsonl
      laptime report pipeline --runner choragen
      laptime report pipeline --chain CHAIN-031-metrics
      laptime report pipeline --since 30d --json
    """
    from laptime.analysis.pipeline import UnknownChainError, pipeline_metrics

    since_us = parse_when(since, option="--since") if since else None
    until_us = parse_when(until, option="--until") if until else None
    with open_index(ctx) as index:
        try:
            data = pipeline_metrics(index, runner=runner, chain=chain, since_us=since_us, until_us=until_us)
        except UnknownChainError as exc:
            where = f" of runner {runner!r}" if runner else ""
            msg = (
                f"--chain: no Choragen chain {exc.chain!r}{where} in the store; "
                "import its events.jsonl first (laptime import choragen PATH)"
            )
            raise UsageProblem(msg) from None
    if as_json:
        echo_json(data)
        return
    import msgspec

    for line in render(msgspec.to_builtins(data)):
        click.echo(line)


def render(data: dict[str, Any]) -> list[str]:
    from laptime.report.format import count, duration, percent, plural

    tasks, quality, chains = data["tasks"], data["quality"], data["chains"]
    cycle = tasks["cycle_time_ms"]
    per_chain = "—" if chains["avg_tasks_per_chain"] is None else f"{chains['avg_tasks_per_chain']:.2f}"
    lines = _filter_lines(data.get("filters") or {})
    lines += [
        "Tasks",
        f"  completed         {tasks['completed']} of {tasks['total']}",
        (
            f"  cycle time        avg {duration(cycle['avg'])} · p50 {duration(cycle['p50'])}"
            f" · p90 {duration(cycle['p90'])} (n={cycle['n']})"
        ),
        "Quality",
        (
            f"  rework rate       {percent(quality['rework_rate'])}"
            f" ({quality['completed_with_rework']}/{tasks['completed']})"
        ),
        f"  first-time-right  {percent(quality['first_time_right_rate'])}",
        "Chains",
        f"  completed         {chains['completed']} of {chains['total']}",
        f"  tasks per chain   {per_chain}",
        "Requests",
        f"  closed            {data['requests']['closed']} of {data['requests']['total']}",
    ]
    tokens = data["tokens"]
    if tokens["by_model"]:
        lines.append("Tokens by model")
        width = max(len(m["model"]) for m in tokens["by_model"])
        lines.extend(
            f"  {m['model'].ljust(width)}  in {count(m['input_tokens'])} · out {count(m['output_tokens'])}"
            f" · {plural(m['calls'], 'call')}"
            for m in tokens["by_model"]
        )
    return lines


def _filter_lines(filters: dict[str, Any]) -> list[str]:
    """A heading that says what was selected, so a filtered report is never mistaken
    for the whole store; nothing when unfiltered."""
    parts = []
    if filters.get("chain"):
        parts.append(f"chain {filters['chain']}")
    if filters.get("runner"):
        parts.append(f"runner {filters['runner']}")
    if filters.get("since") or filters.get("until"):
        since, until = filters.get("since") or "the start", filters.get("until") or "now"
        parts.append(f"events from {since} to {until} (event time)")
    return [f"Selection: {' · '.join(parts)}"] if parts else []
