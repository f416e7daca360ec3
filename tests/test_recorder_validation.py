"""The recorder writes only valid lines (issue 8, line 7).

Every argument is checked when it is given. A bad one warns once per kind of mistake,
never raises, and the event is still written with a valid default, the raw value kept
in its attrs; no argument can inject JSON, and an attribute that cannot be encoded is
dropped without losing the event. Each case writes to a real store, and every line of
the log must decode and the index must report no bad line.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import invoke
from laptime import events as ev
from laptime.recorder import Recorder, RecorderWarning
from laptime.testing import CapturingRecorder

if TYPE_CHECKING:
    import laptime
    from laptime.store import Store

# Text that JSON-in-a-line writers get wrong: quotes, backslashes, newlines, braces.
INJECTION = (
    'x","kind":"run"}\n'
    '{"type":"metric","v":1,"id":"0","ts":"2026-01-01T00:00:00.000000Z","run":"r","name":"n","value":1}\n'
)


def log_lines(store: Store) -> list[bytes]:
    return [line for path in store.segments() for line in path.read_bytes().splitlines(keepends=True)]


def record(store: Store, program: Callable[[laptime.Run], None]) -> tuple[list[ev.Event], list[str]]:
    """Run ``program`` twice inside one run on a real store; return the events and the
    RecorderWarnings it gave, after checking that every line decodes and the index
    reports no bad line. Twice: the same mistake must warn only once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Recorder(home=store.root, flush_interval=0) as rec, rec.run("checked") as run:
            program(run)
            program(run)
    lines = log_lines(store)
    assert lines, "nothing was written"
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    events = [ev.decode(line) for line in lines]  # raises on any line the log would reject
    doctor = invoke(store.root, "doctor", "--json")
    assert json.loads(doctor.stdout)["bad_lines_total"] == 0, doctor.stdout
    messages = [str(w.message) for w in caught if issubclass(w.category, RecorderWarning)]
    assert not [m for m in messages if "could not record" in m], messages  # no event was lost
    return events, messages


def run_end(events: list[ev.Event]) -> ev.SpanEnd:
    run_id = next(e.run for e in events if isinstance(e, ev.SpanStart) and e.kind == "run")
    [end] = [e for e in events if isinstance(e, ev.SpanEnd) and e.span == run_id]
    return end


def of_type(events: list[ev.Event], event_type: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, event_type)]


def child_starts(events: list[ev.Event]) -> list[ev.SpanStart]:
    return [e for e in of_type(events, ev.SpanStart) if e.kind != "run"]


def ends_of(events: list[ev.Event], span: str) -> list[ev.SpanEnd]:
    return [e for e in of_type(events, ev.SpanEnd) if e.span == span]


@dataclass(frozen=True)
class Case:
    """One bad call: the program making it, the warning it gives, and what is recorded."""

    id: str
    program: Callable[[laptime.Run], None]
    warning: str  # the one warning expected, e.g. "invalid outcome in set_outcome"
    check: Callable[[list[ev.Event]], None]


def _span(kind: object, name: object) -> Callable[[laptime.Run], None]:
    def program(run: laptime.Run) -> None:
        with run.span(kind, name):  # type: ignore[arg-type]  # the mistake under test
            pass

    return program


def _phase_with_outcome(run: laptime.Run) -> None:
    with run.phase("p") as phase:
        phase.outcome = "nope"  # type: ignore[assignment]  # the mistake under test


def _failing_phase_with_bad_outcome(run: laptime.Run) -> None:
    def body() -> None:
        with run.phase("p") as phase:
            phase.set_outcome("nope")  # type: ignore[arg-type]  # the mistake under test
            raise RuntimeError

    with pytest.raises(RuntimeError):
        body()


def _check_run_outcome(events: list[ev.Event]) -> None:
    end = run_end(events)
    assert (end.outcome, end.attrs) == ("completed", {"invalid_outcome": "bogus"})


def _check_phase_outcome(expected: str) -> Callable[[list[ev.Event]], None]:
    def check(events: list[ev.Event]) -> None:
        starts = child_starts(events)
        assert len(starts) == 2
        for start in starts:
            [end] = ends_of(events, start.span)
            assert (end.outcome, end.attrs["invalid_outcome"]) == (expected, "nope")

    return check


def _check_kind(raw: object) -> Callable[[list[ev.Event]], None]:
    def check(events: list[ev.Event]) -> None:
        starts = child_starts(events)
        assert len(starts) == 2  # one per call: the kind did not open a second event
        assert len(events) == 6  # run start, 2 x (span start, span end), run end
        for start in starts:
            assert (start.kind, start.name, start.attrs) == ("other", "n", {"invalid_kind": raw})
            assert len(ends_of(events, start.span)) == 1

    return check


def _check_point(event_type: type[Any], field: str, expected: object, raw: object) -> Callable[[list[ev.Event]], None]:
    def check(events: list[ev.Event]) -> None:
        points = of_type(events, event_type)
        assert len(points) == 2
        for point in points:
            assert getattr(point, field) == expected
            assert point.attrs == {f"invalid_{field}": raw}

    return check


def _check_attrs(key: str, raw_repr: str) -> Callable[[list[ev.Event]], None]:
    def check(events: list[ev.Event]) -> None:
        metrics = of_type(events, ev.Metric)
        assert len(metrics) == 2
        for metric in metrics:
            assert metric.value == 1.0
            assert metric.attrs == {"kept": "yes", "invalid_attrs": {key: raw_repr}}

    return check


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


CASES = [
    Case(
        "set_outcome-bogus",
        lambda run: run.set_outcome("bogus"),  # type: ignore[arg-type]  # the mistake under test
        "invalid outcome in set_outcome",
        _check_run_outcome,
    ),
    Case(
        "span-outcome-attribute",
        _phase_with_outcome,
        "invalid outcome in set_outcome",
        _check_phase_outcome("completed"),
    ),
    Case(
        "span-outcome-with-exception",
        _failing_phase_with_bad_outcome,
        "invalid outcome in set_outcome",
        _check_phase_outcome("failed"),
    ),
    Case(
        "span-kind-bogus",
        _span("bogus", "n"),
        "invalid kind in span",
        _check_kind("bogus"),
    ),
    Case(
        "span-kind-injection",
        _span(INJECTION, "n"),
        "invalid kind in span",
        _check_kind(INJECTION),
    ),
    Case(
        "span-kind-not-a-str",
        _span(7, "n"),
        "invalid kind in span",
        _check_kind(7),  # the raw int is kept as it is
    ),
    Case(
        "file_change-kind",
        lambda run: run.file_change("a.py", "renamed"),  # type: ignore[arg-type]
        "invalid change in file_change",
        _check_point(ev.FileChange, "change", "modified", "renamed"),
    ),
    Case(
        "milestone-status",
        lambda run: run.milestone("m", "done"),  # type: ignore[arg-type]
        "invalid status in milestone",
        _check_point(ev.Milestone, "status", "planned", "done"),
    ),
    Case(
        "metric-nan",
        lambda run: run.metric("m", math.nan),
        "invalid value in metric",
        _check_point(ev.Metric, "value", 0.0, "nan"),
    ),
    Case(
        "metric-infinity",
        lambda run: run.metric("m", -math.inf),
        "invalid value in metric",
        _check_point(ev.Metric, "value", 0.0, "-inf"),
    ),
    Case(
        "metric-bool",
        lambda run: run.metric("m", True),  # noqa: FBT003 - the mistake under test
        "invalid value in metric",
        _check_point(ev.Metric, "value", 0.0, True),  # noqa: FBT003 - the raw value kept
    ),
    Case(
        "llm-latency-nan",
        lambda run: run.llm_call("m", latency_ms=math.nan),
        "invalid latency_ms in llm_call",
        _check_point(ev.LlmUsage, "latency_ms", None, "nan"),
    ),
    Case(
        "llm-cost-infinity",
        lambda run: run.llm_call("m", cost_usd=math.inf),
        "invalid cost_usd in llm_call",
        _check_point(ev.LlmUsage, "cost_usd", None, "inf"),
    ),
    Case(
        "validation-duration-nan",
        lambda run: run.validation("pytest", passed=True, duration_ms=math.nan),
        "invalid duration_ms in validation",
        _check_point(ev.Validation, "duration_ms", None, "nan"),
    ),
    Case(
        "llm-negative-tokens",
        lambda run: run.llm_call("m", output_tokens=-3),
        "invalid output_tokens in llm_call",
        _check_point(ev.LlmUsage, "output_tokens", 0, -3),
    ),
    Case(
        "llm-float-tokens",
        lambda run: run.llm_call("m", input_tokens=1.5),  # type: ignore[arg-type]
        "invalid input_tokens in llm_call",
        _check_point(ev.LlmUsage, "input_tokens", 0, 1.5),
    ),
    Case(
        "llm-tokens-too-large-to-index",
        lambda run: run.llm_call("m", cache_read_tokens=2**63),
        "invalid cache_read_tokens in llm_call",
        _check_point(ev.LlmUsage, "cache_read_tokens", 0, "9223372036854775808"),
    ),
    Case(
        "llm-flag-not-a-bool",
        lambda run: run.llm_call("m", input_includes_cache="yes"),  # type: ignore[arg-type]
        "invalid input_includes_cache in llm_call",
        _check_point(ev.LlmUsage, "input_includes_cache", False, "yes"),  # noqa: FBT003 - the recorded value
    ),
    Case(
        "validation-exit-code-str",
        lambda run: run.validation("pytest", passed=False, exit_code="1"),  # type: ignore[arg-type]
        "invalid exit_code in validation",
        _check_point(ev.Validation, "exit_code", None, "1"),
    ),
    Case(
        "validation-passed-not-a-bool",
        lambda run: run.validation("pytest", passed="yes"),  # type: ignore[arg-type]
        "invalid passed in validation",
        _check_point(ev.Validation, "passed", False, "yes"),  # noqa: FBT003 - the recorded value
    ),
    Case(
        "file_change-lines-float",
        lambda run: run.file_change("a.py", lines_added=2.0),  # type: ignore[arg-type]
        "invalid lines_added in file_change",
        _check_point(ev.FileChange, "lines_added", 0, 2.0),
    ),
    Case(
        "checkpoint-verified-int",
        lambda run: run.checkpoint("abc", verified=1),  # type: ignore[arg-type]
        "invalid verified in checkpoint",
        _check_point(ev.Checkpoint, "verified", False, 1),  # noqa: FBT003 - the recorded value
    ),
    Case(
        "queue-negative-depth",
        lambda run: run.queue(ready=-1, active=2),
        "invalid ready in queue",
        _check_point(ev.QueueSample, "ready", 0, -1),
    ),
    Case(
        "milestone-index-float",
        lambda run: run.milestone("m", "completed", index=1.0),  # type: ignore[arg-type]
        "invalid index in milestone",
        _check_point(ev.Milestone, "index", None, 1.0),
    ),
    Case(
        "validation-tier-not-a-str",
        lambda run: run.validation("pytest", passed=True, tier=2),  # type: ignore[arg-type]
        "invalid tier in validation",
        _check_point(ev.Validation, "tier", "2", 2),
    ),
    Case(
        "scope_violation-reason-not-a-str",
        lambda run: run.scope_violation("/etc", reason=["outside"]),  # type: ignore[arg-type]
        "invalid reason in scope_violation",
        _check_point(ev.ScopeViolation, "reason", "['outside']", "['outside']"),
    ),
    Case(
        "llm-worker-not-a-str",
        lambda run: run.llm_call("m", worker=7),  # type: ignore[arg-type]
        "invalid worker in llm_call",
        _check_point(ev.LlmUsage, "worker", "7", 7),
    ),
    Case(
        "metric-name-surrogate",
        lambda run: run.metric("\udcff", 1.0),
        "invalid name in metric",
        _check_point(ev.Metric, "name", "\\udcff", "\\udcff"),
    ),
    Case(
        "file_change-path-surrogate",
        lambda run: run.file_change("src/caf\udce9.py"),
        "invalid path in file_change",
        _check_point(ev.FileChange, "path", "src/caf\\udce9.py", "src/caf\\udce9.py"),
    ),
    Case(
        "error-message-not-a-str",
        lambda run: run.error(ValueError("boom")),  # type: ignore[arg-type]
        "invalid message in error",
        _check_point(ev.ErrorEvent, "message", "boom", "ValueError('boom')"),
    ),
    Case(
        "attr-object",
        lambda run: run.metric("m", 1, kept="yes", handle=Opaque()),
        "invalid attrs in metric",
        _check_attrs("handle", "<Opaque>"),
    ),
    Case(
        "attr-circular",
        lambda run: run.metric("m", 1, kept="yes", loop=_circular()),
        "invalid attrs in metric",
        _check_attrs("loop", "[[...]]"),
    ),
    Case(
        "attr-nan-inside",
        lambda run: run.metric("m", 1, kept="yes", stats={"p50": [1.0, math.nan]}),
        "invalid attrs in metric",
        _check_attrs("stats", "{'p50': [1.0, nan]}"),
    ),
    Case(
        "attr-non-str-key",
        lambda run: run.metric("m", 1, kept="yes", by_id={1: "a"}),
        "invalid attrs in metric",
        _check_attrs("by_id", "{1: 'a'}"),
    ),
    Case(
        "attr-surrogate-value",
        lambda run: run.metric("m", 1, kept="yes", file="\udcff"),
        "invalid attrs in metric",
        _check_attrs("file", "'\\udcff'"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_argument_warns_once_and_still_writes_a_valid_event(case: Case, store: Store) -> None:
    events, messages = record(store, case.program)
    assert len(messages) == 1, messages  # two bad calls of one kind: one warning
    assert case.warning in messages[0]
    case.check(events)
    assert run_end(events).outcome in ev.OUTCOMES


def test_set_outcome_bogus_no_longer_leaves_the_run_running(store: Store) -> None:
    """Before: ``"outcome":"bogus"`` was written, the index rejected the run's end and
    the run read as running for ever. Now it ends, completed, the word kept."""
    events, _ = record(store, lambda run: run.set_outcome("bogus"))  # type: ignore[arg-type]
    end = run_end(events)
    assert (end.outcome, end.attrs["invalid_outcome"]) == ("completed", "bogus")
    runs = json.loads(invoke(store.root, "report", "list", "--json").stdout)
    assert [r["outcome"] for r in runs["runs"]] == ["completed"]


def test_a_name_with_quotes_and_newlines_is_data_not_a_second_event(store: Store) -> None:
    def program(run: laptime.Run) -> None:
        with run.phase(INJECTION, note=INJECTION) as phase:
            phase.set(end_note=INJECTION)
        with run.span("tool", INJECTION):
            run.metric(INJECTION, 1.0, INJECTION, where=INJECTION)

    events, messages = record(store, program)
    assert messages == []  # quotes and newlines are valid text: nothing to warn about
    assert len(events) == 2 + 2 * 5  # run start and end; per program: 2 starts, 2 ends, 1 metric
    starts = child_starts(events)
    assert {s.name for s in starts} == {INJECTION}
    assert all(s.kind in {"phase", "tool"} for s in starts)
    assert [s.attrs for s in starts if s.kind == "phase"] == [{"note": INJECTION}] * 2
    assert [e.attrs for e in of_type(events, ev.SpanEnd) if e.attrs] == [{"end_note": INJECTION}] * 2
    assert [(m.name, m.unit, m.attrs) for m in of_type(events, ev.Metric)] == [
        (INJECTION, INJECTION, {"where": INJECTION})
    ] * 2


def test_an_exception_whose_message_is_not_utf8_still_ends_the_span(store: Store) -> None:
    def program(run: laptime.Run) -> None:
        with pytest.raises(OSError, match="caf"), run.phase("read"):
            raise OSError("no such file: caf\udce9")

    events, messages = record(store, program)
    assert messages == []
    [start, _] = child_starts(events)
    [end] = ends_of(events, start.span)
    assert (end.outcome, end.error) == ("failed", "OSError: no such file: caf\\udce9")


def test_a_bad_span_name_is_recorded_as_its_text(store: Store) -> None:
    def program(run: laptime.Run) -> None:
        with run.phase("plan\udcff"):
            pass
        with run.task(42):  # type: ignore[arg-type]  # the mistake under test
            pass

    events, messages = record(store, program)
    assert len(messages) == 1  # both are "invalid name in span"
    assert "invalid name in span" in messages[0]
    assert [(s.name, s.attrs) for s in child_starts(events)] == [
        ("plan\\udcff", {"invalid_name": "plan\\udcff"}),
        ("42", {"invalid_name": 42}),
    ] * 2


def test_a_bad_run_id_gets_a_fresh_id_and_is_kept(store: Store) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Recorder(home=store.root, flush_interval=0) as rec, rec.run("r", run_id=12345) as run:  # type: ignore[arg-type]
            run.metric("m", 1.0)
    events = [ev.decode(line) for line in log_lines(store)]
    assert len(events) == 3
    [start] = of_type(events, ev.SpanStart)
    assert start.attrs == {"invalid_run_id": 12345}
    assert start.span == run.id != "12345"
    assert all(e.run == run.id for e in events)
    assert [str(w.message) for w in caught if "invalid run_id in run" in str(w.message)]


def test_bad_values_never_raise_even_under_w_error(store: Store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Recorder(home=store.root, flush_interval=0) as rec, rec.run("r") as run:
            run.set_outcome("bogus")  # type: ignore[arg-type]
            run.metric("m", math.nan, handle=object())
            with run.span("bogus", "\udcff"):  # type: ignore[arg-type]
                pass
    events = [ev.decode(line) for line in log_lines(store)]
    assert [type(e).__name__ for e in events] == ["SpanStart", "Metric", "SpanStart", "SpanEnd", "SpanEnd"]
    assert run_end(events).attrs == {"invalid_outcome": "bogus"}


def test_a_usage_object_with_bad_counts_still_ends_the_llm_span() -> None:
    class FakeUsage:  # an SDK's usage object handed over as it is
        input_tokens = -1
        output_tokens = "12"
        model = "m"

    with (
        CapturingRecorder() as rec,
        rec.run("r") as run,
        pytest.warns(RecorderWarning),
        run.llm("m", provider="p") as call,
    ):
        call.usage(FakeUsage())  # type: ignore[arg-type]  # the mistake under test
    [usage] = rec.events_of(ev.LlmUsage)
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)
    assert usage.attrs == {"invalid_input_tokens": -1, "invalid_output_tokens": "12"}
    assert len(rec.events_of(ev.SpanEnd)) == 2


# -- arbitrary input ------------------------------------------------------------------

# Text with what breaks hand-built JSON (quotes, backslashes, newlines), lone surrogates
# and any other code point.
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "\n", "\r", "{", "}", ",", ":", "\udcff", "\ud800", "\udfff", "é", "\u2028"]),
        st.characters(),
    ),
    max_size=12,
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_TEXT, inner, max_size=3)
        | st.dictionaries(st.integers(), inner, max_size=2)
    ),
    max_leaves=8,
)
# Keys that are the methods' own parameters cannot be passed as attributes at all.
_ATTR_KEYS = _TEXT.filter(lambda key: key not in {"self", "kind", "name", "value", "unit"})
_ATTRS = st.dictionaries(_ATTR_KEYS, _JSONISH, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.one_of(st.sampled_from(ev.SPAN_KINDS), _TEXT),
    name=_TEXT,
    start_attrs=_ATTRS,
    end_attrs=_ATTRS,
    metric_name=_TEXT,
    value=st.one_of(st.floats(), st.integers()),
    metric_attrs=_ATTRS,
)
def test_arbitrary_text_and_floats_always_give_one_valid_event_per_call(
    *,
    kind: str,
    name: str,
    start_attrs: dict[str, Any],
    end_attrs: dict[str, Any],
    metric_name: str,
    value: float,
    metric_attrs: dict[str, Any],
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with (
            CapturingRecorder() as rec,
            rec.run("r") as run,
            run.span(kind, name, **start_attrs) as span,  # type: ignore[arg-type]  # any text, on purpose
        ):
            span.set(**end_attrs)
            run.metric(metric_name, value, **metric_attrs)
    # MemorySink decodes each line as it arrives: one that failed would be missing here
    # and would have warned "could not record".
    assert not [w for w in caught if "could not record" in str(w.message)]
    assert [type(e).__name__ for e in rec.events] == ["SpanStart", "SpanStart", "Metric", "SpanEnd", "SpanEnd"]
    for line in rec.lines:
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        ev.decode(line)
    _, start, metric, end, _ = rec.events
    assert isinstance(start, ev.SpanStart)
    assert isinstance(metric, ev.Metric)
    assert isinstance(end, ev.SpanEnd)
    assert start.kind in ev.SPAN_KINDS
    assert math.isfinite(metric.value)
    assert end.span == start.span
    if name.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == name:  # valid UTF-8: kept exactly
        assert start.name == name
    if kind in ev.SPAN_KINDS:
        assert start.kind == kind
    else:
        assert start.kind == "other"
        assert start.attrs["invalid_kind"] == kind.encode("utf-8", "backslashreplace").decode()
