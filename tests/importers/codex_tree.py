"""A deterministic generator of realistic Codex CLI session trees, with their truth.

``generate(root, seed=...)`` writes ``root/sessions/YYYY/MM/DD/rollout-<start>-<id>.jsonl``
and ``root/archived_sessions/rollout-*.jsonl`` (a ``$CODEX_HOME``) the way Codex CLI
0.4x writes them: compact JSON lines of ``session_meta``, ``turn_context``,
``response_item`` (messages, reasoning, function calls and their outputs) and
``event_msg`` (user and agent messages, ``token_count``). What a tree holds:

- ``token_count`` records with ``info: null`` (rate limits only), with both
  ``total_token_usage`` and ``last_token_usage``, and with the cumulative total only;
- the same count emitted twice in a row (same totals, within a second);
- model changes through ``turn_context``;
- resumed sessions (more turns appended hours or days later) whose counter continues,
  and ones whose counter restarts at 0;
- forks, with and without ``forked_from_id``: the fork's file begins with its parent's
  records up to the fork, re-stamped to the fork instant (a burst, a millisecond
  apart), then continues the parent's counter with turns of its own; "fresh" forks,
  taken before the parent made any call, replay nothing;
- sessions archived (moved to ``archived_sessions/``), and byte-identical copies of a
  session file in both folders.

The truth is the list of model calls (``Tree.calls``): a replayed call is the parent's
call, at the parent's time, counted once; a re-emitted count is not a call. Token
counts are in OpenAI's meaning: ``input`` includes ``cached``, ``output`` includes
``reasoning``.

``Tree.ccusage_calls`` is what ccusage 20.0.24 counts instead, as measured on its
binary (see docs/importers.md, Codex): the replay of a fork without ``forked_from_id``
counted again at the fork's time, and the first call of a fresh fork dropped when its
count is emitted twice within a second.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

MODELS = ("gpt-5-codex", "gpt-5", "gpt-5-mini", "o4-mini")
_PROJECTS = ("api", "webapp", "infra", "docs-site")
_TOOLS = ("shell", "apply_patch", "read_file", "update_plan")


@dataclass(frozen=True)
class Call:
    """One model call: when, which model, and its tokens (OpenAI's meaning)."""

    ts: datetime
    model: str
    input: int
    cached: int
    output: int
    reasoning: int


@dataclass
class Tree:
    """A generated ``$CODEX_HOME``, the calls it truly holds, and what ccusage counts."""

    root: Path
    calls: list[Call]
    ccusage_calls: list[Call]
    counts: dict[str, int]

    def daily(self, zone: tzinfo = UTC, *, calls: list[Call] | None = None) -> dict[str, dict[str, list[int]]]:
        """Per day in ``zone``, per model: [input without cache, cached input, output, reasoning]."""
        out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
        for call in self.calls if calls is None else calls:
            slot = out[call.ts.astimezone(zone).date().isoformat()][call.model]
            slot[0] += call.input - call.cached
            slot[1] += call.cached
            slot[2] += call.output
            slot[3] += call.reasoning
        return {day: {m: list(v) for m, v in sorted(models.items())} for day, models in sorted(out.items())}


def stamp(at: datetime) -> str:
    """Codex's timestamp: UTC, milliseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _tokens(v: list[int]) -> dict[str, int]:
    return {
        "input_tokens": v[0],
        "cached_input_tokens": v[1],
        "output_tokens": v[2],
        "reasoning_output_tokens": v[3],
        "total_tokens": v[0] + v[2],
    }


def token_count(at: datetime, total: list[int] | None, last: list[int] | None) -> dict[str, Any]:
    """A ``token_count`` record; ``total`` and ``last`` both None give ``info: null``."""
    info: dict[str, Any] | None = None
    if total is not None or last is not None:
        info = {"model_context_window": 272000}
        if total is not None:
            info["total_token_usage"] = _tokens(total)
        if last is not None:
            info["last_token_usage"] = _tokens(last)
    rate_limits = {"primary": {"used_percent": 4.0, "window_minutes": 300}, "secondary": None}
    return {
        "timestamp": stamp(at),
        "type": "event_msg",
        "payload": {"type": "token_count", "info": info, "rate_limits": rate_limits},
    }


def session_meta(at: datetime, session_id: str, cwd: str, forked_from: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": session_id,
        "timestamp": stamp(at),
        "cwd": cwd,
        "originator": "codex_cli_rs",
        "cli_version": "0.46.0",
        "instructions": None,
        "git": {"branch": "main", "commit_hash": "3f2a9c1"},
    }
    if forked_from is not None:
        payload["forked_from_id"] = forked_from
    return {"timestamp": stamp(at), "type": "session_meta", "payload": payload}


def turn_context(at: datetime, cwd: str, model: str) -> dict[str, Any]:
    payload = {"cwd": cwd, "approval_policy": "on-request", "model": model, "effort": "medium", "summary": "auto"}
    return {"timestamp": stamp(at), "type": "turn_context", "payload": payload}


def _line(record: dict[str, Any]) -> str:
    # Codex writes compact JSON; ccusage finds its records by '"type":"event_msg"'.
    return json.dumps(record, separators=(",", ":"))


@dataclass
class _Record:
    record: dict[str, Any]
    at: datetime
    call: Call | None = None  # the call a token_count announces (its first emission)


@dataclass
class _Session:
    id: str
    start: datetime
    cwd: str
    model: str
    forked_from: str | None = None  # as written in session_meta
    parent_id: str | None = None  # whether written or not
    records: list[_Record] = field(default_factory=list)
    total: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    calls: list[Call] = field(default_factory=list)  # its own calls (not replayed ones)
    replayed: list[tuple[Call, datetime]] = field(default_factory=list)  # (parent's call, replay time)
    fresh_fork_drop: Call | None = None  # the call ccusage drops (see the module doc)
    archived: bool = False
    copied: bool = False
    is_fork: bool = False

    @property
    def name(self) -> str:
        return f"rollout-{self.start.strftime('%Y-%m-%dT%H-%M-%S')}-{self.id}.jsonl"

    def add(self, record: dict[str, Any], at: datetime, call: Call | None = None) -> None:
        self.records.append(_Record(record, at, call))


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counts: dict[str, int] = defaultdict(int)
        self.serial = 0

    def session_id(self) -> str:
        self.serial += 1
        return f"0199{self.rng.randrange(16**4):04x}-{self.rng.randrange(16**4):04x}-7000-8000-{self.serial:012x}"

    def turn(self, s: _Session, at: datetime, *, after_reset: bool, re_emit: bool = False) -> datetime:
        """One user turn: a prompt, maybe a tool call, the model call and its count."""
        rng = self.rng
        prompt = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "next step"}]}
        s.add({"timestamp": stamp(at), "type": "response_item", "payload": prompt}, at)
        s.add({"timestamp": stamp(at), "type": "event_msg", "payload": {"type": "user_message", "message": "go"}}, at)
        at += timedelta(milliseconds=rng.randint(800, 9000))
        if rng.random() < 0.5:
            s.add(
                {"timestamp": stamp(at), "type": "response_item", "payload": {"type": "reasoning", "summary": []}}, at
            )
        if rng.random() < 0.6:
            call_id = f"call_{self.rng.randrange(16**8):08x}"
            tool = rng.choice(_TOOLS)
            args = {"command": ["pytest", "-q"]}
            item = {"type": "function_call", "name": tool, "arguments": json.dumps(args), "call_id": call_id}
            s.add({"timestamp": stamp(at), "type": "response_item", "payload": item}, at)
            at += timedelta(milliseconds=rng.randint(200, 20000))
            output = {"type": "function_call_output", "call_id": call_id, "output": '{"output":"ok"}'}
            s.add({"timestamp": stamp(at), "type": "response_item", "payload": output}, at)
            self.counts["tool_calls"] += 1
        at += timedelta(milliseconds=rng.randint(500, 15000))
        cached = rng.randint(0, 40_000) if rng.random() < 0.8 else 0
        usage = [cached + rng.randint(200, 30_000), cached, 0, 0]
        usage[2] = rng.randint(20, 4000)
        usage[3] = rng.randint(0, usage[2] // 2) if rng.random() < 0.7 else 0
        s.total = [a + b for a, b in zip(s.total, usage, strict=True)]
        call = Call(at, s.model, *usage)
        s.calls.append(call)
        # A count after a counter reset always carries last_token_usage: ccusage reads a
        # lone total there as a difference from the old total and loses the call.
        total_only = not after_reset and rng.random() < 0.12
        self.counts["total_only_counts"] += total_only
        s.add(token_count(at, list(s.total), None if total_only else usage), at, call)
        if re_emit or rng.random() < 0.3:  # Codex emits the same count again (with fresh rate limits)
            at += timedelta(milliseconds=rng.randint(0, 400))
            s.add(token_count(at, list(s.total), None if total_only else usage), at)
            self.counts["re_emitted_counts"] += 1
        at += timedelta(milliseconds=rng.randint(100, 3000))
        message = {"type": "agent_message", "message": "Done."}
        s.add({"timestamp": stamp(at), "type": "event_msg", "payload": message}, at)
        return at + timedelta(seconds=rng.randint(5, 600))

    def turns(
        self, s: _Session, at: datetime, n: int, *, after_reset: bool = False, re_emit_first: bool = False
    ) -> datetime:
        for i in range(n):
            if i and self.rng.random() < 0.15:
                s.model = self.rng.choice(MODELS)
                s.add(turn_context(at, s.cwd, s.model), at)
                self.counts["model_changes"] += 1
            at = self.turn(s, at, after_reset=after_reset and i == 0, re_emit=re_emit_first and i == 0)
        return at

    def session(self, start: datetime) -> _Session:
        rng = self.rng
        s = _Session(self.session_id(), start, f"/home/dev/src/{rng.choice(_PROJECTS)}", rng.choice(MODELS))
        s.add(session_meta(start, s.id, s.cwd), start)
        at = start + timedelta(milliseconds=rng.randint(50, 900))
        s.add(turn_context(at, s.cwd, s.model), at)
        if rng.random() < 0.7:
            s.add(token_count(at, None, None), at)
            self.counts["info_null_counts"] += 1
        at = self.turns(s, at + timedelta(seconds=rng.randint(2, 90)), rng.randint(2, 14))
        if rng.random() < 0.4:  # resumed later, into the same file
            at += timedelta(hours=rng.uniform(2, 40))
            reset = rng.random() < 0.5
            if reset:
                s.total = [0, 0, 0, 0]
                self.counts["resumed_with_reset"] += 1
            else:
                self.counts["resumed_continued"] += 1
            s.add(turn_context(at, s.cwd, s.model), at)
            self.turns(s, at + timedelta(seconds=rng.randint(5, 60)), rng.randint(1, 8), after_reset=reset)
        self.counts["sessions"] += 1
        return s

    def fork(self, parent: _Session, at: datetime, *, with_id: bool) -> _Session:
        """A fork of ``parent`` at ``at``: the parent's records so far, re-stamped, then its own turns."""
        rng = self.rng
        s = _Session(self.session_id(), at, parent.cwd, parent.model, parent.id if with_id else None, parent.id)
        s.is_fork = True
        s.add(session_meta(at, s.id, s.cwd, s.forked_from), at)
        replay_at = at
        for rec in parent.records[1:]:  # all but the parent's session_meta
            if rec.at >= at:
                break
            replay_at += timedelta(milliseconds=1)
            copy = json.loads(json.dumps(rec.record))
            copy["timestamp"] = stamp(replay_at)
            if copy["type"] == "turn_context":
                s.model = copy["payload"]["model"]
            if copy["type"] == "event_msg" and copy["payload"]["type"] == "token_count" and copy["payload"]["info"]:
                s.total = [copy["payload"]["info"]["total_token_usage"][k] for k in _TOTAL_KEYS]
            s.add(copy, replay_at)
            if rec.call is not None:
                s.replayed.append((rec.call, replay_at))
        start = replay_at + timedelta(seconds=rng.randint(6, 60))
        if rng.random() < 0.5:
            s.model = rng.choice(MODELS)
        s.add(turn_context(start, s.cwd, s.model), start)
        first_own = len(s.records)
        # A fresh fork with forked_from_id whose first count comes twice is the case
        # ccusage drops a call in: make sure each such fork has it.
        fresh = not s.replayed and with_id
        self.turns(s, start + timedelta(seconds=rng.randint(1, 30)), rng.randint(1, 8), re_emit_first=fresh)
        self.counts["forks_with_id" if with_id else "forks_without_id"] += 1
        if not s.replayed:
            self.counts["fresh_forks"] += 1
            counts = [r for r in s.records[first_own:] if r.record["payload"].get("type") == "token_count"]
            if with_id and len(counts) > 1 and counts[1].at - counts[0].at <= timedelta(seconds=1):
                s.fresh_fork_drop = counts[0].call
                self.counts["fresh_forks_first_count_re_emitted"] += 1
        return s


_TOTAL_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def generate(
    root: Path,
    *,
    seed: int = 7,
    sessions: int = 40,
    forks: int = 14,
    first_day: datetime = datetime(2025, 10, 1, tzinfo=UTC),
    days: int = 12,
    fresh_forks: bool = True,
    forks_without_id: bool = True,
) -> Tree:
    """Write a ``$CODEX_HOME`` under ``root`` (replaced if present); the same seed gives
    the same bytes. ``fresh_forks`` False keeps every fork after its parent's first
    call, ``forks_without_id`` False writes ``forked_from_id`` in every fork: the two
    cases ccusage miscounts."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    made: list[_Session] = []
    for _ in range(sessions):
        start = first_day + timedelta(seconds=rng.randint(0, days * 86_400))
        made.append(writer.session(start.replace(microsecond=rng.randrange(1000) * 1000)))
    made.sort(key=lambda s: s.start)
    parents = list(made)
    for n in range(forks):
        parent = rng.choice(parents)
        with_id = n % 2 == 0 or not forks_without_id
        calls_at = [c.ts for c in parent.calls]
        if fresh_forks and n % 5 == 4:
            at = parent.start + timedelta(seconds=1)  # before its first call
        else:
            # after one of the parent's calls, before the next (or in its resumed part)
            pick = rng.randrange(len(calls_at))
            at = calls_at[pick] + timedelta(seconds=rng.uniform(3, 30))
            if pick + 1 < len(calls_at) and at >= calls_at[pick + 1]:
                at = calls_at[pick] + (calls_at[pick + 1] - calls_at[pick]) / 2
        at = at.replace(microsecond=(at.microsecond // 1000) * 1000)
        made.append(writer.fork(parent, at, with_id=with_id))
    for s in made:
        s.archived = rng.random() < 0.3
        s.copied = not s.archived and rng.random() < 0.15
    # The case laptime got wrong: a parent moved to archived_sessions/ while its fork
    # is still in sessions/, which used to be read first.
    by_id = {s.id: s for s in made}
    for s in made:
        if s.parent_id is not None and s.replayed:
            by_id[s.parent_id].archived = True
            by_id[s.parent_id].copied = False
    _write(root, made, writer.counts)
    truth = [c for s in made for c in s.calls]
    theirs = [c for s in made for c in s.calls if c is not s.fresh_fork_drop]
    for s in made:
        if s.is_fork and s.forked_from is None:
            theirs.extend(Call(at, c.model, c.input, c.cached, c.output, c.reasoning) for c, at in s.replayed)
    truth.sort(key=lambda c: c.ts)
    theirs.sort(key=lambda c: c.ts)
    return Tree(root, truth, theirs, dict(writer.counts))


def write_session(root: Path, relative: str, records: list[dict[str, Any]]) -> Path:
    """One session file ``root/relative`` of ``records``, as Codex writes it."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_line(r) + "\n" for r in records), encoding="utf-8")
    return path


def _write(root: Path, made: list[_Session], counts: dict[str, int]) -> None:
    if root.exists():
        shutil.rmtree(root)
    for s in made:
        text = "".join(_line(r.record) + "\n" for r in s.records)
        day = s.start.strftime("%Y/%m/%d")
        places = [root / "archived_sessions" / s.name] if s.archived else [root / "sessions" / day / s.name]
        if s.copied:
            places.append(root / "archived_sessions" / s.name)
            counts["byte_identical_copies"] += 1
        counts["archived"] += s.archived
        for path in places:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
