"""``laptime report pipeline``: Choragen-style pipeline metrics over tasks and chains."""

from __future__ import annotations

from typing import Any

import click

from laptime.cli._common import echo_json, json_option, open_index, parse_when


@click.command("pipeline")
@click.option("--runner", help="Only runs of this runner, e.g. choragen.")
@click.option("--since", help="Runs started at or after: YYYY-MM-DD, ISO datetime, or an age like 7d.")
@click.option("--until", help="Runs started before: YYYY-MM-DD, ISO datetime, or an age like 1d.")
@json_option
@click.pass_context
def pipeline(ctx: click.Context, runner: str | None, since: str | None, until: str | None, as_json: bool) -> None:
    """Pipeline metrics: task cycle time (avg, p50, p90), rework and first-time-right
    rates, tasks per chain, chains, requests and tokens by model.

    A task is a task span name within a run; its cycle time runs from its latest
    start to its completion. Percentiles interpolate linearly (Choragen's own
    nearest-rank values are in --json, for comparison).

    \b
    Examples:
      laptime import choragen .choragen/metrics/events.jsonl
      laptime report pipeline --runner choragen
      laptime report pipeline --since 30d --json
    """
    from laptime.analysis.pipeline import pipeline_metrics

    since_us = parse_when(since, option="--since") if since else None
    until_us = parse_when(until, option="--until") if until else None
    with open_index(ctx) as index:
        data = pipeline_metrics(index, runner=runner, since_us=since_us, until_us=until_us)
    if as_json:
        echo_json(data)
        return
    for line in render(data):
        click.echo(line)


def render(data: dict[str, Any]) -> list[str]:
    from laptime.report.format import count, duration, percent, plural

    tasks, quality, chains = data["tasks"], data["quality"], data["chains"]
    cycle = tasks["cycle_time_ms"]
    per_chain = "—" if chains["avg_tasks_per_chain"] is None else f"{chains['avg_tasks_per_chain']:.2f}"
    lines = [
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
