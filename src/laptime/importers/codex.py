"""Codex CLI session logs: ``${CODEX_HOME:-~/.codex}/sessions/**/*.jsonl`` and
``archived_sessions/``.

A session file becomes a run (``codex-<session id>``), each ``token_count`` event that
adds tokens becomes an llm span with its usage, and each function or tool call becomes
a tool span (``function_call`` to its ``function_call_output``).

Token meaning (OpenAI): ``input_tokens`` includes the cached input, so the events set
``input_includes_cache`` and ``cache_read_tokens`` = ``cached_input_tokens``; reasoning
tokens are part of ``output_tokens`` (kept apart in ``attrs.reasoning_tokens``).

Per-turn usage comes from ``last_token_usage``, or else from the growth of the
cumulative ``total_token_usage`` (the whole total when it went down: a resumed session
can restart its counter at 0). De-duplication: a ``token_count`` whose cumulative total
equals the previous one is a repeat and is skipped; any other is a new call. Every
usage event's id is derived from the cumulative totals plus the turn's usage, so the
history a fork re-emits (under the fork's own, later timestamps) maps onto the ids it
already had and is stored once; files are read oldest session first so that the copy
stored is the original, at its original time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import msgspec

from laptime import events as ev
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    iter_lines,
    open_regular,
    run_start,
    source_event_id,
    user_wait,
)
from laptime.importers.claude_code import canonical_ts

if TYPE_CHECKING:
    from collections.abc import Iterator

NAME: Final = "codex"


class _Tokens(msgspec.Struct):
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    total_tokens: int | None = None


class _Info(msgspec.Struct):
    total_token_usage: _Tokens | None = None
    last_token_usage: _Tokens | None = None


class _Payload(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    cwd: str | None = None
    originator: str | None = None
    cli_version: str | None = None
    model: str | None = None
    info: _Info | None = None
    name: str | None = None
    call_id: str | None = None
    role: str | None = None


class _Line(msgspec.Struct):
    timestamp: str | None = None
    type: str = ""
    payload: _Payload | None = None


_decoder: Final = msgspec.json.Decoder(_Line)
_TOOL_CALLS: Final = frozenset({"function_call", "custom_tool_call", "local_shell_call", "web_search_call"})
_TOOL_OUTPUTS: Final = frozenset({"function_call_output", "custom_tool_call_output"})
_ROOTS: Final = ("sessions", "archived_sessions")
#: Codex names a session file after the time it started: rollout-2025-10-06T10-00-00-<id>.jsonl
_STARTED_RE: Final = re.compile(r"rollout-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})")


def _is_user_input(record_type: str, payload: _Payload) -> bool:
    """A message of the user's (Codex writes it as a response item and as an event)."""
    if record_type == "response_item":
        return payload.type == "message" and payload.role == "user"
    return record_type == "event_msg" and payload.type == "user_message"


def _n(value: int | None) -> int:
    """A token count: 0 when absent or negative, where records.get_count would reject
    the whole record."""
    return value if value is not None and value > 0 else 0


def _started(file: Path) -> tuple[str, str, str]:
    """Sort key: the start time in the file's name (no file is opened: this runs for
    every file on every import), then the name, then the path; files named otherwise
    come first, by path."""
    match = _STARTED_RE.match(file.name)
    return (match.group(1) if match else "", file.name, str(file))


def _key(tokens: _Tokens | None) -> list[int]:
    if tokens is None:
        return [0, 0, 0, 0, 0]
    return [
        _n(tokens.input_tokens),
        _n(tokens.cached_input_tokens),
        _n(tokens.output_tokens),
        _n(tokens.reasoning_output_tokens),
        _n(tokens.total_tokens),
    ]


def _grand_total(key: list[int]) -> int:
    return key[4] or key[0] + key[2]


class CodexImporter(Importer):
    """``laptime import codex [PATH...]``."""

    name: ClassVar[str] = NAME
    append_only: ClassVar[bool] = True
    # 2: where the time goes, kept across reads (``model_from``, ``turn_end``, ``open_calls``; 058734e).
    state_version: ClassVar[int] = 2

    def state_format(self, extra: dict[str, Any]) -> int:
        """A state without ``"v"`` (before states had one) is format 2 when it has ``model_from``."""
        version = super().state_format(extra)
        return 2 if "v" not in extra and "model_from" in extra else version

    def default_paths(self) -> list[Path]:
        """``$CODEX_HOME`` (default ``~/.codex``), whose ``sessions/`` and
        ``archived_sessions/`` are read as one set (see ``discover``)."""
        home = Path(os.environ.get("CODEX_HOME", "").strip() or Path.home() / ".codex").expanduser()
        if any((home / name).is_dir() for name in _ROOTS):
            return [home]
        return [home / "sessions"]  # so the "no such folder" warning names the usual place

    def discover(self, path: Path) -> Iterator[Path]:
        """The ``.jsonl`` files under ``path`` (a Codex home's ``sessions/`` and
        ``archived_sessions/`` together), oldest session first.

        Why the order matters: a fork re-emits its parent's calls under its own, later
        timestamps, and both copies get the same event id, so the copy read first is
        the one stored. Reading sessions in the order they started stores every call
        at its original time, whichever folder each file sits in.
        """
        if not path.exists():
            raise FileNotFoundError(path)
        if path.is_file():
            yield path
            return
        roots = self.walk_roots(path)
        found: list[Path] = []
        for root in roots:
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                found.extend(Path(folder) / name for name in files if name.endswith(".jsonl"))
        yield from sorted(found, key=_started)

    def walk_roots(self, path: Path) -> list[Path]:
        """A Codex home's ``sessions/`` and ``archived_sessions/``; any other path itself."""
        return [path / name for name in _ROOTS if (path / name).is_dir()] or [path]

    def detect(self, path: Path) -> bool:
        if path.is_dir():
            files = list(self.discover(path))[:3]
            return any(self._looks_like(f) for f in files)
        return path.suffix == ".jsonl" and self._looks_like(path)

    @staticmethod
    def _looks_like(file: Path) -> bool:
        try:  # open_regular: a FIFO in the tree is refused, never opened (opening one blocks)
            with open_regular(file) as handle:
                head = handle.read(8 << 10)
        except OSError:
            return False
        return b'"session_meta"' in head or (b'"turn_context"' in head and b'"payload"' in head)

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        extra = state.extra
        session: str = extra.get("session") or file.stem
        model: str = extra.get("model", "")
        last: list[int] = list(extra.get("last", [0, 0, 0, 0, 0]))
        last_ts: str | None = extra.get("last_ts")
        first_line = int(extra.get("line", 0))
        started = bool(extra.get("started"))
        run_attrs: dict[str, Any] = dict(extra.get("attrs", {}))
        # Where the time goes (docs/analysis.md): the model works from the last input (the
        # user's message, a tool's output, its own previous count) to a token count; the
        # session waits for the user from a count with no tool call open to the next message.
        model_from: str | None = extra.get("model_from")
        turn_end: str | None = extra.get("turn_end")
        open_calls = int(extra.get("open_calls", 0))
        line_no = first_line
        end = state.offset
        pending: list[ev.Event] = []
        nbytes = 0
        path = str(file)
        for rel, offset, raw in iter_lines(file, state.offset):
            line_no = first_line + rel
            end = offset + len(raw) + 1
            nbytes += len(raw) + 1
            if not raw.strip():
                continue
            try:
                line = _decoder.decode(raw)
            except msgspec.ValidationError as exc:
                ctx.warn(line_no, f"bad record ({exc}); skipped")
                continue
            except msgspec.DecodeError as exc:
                ctx.warn(line_no, f"not valid JSON ({exc}); skipped")
                continue
            payload = line.payload
            if payload is None or not line.timestamp:
                if line.type in ("session_meta", "turn_context", "event_msg", "response_item"):
                    ctx.warn(line_no, "record without timestamp or payload; skipped")
                continue
            ts = canonical_ts(line.timestamp)
            if ts is None:
                ctx.warn(line_no, f"bad timestamp {line.timestamp!r}; skipped")
                continue
            run = f"codex-{session}"
            if line.type == "session_meta":
                source = ev.Source(NAME, path, str(line_no))
                if not started:
                    session = payload.id or session
                    run = f"codex-{session}"
                    run_attrs = {"runner": NAME, "session_id": session}
                    if payload.cwd:
                        run_attrs["cwd"] = payload.cwd
                        run_attrs["project"] = Path(payload.cwd).name
                    if payload.originator:
                        run_attrs["originator"] = payload.originator
                    if payload.cli_version:
                        run_attrs["cli_version"] = payload.cli_version
                    name = Path(payload.cwd).name if payload.cwd else "codex session"
                    pending.append(run_start(run, ts=ts, name=name, attrs=run_attrs, source=source))
                    started = True
            elif not started:
                run_attrs = {"runner": NAME, "session_id": session}
                source = ev.Source(NAME, path, str(line_no))
                pending.append(run_start(run, ts=ts, name="codex session", attrs=run_attrs, source=source))
                started = True
            last_ts = ts if last_ts is None or ts > last_ts else last_ts
            if line.type == "turn_context" and payload.model:
                model = payload.model
            elif line.type == "event_msg" and payload.type == "token_count" and payload.info is not None:
                source = ev.Source(NAME, path, str(line_no))
                since = model_from if model_from is not None and model_from <= ts else ts
                usage, last = self._usage(payload.info, last, model=model, run=run, ts=ts, since=since, source=source)
                if usage is not None:
                    pending.extend(usage)
                    model_from = ts
                    turn_end = ts if open_calls == 0 else None
            elif _is_user_input(line.type, payload):
                if turn_end is not None and open_calls == 0 and ts > turn_end:
                    pending.append(
                        user_wait(
                            run,
                            span=source_event_id(0, NAME, "user-wait", session, turn_end),
                            end_id=source_event_id(0, NAME, "user-wait-end", session, turn_end),
                            since=turn_end,
                            until=ts,
                            source=ev.Source(NAME, path, str(line_no)),
                        )
                    )
                turn_end = None
                model_from = ts
            elif line.type == "response_item" and payload.call_id:
                tool_span = source_event_id(0, NAME, "tool", session, payload.call_id)
                if payload.type in _TOOL_CALLS:
                    open_calls += 1
                    turn_end = None
                    pending.append(
                        ev.SpanStart(
                            v=1,
                            id=tool_span,
                            ts=ts,
                            run=run,
                            parent=run,
                            span=tool_span,
                            kind="tool",
                            name=payload.name or payload.type or "tool",
                            attrs={"call_id": payload.call_id},
                            source=ev.Source(NAME, path, str(line_no)),
                        )
                    )
                elif payload.type in _TOOL_OUTPUTS:
                    open_calls = max(0, open_calls - 1)
                    model_from = ts
                    pending.append(
                        ev.SpanEnd(
                            v=1,
                            id=source_event_id(0, NAME, "tool-end", session, payload.call_id),
                            ts=ts,
                            run=run,
                            span=tool_span,
                        )
                    )
        ctx.record(line_no - first_line, nbytes)
        if started and last_ts is not None:
            run = f"codex-{session}"
            pending.append(ev.SpanEnd(v=1, id=source_event_id(0, NAME, "run-end", run), ts=last_ts, run=run, span=run))
        state.offset = end
        state.extra = {
            "session": session,
            "model": model,
            "last": last,
            "last_ts": last_ts,
            "line": line_no,
            "started": started,
            "attrs": run_attrs,
            "model_from": model_from,
            "turn_end": turn_end,
            "open_calls": open_calls,
        }
        yield from pending

    @staticmethod
    def _usage(
        info: _Info, last: list[int], *, model: str, run: str, ts: str, since: str, source: ev.Source
    ) -> tuple[list[ev.Event] | None, list[int]]:
        total = _key(info.total_token_usage) if info.total_token_usage is not None else None
        if total is not None:
            if total == last:
                return None, last  # the same count emitted again: not a new call
            turn = _key(info.last_token_usage) if info.last_token_usage is not None else None
            if turn is None:
                # A total below the previous one is a counter that restarted at 0 (a
                # resumed session), so the whole total is this call's.
                grew = _grand_total(total) >= _grand_total(last)
                turn = [max(0, a - b) for a, b in zip(total, last, strict=True)] if grew else total
            new_last = total
        elif info.last_token_usage is not None:
            turn = _key(info.last_token_usage)
            new_last = last
        else:
            return None, last
        if not any(turn[:4]):
            return None, new_last  # nothing spent (a count reset to 0, an empty turn)
        key = ":".join(map(str, (total or []) + turn))
        span = source_event_id(0, NAME, "llm", key)
        parent = run
        name = model or "unknown"
        # The model's span is whole when its count arrives: one compact `span` line, which
        # the index reads as the span_start and span_end it stands for (same ids, same rows).
        events: list[ev.Event] = [
            ev.Span(
                v=1,
                id=span,
                ts=since,
                run=run,
                parent=parent,
                span=span,
                kind="llm",
                name=name,
                source=source,
                end_id=source_event_id(0, NAME, "llm-end", key),
                end_ts=ts,
            ),
            ev.LlmUsage(
                v=1,
                id=source_event_id(0, NAME, "usage", key),
                ts=ts,
                run=run,
                parent=span,
                span=span,
                provider="openai",
                model=name,
                input_tokens=turn[0],
                output_tokens=turn[2],
                cache_read_tokens=turn[1],
                input_includes_cache=True,
                attrs={"reasoning_tokens": turn[3]} if turn[3] else {},
                source=source,
            ),
        ]
        return events, new_last
