"""runr (formerly agent-run): ``runs/<runId>/timeline.jsonl`` and ``state.json``.

The mapping, source field by field, is in ``docs/importers.md``. In short: the run span
runs from ``run_started`` to the first ``stop``; each ``phase_start`` opens a phase that
ends where the next ``phase_start`` or the ``stop`` begins; ``verification`` becomes a
Validation, ``checkpoint_complete`` a Checkpoint plus a completed Milestone, and
``state.json``'s milestones the planned ones. A timeline without a stop (runr's
FINALIZE writes none) ends where ``state.json``'s final phase says; a ``run_resumed``
after a crash (no stop before it) becomes a top-level ``downtime`` span, so the
silence is charged to no phase.

``timeline.jsonl`` is read incrementally from the cached byte offset. The little state
the next read needs (the open phase, whether a verification has passed, worker call
counts already emitted) lives in ``FileState.extra``. Event ids come from the run id
and the line's ``seq``, so a re-read after a lost cache writes the same ids.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partialmethod
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from laptime import events as ev
from laptime.importers.base import FileState, ImportContext, Importer, iter_lines, source_event_id, timestamp
from laptime.importers.records import (
    RecordError,
    as_object,
    decode_json,
    get_bool,
    get_count,
    get_int,
    get_list,
    get_num,
    get_obj,
    get_str,
    parse_ts_ns,
    short,
    type_name,
)

# -- outcome words ---------------------------------------------------------------------------

_COMPLETED_WORDS = frozenset({"complete", "completed", "done", "success", "succeeded", "finished", "ok"})
# parallel_file_collision: runr stops rather than conflict with another run (a block);
# insufficient_evidence, milestone_missing: the worker's or the plan's failure.
_BLOCKED_PARTS = ("block", "escalat", "guard", "scope", "dirty", "preflight", "human", "collision")
_FAILED_PARTS = ("fail", "error", "crash", "max_retries", "parse", "exception", "insufficient", "missing")


def runr_outcome(reason: str, *, has_error: bool = False) -> ev.Outcome:
    """A runr stop reason as one of laptime's outcome words (the table in docs/importers.md)."""
    word = reason.strip().lower()
    if word in _COMPLETED_WORDS:
        return "completed"
    if any(k in word for k in _BLOCKED_PARTS):
        return "blocked"
    if any(k in word for k in _FAILED_PARTS):
        return "failed"
    if any(k in word for k in ("budget", "timeout", "time_", "max_ticks", "user", "interrupt", "cancel", "abort")):
        return "stopped"
    if any(k in word for k in ("manual", "dry", "stop", "sigint", "sigterm", "killed")):
        return "stopped"
    return "failed" if has_error else "stopped"


# -- the timeline parser ----------------------------------------------------------------------

IMPORTER = "runr"
_WORKER_PROVIDERS = {"claude": "anthropic", "codex": "openai"}
_SCOPE_LIST_KEYS = ("violations", "files", "paths", "blocked_files", "blockedFiles", "out_of_scope")
# The events that happen inside a phase: one of them right after a crash's run_resumed,
# with no phase_start first, means runr went on in the phase the crash interrupted.
_IN_PHASE = frozenset(
    {
        "verification",
        "verify_failed_retry",
        "verify_failed_max_retries",
        "verify_complete",
        "implement_complete",
        "plan_generated",
        "review_complete",
        "checkpoint_complete",
        "plan_scope_violation",
        "guard_violation",
        "parse_failed",
        "worker_stats",
    }
)
# What runr's reviewer answers (reviewOutputSchema's ``status``) when it sends the
# milestone back to IMPLEMENT; laptime's word for that is changes_requested.
_CHANGES_REQUESTED = frozenset({"request_changes", "changes_requested", "reject", "rejected", "needs_changes"})
# state.json phases in which runr no longer works on the run by itself.
_FINAL_PHASES = frozenset({"STOPPED", "BLOCKED", "ESCALATED"})


class TimelineParser:
    """Turns the lines of one run's ``timeline.jsonl`` into events, one line at a time.

    ``state`` is ``FileState.extra``: what the parser remembers between lines and
    between imports. A line that raises RecordError leaves it untouched.
    """

    def __init__(self, run_id: str, file: str, state: dict[str, Any]) -> None:
        self.run_id = run_id
        self.file = file
        self.state = state

    def _id(self, ts_ns: int, *parts: object) -> str:
        return source_event_id(ts_ns, IMPORTER, self.run_id, *parts)

    def feed(self, data: bytes, line: int) -> list[ev.Event]:
        """The events of one line. Raises RecordError for a line that is not a timeline record."""
        record = as_object(decode_json(data), "the line")
        seq = get_int(record, "seq", required=True)
        ts_ns = parse_ts_ns(record.get("timestamp"), "timestamp")
        kind = get_str(record, "type", required=True)
        payload = get_obj(record, "payload")
        assert seq is not None
        assert kind is not None
        new_state = dict(self.state)
        common: dict[str, Any] = {
            "v": 1,
            "ts": timestamp(ts_ns),
            "run": self.run_id,
            "source": ev.Source(IMPORTER, self.file, f"{line}:seq={seq}"),
        }
        out: list[ev.Event] = []
        if kind != "run_resumed" and "resume_phase" in new_state:
            resume = new_state.pop("resume_phase")
            if kind in _IN_PHASE and isinstance(resume, dict):
                out.extend(self._reopen_phase(resume, seq, common, new_state))
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            out.extend(handler(seq, ts_ns, payload, common, new_state))
        # where the run was last seen alive: a crash closes the open phase there
        new_state["last_ns"] = max(ts_ns, int(new_state.get("last_ns", 0)))
        self.state.clear()
        self.state.update(new_state)
        return out

    # Each handler validates everything before returning, and writes only to ``st``.

    def _parent(self, st: dict[str, Any]) -> str:
        phase = st.get("open_phase")
        return str(phase["span"]) if isinstance(phase, dict) else self.run_id

    def _close_phase(
        self, ts_ns: int, seq: int | str, common: dict[str, Any], st: dict[str, Any], outcome: ev.Outcome
    ) -> list[ev.Event]:
        phase = st.pop("open_phase", None)
        if not isinstance(phase, dict):
            return []
        if outcome == "completed" and phase.get("verify_ok") is False:
            outcome = "failed"  # the phase's last verification failed
        if outcome == "completed" and phase.get("changes_requested"):
            outcome = "failed"  # the reviewer sent the milestone back (as pcc's changes_requested)
        end_attrs = phase.get("end_attrs")
        return [
            ev.SpanEnd(
                **{**common, "ts": timestamp(ts_ns), "id": self._id(ts_ns, "phase_end", phase["span"], seq)},
                parent=phase.get("parent", self.run_id),
                span=phase["span"],
                outcome=outcome,
                attrs=dict(end_attrs) if isinstance(end_attrs, dict) else {},
            )
        ]

    def _open_phase(
        self, ts_ns: int, span: str, name: str, *, attrs: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> ev.SpanStart:
        counts = dict(st.get("phase_counts") or {})
        counts[name] = int(counts.get(name, 0)) + 1
        st["phase_counts"] = counts
        st["last_phase_span"] = {**dict(st.get("last_phase_span") or {}), name: span}
        st["open_phase"] = {"span": span, "name": name, "parent": self.run_id, "source_phase": attrs["source_phase"]}
        return ev.SpanStart(
            **{**common, "ts": timestamp(ts_ns), "id": span},
            parent=self.run_id,
            span=span,
            kind="phase",
            name=name,
            attrs=attrs,
        )

    def _reopen_phase(
        self, resume: dict[str, Any], seq: int, common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        """The phase a crash interrupted, opened again as a new attempt where the run resumed."""
        ts_ns = int(resume["ts_ns"])
        span = self._id(ts_ns, "phase_resumed", seq)
        attrs = {"source_phase": str(resume["source_phase"]), "resumed": True}
        return [self._open_phase(ts_ns, span, str(resume["name"]), attrs=attrs, common=common, st=st)]

    def _on_run_started(
        self,
        seq: int,  # noqa: ARG002 - every handler takes the same arguments
        ts_ns: int,
        p: dict[str, Any],
        common: dict[str, Any],
        st: dict[str, Any],
    ) -> list[ev.Event]:
        if st.get("run_started"):
            return []  # a second run_started in the same run: the first one opened the span
        task = get_str(p, "task") or ""
        attrs: dict[str, Any] = {"runner": IMPORTER}
        for key in (
            "repo",
            "time_budget_minutes",
            "allow_deps",
            "allow_dirty",
            "web",
            "no_branch",
            "dry_run",
            "max_ticks",
        ):
            value = p.get(key)
            if isinstance(value, str | int | float | bool) and not (
                isinstance(value, float) and not math.isfinite(value)
            ):
                attrs[key] = value
        if task:
            attrs["task"] = short(task, 2000)
        st["run_started"] = True
        st["run_start_ns"] = ts_ns
        return [
            ev.SpanStart(
                **{**common, "id": self.run_id},
                span=self.run_id,
                kind="run",
                name=short(task) if task else self.run_id,
                attrs=attrs,
            )
        ]

    def _on_phase_start(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        phase = get_str(p, "phase", required=True)
        assert phase is not None
        out = self._close_phase(ts_ns, seq, common, st, "completed")
        span = self._id(ts_ns, "phase", seq)
        attrs: dict[str, Any] = {"source_phase": phase}
        retry = st.pop("pending_retry", None)
        if isinstance(retry, dict):
            attrs.update(retry)
        out.append(self._open_phase(ts_ns, span, phase.lower(), attrs=attrs, common=common, st=st))
        return out

    def _stop(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any], *, default: str
    ) -> list[ev.Event]:
        reason = get_str(p, "reason") or default
        error = p.get("error")
        error_text = (
            error
            if isinstance(error, str)
            else (None if error is None else short(msgspec.json.encode(error).decode(), 2000))
        )
        outcome = runr_outcome(reason, has_error=bool(error_text))
        out = self._close_phase(ts_ns, seq, common, st, outcome)
        if st.get("run_closed"):
            return out  # a stop after run_resumed: the run span already ended at the first stop
        st["run_closed"] = True
        out.append(
            ev.SpanEnd(
                # keyed on the run's start, so that no run can ever get two ends
                **{**common, "id": self._id(int(st.get("run_start_ns", 0)), "run_end")},
                span=self.run_id,
                outcome=outcome,
                error=short(error_text, 2000) if error_text else None,
                attrs={"source_outcome": reason},
            )
        )
        return out

    _on_stop = partialmethod(_stop, default="unknown")
    _on_run_dry_stop = partialmethod(_stop, default="dry_run")
    # runr stops a run that used up its ticks with this event, not with a `stop`
    _on_max_ticks_reached = partialmethod(_stop, default="max_ticks_reached")

    def close_from_state(self, stop: StateStop) -> list[ev.Event]:
        """The end that state.json records for a run whose timeline has no stop.

        runr's FINALIZE writes ``phase: STOPPED, stop_reason: complete`` to state.json
        and no ``stop`` line, so only state.json says the run completed. Nothing when the
        timeline already ended the run, or never started it.
        """
        if not self.state.get("run_started") or self.state.get("run_closed"):
            return []
        st = dict(self.state)
        st.pop("resume_phase", None)
        end_ns = max(stop.ts_ns, int(st.get("last_ns", 0)))
        outcome = runr_outcome(stop.reason, has_error=bool(stop.error))
        common: dict[str, Any] = {
            "v": 1,
            "ts": timestamp(end_ns),
            "run": self.run_id,
            "source": ev.Source(IMPORTER, stop.file, "stop_reason"),
        }
        out = self._close_phase(end_ns, "state", common, st, outcome)
        st["run_closed"] = True
        out.append(
            ev.SpanEnd(
                # the same id as a timeline stop's: a run never gets two ends
                **{**common, "id": self._id(int(st.get("run_start_ns", 0)), "run_end")},
                span=self.run_id,
                outcome=outcome,
                error=short(stop.error, 2000) if stop.error else None,
                attrs={"source_outcome": stop.reason, "source_phase": stop.phase, "outcome_from": "state.json"},
            )
        )
        self.state.clear()
        self.state.update(st)
        return out

    def _on_run_resumed(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        """After a stop: nothing (the run keeps its first end). After a crash: downtime.

        A crash leaves no line behind: the timeline just goes quiet, and ``runr resume``
        later appends ``run_resumed``. The interrupted phase attempt ends at the last
        line before the silence (outcome ``crashed``); the silence becomes a top-level
        ``downtime`` span, so no phase is ever charged for it; and runr's next line
        either starts a phase (a new attempt) or goes on in the interrupted one, which
        is then opened again as a new attempt (``_reopen_phase``).
        """
        del p  # runr's payload (run_id, max_ticks, time, allow_deps) sets limits, not times
        if not st.get("run_started") or st.get("run_closed"):
            return []
        crash_ns = min(int(st.get("last_ns", ts_ns)), ts_ns)
        interrupted = st.get("open_phase")
        out = self._close_phase(crash_ns, seq, common, st, "crashed")
        if isinstance(interrupted, dict):
            st["resume_phase"] = {
                "name": interrupted.get("name"),
                "source_phase": interrupted.get("source_phase") or str(interrupted.get("name", "")).upper(),
                "ts_ns": ts_ns,
            }
        span = self._id(crash_ns, "downtime", seq)
        attrs: dict[str, Any] = {"downtime": True, "reason": "crash"}
        out.append(
            ev.SpanStart(
                **{**common, "ts": timestamp(crash_ns), "id": span},
                parent=self.run_id,
                span=span,
                kind="other",
                name="downtime",
                attrs=attrs,
            )
        )
        out.append(
            ev.SpanEnd(
                **{**common, "id": self._id(ts_ns, "downtime_end", seq)},
                parent=self.run_id,
                span=span,
                outcome="completed",
            )
        )
        return out

    def _on_review_complete(
        self,
        seq: int,  # noqa: ARG002 - every handler takes the same arguments
        ts_ns: int,  # noqa: ARG002
        p: dict[str, Any],
        common: dict[str, Any],  # noqa: ARG002
        st: dict[str, Any],
    ) -> list[ev.Event]:
        """The review's verdict goes on the REVIEW phase's end; no event of its own.

        runr writes the reviewer's whole answer as the payload, ``{status: approve |
        request_changes | reject, changes: [...]}``; ``verdict`` is read too.
        """
        word = get_str(p, "status") or get_str(p, "verdict")
        changes = p.get("changes")
        phase = st.get("open_phase")
        if word is None or not isinstance(phase, dict):
            return []
        end_attrs: dict[str, Any] = {"review_status": short(word, 100)}
        if isinstance(changes, list):
            end_attrs["review_changes"] = len(changes)
        requested = word.strip().lower() in _CHANGES_REQUESTED
        if requested:
            end_attrs["source_outcome"] = "changes_requested"  # what the KPI's rework figure reads
        st["open_phase"] = {**phase, "end_attrs": end_attrs, "changes_requested": requested}
        return []

    def _on_verification(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        ok = get_bool(p, "ok", required=True)
        commands_raw = p.get("commands")
        if isinstance(commands_raw, str):
            commands = [commands_raw]
        elif commands_raw is None:
            commands = []
        elif isinstance(commands_raw, list) and all(isinstance(c, str) for c in commands_raw):
            commands = list(commands_raw)
        else:
            raise RecordError("`commands`: expected an array of strings")
        tier = get_str(p, "tier")
        duration = get_num(p, "duration_ms")
        phase = st.get("open_phase")
        if isinstance(phase, dict):
            st["open_phase"] = {**phase, "verify_ok": ok}
        if ok:
            st["verified"] = True
        command = " && ".join(commands) if commands else f"verify {tier or ''}".strip()
        attrs: dict[str, Any] = {"commands": commands} if len(commands) > 1 else {}
        retry = st.pop("pending_verify_retry", None)
        if isinstance(retry, dict):
            # runr's own count: this verification re-runs one that failed, by runr's word
            attrs.update(retry)
        return [
            ev.Validation(
                **{**common, "id": self._id(ts_ns, "verification", seq)},
                parent=self._parent(st),
                command=short(command, 2000),
                passed=bool(ok),
                duration_ms=duration,
                tier=tier,
                attrs=attrs,
            )
        ]

    def _on_verify_failed_retry(
        self,
        seq: int,  # noqa: ARG002 - every handler takes the same arguments
        ts_ns: int,  # noqa: ARG002
        p: dict[str, Any],
        common: dict[str, Any],  # noqa: ARG002
        st: dict[str, Any],
    ) -> list[ev.Event]:
        retry: dict[str, Any] = {"retry_of": "verify"}
        for key in ("retry_count", "max_retries"):
            value = get_int(p, key)
            if value is not None:
                retry[key] = value
        for key in ("tier", "failed_command"):
            text = get_str(p, key)
            if text is not None:
                retry[key] = short(text, 500)
        st["pending_retry"] = retry
        verify_retry: dict[str, Any] = {"retry": True}
        for key in ("retry_count", "max_retries", "tier", "failed_command"):
            if key in retry:
                verify_retry[key] = retry[key]
        st["pending_verify_retry"] = verify_retry
        return []

    def _on_verify_failed_max_retries(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        failed = get_str(p, "failed_command")
        tier = get_str(p, "tier")
        message = "verification failed after the maximum number of retries"
        if failed:
            message += f": {short(failed, 500)}"
        return [
            ev.ErrorEvent(
                **{**common, "id": self._id(ts_ns, "error", seq)},
                parent=self._parent(st),
                message=message,
                error_type="verify_failed_max_retries",
                attrs={"tier": tier} if tier else {},
            )
        ]

    def _on_implement_complete(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        files = get_list(p, "changed_files")
        out: list[ev.Event] = []
        seen: set[str] = set()
        for i, item in enumerate(files):
            if not isinstance(item, str):
                raise RecordError(f"`changed_files[{i}]`: expected a path string, got {type_name(item)}")
            if not item or item in seen:
                continue
            seen.add(item)
            out.append(
                ev.FileChange(
                    **{**common, "id": self._id(ts_ns, "file", seq, item)},
                    parent=self._parent(st),
                    path=item,
                    change="modified",
                )
            )
        return out

    def _on_checkpoint_complete(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        commit = get_str(p, "commit")
        index = get_int(p, "milestone_index")
        out: list[ev.Event] = [
            ev.Checkpoint(
                **{**common, "id": self._id(ts_ns, "checkpoint", seq)},
                parent=self._parent(st),
                commit=commit,
                verified=bool(st.get("verified")),
            )
        ]
        if index is not None:
            out.append(
                ev.Milestone(
                    **{**common, "id": self._id(ts_ns, "milestone", seq)},
                    parent=self._parent(st),
                    name=milestone_name(index),
                    status="completed",
                    index=index,
                )
            )
        return out

    def _scope(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any], *, kind: str
    ) -> list[ev.Event]:
        items: list[Any] = []
        for key in _SCOPE_LIST_KEYS:
            value = p.get(key)
            if isinstance(value, list):
                items.extend(value)
        reason = get_str(p, "reason") or get_str(p, "message") or kind
        out: list[ev.Event] = []
        for i, item in enumerate(items):
            path: str | None = None
            why = reason
            if isinstance(item, str):
                path = item
            elif isinstance(item, dict):
                path = get_str(item, "path") or get_str(item, "file")
                why = get_str(item, "reason") or reason
            else:
                raise RecordError(f"violation {i}: expected a path or an object, got {type_name(item)}")
            out.append(
                ev.ScopeViolation(
                    **{**common, "id": self._id(ts_ns, "scope", seq, i)},
                    parent=self._parent(st),
                    path=path,
                    reason=short(why, 500),
                    attrs={"source_type": kind},
                )
            )
        if not out:
            out.append(
                ev.ScopeViolation(
                    **{**common, "id": self._id(ts_ns, "scope", seq)},
                    parent=self._parent(st),
                    reason=short(reason, 500),
                    attrs={"source_type": kind},
                )
            )
        return out

    _on_plan_scope_violation = partialmethod(_scope, kind="plan_scope_violation")
    _on_guard_violation = partialmethod(_scope, kind="guard_violation")

    def _on_parse_failed(
        self, seq: int, ts_ns: int, p: dict[str, Any], common: dict[str, Any], st: dict[str, Any]
    ) -> list[ev.Event]:
        text = (
            get_str(p, "error")
            or get_str(p, "message")
            or get_str(p, "stage")
            or "a worker's output could not be parsed"
        )
        return [
            ev.ErrorEvent(
                **{**common, "id": self._id(ts_ns, "error", seq)},
                parent=self._parent(st),
                message=short(text, 2000),
                error_type="parse_failed",
            )
        ]

    def _on_worker_stats(
        self,
        seq: int,  # noqa: ARG002 - every handler takes the same arguments
        ts_ns: int,
        p: dict[str, Any],
        common: dict[str, Any],
        st: dict[str, Any],
    ) -> list[ev.Event]:
        """Call counts only: one zero-token LlmUsage per call not seen yet, marked estimated."""
        totals = {worker: get_count(p, worker) for worker in _WORKER_PROVIDERS}
        wanted: dict[str, int] = {}
        by_phase = get_obj(p, "by_phase")
        for phase_name, counts in sorted(by_phase.items()):
            counts_obj = as_object(counts, f"`by_phase.{phase_name}`")
            for worker in _WORKER_PROVIDERS:
                n = get_count(counts_obj, worker)
                if n:
                    wanted[f"{phase_name}/{worker}"] = n
        for worker, total in totals.items():
            in_phases = sum(n for key, n in wanted.items() if key.endswith(f"/{worker}"))
            if total > in_phases:
                wanted[f"/{worker}"] = total - in_phases
        if sum(wanted.values()) > 100_000:
            raise RecordError("`worker_stats`: more than 100000 calls is not credible")
        emitted = dict(st.get("worker_calls") or {})
        phase_spans = dict(st.get("last_phase_span") or {})
        out: list[ev.Event] = []
        for key, n in sorted(wanted.items()):
            phase_name, worker = key.split("/", 1)
            parent = phase_spans.get(phase_name.lower(), self.run_id) if phase_name else self.run_id
            out.extend(
                ev.LlmUsage(
                    **{**common, "id": self._id(ts_ns, "worker_call", key, i)},
                    parent=parent,
                    provider=_WORKER_PROVIDERS[worker],
                    model=worker,
                    worker=worker,
                    estimated=True,
                    attrs={"tokens_unknown": True, "phase": phase_name or None},
                )
                for i in range(int(emitted.get(key, 0)), n)
            )
            emitted[key] = max(n, int(emitted.get(key, 0)))
        st["worker_calls"] = emitted
        return out


@dataclass(frozen=True)
class StateStop:
    """How state.json says a run ended: its stop reason (or final phase) and when."""

    reason: str
    phase: str
    ts_ns: int
    error: str | None
    file: str


def state_stop(file: str, data: bytes) -> StateStop | None:
    """The end state.json records, when its phase is a final one (STOPPED, BLOCKED,
    ESCALATED); None while runr is still in a working phase. Raises RecordError.

    The time is ``phase_started_at``: runr's stopRun sets it (with ``updated_at``) as it
    moves the run to STOPPED, and later progress writes move ``updated_at`` only.
    """
    doc = as_object(decode_json(data), "state.json")
    phase = get_str(doc, "phase")
    if phase is None or phase.strip().upper() not in _FINAL_PHASES:
        return None
    phase = phase.strip().upper()
    reason = get_str(doc, "stop_reason") or phase.lower()
    raw = doc.get("phase_started_at") if doc.get("phase_started_at") is not None else doc.get("updated_at")
    ts_ns = parse_ts_ns(raw, "phase_started_at")
    error = doc.get("last_error") if isinstance(doc.get("last_error"), str) else None
    return StateStop(reason=reason, phase=phase, ts_ns=ts_ns, error=error, file=file)


def milestone_name(index: int) -> str:
    """The name both the planned (state.json) and completed (timeline) milestone carry."""
    return f"milestone {index}"


def state_events(run_id: str, file: str, data: bytes) -> list[ev.Event]:
    """The planned milestones of ``state.json``. Raises RecordError for a bad document."""
    doc = as_object(decode_json(data), "state.json")
    raw_ts = doc.get("started_at") if doc.get("started_at") is not None else doc.get("updated_at")
    ts_ns = parse_ts_ns(raw_ts, "started_at")
    milestones = get_list(doc, "milestones")
    out: list[ev.Event] = []
    for i, item in enumerate(milestones):
        m = as_object(item, f"`milestones[{i}]`")
        goal = get_str(m, "goal") or ""
        attrs: dict[str, Any] = {}
        if goal:
            attrs["goal"] = short(goal, 500)
        risk = get_str(m, "risk_level")
        if risk:
            attrs["risk_level"] = risk
        expected = [f for f in get_list(m, "files_expected") if isinstance(f, str)]
        if expected:
            attrs["files_expected"] = expected[:200]
        out.append(
            ev.Milestone(
                v=1,
                id=source_event_id(ts_ns, IMPORTER, run_id, "milestone_planned", i),
                ts=timestamp(ts_ns),
                run=run_id,
                parent=run_id,
                name=milestone_name(i),
                status="planned",
                index=i,
                attrs=attrs,
                source=ev.Source(IMPORTER, file, f"milestones[{i}]"),
            )
        )
    return out


# -- the importer ----------------------------------------------------------------------------


def _read_state_stop(path: Path) -> StateStop | None:
    """state.json's end, for the timeline reader; None when there is none to read.

    A missing or bad state.json is not reported here: the state.json reader warns
    about it once, with its line.
    """
    try:
        data = path.read_bytes()
        return state_stop(str(path), data) if data.strip() else None
    except (OSError, RecordError):
        return None


def _close_timeline_from_state(run_id: str, timeline: Path, stop: StateStop) -> list[ev.Event]:
    """The end that state.json gives a run whose timeline has no stop, for the state.json reader.

    The timeline may not be read again in this import (unchanged files are skipped),
    so the run's phases are found by parsing it from the start here, with a parser of
    its own whose events are dropped: the same parser as the timeline reader's, so
    the end gets the same ids whichever reader writes it first.
    """
    parser = TimelineParser(run_id, str(timeline), {})
    try:
        for rel, _start, raw in iter_lines(timeline, 0):
            if raw.strip():
                with contextlib.suppress(RecordError):  # the timeline reader reports its bad lines
                    parser.feed(raw, rel)
    except OSError:
        return []
    return parser.close_from_state(stop)


_FILES = ("state.json", "timeline.jsonl")


def _is_run_file(path: Path) -> bool:
    """A run file by name that is not a folder: a FIFO or socket of that name counts too, so
    that the import warns about it (base.py) instead of dropping its run folder silently."""
    return path.exists() and not path.is_dir()


def _is_run_dir(path: Path) -> bool:
    return _is_run_file(path / "timeline.jsonl") or _is_run_file(path / "state.json")


class RunrImporter(Importer):
    """runr's run folders: ``runs/<runId>/timeline.jsonl`` and ``state.json``."""

    name: ClassVar[str] = "runr"
    append_only: ClassVar[bool] = True  # timeline.jsonl; state.json is re-read whole when it changes
    # 2: the time of the last line, for the crash before a run_resumed (``last_ns``; e92f2c7).
    state_version: ClassVar[int] = 2

    def state_format(self, extra: dict[str, Any]) -> int:
        """A state without ``"v"`` (before states had one) is format 2 when its parser has ``last_ns``."""
        version = super().state_format(extra)
        parser = extra.get("parser")
        return 2 if "v" not in extra and isinstance(parser, dict) and "last_ns" in parser else version

    def discover(self, path: Path) -> Iterator[Path]:
        if not path.exists():
            raise FileNotFoundError(path)
        if path.is_file():
            yield path
            return
        if _is_run_dir(path):
            run_dirs = [path]
        else:
            run_dirs = sorted({p.parent for name in _FILES for p in path.rglob(name) if _is_run_file(p)})
        for run_dir in run_dirs:
            for name in _FILES:
                candidate = run_dir / name
                if candidate.exists():
                    yield candidate

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return path.name == "timeline.jsonl"
        if (path / "timeline.jsonl").is_file():
            return True
        return any(True for _ in path.glob("*/timeline.jsonl")) or any(True for _ in path.glob("runs/*/timeline.jsonl"))

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        run_id = file.resolve().parent.name
        if file.name == "state.json":
            yield from self._read_state(run_id, file, state, ctx)
            return
        yield from self._read_timeline(run_id, file, state, ctx)

    def _read_state(self, run_id: str, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        data = file.read_bytes()
        state.offset = len(data)  # a whole document: re-read from the start when it changes
        ctx.record(1, len(data))
        if not data.strip():
            ctx.warn(None, "empty file")
            return
        try:
            events = state_events(run_id, str(file), data)
        except RecordError as exc:
            ctx.warn(exc.line_in(data), str(exc))
            return
        yield from events
        try:
            stop = state_stop(str(file), data)
        except RecordError as exc:  # a bad end costs the end only, not the milestones
            ctx.warn(exc.line_in(data), str(exc))
            return
        if stop is not None:
            yield from _close_timeline_from_state(run_id, file.parent / "timeline.jsonl", stop)

    def _read_timeline(self, run_id: str, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        extra = state.extra
        parser_state = extra.setdefault("parser", {})
        first_line = int(extra.get("line", 0))
        parser = TimelineParser(run_id, str(file), parser_state)
        offset = state.offset
        line_no = first_line
        for rel, start, raw in iter_lines(file, state.offset):
            line_no = first_line + rel
            offset = start + len(raw) + 1
            ctx.record(1, len(raw) + 1)
            if not raw.strip():
                continue
            try:
                events = parser.feed(raw, line_no)
            except RecordError as exc:
                ctx.warn(line_no, str(exc))
                continue
            yield from events
            state.offset = offset
            extra["line"] = line_no
        state.offset = offset
        extra["line"] = line_no
        if parser_state.get("run_started") and not parser_state.get("run_closed"):
            stop = _read_state_stop(file.parent / "state.json")
            if stop is not None:
                yield from parser.close_from_state(stop)
        size = file.stat().st_size
        if size == 0:
            ctx.warn(None, "empty file")
        elif size > offset:
            tail = size - offset
            ctx.warn(line_no + 1, f"incomplete last line ({tail} bytes, no newline yet); it is read once complete")
