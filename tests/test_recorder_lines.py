"""The recorder's hand-built span lines are exactly what the events encoder writes.

The SDK builds each span_start / span_end line as one f-string, with ids and timestamps
from ``clock.stamp`` (cached per millisecond), instead of encoding a Struct. Every line it
writes must stay a valid event, byte for byte the encoder's output for the same event:

- recorded programs (hypothesis): nested spans of every kind, attributes at start and
  end, errors and chosen outcomes, unicode / quote / control-character names and run
  ids, on a simulated clock that steps across millisecond, second and day boundaries;
  every line is decoded by the strict decoder and equals ``events.encode`` of the event
  the test expects (built from what the test did, not from the line);
- the cached prefixes going stale: stamps and phases for arbitrary nanoseconds in any
  order (a clock set back too), two recorders on clocks far apart interleaved, a real
  store split into day segments;
- ids unique across threads (with the GIL switching every microsecond, racing the
  caches) and across forked processes.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laptime import events as ev
from laptime.clock import SimulatedClock, format_timestamp, new_id, stamp
from laptime.events import Outcome, SpanKind
from laptime.recorder import Recorder, RecorderWarning, Run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from laptime.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UUID7_HEX = re.compile(r"[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}")
NS_PER_MS = 1_000_000


def reference_ts(ns: int) -> str:
    """The canonical timestamp, computed without laptime.clock: datetime arithmetic."""
    return (EPOCH + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_id(value: str, ns: int) -> None:
    """An id in the UUIDv7 layout whose 48-bit millisecond field is that of ``ns``."""
    assert UUID7_HEX.fullmatch(value), value
    assert int(value[:12], 16) == (ns // NS_PER_MS) & 0xFFFFFFFFFFFF, (value, ns)


class RawSink:
    """Keeps every line and day exactly as the recorder handed them over."""

    def __init__(self) -> None:
        self.lines: list[tuple[bytes, str]] = []

    def append(self, line: bytes, day: str) -> None:
        self.lines.append((line, day))

    def close(self) -> None:
        pass


class SetClock:
    """A clock that reads whatever it was last set to: back in time too, as a wall clock
    can be set back (SimulatedClock only moves forward)."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def record_phases(clock: SetClock, times: list[tuple[int, int]], run_id: str) -> tuple[RawSink, list[Any]]:
    """One phase per (start, end) pair, the clock set to each in turn; the lines written
    and the (event, ns) each must be (end ids, unknown to the test, left empty)."""
    sink = RawSink()
    expected: list[tuple[ev.Event, int]] = []
    with Recorder(clock=clock, sink=sink) as rec, rec.run("r", run_id=run_id) as run:
        for i, (start, end) in enumerate(times):
            clock.now = start
            with run.phase(f"p{i}") as scope:
                assert scope.span_id is not None
                clock.now = end
            expected += [
                (ev.SpanStart(v=1, id=scope.span_id, ts=reference_ts(start), run=run_id, parent=run_id,
                              span=scope.span_id, kind="phase", name=f"p{i}"), start),
                (ev.SpanEnd(v=1, id="", ts=reference_ts(end), run=run_id, span=scope.span_id), end),
            ]  # fmt: skip
    return sink, expected


# -- a recorded program, and the events it must produce -----------------------------------

NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # a lone surrogate is replaced: test_recorder_validation.py
# Names and run ids: plain, unicode, and everything JSON has to escape.
special_text = st.sampled_from(
    [
        "p",
        "plan",
        "",
        "写代码",
        "émoji 🎉",
        'a "quoted" name',
        "back\\slash",
        "tab\tnew\nline",
        "\x00\x1f\x7f",
        "\u2028",
    ]
)
text = special_text | st.text(st.characters(exclude_categories=NO_SURROGATES), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
# Keyword names the span-making methods take themselves cannot be attributes.
attr_dicts = st.dictionaries(text.filter(lambda k: k not in {"kind", "name"}), json_values, max_size=3)
run_attr_dicts = st.dictionaries(text.filter(lambda k: k not in {"name", "run_id", "runner"}), json_values, max_size=3)
# Clock steps (ns) that land on, just before and just after ms / s / day boundaries.
steps = st.sampled_from([0, 1, 999, 1_000, 999_999, 1_000_000, 1_000_001, 10**9 - 1, 10**9, 86_400 * 10**9]) | (
    st.integers(0, 3 * 10**9)
)
starts = st.sampled_from(
    [
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # a year's last microsecond
        datetime(2024, 2, 28, 23, 59, 59, 999_000, tzinfo=UTC),  # into a leap day
        datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 5, 9, 0, 0, 123_456, tzinfo=UTC),
    ]
)


@dataclass
class Node:
    kind: SpanKind
    name: str
    attrs: dict[str, Any]
    end_attrs: dict[str, Any]
    before_ns: int  # clock step before entering
    inside_ns: int  # clock step before leaving
    outcome: Outcome | None  # set_outcome(...) inside, or none
    error: str | None  # raise ValueError(error) inside, or none
    children: list[Node] = field(default_factory=list)


def nodes(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    return st.builds(
        Node,
        kind=st.sampled_from(ev.SPAN_KINDS),
        name=text,
        attrs=attr_dicts,
        end_attrs=attr_dicts,
        before_ns=steps,
        inside_ns=steps,
        outcome=st.none() | st.sampled_from(ev.OUTCOMES),
        error=st.none() | text,
        children=children,
    )


programs = st.lists(
    st.recursive(nodes(st.just([])), lambda kids: nodes(st.lists(kids, max_size=3)), max_leaves=8),
    min_size=1,
    max_size=4,
)


class Expect:
    """Runs a program on the recorder and builds, from what it did, the events it must write."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.events: list[tuple[ev.Event, int]] = []  # (expected event, ns), in order
        self.end_ids: list[int] = []  # indexes of the span_ends, whose ids the test cannot know

    def step(self, ns: int) -> None:
        self.clock._now_ns += ns  # exact nanoseconds: advance() takes float seconds

    def run_node(self, run: Run, parent: str, node: Node) -> None:
        self.step(node.before_ns)
        scope = run.span(node.kind, node.name, **node.attrs)
        raised = ValueError(node.error) if node.error is not None else None
        caught = None
        try:
            with scope:
                assert scope.span_id is not None
                start_ns = self.clock()
                self.events.append(
                    (
                        ev.SpanStart(
                            v=1, id=scope.span_id, ts=reference_ts(start_ns), run=run.id, parent=parent,
                            span=scope.span_id, kind=node.kind, name=node.name, attrs=node.attrs,
                        ),
                        start_ns,
                    )
                )  # fmt: skip
                for child in node.children:
                    self.run_node(run, scope.span_id, child)
                if node.end_attrs:
                    scope.set(**node.end_attrs)
                if node.outcome is not None:
                    scope.set_outcome(node.outcome)
                self.step(node.inside_ns)
                if raised is not None:
                    raise raised
        except ValueError as exc:
            caught = exc
        assert caught is raised  # the user's exception passes through unchanged
        outcome, error = node.outcome or "completed", None
        if raised is not None:
            outcome = node.outcome if node.outcome not in (None, "completed") else "failed"
            error = f"ValueError: {node.error}" if node.error else "ValueError"
        end_ns = self.clock()
        self.end_ids.append(len(self.events))
        self.events.append(
            (
                ev.SpanEnd(
                    v=1, id="", ts=reference_ts(end_ns), run=run.id, span=scope.span_id or "",
                    outcome=outcome, error=error, attrs=node.end_attrs,
                ),
                end_ns,
            )
        )  # fmt: skip


def check_lines(lines: list[tuple[bytes, str]], expected: list[tuple[ev.Event, int]], end_ids: list[int]) -> None:
    """Each line decodes strictly, is the encoder's bytes for the expected event, and
    lands in its day; every id is unique and carries its event's millisecond."""
    assert len(lines) == len(expected)
    ids = set()
    for index, ((line, day), (event, ns)) in enumerate(zip(lines, expected, strict=True)):
        decoded = ev.decode(line)  # the strict decoder: schema, v, canonical timestamps
        want = msgspec.structs.replace(event, id=decoded.id) if index in end_ids else event
        assert line == ev.encode(want), (line, ev.encode(want))
        assert decoded == want
        assert day == want.ts[:10]
        check_id(want.id, ns)
        ids.add(want.id)
    assert len(ids) == len(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, start=starts, run_id=st.none() | text.filter(bool), run_attrs=run_attr_dicts)
def test_recorded_spans_are_the_encoders_bytes_for_the_same_events(
    program: list[Node], start: datetime, run_id: str | None, run_attrs: dict[str, Any]
) -> None:
    clock = SimulatedClock(start)
    clock._now_ns += 999  # sub-microsecond nanoseconds, which the timestamp drops
    sink = RawSink()
    expect = Expect(clock)
    with Recorder(clock=clock, sink=sink) as rec, rec.run("the run", run_id=run_id, **run_attrs) as run:
        run_start = clock()
        for node in program:
            expect.run_node(run, run.id, node)
    run_end = clock()
    if run_id is None:
        check_id(run.id, run_start)
    else:
        assert run.id == run_id
    (run_line, run_day), *span_lines, (end_line, end_day) = sink.lines
    run_event = ev.SpanStart(
        v=1, id=run.id, ts=reference_ts(run_start), run=run.id, span=run.id, kind="run", name="the run", attrs=run_attrs
    )
    assert ev.decode(run_line) == run_event
    assert run_line == ev.encode(run_event)
    assert run_day == run_event.ts[:10]
    check_lines(span_lines, expect.events, expect.end_ids)
    run_end_event = ev.SpanEnd(v=1, id="", ts=reference_ts(run_end), run=run.id, span=run.id)
    check_lines([(end_line, end_day)], [(run_end_event, run_end)], [0])


def test_nested_spans_with_attrs_errors_and_unicode_on_a_day_rollover() -> None:
    """One fixed program across midnight (the property test's worked example)."""
    clock = SimulatedClock(datetime(2026, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))
    sink = RawSink()
    program = [
        Node("phase", "plan 写", {"ticket": "T-1", "n": [1, 2.5, None]}, {}, 999_000, 1, None, None, [
            Node("tool", 'grep "x"', {}, {"hits": 3}, 0, 1_000, None, "no \u00e9 match\n", []),
        ]),
        Node("validation", "pytest", {}, {}, 1, 10**9, "blocked", None, []),
    ]  # fmt: skip
    expect = Expect(clock)
    with Recorder(clock=clock, sink=sink) as rec, rec.run("r", run_id='run "1"') as run:
        for node in program:
            expect.run_node(run, run.id, node)
    check_lines(sink.lines[1:-1], expect.events, expect.end_ids)
    days = [day for _, day in sink.lines]
    assert days[0] == "2026-12-31"
    assert days[-1] == "2027-01-01"
    assert b'"ts":"2027-01-01T00:00:00.000000Z"' in sink.lines[3][0]  # the tool's end: exactly midnight
    assert sink.lines[3][1] == "2027-01-01"
    run_end = ev.decode(sink.lines[-1][0])  # the run's id is the user's text, escaped in its end line
    assert isinstance(run_end, ev.SpanEnd)
    assert run_end.span == 'run "1"'
    assert ev.encode(run_end) == sink.lines[-1][0]


def test_attrs_the_encoder_still_refuses_are_kept_as_their_repr_and_the_span_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last resort behind the attribute checks: should an attribute get past them and
    msgspec refuse it, the span's line is still written, with the attrs' repr instead."""
    from laptime import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "_clean_attrs", lambda _rec, _call, attrs: attrs)  # checks let all through
    sink = RawSink()
    handle = object()
    with (
        pytest.warns(RecorderWarning, match="could not record events") as record,
        Recorder(sink=sink) as rec,
        rec.run("r", run_id="run-1") as run,
        run.phase("p", handle=handle) as scope,
    ):
        scope.set(also=handle)
    assert len(record) == 1  # one warning per kind of failure, not one per line
    start, end = (ev.decode(line) for line, _ in sink.lines[1:3])
    assert isinstance(start, ev.SpanStart)
    assert isinstance(end, ev.SpanEnd)
    assert start.name == "p"
    assert end.span == start.span
    assert start.attrs == {"invalid_attrs": repr({"handle": handle})}
    assert end.attrs == {"invalid_attrs": repr({"also": handle})}
    for line, _ in sink.lines:
        assert ev.encode(ev.decode(line)) == line


def test_the_cache_of_encoded_span_names_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names made up on the fly, or long ones, are encoded each time, not kept for ever."""
    from laptime import recorder as recorder_module

    cache: dict[str, str] = {}
    monkeypatch.setattr(recorder_module, "_NAME_JSON", cache)
    sink = RawSink()
    long_name = "pytest -q " + "tests/test_x.py " * 40
    names = [f"task-{i}" for i in range(recorder_module._NAME_JSON_MAX + 100)] + [long_name, long_name]
    with Recorder(sink=sink) as rec, rec.run("r") as run:
        for name in names:
            with run.task(name):
                pass
    assert len(cache) == recorder_module._NAME_JSON_MAX
    assert long_name not in cache
    opened = [ev.decode(line) for line, _ in sink.lines[1:-1:2]]
    assert [e.name for e in opened if isinstance(e, ev.SpanStart)] == names
    assert all(ev.encode(ev.decode(line)) == line for line, _ in sink.lines)


# -- the per-millisecond caches ----------------------------------------------------------------

edge_ns = st.sampled_from(
    [
        0,
        1,
        999,
        NS_PER_MS - 1,
        NS_PER_MS,
        -1,  # just before the epoch
        1_767_225_599_999_999_999,  # 2025-12-31T23:59:59.999999999Z
        1_767_225_600_000_000_000,  # 2026-01-01T00:00:00Z
        1_709_164_799_999_000_000,  # 2024-02-28T23:59:59.999Z
        253_402_300_799_999_998_999,  # 9999-12-31T23:59:59.999998999Z, in the last datetime second
    ]
)
any_ns = st.integers(0, 253_402_300_799 * 10**9)
ns_sequences = st.lists(edge_ns | any_ns | edge_ns.map(lambda ns: ns + 1_000), min_size=1, max_size=60)


@given(sequence=ns_sequences)
def test_stamps_stay_exact_when_the_clock_jumps_about(sequence: list[int]) -> None:
    """In any order (back, forth, within one millisecond, across days), each stamp is
    exact: a stale cached prefix would show up as a wrong timestamp or id time."""
    seen: set[str] = set()
    for ns in sequence:
        event_id, ts, day = stamp(ns)
        assert ts == reference_ts(ns)
        assert day == ts[:10]
        check_id(event_id, ns)
        assert format_timestamp(ns) == ts
        other = new_id(ns)
        check_id(other, ns)
        seen.update((event_id, other))
    assert len(seen) == 2 * len(sequence)


@given(sequence=ns_sequences.filter(lambda s: len(s) % 2 == 0))
def test_phase_lines_stay_exact_when_the_clock_jumps_about(sequence: list[int]) -> None:
    """The recorder's own copy of the stamp, in its span lines, on a clock set back and
    forth between phases and inside them."""
    clock = SetClock(sequence[0])
    sink, expected = record_phases(clock, list(zip(sequence[::2], sequence[1::2], strict=True)), "run-1")
    check_lines(sink.lines[1:-1], expected, list(range(1, len(expected), 2)))


def test_ids_in_one_process_sort_in_creation_order_across_milliseconds() -> None:
    base = 1_764_662_400 * 10**9
    made = [stamp(base + step * 333_333)[0] for step in range(3_000)]  # ~1,000 milliseconds
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_two_recorders_on_clocks_far_apart_interleave_exactly() -> None:
    """Each recorder's stamp replaces the other's cached millisecond: both stay exact."""
    early = SimulatedClock(datetime(2020, 6, 1, 12, 0, 0, 1, tzinfo=UTC))
    late = SimulatedClock(datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=UTC))
    sinks = {"early": RawSink(), "late": RawSink()}
    recs = {"early": Recorder(clock=early, sink=sinks["early"]), "late": Recorder(clock=late, sink=sinks["late"])}
    clocks = {"early": early, "late": late}
    expects = {name: Expect(clock) for name, clock in clocks.items()}
    with recs["early"].run("e") as run_e, recs["late"].run("l") as run_l:
        runs = {"early": run_e, "late": run_l}
        for i in range(40):
            for name in ("early", "late"):
                step = (1, 999, NS_PER_MS, 10**9 - 1)[i % 4]
                node = Node("phase", f"{name}-{i}", {}, {}, step, i, None, None, [])
                expects[name].run_node(runs[name], runs[name].id, node)
    for name, sink in sinks.items():
        check_lines(sink.lines[1:-1], expects[name].events, expects[name].end_ids)


def test_a_real_store_gets_each_line_in_its_days_segment(store: Store) -> None:
    clock = SimulatedClock(datetime(2026, 12, 31, 23, 59, 59, 999_990, tzinfo=UTC))
    with Recorder(home=store.root, clock=clock) as rec, rec.run("r") as run:  # buffered, the default
        for i in range(30):
            with run.phase("p", i=i):
                clock._now_ns += 1_000
    by_day = {path.stem: path.read_bytes().splitlines(keepends=True) for path in store.segments()}
    assert sorted(by_day) == ["2026-12-31", "2027-01-01"]
    total = 0
    for day, lines in by_day.items():
        for line in lines:
            event = ev.decode(line)
            assert ev.encode(event) == line
            assert event.ts[:10] == day
            total += 1
    assert total == 2 + 2 * 30


# -- unique across threads and processes ----------------------------------------------------


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Let the GIL change threads every microsecond, so racing updates of the cached
    prefixes are likely to interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


THREADS = 4


@pytest.mark.usefixtures("fast_switching")
def test_stamps_from_racing_threads_are_exact_and_unique() -> None:
    """Threads stamping different seconds at once: a cache updated in two steps would
    hand one thread another's prefix (a timestamp off by a second, or an id by a ms)."""
    base = 1_764_662_400 * 10**9
    barrier = threading.Barrier(THREADS)
    results: list[list[tuple[int, str, str, str, str]]] = [[] for _ in range(THREADS)]

    def work(t: int) -> None:
        barrier.wait()
        out = results[t]
        for i in range(4_000):
            ns = base + (i * THREADS + t) * 500_000_007  # each call: another ms, mostly another second
            event_id, ts, _ = stamp(ns)
            out.append((ns, event_id, ts, new_id(ns), format_timestamp(ns)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = []
    for out in results:
        for ns, event_id, ts, other_id, formatted in out:
            assert ts == formatted == reference_ts(ns)
            check_id(event_id, ns)
            check_id(other_id, ns)
            ids += [event_id, other_id]
    assert len(set(ids)) == len(ids) == THREADS * 4_000 * 2


@pytest.mark.usefixtures("fast_switching")
def test_recorders_on_different_clocks_racing_in_threads_write_exact_lines() -> None:
    """Each thread's recorder has its own clock, seconds away from the others', so every
    phase replaces the millisecond cache the other threads are reading."""
    base = 1_764_662_400 * 10**9
    barrier = threading.Barrier(THREADS)
    done: list[tuple[RawSink, list[Any]]] = [(RawSink(), [])] * THREADS

    def work(t: int) -> None:
        times = [(base + (4 * i + t) * 500_000_007, base + (4 * i + t) * 500_000_007 + 1_001) for i in range(500)]
        clock = SetClock(times[0][0])
        barrier.wait()
        done[t] = record_phases(clock, times, f"run-{t}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids: list[str] = []
    for sink, expected in done:
        check_lines(sink.lines[1:-1], expected, list(range(1, len(expected), 2)))
        ids += [ev.decode(line).id for line, _ in sink.lines[1:-1]]
    assert len(set(ids)) == len(ids) == THREADS * 500 * 2


@pytest.mark.usefixtures("fast_switching")
def test_phases_in_threads_of_one_run_get_unique_ids_and_valid_lines() -> None:
    sink = RawSink()
    with Recorder(sink=sink) as rec, rec.run("r") as run:  # the real clock

        def work() -> None:
            for i in range(1_000):
                with run.phase(f"p{i % 7}", i=i):
                    pass

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    events = [ev.decode(line) for line, _ in sink.lines]
    assert [ev.encode(event) for event in events] == [line for line, _ in sink.lines]
    assert len(events) == 2 + THREADS * 1_000 * 2
    assert len({event.id for event in events}) == len(events)
    assert {event.parent for event in events if isinstance(event, ev.SpanStart) and event.kind == "phase"} == {run.id}


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_forked_children_never_repeat_their_parents_ids(store: Store) -> None:
    """A child forked mid-millisecond, stamping the very same nanoseconds as its parent,
    still makes other ids (its node and counter are drawn again), and the phases that
    parent and children record into one store all have ids of their own."""
    ns = 1_764_662_400_123_456_789
    parent_ids = [stamp(ns)[0] for _ in range(500)]
    rec = Recorder(home=store.root)
    children = []
    with rec.run("parent") as run:
        for _ in range(100):
            with run.phase("before-fork"):
                pass
        for n in range(3):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 0
                try:
                    os.close(read_end)
                    made = [stamp(ns)[0] for _ in range(500)]
                    with rec.run(f"child-{n}") as child_run:
                        for _ in range(200):
                            with child_run.phase("in-child"):
                                pass
                    rec.close()
                    os.write(write_end, "\n".join(made).encode())
                except BaseException:  # report through the exit code
                    code = 1
                os._exit(code)
            os.close(write_end)
            children.append((pid, read_end))
        for _ in range(100):
            with run.phase("after-fork"):
                pass
    child_ids = []
    for pid, read_end in children:
        child_ids += _read_all(read_end).decode().split("\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    rec.close()
    made = parent_ids + child_ids
    assert len(made) == 4 * 500
    assert len(set(made)) == len(made)
    for value in made:
        check_id(value, ns)

    events = []
    for path in store.segments():
        for line in path.read_bytes().splitlines(keepends=True):
            if not line.strip():
                continue  # a blank line: a torn-tail seal racing another writer, which readers skip by design
            event = ev.decode(line)
            assert ev.encode(event) == line
            events.append(event)
    assert len(events) == 2 + 2 * 200 + 3 * (2 + 2 * 200)
    assert len({event.id for event in events}) == len(events)
    assert {e.name for e in events if isinstance(e, ev.SpanStart) and e.kind == "run"} == {
        "parent",
        "child-0",
        "child-1",
        "child-2",
    }
