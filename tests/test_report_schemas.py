"""``report summary``, ``compare``, ``report usage`` and ``report pipeline`` print typed results
(``laptime.analysis.report_results``): each ``--json`` validates against the JSON Schema of its
struct (``msgspec.json.schema``, Draft 2020-12), which forbids any key the struct does not name."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import msgspec
import pytest

from helpers import FIXED_RUN_ID, SONNET, T0, invoke, invoke_json, make_recorder, record_fixed_run, record_simple_run
from laptime import SimulatedClock
from laptime.analysis.regression import RegressionCheck
from laptime.analysis.report_results import OUTPUT_TYPES, Comparison, PipelineReport, Summary, UsageReport

if TYPE_CHECKING:
    from laptime.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
OTHER_RUN = "0the4000000000000000000000000004"


def validator(struct: type) -> jsonschema.Draft202012Validator:
    schema = msgspec.json.schema(struct)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid(struct: type, data: Any) -> None:
    v = validator(struct)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in v.iter_errors(data)]
    assert not errors, errors
    # the schema is strict: a key the struct does not name is an error
    extra = copy.deepcopy(data)
    extra["total_usd"] = 0.0
    assert not v.is_valid(extra)


def _import(store: Store, fmt: str, path: Path) -> None:
    result = invoke(store.root, "import", fmt, str(path))
    assert result.exit_code == 0, result.output


@pytest.fixture
def mixed(store: Store) -> Store:
    """SDK runs (one with a reported cost and an unpriced model) and AIDF runs that record
    their iterations."""
    record_fixed_run(store)
    record_simple_run(store, "simple", start=T0 + timedelta(days=1), calls=2)
    with (
        make_recorder(store, SimulatedClock(start=T0 + timedelta(days=2))) as rec,
        rec.run("mixed", run_id=OTHER_RUN, runner="sdk") as run,
        run.phase("review"),
    ):
        run.llm_call(SONNET, provider="anthropic", input_tokens=1_000, cost_usd=0.25)
        run.llm_call("mystery-model-9", input_tokens=500, output_tokens=5, estimated=True)
    _import(store, "aidf", FIXTURES / "aidf")
    _import(store, "aidf", FIXTURES / "aidf" / "cases" / "run-5d6e7f80.json")
    return store


def test_output_types_name_the_report_commands() -> None:
    assert {
        "report summary": Summary,
        "compare": Comparison,
        "compare SPEC SPEC": RegressionCheck,
        "report usage": UsageReport,
        "report pipeline": PipelineReport,
    } == OUTPUT_TYPES


def test_report_summary_json_validates(mixed: Store) -> None:
    for options in ((), ("--runner", "sdk"), ("--status", "stopped")):  # store-wide, filtered, none selected
        data = invoke_json(mixed.root, "report", "summary", *options)
        assert_valid(Summary, data)
    assert invoke_json(mixed.root, "report", "summary")["iterations"]["n"] == 2


def test_compare_json_validates(mixed: Store) -> None:
    assert_valid(Comparison, invoke_json(mixed.root, "compare", FIXED_RUN_ID, OTHER_RUN))
    data = invoke_json(mixed.root, "compare", OTHER_RUN, FIXED_RUN_ID)
    assert_valid(Comparison, data)
    assert data["a"]["cost_source"] == "priced"  # one call reported, one unpriced


def test_report_usage_json_validates(mixed: Store) -> None:
    for by in ("day", "week", "month", "session", "model"):
        assert_valid(UsageReport, invoke_json(mixed.root, "report", "usage", "--by", by, "-z", "UTC"))
    assert_valid(UsageReport, invoke_json(mixed.root, "report", "usage", "--no-cost", "--since", "2000-01-01"))


def test_report_pipeline_json_validates(store: Store) -> None:
    _import(store, "choragen", FIXTURES / "choragen" / "window.jsonl")
    for options in ((), ("--runner", "choragen"), ("--since", "2025-12-08", "--until", "2025-12-08T05:30:00Z")):
        data = invoke_json(store.root, "report", "pipeline", *options)
        assert_valid(PipelineReport, data)
    assert data["tokens"]["input_tokens"] == 1_500
