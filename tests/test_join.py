"""``Recorder.join`` / ``laptime.join``: recording inside a run another process owns."""

from __future__ import annotations

import json
from typing import Any

import pytest

import laptime
from helpers import MemorySink
from laptime.events import decode
from laptime.recorder import Recorder, RecorderWarning


def recorded(sink: MemorySink) -> list[dict[str, Any]]:
    for line, _ in sink.lines:
        decode(line)  # each line is one the log accepts
    return [json.loads(line) for line, _ in sink.lines]


class TestJoin:
    def test_a_joined_run_writes_its_spans_and_events_under_the_parent_and_never_its_own_start_or_end(self) -> None:
        sink = MemorySink()
        with Recorder(sink=sink) as rec, rec.join("run-7", parent="span.9:a-b_c") as run:
            with run.task("build") as task:
                run.metric("rows", 3)
            run.checkpoint("abc")
        build_start, metric, build_end, checkpoint = recorded(sink)
        assert (build_start["type"], build_start["run"], build_start["parent"]) == (
            "span_start",
            "run-7",
            "span.9:a-b_c",
        )
        assert (metric["parent"], metric["run"]) == (task.span_id, "run-7")
        assert (build_end["type"], build_end["span"]) == ("span_end", task.span_id)
        assert (checkpoint["type"], checkpoint["parent"]) == ("checkpoint", "span.9:a-b_c")

    def test_without_a_parent_the_run_is_the_parent(self) -> None:
        sink = MemorySink()
        with Recorder(sink=sink) as rec, rec.join("run-7") as run:
            run.milestone("m")
        [milestone] = recorded(sink)
        assert milestone["parent"] == "run-7"

    def test_a_parent_that_is_not_a_plain_id_warns_and_the_run_is_used(self) -> None:
        sink = MemorySink()
        with Recorder(sink=sink) as rec:
            with pytest.warns(RecorderWarning, match=r"invalid parent in join \('a\"b' is not a plain span id"):
                joined = rec.join("run-7", parent='a"b')
            with joined as run, run.task("t"):
                pass
        start, _ = recorded(sink)
        assert start["parent"] == "run-7"

    def test_the_module_function_reads_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert laptime.join() is None
        monkeypatch.setenv("LAPTIME_RUN_ID", "run-env")
        monkeypatch.setenv("LAPTIME_SPAN_ID", "span-env")
        sink = MemorySink()
        laptime.recorder.swap_default_recorder(Recorder(sink=sink))
        joined = laptime.join()
        assert joined is not None
        with joined as run:
            assert laptime.current_run() is run
            run.metric("m", 1)
        assert laptime.current_run() is None
        [metric] = recorded(sink)
        assert (metric["run"], metric["parent"]) == ("run-env", "span-env")
