"""``laptime export otlp``: runs as OpenTelemetry traces (GenAI conventions), sent or written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from laptime.cli._common import UsageProblem, config_of, echo_json, json_option, open_index, store_of, window_options

RUNS_PER_REQUEST = 50  # a request per this many runs keeps each POST a few MB at most


@click.group()
def export() -> None:
    """Export runs to other systems.

    \b
    Example:
      laptime export otlp --endpoint http://127.0.0.1:4318 --since 7d
    """


@export.command()
@click.option(
    "--endpoint",
    metavar="URL",
    help="OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT); /v1/traces is appended unless present.",
)
@click.option("-o", "--output", metavar="FILE", help="Write OTLP/JSON to FILE ('-': stdout) instead of sending.")
@click.option("--run", "runs", multiple=True, metavar="RUN", help="A run id or unique prefix (repeatable).")
@window_options()
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="KEY=VALUE",
    help="A request header (repeatable), over $OTEL_EXPORTER_OTLP_HEADERS.",
)
@click.option(
    "--resource",
    "resource",
    multiple=True,
    metavar="KEY=VALUE",
    help="A resource attribute (repeatable), e.g. service.name=my-pipeline.",
)
@click.option(
    "--protocol",
    type=click.Choice(["http/protobuf", "http/json"]),
    help="How to send (default: $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf, which every receiver takes).",
)
@click.option("--timeout", type=click.FloatRange(min=0.1, max=600), default=10.0, show_default=True, help="Seconds.")
@json_option
@click.pass_context
def otlp(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context,
    endpoint: str | None,
    output: str | None,
    runs: tuple[str, ...],
    since: int | None,
    until: int | None,
    headers: tuple[str, ...],
    resource: tuple[str, ...],
    protocol: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Runs as OpenTelemetry traces, one trace per run, in the GenAI semantic conventions
    (invoke_workflow, invoke_agent NAME, chat MODEL, execute_tool NAME; gen_ai.usage.*),
    with laptime's own figures (cost included) under laptime.*. Sent to an OTLP/HTTP
    receiver as OTLP/JSON, or written to a file that `laptime import otlp` reads back as
    the same runs. Without --run, every run in the window (all when none is given).

    \b
    Examples:
      laptime export otlp --endpoint http://127.0.0.1:4318 --since 7d
      laptime export otlp --run 01a2b3 -o run.otlp.json
    """
    from laptime.analysis.kpi import list_runs, resolve_run
    from laptime.exporters.otlp import otlp_document
    from laptime.exporters.otlp_send import PROTOCOLS, OtlpSendError, key_values, parse_headers, send, traces_url
    from laptime.exporters.results import OtlpExport
    from laptime.pricing import PriceBook

    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
    if (endpoint is None) == (output is None):
        raise UsageProblem("give --endpoint URL (or set OTEL_EXPORTER_OTLP_ENDPOINT) or -o FILE, not both")
    if runs and (since is not None or until is not None):
        raise UsageProblem("--run picks runs itself; it cannot be combined with --since / --until")
    url = traces_url(endpoint) if endpoint is not None else None
    protocol = protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in PROTOCOLS:
        raise UsageProblem(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    header_map = parse_headers(list(headers), os.environ.get("OTEL_EXPORTER_OTLP_HEADERS")) if url else {}
    resource_map = key_values(resource, "--resource")
    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    with open_index(ctx) as index:
        if runs:
            run_ids = list(dict.fromkeys(resolve_run(index, run).run_id for run in runs))
        else:
            run_ids = [row.run_id for row in reversed(list_runs(index, since_us=since, until_us=until))]
        batches = [run_ids[i : i + RUNS_PER_REQUEST] for i in range(0, len(run_ids), RUNS_PER_REQUEST)]
        documents = [otlp_document(index, book, batch, resource=resource_map) for batch in batches]
    spans = sum(len(s["spans"]) for d in documents for r in d["resourceSpans"] for s in r["scopeSpans"])
    requests = 0
    if url is not None:
        try:
            requests = send(url, documents, header_map, timeout=timeout, protocol=protocol).requests
        except OtlpSendError as exc:
            raise click.ClickException(str(exc)) from None
        except ImportError as exc:
            msg = f"sending OTLP protobuf needs the otel extra ({exc.name} is missing): pip install 'laptime[otel]'"
            raise click.ClickException(msg + "; or use --protocol http/json") from None
    else:
        _write(output or "-", documents)
    result = OtlpExport(
        runs=len(run_ids),
        spans=spans,
        requests=requests,
        endpoint=url.split("?", 1)[0] if url else None,
        file=output,
    )
    if as_json:
        echo_json(result)
    elif output != "-":
        where = f"to {result.endpoint} in {requests} request(s)" if url else f"to {output}"
        click.echo(f"exported {len(run_ids)} run(s), {spans} span(s) {where}", err=output is None)


def _write(output: str, documents: list[dict[str, Any]]) -> None:
    import json

    merged = {"resourceSpans": [r for d in documents for r in d["resourceSpans"]]}
    text = json.dumps(merged, separators=(",", ":"), ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
