"""Helpers for testing code that is instrumented with laptime.

``capture()`` records into memory instead of the log, like ``structlog.testing.capture_logs``::

    from laptime.testing import capture

    def test_my_pipeline_records_its_phases():
        with capture() as rec:
            my_pipeline()  # uses laptime.run(...) and laptime.phase(...)
        names = [e.name for e in rec.events_of(SpanStart)]
        assert names == ["my-pipeline", "plan", "implement"]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from laptime import events as ev
from laptime import recorder as _recorder
from laptime.clock import Clock
from laptime.recorder import Recorder

E = TypeVar("E")

__all__ = ["CapturingRecorder", "MemorySink", "capture"]


class MemorySink:
    """A recorder sink that keeps every line, and the event it decodes to, in memory.

    Each line is decoded (and so validated) as it arrives, exactly as the index would
    read it from the log; a line that does not decode reaches the recorder as an error.
    """

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.events: list[ev.Event] = []
        self.days: list[str] = []
        self._lock = threading.Lock()

    def append(self, line: bytes, day: str) -> None:
        event = ev.decode(line)
        with self._lock:  # keeps lines, events and days in step across threads
            self.lines.append(line)
            self.events.append(event)
            self.days.append(day)

    def flush(self) -> None:
        """Nothing to write: every event is kept as it arrives."""

    def close(self) -> None:
        """Nothing to release; the events stay readable after the recorder closes."""

    def clear(self) -> None:
        with self._lock:
            self.lines.clear()
            self.events.clear()
            self.days.clear()


class CapturingRecorder(Recorder):
    """A Recorder writing to a ``MemorySink``: ``events``, ``lines`` and ``events_of``."""

    def __init__(self, *, clock: Clock | None = None, profile: bool = False, **kwargs: Any) -> None:
        self.sink = MemorySink()
        super().__init__(clock=clock, sink=self.sink, profile=profile, **kwargs)

    @property
    def events(self) -> list[ev.Event]:
        return self.sink.events

    @property
    def lines(self) -> list[bytes]:
        return self.sink.lines

    def events_of(self, event_type: type[E]) -> list[E]:
        """The captured events of one type, in the order they were recorded."""
        return [event for event in self.sink.events if isinstance(event, event_type)]


@contextmanager
def capture(*, clock: Clock | None = None, install: bool = True, **recorder_kwargs: Any) -> Iterator[CapturingRecorder]:
    """A recorder that keeps its events in memory, for your tests.

    With ``install`` (the default) it also stands in for the default recorder while the
    block runs, so code that calls ``laptime.run(...)`` and ``laptime.phase(...)`` is
    captured too; the previous default recorder is put back afterwards. Captures that
    install themselves should not overlap across threads.
    """
    rec = CapturingRecorder(clock=clock, **recorder_kwargs)
    if not install:
        with rec:
            yield rec
        return
    previous = _recorder.swap_default_recorder(rec)
    try:
        with rec:
            yield rec
    finally:
        _recorder.swap_default_recorder(previous)
