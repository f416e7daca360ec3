"""Recorder details: hand-built span lines equal the Struct encoding; decorated generators; -W error."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from laptime import events as ev
from laptime.recorder import span_end_line, span_start_line

TS = "2026-11-21T10:00:00.123456Z"
SPAN = "01a1fd8c69027963804897320000aaaa"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
attrs_strategy = st.dictionaries(st.text(), json_values, max_size=4)


def _json(value: str) -> str:
    return msgspec.json.encode(value).decode()


class TestSpanStartLine:
    @given(run=st.text(min_size=1), name=st.text(), kind=st.sampled_from(ev.SPAN_KINDS), attrs=attrs_strategy)
    def test_equals_the_encoded_struct(self, run: str, name: str, kind: Any, attrs: dict[str, Any]) -> None:
        for parent in (run, "01a1fd8c69027963804897320000bbbb"):
            parent_json = _json(run) if parent == run else f'"{parent}"'
            line = span_start_line(SPAN, TS, _json(run), parent_json, kind, name, attrs)
            event = ev.SpanStart(
                v=1, id=SPAN, ts=TS, run=run, parent=parent, span=SPAN, kind=kind, name=name, attrs=attrs
            )
            assert line == ev.encode(event)
            assert ev.decode(line) == event


class TestSpanEndLine:
    @given(
        run=st.text(min_size=1),
        outcome=st.sampled_from(ev.OUTCOMES),
        error=st.none() | st.text(),
        attrs=attrs_strategy,
    )
    def test_equals_the_encoded_struct(self, run: str, outcome: Any, error: str | None, attrs: dict[str, Any]) -> None:
        line = span_end_line("01a1fd8c69027963804897320000cccc", TS, _json(run), SPAN, outcome, error, attrs)
        event = ev.SpanEnd(
            v=1,
            id="01a1fd8c69027963804897320000cccc",
            ts=TS,
            run=run,
            span=SPAN,
            outcome=outcome,
            error=error,
            attrs=attrs,
        )
        assert line == ev.encode(event)
        assert ev.decode(line) == event


class TestDecoratedGenerators:
    """A decorated generator's span covers its iteration, not just the call."""

    def test_sync_generator(self) -> None:
        from laptime import SimulatedClock
        from laptime.testing import capture

        clock = SimulatedClock()
        with capture(clock=clock) as rec, rec.run("r", run_id="run-1") as run:

            @run.phase("stream")
            def numbers() -> Any:
                for i in range(3):
                    clock.advance(2)
                    yield i

            assert list(numbers()) == [0, 1, 2]
        start = next(e for e in rec.events_of(ev.SpanStart) if e.name == "stream")
        end = next(e for e in rec.events_of(ev.SpanEnd) if e.span == start.span)
        assert (start.ts, end.ts) == ("2026-01-05T09:00:00.000000Z", "2026-01-05T09:00:06.000000Z")

    def test_async_generator(self) -> None:
        import asyncio

        from laptime import SimulatedClock
        from laptime.testing import capture

        clock = SimulatedClock()
        with capture(clock=clock) as rec, rec.run("r", run_id="run-1") as run:

            @run.phase("stream")
            async def numbers() -> Any:
                for i in range(2):
                    clock.advance(5)
                    yield i

            async def consume() -> list[int]:
                return [i async for i in numbers()]

            assert asyncio.run(consume()) == [0, 1]
        start = next(e for e in rec.events_of(ev.SpanStart) if e.name == "stream")
        end = next(e for e in rec.events_of(ev.SpanEnd) if e.span == start.span)
        assert end.ts == "2026-01-05T09:00:10.000000Z"
        assert start.ts == "2026-01-05T09:00:00.000000Z"


def test_warnings_as_errors_still_never_break_the_caller(capsys: Any) -> None:
    import warnings

    from laptime.recorder import Recorder

    class Broken:
        def append(self, line: bytes, day: str) -> None:
            msg = f"No space left on device for {len(line)} bytes of {day}"
            raise OSError(28, msg)

        def close(self) -> None:
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Recorder(sink=Broken()) as rec, rec.run("r") as run, run.phase("p"):
            result = 42
    assert result == 42
    assert "RecorderWarning: laptime could not record events (OSError" in capsys.readouterr().err
