"""The OpenAPI components: the shipped JSON Schemas of the results (laptime/schema/), not copies."""

from __future__ import annotations

import json
from typing import Any

from laptime.analysis.outputs import load_output_schema
from laptime.events import load_json_schema

COMPONENTS = "#/components/schemas/"


def _relocate(node: Any) -> Any:
    """A schema with its ``#/$defs/X`` references pointing at the OpenAPI components."""
    if isinstance(node, dict):
        return {
            k: (COMPONENTS + v.removeprefix("#/$defs/") if k == "$ref" and isinstance(v, str) else _relocate(v))
            for k, v in node.items()
            if k not in ("$schema", "$id")
        }
    if isinstance(node, list):
        return [_relocate(v) for v in node]
    return node


def add_schema(components: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Put a shipped schema's definitions into ``components``; returns the schema of its top
    (a ``$ref`` into the components, or the schema itself without its definitions)."""
    for name, definition in schema.get("$defs", {}).items():
        relocated = _relocate(definition)
        known = components.setdefault(name, relocated)
        if json.dumps(known, sort_keys=True) != json.dumps(relocated, sort_keys=True):
            msg = f"two shipped schemas define {name} differently"
            raise ValueError(msg)
    top = {k: v for k, v in schema.items() if k not in ("$defs", "title", "$schema", "$id")}
    return _relocate(top)  # type: ignore[no-any-return]


def output(components: dict[str, Any], command: str) -> dict[str, Any]:
    """The response schema of the result ``laptime COMMAND --json`` prints."""
    return add_schema(components, load_output_schema(command))


def event_batch(components: dict[str, Any]) -> dict[str, Any]:
    """``POST /events``' body: ``{"events": [...]}`` of the documented event schema."""
    schema = load_json_schema()
    event = add_schema(components, schema)
    components["Event"] = event
    return {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": {"$ref": COMPONENTS + "Event"}}},
        "additionalProperties": False,
    }
