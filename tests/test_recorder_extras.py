"""Recorder details: decorated generators; -W error. (That the hand-built span lines
equal the encoder's bytes is tested in test_recorder_lines.py, through the recorder.)"""

from __future__ import annotations

from typing import Any

from laptime import events as ev


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
