"""Small, realistic Claude Code trees with a known truth, for the ccusage parity tests.

``generate(root, seed)`` writes ``root/projects/<project>/...`` the way Claude Code does,
and returns the files and what should count: every response once, with the usage of its
copy with the largest token total, on the day of that copy. What it writes:

- several projects and sessions; records with the full Claude Code fields (``uuid``,
  ``parentUuid``, ``sessionId``, ``requestId``, ``timestamp``, ``isSidechain``,
  ``type: "assistant"``, ``message.id``, ``message.model``, ``message.usage``);
- streamed responses: one ``message.id`` + ``requestId`` on 1-4 lines, the early ones
  with ``stop_reason: null`` and few output tokens; now and then a smaller copy after
  the largest one; sessions that run over midnight, so copies of one response fall on
  two days;
- cache writes split 5m / 1h (``usage.cache_creation.ephemeral_1h_input_tokens``);
- subagents (``<session>/subagents/agent-<id>.jsonl``, ``isSidechain: true``, ``agentId``),
  with responses of their own;
- ``/btw`` side questions (``<session>/subagents/agent-aside_question-<id>.jsonl``): the
  parent's last responses replayed with ``isSidechain: true``, a new ``requestId``, a
  later time (sometimes the next day) and often a larger cache read, then the answer;
- resumed sessions: a new session file that begins with a verbatim copy of an earlier
  session's lines (the old ``sessionId`` included), then goes on with its own;
- ``<synthetic>`` responses and API error records, with zero usage, as Claude Code
  writes them.

``cross_session_replays=True`` adds one case ccusage 20.0.24 counts twice: a side
question in a resumed session that replays a response copied from the earlier session
(the replay has the new ``sessionId``, the response the old one; ccusage matches a
replay to its parent only within one ``sessionId``).

Deterministic for a seed (``random.Random(seed)``, no clock, no uuid4).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001")
PROJECTS = ("-home-dev-src-webapp", "-home-dev-src-laptime", "-home-dev-work-infra", "-home-dev-notes")
TOOLS = ("Read", "Edit", "Bash", "Grep", "Write")
VERSION = "2.0.14"
# Token counts in the order the usage report and ccusage name them.
FIELDS = ("input", "output", "cache_write", "cache_read")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _total(usage: dict[str, Any]) -> int:
    return (
        usage["input_tokens"]
        + usage["output_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )


@dataclass
class Counted:
    """One response as it should count: its largest copy's time, model and usage."""

    ts: datetime
    model: str
    tokens: tuple[int, int, int, int]  # FIELDS


@dataclass
class Tree:
    root: Path  # the config folder (CLAUDE_CONFIG_DIR)
    files: list[Path]
    counted: list[Counted]
    stats: dict[str, int]
    # (day in UTC, model) cells that hold a cross-session replay (see the module doc)
    cross_session_cells: set[tuple[str, str]] = field(default_factory=set)

    def truth(self, zone: str = "UTC") -> dict[tuple[str, str], list[int]]:
        """(day in ``zone``, model) -> [input, output, cache write, cache read]."""
        tz = ZoneInfo(zone)
        out: dict[tuple[str, str], list[int]] = {}
        for c in self.counted:
            cell = out.setdefault((c.ts.astimezone(tz).strftime("%Y-%m-%d"), c.model), [0, 0, 0, 0])
            for i, n in enumerate(c.tokens):
                cell[i] += n
        return out


class _Session:
    def __init__(self, gen: _Gen, project: str, t: datetime, model: str) -> None:
        self.g = gen
        self.rng = gen.rng
        self.project = project
        self.session_id = gen.uid()
        self.t = t
        self.model = model
        self.cwd = "/" + project.strip("-").replace("-", "/")
        self.parent: str | None = None
        self.lines: list[str] = []
        # each main response's copies, as records, for side-question replays
        self.responses: list[list[dict[str, Any]]] = []

    def tick(self, low: float, high: float) -> datetime:
        self.t += timedelta(seconds=self.rng.uniform(low, high))
        return self.t

    def base(self, kind: str, *, agent: str | None = None, session: str | None = None) -> dict[str, Any]:
        uid = self.g.uid()
        record: dict[str, Any] = {
            "parentUuid": self.parent,
            "isSidechain": agent is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": session or self.session_id,
            "version": VERSION,
            "gitBranch": "main",
        }
        if agent is not None:
            record["agentId"] = agent
        record["type"] = kind
        record["uuid"] = uid
        self.parent = uid
        return record

    def user(self, out: list[str], text: str, *, agent: str | None = None) -> None:
        record = self.base("user", agent=agent)
        record["message"] = {"role": "user", "content": text}
        record["timestamp"] = _ts(self.tick(2, 90))
        out.append(_dump(record))

    def usage(self, output: int) -> dict[str, Any]:
        rng = self.rng
        five = rng.randint(0, 6000)
        one_hour = rng.randint(1, 9000) if rng.random() < 0.3 else 0
        return {
            "input_tokens": rng.randint(1, 80),
            "cache_creation_input_tokens": five + one_hour,
            "cache_read_input_tokens": rng.randint(0, 160_000),
            "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": one_hour},
            "output_tokens": output,
            "service_tier": "standard",
        }

    def response(
        self, out: list[str], *, agent: str | None = None, model: str | None = None, straddle: bool = False
    ) -> list[str]:
        """One response on 1-4 lines; counts it; returns the tool_use ids it asked for.
        ``straddle``: its first copy just before midnight (UTC), the others after."""
        rng = self.rng
        model = model or self.model
        message_id = self.g.msg_id()
        request_id = "req_011C" + self.g.hex(20)
        final = self.usage(rng.randint(20, 4000))
        blocks: list[dict[str, Any]] = []
        if straddle or rng.random() < 0.4:
            blocks.append({"type": "thinking", "thinking": self.g.text(), "signature": "sig"})
        blocks.append({"type": "text", "text": self.g.text()})
        tools = ["toolu_01" + self.g.hex(22) for _ in range(rng.choice((0, 1, 1, 2)))]
        blocks.extend(
            {"type": "tool_use", "id": t, "name": rng.choice(TOOLS), "input": {"command": self.g.text()}} for t in tools
        )
        usages = [{**final, "output_tokens": rng.randint(1, 12)} for _ in blocks[:-1]]
        usages.append(final)
        if rng.random() < 0.1:  # a late, smaller copy: the largest one still counts
            self.g.late_smaller += 1
            blocks.append({"type": "text", "text": ""})
            usages.append({**final, "output_tokens": rng.randint(1, 12)})
        self.tick(2, 40)
        midnight = datetime.combine(self.t.date() + timedelta(days=1), datetime.min.time(), UTC)
        copies: list[dict[str, Any]] = []
        for i, (block, usage) in enumerate(zip(blocks, usages, strict=True)):
            record = self.base("assistant", agent=agent)
            record["message"] = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": ("tool_use" if tools else "end_turn") if i == len(blocks) - 1 else None,
                "stop_sequence": None,
                "usage": usage,
            }
            record["requestId"] = request_id
            self.tick(0.05, 2.5)
            if straddle:
                self.t = max(self.t, midnight) if i else max(self.t, midnight - timedelta(seconds=0.5))
            record["timestamp"] = _ts(self.t)
            copies.append(record)
        out.extend(_dump(r) for r in copies)
        largest = max(copies, key=lambda r: _total(r["message"]["usage"]))
        self.g.count(largest)
        if copies[0]["timestamp"][:10] != copies[-1]["timestamp"][:10]:
            self.g.straddles += 1
        if agent is None:
            self.responses.append(copies)
        return tools

    def tool_results(self, out: list[str], tools: list[str], *, agent: str | None = None) -> None:
        for tool_id in tools:
            record = self.base("user", agent=agent)
            content = self.g.text()
            record["message"] = {
                "role": "user",
                "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": content}],
            }
            record["timestamp"] = _ts(self.tick(0.5, 30))
            record["toolUseResult"] = {"stdout": content, "stderr": "", "interrupted": False}
            out.append(_dump(record))

    def synthetic(self, out: list[str]) -> None:
        """A ``<synthetic>`` response and an API error record: zero usage, never counted."""
        for error in (False, True):
            record = self.base("assistant")
            record["message"] = {
                "id": self.g.uid(),
                "model": "<synthetic>",
                "role": "assistant",
                "type": "message",
                "stop_reason": "stop_sequence",
                "content": [{"type": "text", "text": "API Error: overloaded" if error else "No response requested."}],
                "usage": {
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            }
            if error:
                record["isApiErrorMessage"] = True
            record["timestamp"] = _ts(self.tick(0.1, 1))
            out.append(_dump(record))

    def subagent(self) -> tuple[str, list[str]]:
        agent = self.g.hex(8)
        lines: list[str] = []
        self.user(lines, self.g.text(), agent=agent)
        for _ in range(self.rng.randint(1, 4)):
            tools = self.response(lines, agent=agent, model=self.rng.choice((MODELS[2], self.model)))
            self.tool_results(lines, tools, agent=agent)
        return agent, lines

    def aside(self, replayed: list[list[dict[str, Any]]]) -> tuple[str, list[str]]:
        """A /btw side question: replays of ``replayed`` (copies of parent responses),
        then the question and its answer (which counts)."""
        rng = self.rng
        agent = "aside_question-" + self.g.hex(16)
        if rng.random() < 0.3:
            self.t += timedelta(hours=rng.uniform(1, 20))  # asked later, maybe the next day
        request_id = "req_011Cside" + self.g.hex(16)
        lines: list[str] = []
        for copies in replayed:
            chosen = copies if rng.random() < 0.3 else copies[-1:]
            extra = rng.choice((0, 0, rng.randint(1_000, 120_000)))  # the side request's cache read
            for copy in chosen:
                replay = json.loads(_dump(copy))
                replay["isSidechain"] = True
                replay["agentId"] = agent
                replay["requestId"] = request_id
                replay["uuid"] = self.g.uid()
                replay["parentUuid"] = self.parent
                replay["sessionId"] = self.session_id
                self.parent = replay["uuid"]
                replay["timestamp"] = _ts(self.tick(0.01, 0.2))
                replay["message"]["usage"]["cache_read_input_tokens"] += extra
                lines.append(_dump(replay))
        self.user(lines, "/btw " + self.g.text(), agent=agent)
        self.response(lines, agent=agent)
        return agent, lines


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counted: list[Counted] = []
        self.straddles = 0  # responses whose copies fall on two UTC days
        self.late_smaller = 0  # responses with a smaller copy after the largest

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def msg_id(self) -> str:
        return "msg_01" + "".join(
            self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789") for _ in range(22)
        )

    def text(self) -> str:
        words = ("fix", "the", "login", "test", "refactor", "parser", "and", "run", "again", "why", "fails")
        return " ".join(self.rng.choice(words) for _ in range(self.rng.randint(3, 40)))

    def count(self, record: dict[str, Any]) -> None:
        usage = record["message"]["usage"]
        ts = datetime.fromisoformat(record["timestamp"])  # Python 3.11 reads the Z
        tokens = (
            usage["input_tokens"],
            usage["output_tokens"],
            usage["cache_creation_input_tokens"],
            usage["cache_read_input_tokens"],
        )
        self.counted.append(Counted(ts, record["message"]["model"], tokens))


def generate(root: Path, seed: int, *, sessions: tuple[int, int] = (5, 9), cross_session_replays: bool = False) -> Tree:
    """Write a tree under ``root/projects``; its files, truth and what it holds."""
    gen = _Gen(seed)
    rng = gen.rng
    stats = dict.fromkeys(("sessions", "subagents", "asides", "replays", "resumed", "synthetic", "midnight"), 0)
    files: list[Path] = []
    cross_cells: set[tuple[str, str]] = set()
    t = datetime(2025, 10, 6, 8, 0, tzinfo=UTC) + timedelta(hours=rng.uniform(0, 12))
    done: list[_Session] = []
    n_sessions = rng.randint(*sessions)
    for n in range(n_sessions):
        project = PROJECTS[rng.randrange(len(PROJECTS))]
        if n == 1:  # one session starts just before midnight: copies of a response on two days
            t = t.replace(hour=23, minute=59) + timedelta(days=1)
            stats["midnight"] += 1
        session = _Session(gen, project, t, rng.choice(MODELS))
        side_files: dict[str, list[str]] = {}
        earlier = [s for s in done if s.project == project]
        resumed = earlier[-1] if earlier and rng.random() < 0.5 else None
        lines = session.lines
        if resumed is not None:  # a verbatim copy of the earlier session, its sessionId and all
            lines.extend(resumed.lines[: rng.randint(max(1, len(resumed.lines) // 2), len(resumed.lines))])
            stats["resumed"] += 1
        for turn in range(rng.randint(2, 6)):
            session.user(lines, session.g.text())
            for i in range(rng.randint(1, 5)):
                straddle = n == 1 and turn == 0 and i == 0
                tools = session.response(lines, model=MODELS[2] if rng.random() < 0.15 else None, straddle=straddle)
                session.tool_results(lines, tools)
                if not tools:
                    break
            if turn == 1 and rng.random() < 0.4:
                session.synthetic(lines)
                stats["synthetic"] += 1
            if rng.random() < 0.3:
                agent, sub = session.subagent()
                side_files[f"agent-{agent}.jsonl"] = sub
                stats["subagents"] += 1
            if session.responses and rng.random() < 0.4:
                k = rng.randint(1, min(4, len(session.responses)))
                agent, sub = session.aside(session.responses[-k:])
                side_files[f"agent-{agent}.jsonl"] = sub
                stats["asides"] += 1
                stats["replays"] += k
        if cross_session_replays and resumed is not None and resumed.responses:
            copies = resumed.responses[0]
            agent, sub = session.aside([copies])
            side_files[f"agent-{agent}.jsonl"] = sub
            message_id = copies[0]["message"]["id"]
            for line in sub:  # ccusage counts the replay too, on its own day
                record = json.loads(line)
                if record.get("message", {}).get("id") == message_id:
                    cross_cells.add((record["timestamp"][:10], record["message"]["model"]))
        folder = root / "projects" / project
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{session.session_id}.jsonl"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        files.append(path)
        for name, sub in side_files.items():
            sub_path = folder / session.session_id / "subagents" / name
            sub_path.parent.mkdir(parents=True, exist_ok=True)
            sub_path.write_text("".join(f"{line}\n" for line in sub), encoding="utf-8")
            files.append(sub_path)
        stats["sessions"] += 1
        done.append(session)
        t = session.t + timedelta(hours=rng.uniform(0.5, 14))
    stats["straddles"] = gen.straddles
    stats["late_smaller"] = gen.late_smaller
    return Tree(root, files, gen.counted, stats, cross_cells)
