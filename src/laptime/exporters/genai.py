"""laptime's spans in the OpenTelemetry GenAI semantic conventions: names and attributes.

One mapping, used by the OTLP/JSON export (``exporters.otlp``) and the SDK's live export
(``exporters.live``):

| laptime span | span name | ``gen_ai.operation.name`` |
|---|---|---|
| run | ``invoke_workflow`` | ``invoke_workflow`` (``gen_ai.workflow.name``: the run's name) |
| task (an agent, a worker's task) | ``invoke_agent {name}`` | ``invoke_agent`` (``gen_ai.agent.name``) |
| llm | ``chat {model}`` | ``chat`` (``gen_ai.request.model``, ``gen_ai.provider.name``, usage) |
| tool | ``execute_tool {name}`` | ``execute_tool`` (``gen_ai.tool.name``) |
| phase, validation, git, other | its own name | none |

Usage follows the convention: ``gen_ai.usage.input_tokens`` counts every input token,
cached ones included (``definitions.total_input``); ``gen_ai.usage.cache_read.input_tokens``
and ``gen_ai.usage.cache_creation.input_tokens`` say how many of them the cache served or
stored. laptime's own figures go under ``laptime.*``: the span's kind, name, outcome and
error, the run's and each call's cost (``laptime.cost_usd``, with ``laptime.cost_source``),
and, so that an export imported again is the same run, the original ids and each
event as JSON (``laptime.event``, ``laptime.llm``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Final

import msgspec

from laptime import events as ev
from laptime.definitions import total_input

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
INVOKE_WORKFLOW: Final = "invoke_workflow"
INVOKE_AGENT: Final = "invoke_agent"
CHAT: Final = "chat"
EXECUTE_TOOL: Final = "execute_tool"
# The name of an OTLP span event that carries one laptime point event (validation,
# checkpoint, milestone, file change, metric, error, scope violation, queue sample).
POINT_EVENT_PREFIX: Final = "laptime."


def trace_id_of(run_id: str) -> str:
    """The OTLP trace id (32 hex digits) of a run: its id when it already is one (every
    run the SDK records), else a hash of it."""
    if _HEX32.match(run_id) and run_id != "0" * 32:
        return run_id
    return hashlib.blake2b(run_id.encode(), digest_size=16).hexdigest()


def span_id_of(span_id: str) -> str:
    """The OTLP span id (16 hex digits) of a laptime span id."""
    digest = hashlib.blake2b(span_id.encode(), digest_size=8).hexdigest()
    return digest if digest != "0" * 16 else "1" * 16


def span_name(kind: str, name: str) -> str:
    if kind == "run":
        return INVOKE_WORKFLOW
    if kind == "task":
        return f"{INVOKE_AGENT} {name}"
    if kind == "llm":
        return f"{CHAT} {name}"
    if kind == "tool":
        return f"{EXECUTE_TOOL} {name}"
    return name


def span_attributes(start: ev.SpanStart, end: ev.SpanEnd | None) -> dict[str, Any]:
    """The attributes of one span, from its start and end events."""
    attrs: dict[str, Any] = {
        "laptime.kind": start.kind,
        "laptime.name": start.name,
        "laptime.run_id": start.run,
        "laptime.span_id": start.span,
    }
    if start.parent is not None:
        attrs["laptime.parent_id"] = start.parent
    if start.kind == "run":
        attrs["gen_ai.operation.name"] = INVOKE_WORKFLOW
        attrs["gen_ai.workflow.name"] = start.name
        runner = start.attrs.get("runner")
        if isinstance(runner, str):
            attrs["laptime.runner"] = runner
    elif start.kind == "task":
        attrs["gen_ai.operation.name"] = INVOKE_AGENT
        attrs["gen_ai.agent.name"] = start.name
    elif start.kind == "tool":
        attrs["gen_ai.operation.name"] = EXECUTE_TOOL
        attrs["gen_ai.tool.name"] = start.name
    elif start.kind == "llm":
        attrs["gen_ai.operation.name"] = CHAT
        attrs["gen_ai.request.model"] = start.name
    worker = start.attrs.get("worker")
    if isinstance(worker, str) and worker:
        attrs["laptime.worker"] = worker
    if start.attrs:
        attrs["laptime.attrs"] = msgspec.json.encode(start.attrs).decode()
    if end is not None:
        attrs["laptime.outcome"] = end.outcome
        attrs["laptime.end_id"] = end.id
        if end.error:
            attrs["laptime.error"] = end.error
        if end.attrs:
            attrs["laptime.end_attrs"] = msgspec.json.encode(end.attrs).decode()
    return attrs


def usage_attributes(usage: ev.LlmUsage, cost_usd: float | None, cost_source: str) -> dict[str, Any]:
    """The GenAI usage attributes of one LLM call, and laptime's cost of it."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": CHAT,
        "gen_ai.request.model": usage.model,
        "gen_ai.usage.input_tokens": total_input(
            usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens, usage.input_includes_cache
        ),
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
        "laptime.cost_source": cost_source,
        "laptime.llm": msgspec.json.encode(usage).decode(),
    }
    if usage.provider:
        attrs["gen_ai.provider.name"] = usage.provider
    if cost_usd is not None:
        attrs["laptime.cost_usd"] = cost_usd
    if usage.worker:
        attrs["laptime.worker"] = usage.worker
    return attrs


def point_event_name(event: ev.Event) -> str:
    return POINT_EVENT_PREFIX + str(type(event).__struct_config__.tag)


def point_event_attributes(event: ev.Event) -> dict[str, Any]:
    """A point event's attributes: its main fields readable, and all of it as JSON."""
    attrs: dict[str, Any] = {"laptime.event": msgspec.json.encode(event).decode()}
    for name in ("name", "command", "passed", "path", "change", "commit", "verified", "value", "unit", "message"):
        value = getattr(event, name, None)
        if isinstance(value, str | int | float | bool) and value is not None:
            attrs[f"laptime.{name}"] = value
    return attrs
