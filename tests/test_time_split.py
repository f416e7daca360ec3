"""Where the time goes: the definition (split_wall_time, activity_of), one run in
``report show``, many runs in ``report summary``, and the per-run cache behind it."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import T0, invoke, invoke_json, record_simple_run, write_lines
from laptime import definitions as d
from laptime import events as ev
from laptime.index import Index
from laptime.report.time_split_view import tenths_of_percent

if TYPE_CHECKING:
    from laptime.store import Store

RUN = "split-run"
DAY = "2026-01-05"


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _line(event: Any) -> tuple[bytes, str]:
    return ev.encode(event), event.ts[:10]


def _span(
    span: str, kind: str, start: float, end: float | None, *, parent: str = RUN, run: str = RUN, **attrs: Any
) -> list[tuple[bytes, str]]:
    end_attrs = attrs.pop("end_attrs", {})
    lines = [
        _line(ev.SpanStart(v=1, id=f"{span}-s", ts=_ts(start), run=run, parent=parent if span != run else None,
                           span=span, kind=kind, name=span, attrs=attrs))
    ]  # fmt: skip
    if end is not None:
        lines.append(_line(ev.SpanEnd(v=1, id=f"{span}-e", ts=_ts(end), run=run, span=span, attrs=end_attrs)))
    return lines


def _known_run(store: Store, run: str = RUN) -> None:
    """0-100 s: LLM 10-50, a tool on another worker 30-70 (half each while both run), git
    70-75, a 5 s validation ending at 85, waiting on a human 85-95, on a lock 95-97, a tool
    blocked on the user 97-100, nothing at 0-10 and 75-80."""
    lines = [
        *_span(run, "run", 0, 100, run=run),
        *_span(f"{run}-work", "phase", 0, 100, run=run),
        *_span(f"{run}-llm", "llm", 10, 50, parent=f"{run}-work", run=run, worker="w1"),
        *_span(f"{run}-tool", "tool", 30, 70, parent=f"{run}-work", run=run, worker="w2"),
        *_span(f"{run}-git", "git", 70, 75, parent=f"{run}-work", run=run),
        _line(ev.Validation(v=1, id=f"{run}-v", ts=_ts(85), run=run, command="pytest", passed=True, duration_ms=5000)),
        *_span(f"{run}-approve", "other", 85, 95, run=run, waiting_on="human"),
        *_span(f"{run}-lock", "other", 95, 97, run=run, waiting_on="sync"),
        *_span(f"{run}-ask", "tool", 97, 100, run=run, end_attrs={"blocked_on_user": True}),
    ]
    write_lines(store, lines)


KNOWN = {
    "llm_ms": 30_000,
    "tool_ms": 30_000,
    "git_ms": 5_000,
    "validation_ms": 5_000,
    "sync_wait_ms": 2_000,
    "human_wait_ms": 13_000,
    "other_ms": 15_000,
}


# -- the definition --------------------------------------------------------------------------


def test_activities_of_spans() -> None:
    assert [d.activity_of(k) for k in ("llm", "tool", "git", "validation", "run", "phase", "task", "other")] == [
        "llm", "tool", "git", "validation", None, None, None, None,
    ]  # fmt: skip
    assert d.activity_of("other", "human") == d.activity_of("task", "User") == "human_wait"
    assert {d.activity_of("other", w) for w in ("sync", "lock", "queue", "batch", "dependency")} == {"sync_wait"}
    assert d.activity_of("tool", None, blocked_on_user=True) == "human_wait"
    assert d.activity_of("tool", "nonsense") == "tool"
    assert d.activity_of("llm", 3) == "llm"  # a waiting_on that is not text is not a wait


def test_an_instant_is_split_among_the_activities_active_at_it() -> None:
    parts = d.split_wall_time(0, 100, [(10, 50, "llm"), (30, 70, "tool"), (40, 45, "llm"), (-5, 5, "git")])
    assert parts == {"llm": 30, "tool": 30, "git": 5, "validation": 0, "sync_wait": 0, "human_wait": 0, "other": 35}
    # three parallel LLM calls are LLM time once, not three times
    assert d.split_wall_time(0, 10, [(0, 10, "llm")] * 3)["llm"] == 10
    # an instant shared three ways: the µs left over go to the largest remainders
    assert sum(d.split_wall_time(0, 101, [(0, 101, "llm"), (0, 101, "tool"), (0, 101, "git")]).values()) == 101
    assert d.split_wall_time(5, 5, [(0, 10, "llm")]) == dict.fromkeys(d.ACTIVITIES, 0)


activities = st.sampled_from([a for a in d.ACTIVITIES if a != "other"])
intervals = st.lists(st.tuples(st.integers(-50, 1050), st.integers(-50, 1050), activities), max_size=30)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 100), length=st.integers(0, 1000), spans=intervals)
def test_the_parts_add_up_to_the_wall_time(start: int, length: int, spans: list[tuple[int, int, str]]) -> None:
    parts = d.split_wall_time(start, start + length, spans)
    assert sum(parts.values()) == length
    assert all(v >= 0 for v in parts.values())
    clipped = [(max(a, start), min(b, start + length)) for a, b, _ in spans]
    assert parts["other"] == length - d.union_us(c for c in clipped if c[1] > c[0])
    for activity in d.ACTIVITIES[:-1]:  # never more than the activity's own union
        own = [(max(a, start), min(b, start + length)) for a, b, x in spans if x == activity]
        assert parts[activity] <= d.union_us(c for c in own if c[1] > c[0]) + len(d.ACTIVITIES)


# -- one run, many runs ----------------------------------------------------------------------------


def test_report_show_says_where_the_time_went(store: Store) -> None:
    _known_run(store)
    split = invoke_json(store.root, "report", "show", RUN)["time_split"]
    assert {k: split[k] for k in KNOWN} == KNOWN
    assert split["wall_ms"] == 100_000 == sum(KNOWN.values())
    assert split["runs"] == 1
    assert split["shares"]["llm"] == 0.3
    assert abs(sum(split["shares"].values()) - 1) < 1e-12
    text = invoke(store.root, "report", "show", RUN).stdout
    section = text.split("Where the time went\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split("  ")[0] for line in section] == [
        "LLM calls", "tool calls", "git", "validation", "waiting on sync", "waiting on a human", "other",
    ]  # fmt: skip
    assert [line.split()[-2] for line in section] == ["30.0%", "30.0%", "5.0%", "5.0%", "2.0%", "13.0%", "15.0%"]


def test_report_summary_adds_the_runs_up(store: Store) -> None:
    _known_run(store)
    _known_run(store, "split-run-2")
    record_simple_run(store, "plain", start=T0 + timedelta(hours=2), seconds=60, calls=0)  # no activity: other
    split = invoke_json(store.root, "report", "summary")["time_split"]
    assert split["runs"] == 3
    assert split["wall_ms"] == 260_000
    assert {k: split[k] for k in KNOWN} == {k: 2 * v + (60_000 if k == "other_ms" else 0) for k, v in KNOWN.items()}
    assert "Where the time went" in invoke(store.root, "report", "summary").stdout
    only_plain = invoke_json(store.root, "report", "summary", "--task", "simple")["time_split"]
    assert (only_plain["runs"], only_plain["other_ms"], only_plain["wall_ms"]) == (1, 60_000, 60_000)


def test_the_per_run_cache_follows_the_log(store: Store) -> None:
    _known_run(store)
    invoke_json(store.root, "report", "summary")
    with Index(store) as index:
        assert index.query("SELECT run_id, wall_us, llm FROM time_split_cache") == [(RUN, 100_000_000, 30_000_000)]
        # a row of another version of the definition is not read
        index.execute("UPDATE time_split_cache SET version = version + 1, llm = 0")
    assert invoke_json(store.root, "report", "summary")["time_split"]["llm_ms"] == 30_000
    # a new LLM call in the idle start of the run: the run's cached split is dropped, and recomputed
    write_lines(store, _span(f"{RUN}-late", "llm", 0, 10, parent=f"{RUN}-work"))
    split = invoke_json(store.root, "report", "summary")["time_split"]
    assert (split["llm_ms"], split["other_ms"]) == (40_000, 5_000)
    assert invoke_json(store.root, "report", "show", RUN)["time_split"] == split
    assert invoke(store.root, "refresh").exit_code == 0
    assert invoke_json(store.root, "report", "summary")["time_split"] == split


def test_printed_shares_add_up_to_100_percent() -> None:
    split = {"wall_ms": 3, "llm_ms": 1, "tool_ms": 1, "git_ms": 1, "validation_ms": 0, "sync_wait_ms": 0,
             "human_wait_ms": 0, "other_ms": 0}  # fmt: skip
    tenths = tenths_of_percent(split)
    assert sum(tenths.values()) == 1000
    assert (tenths["llm"], tenths["tool"], tenths["git"]) == (334, 333, 333)


def test_llm_usage_with_a_latency_is_llm_time(store: Store) -> None:
    """The recorder's ``llm_call`` writes usage events, not spans: each is the interval of its
    latency that ended at its ``ts``; validations likewise with their ``duration_ms``."""
    from helpers import FIXED_RUN_ID, record_fixed_run

    record_fixed_run(store)
    split = invoke_json(store.root, "report", "show", FIXED_RUN_ID)["time_split"]
    with Index(store) as index:
        latencies = index.query("SELECT ts, latency_ms FROM llm_calls WHERE latency_ms > 0 ORDER BY ts")
        checks = index.query("SELECT ts, duration_ms FROM validations ORDER BY ts, duration_ms")
    # a 1.5 s call that ended as the run started (clipped away), and a 2.5 s one
    assert latencies == [("2026-01-05T09:00:00.000000Z", 1500.0), ("2026-01-05T09:01:10.000000Z", 2500.0)]
    # 30 s of pytest, then a 15 s pytest and a 5 s ruff ending together (counted once)
    assert [c[1] for c in checks] == [30_000.0, 5_000.0, 15_000.0]
    assert (split["llm_ms"], split["validation_ms"]) == (2_500, 45_000)
    assert split["other_ms"] == split["wall_ms"] - 47_500 == 252_500


def test_splits_that_cannot_be_kept_still_count(store: Store) -> None:
    """A read-only store (or a stale snapshot) cannot keep what it computed: the summary adds
    those runs to the ones the cache already holds."""
    import pytest

    _known_run(store)
    invoke_json(store.root, "report", "summary")  # the first run's split is kept
    _known_run(store, "split-run-2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("laptime.analysis.time_split._keep", lambda _index, _computed: False)
        split = invoke_json(store.root, "report", "summary")["time_split"]
    assert (split["runs"], split["wall_ms"], split["llm_ms"]) == (2, 200_000, 60_000)
    with Index(store) as index:
        assert index.query("SELECT run_id FROM time_split_cache") == [(RUN,)]


def test_an_ingest_between_computing_and_keeping_leaves_nothing_stale(store: Store) -> None:
    """Another process ingests a run's new spans (dropping its cached split) after this one
    computed the split from the older log: keeping that split would pin the stale figure
    until the run changed again. The keep fails on the stale snapshot instead."""
    import pytest

    from laptime.analysis import time_split

    _known_run(store)
    compute = time_split._compute

    def compute_then_another_ingest(index: Index, run_ids: list[str]) -> Any:
        out = compute(index, run_ids)
        write_lines(store, _span(f"{RUN}-late", "llm", 0, 10, parent=f"{RUN}-work"))
        with Index(store) as other:
            other.update()
        return out

    with Index(store) as index:
        index.update()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("laptime.analysis.time_split._compute", compute_then_another_ingest)
            first = time_split.runs_time_split(index)
        assert first.llm_ms == 30_000  # the answer of the snapshot it read
        assert index.query("SELECT run_id FROM time_split_cache") == []
        assert time_split.runs_time_split(index).llm_ms == 40_000


def test_a_latency_past_any_calendar_is_the_whole_run(store: Store) -> None:
    """1e308 ms is a valid float (the server took it): the call then started before the
    run, and the run's time is all LLM, instead of an OverflowError in every summary."""
    call = ev.LlmUsage(v=1, id="huge", ts=_ts(50), run="far", model="m", latency_ms=1e308)
    write_lines(store, [*_span("far", "run", 0, 100, run="far"), _line(call)])
    split = invoke_json(store.root, "report", "show", "far")["time_split"]
    assert (split["wall_ms"], split["llm_ms"]) == (100_000, 50_000)
    assert invoke_json(store.root, "report", "summary")["time_split"]["llm_ms"] == 50_000
