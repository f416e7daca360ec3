"""Which typed result each command's ``--json`` prints, and its JSON Schema.

The schemas ship in ``laptime/schema/output/`` (written by ``scripts/gen_schema.py``, kept
equal to these by a test) and are documented in ``docs/output.md``. A test runs every
command with ``--json`` and validates its output against the shipped schema.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from laptime.analysis import api_results as ar
from laptime.analysis import phase_results as pr
from laptime.analysis import results as r
from laptime.analysis.estimate import OUTPUT_TYPES as ESTIMATE_OUTPUT_TYPES
from laptime.analysis.report_results import OUTPUT_TYPES as REPORT_OUTPUT_TYPES
from laptime.exporters.results import OtlpExport
from laptime.webhook.results import Deliveries

SCHEMA_DIR: Final = "output"

# command line (without `laptime` and `--json`) -> the struct its --json encodes
OUTPUT_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "report": r.RunKpi,
    "kpi": r.RunKpi,
    "report show": r.RunDetail,
    "report list": r.RunList,
    "status": r.Status,
    "status --report": r.StatusReport,
    "doctor": r.Health,
    "pricing": r.Pricing,
    "import": r.Imports,
    "compact": r.Compaction,
    "report clean": r.Cleaning,
    "refresh": r.Refresh,
    "demo": r.Demo,
    **REPORT_OUTPUT_TYPES,
    "usage": REPORT_OUTPUT_TYPES["report usage"],  # `laptime usage`: the same report, after an import
    **ESTIMATE_OUTPUT_TYPES,
    "webhook send": Deliveries,
    "webhook redeliver": Deliveries,
    "export otlp": OtlpExport,
}

# HTTP API responses with no command of their own (docs/server.md) -> their struct; shipped beside the others
API_OUTPUT_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    "api runs": ar.RunPage,
    "api run-metrics": pr.RunPhaseMetrics,
    "api project-run-metrics": pr.ProjectRunMetrics,
}
ALL_OUTPUT_TYPES: Final[dict[str, type[msgspec.Struct]]] = {**OUTPUT_TYPES, **API_OUTPUT_TYPES}


def schema_file(command: str) -> str:
    """``report show`` -> ``report-show.schema.json``."""
    return command.replace(" --", "-").replace(" ", "-") + ".schema.json"


def output_schema(command: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``laptime COMMAND --json``."""
    from laptime.events import clean_schema_descriptions

    schema: dict[str, Any] = msgspec.json.schema(ALL_OUTPUT_TYPES[command])
    clean_schema_descriptions(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://laptime.dev/schema/{SCHEMA_DIR}/{schema_file(command)}"
    schema["title"] = f"laptime {command}" if command in API_OUTPUT_TYPES else f"laptime {command} --json"
    return schema


def load_output_schema(command: str) -> dict[str, Any]:
    """The shipped schema of ``laptime COMMAND --json`` (equal to ``output_schema``)."""
    from importlib.resources import files

    data = (files("laptime") / "schema" / SCHEMA_DIR / schema_file(command)).read_bytes()
    schema: dict[str, Any] = msgspec.json.decode(data, type=dict[str, Any])
    return schema
