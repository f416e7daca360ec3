"""Claude Code session logs: ``<config dir>/projects/<project>/<sessionId>.jsonl``.

Sessions become runs (``cc-<sessionId>``), assistant responses become llm spans with
their usage, ``tool_use`` blocks become tool spans, and subagents (sidechains, usually in
``<sessionId>/subagents/*.jsonl``) become task spans under the session's run.

Speed and memory (DESIGN.md, "Performance budgets"): files are read in fixed-size
chunks and only lines holding ``"usage":{`` are parsed; every other line is skipped
unparsed. A usage line is decoded into small structs that name only the fields used
here, so message text, thinking and tool inputs are skipped by the decoder and never
become Python objects. A line longer than ``MAX_LINE_BYTES`` (file-history snapshots of
hundreds of MB have been seen) is skipped while streaming, never held whole.

De-duplication (FORMATS.md, checked against ccusage 20.0.24): copies of one response
share ``message.id``, and all copies map to the same event ids. The copy kept is a
main-chain one if there is one (a ``/btw`` side question replays parent responses in a
sidechain file, with a new ``requestId`` and often more tokens), then the one with the
largest token total. This file applies the rule within a file; across files and imports
the import's append filter and the index apply the same rule (they rank copies by
``attrs.sidechain``, which is set here), so the order files are read in does not matter.
``<synthetic>`` responses and API error records are skipped. See ``docs/importers.md``
for the field mapping and the few differences from ccusage.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import msgspec

from laptime import events as ev
from laptime.clock import parse_timestamp_us, timestamp_from_us
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    ImportItem,
    MovedEnd,
    open_regular,
    run_start,
    source_event_id,
    user_wait,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

NAME: Final = "claude-code"


CHUNK_BYTES: Final = 4 << 20
MAX_LINE_BYTES: Final = 32 << 20
USAGE_MARK: Final = b'"usage":{'
_TIMESTAMP_RE: Final = re.compile(rb'"timestamp":"([0-9T:.+Z-]{19,40})"')
_FIRST_LINE_PEEK: Final = 64 << 10  # the session's first timestamp is read from a line this short
_SHORT_LINE: Final = 16 << 10  # lines up to this size are searched whole for the usage mark
_WINDOW: Final = 4 << 10  # ...longer ones first at their start and end
_ASSISTANT: Final = b'"type":"assistant"'


# -- the few fields a usage record is decoded into (everything else is skipped) ------------


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: _CacheCreation | None = None
    service_tier: str | None = None
    speed: str | None = None


class _Block(msgspec.Struct):
    type: str = ""
    id: str | None = None
    name: str | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: _Usage | None = None
    content: list[_Block] | str | None = None


class _Record(msgspec.Struct, rename="camel"):
    type: str = ""
    timestamp: str | None = None
    session_id: str | None = None
    request_id: str | None = None
    uuid: str | None = None
    is_sidechain: bool | None = None
    is_api_error_message: bool | None = None
    agent_id: str | None = None
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    cost_u_s_d: float | None = msgspec.field(default=None, name="costUSD")
    message: _Message | None = None


_record_decoder: Final = msgspec.json.Decoder(_Record)


# -- timestamps --------------------------------------------------------------------------

_hour_cache: dict[str, int] = {}


def parse_ts(text: str) -> tuple[str, int]:
    """(canonical event timestamp, epoch ns) for a Claude Code timestamp.

    Raises ValueError for anything that is not an RFC 3339 time. Not
    records.parse_ts_ns: this also returns the canonical text, and takes a fast path
    for Claude Code's own layout, since every usage line has a timestamp.
    """
    if len(text) == 24 and text[19] == "." and text[23] == "Z" and text[13] == ":" and text[16] == ":":
        hour = text[:13]
        base = _hour_cache.get(hour)
        if base is None:
            base = int(datetime.fromisoformat(hour + ":00:00+00:00").timestamp())
            _hour_cache[hour] = base
        minute, second, milli = text[14:16], text[17:19], text[20:23]
        if minute.isdigit() and second.isdigit() and milli.isdigit() and int(minute) < 60 and int(second) < 61:
            seconds = base + int(minute) * 60 + int(second)
            return f"{text[:23]}000Z", seconds * 1_000_000_000 + int(milli) * 1_000_000
    us = parse_timestamp_us(text)  # exact, also before 1970
    return timestamp_from_us(us), us * 1_000


_valid_hours: dict[str, bool] = {}
# Claude Code's (and Codex's) own layout, ASCII digits only; minutes < 60 and seconds
# <= 60 (a leap second), as parse_ts's own fast path takes them.
_OWN_LAYOUT: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:[0-5]\d:(?:[0-5]\d|60)\.\d{3}Z", re.ASCII)


def canonical_ts(text: str) -> str | None:
    """``parse_ts(text)[0]``, or None where it raises ValueError; the hot path for Claude
    Code's (and Codex's) own layout, ``2025-10-06T10:00:00.000Z``, which is checked
    without building a datetime (the hour once per distinct hour)."""
    if _OWN_LAYOUT.fullmatch(text) is not None:
        hour = text[:13]
        valid = _valid_hours.get(hour)
        if valid is None:
            try:
                datetime.fromisoformat(hour + ":00:00+00:00")
                valid = True
            except ValueError:
                valid = False
            _valid_hours[hour] = valid
        if valid:
            return f"{text[:23]}000Z"
    try:
        return parse_ts(text)[0]
    except ValueError:
        return None


# -- streaming: find the usage lines without parsing the rest ----------------------------


@dataclass
class _Hit:
    line: int  # 1-based line number in the file
    offset: int  # byte offset of the line's start
    data: bytes | None  # the line; None for a bad line
    problem: str = ""


class _LongLine:
    """A line longer than a chunk: kept in pieces while it may be a usage record no
    longer than the limit, else only measured (whether it holds the usage mark, its
    first and last byte)."""

    __slots__ = ("first", "has_mark", "last", "pieces", "size", "tail")

    def __init__(self) -> None:
        self.pieces: list[bytes] | None = []
        self.size = 0
        self.tail = b""  # the last len(mark) - 1 bytes, to find a mark across pieces
        self.has_mark = False
        self.first = b""
        self.last = b""

    def add(self, piece: bytes, max_bytes: int) -> None:
        if not piece:
            return
        seam = len(USAGE_MARK) - 1
        if not self.has_mark:
            self.has_mark = USAGE_MARK in self.tail + piece[:seam] or USAGE_MARK in piece
        self.tail = (self.tail + piece[-seam:])[-seam:]
        if not self.size:
            self.first = piece[:1]
        self.last = piece[-1:]
        self.size += len(piece)
        if self.pieces is not None:
            self.pieces.append(piece)
            if self.size > max_bytes:
                self.pieces = None

    def finish(self, line_no: int, offset: int, max_bytes: int) -> _Hit | None:
        if self.has_mark:
            if self.pieces is not None:
                return _Hit(line_no, offset, b"".join(self.pieces))
            return _Hit(
                line_no,
                offset,
                None,
                f"a usage line of {self.size:,} bytes is longer than the {max_bytes:,}-byte limit; skipped",
            )
        if self.first != b"{":
            return _Hit(line_no, offset, None, "not a JSON object (binary or garbled line); skipped")
        if self.last not in (b"}", b"\r"):
            return _Hit(line_no, offset, None, "truncated JSON; skipped")
        return None


@dataclass
class LineScanner:
    """Yields the lines of ``path`` that hold ``"usage":{``, from ``offset``, in bounded
    memory. Also reports lines that are not JSON objects (binary garbage, truncated
    JSON) and usage lines too long to read. ``end`` is the offset after the last complete
    line, ``lines`` the number of complete lines up to there."""

    path: Path
    offset: int = 0
    lines: int = 0  # complete lines before ``offset``
    chunk_bytes: int = CHUNK_BYTES
    max_line_bytes: int = MAX_LINE_BYTES
    first_ts: str | None = None  # the first line's timestamp, when it is short and has one
    bytes_read: int = 0
    end: int = field(init=False, default=0)

    def __iter__(self) -> Iterator[_Hit]:
        self.end = self.offset
        position = self.offset  # file offset of data[0]
        line_no = self.lines  # complete lines before data[0]
        carry = b""
        long: _LongLine | None = None  # a line longer than a chunk, being read
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            while True:
                block = handle.read(self.chunk_bytes)
                if not block:
                    return
                self.bytes_read += len(block)
                if long is not None:
                    newline = block.find(b"\n")
                    long.add(block if newline < 0 else block[:newline], self.max_line_bytes)
                    if newline < 0:
                        continue
                    line_no += 1
                    hit = long.finish(line_no, position, self.max_line_bytes)
                    if hit is not None:
                        yield hit
                    position += long.size + 1
                    self.end, self.lines = position, line_no
                    long = None
                    block = block[newline + 1 :]
                    if not block:
                        continue
                data = carry + block if carry else block
                limit = data.rfind(b"\n") + 1
                if limit == 0:
                    if len(data) > self.chunk_bytes:  # no newline in a whole chunk: a long line
                        long = _LongLine()
                        long.add(data, self.max_line_bytes)
                        carry = b""
                    else:
                        carry = data
                    continue
                if line_no == 0 and self.first_ts is None:
                    first_end = data.find(b"\n", 0, _FIRST_LINE_PEEK)
                    if first_end > 0:
                        found = _TIMESTAMP_RE.search(data, 0, first_end)
                        if found:
                            self.first_ts = found.group(1).decode()
                line_no = yield from self._lines(data, limit, line_no, position)
                position += limit
                self.end, self.lines = position, line_no
                carry = data[limit:]

    @staticmethod
    def _lines(data: bytes, limit: int, line_no: int, position: int) -> Generator[_Hit, None, int]:
        """The usage lines of ``data[:limit]`` (whole lines), and the lines that cannot be
        JSON objects. One memchr per line; the usage mark is looked for in the whole of a
        short line, and in a long one (a tool result, a snapshot) only when its first or
        last part shows an assistant record or the mark: Claude Code writes ``usage``
        and the top-level ``type`` after the message content, at the end of the line."""
        find = data.find
        mark = USAGE_MARK
        start = 0
        while start < limit:
            end = find(b"\n", start, limit)
            line_no += 1
            if end > start:
                if end - start <= _SHORT_LINE:
                    has_mark = find(mark, start, end) >= 0
                else:
                    tail = end - _WINDOW
                    has_mark = find(mark, tail, end) >= 0 or (
                        (find(_ASSISTANT, tail, end) >= 0 or find(_ASSISTANT, start, start + _WINDOW) >= 0)
                        and find(mark, start, tail + len(mark)) >= 0
                    )
                if has_mark:
                    yield _Hit(line_no, position + start, data[start:end])
                elif data[start] != 0x7B:  # "{"
                    if data[start:end].strip():
                        yield _Hit(
                            line_no, position + start, None, "not a JSON object (binary or garbled line); skipped"
                        )
                elif data[end - 1] != 0x7D and not (data[end - 1] == 0x0D and data[end - 2] == 0x7D):  # "}", "\r"
                    yield _Hit(line_no, position + start, None, "truncated JSON; skipped")
            start = end + 1
        return line_no


# -- one response, possibly written as several lines ---------------------------------------


class _Response(msgspec.Struct):
    """One response (its copies merged). A msgspec struct: built in C, for every usage
    line read."""

    key: str
    session: str
    sidechain: bool
    agent: str | None
    model: str
    ts: str
    first_ts: str
    last_ts: str
    line: int
    usage: _Usage
    request_id: str | None
    stop_reason: str | None
    cost_usd: float | None
    tools: dict[str, tuple[str, str]] | None  # tool_use id -> (name, canonical ts); None for none
    total: int = -1  # the token total, computed when a copy is first compared (-1: not yet)


class _Session(msgspec.Struct):
    session: str
    first_ts: str
    last_ts: str
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None
    agents: dict[str, list[str]] = msgspec.field(default_factory=dict)  # agent -> [first ts, last ts]


def _int(value: int | None) -> int:
    """A token count: 0 when absent or negative, where records.get_count would reject
    the whole record."""
    return value if value is not None and value > 0 else 0


def _cache_write(usage: _Usage) -> tuple[int, int]:
    """(cache write tokens, of which 1h): 5m + 1h when the split is present."""
    split = usage.cache_creation
    if split is not None and (
        split.ephemeral_5m_input_tokens is not None or split.ephemeral_1h_input_tokens is not None
    ):
        one_hour = _int(split.ephemeral_1h_input_tokens)
        return _int(split.ephemeral_5m_input_tokens) + one_hour, one_hour
    return _int(usage.cache_creation_input_tokens), 0


def _total(usage: _Usage) -> int:
    """input + output + cache read + cache write, as ``_int`` and ``_cache_write`` count
    them (inlined: once per copy of a response)."""
    split = usage.cache_creation
    five = one = None
    if split is not None:
        five, one = split.ephemeral_5m_input_tokens, split.ephemeral_1h_input_tokens
    if five is None and one is None:
        five = usage.cache_creation_input_tokens
    total = 0
    for value in (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, five, one):
        if value is not None and value > 0:
            total += value
    return total


def _better(new: _Response, old: _Response) -> bool:
    """ccusage's choice among copies: a non-sidechain copy, then the largest total; on a
    tie the first stays. The index ranks copies from other files the same way, so this
    must stay in step with ``index._insert_sql``."""
    if new.sidechain != old.sidechain:
        return not new.sidechain
    if old.total < 0:
        old.total = _total(old.usage)
    new.total = _total(new.usage)
    return new.total > old.total


# Event ids of a response: one hash of its message.id (the same for every copy, in any
# file), behind a 12-digit prefix that says which event it is. Copies written at other
# times must get the same ids, so there is no time prefix.
_LLM_SPAN: Final = "cc0000000001"
_LLM_USAGE: Final = "cc0000000002"
_LLM_END: Final = "cc0000000003"
_TOOL_SPAN: Final = "cc0000000004"
_TOOL_END: Final = "cc0000000005"
_WAIT_SPAN: Final = "cc0000000006"  # waiting for the user after a turn
_WAIT_END: Final = "cc0000000007"


def _tail(response: _Response, *, asked_before: bool = False) -> list[Any]:
    """What a later read needs of a chain's last response (JSON, for the import cache).
    ``asked_before``: the response's records read before asked for a tool (the turn goes
    on, though the records read now ask for none)."""
    ended_turn = not asked_before and not response.tools and response.stop_reason != "tool_use"
    return [response.key, response.last_ts, response.line, ended_turn]


def _chain_key(session: str, agent: str | None) -> str:
    """A conversation (the main chain of a session, or one subagent's), as a JSON key."""
    return session if agent is None else f"{session}\x1f{agent}"


def _open_end(last: _Response, before: list[Any] | None) -> list[Any]:
    """What a later read needs to end a conversation's last spans as a whole read does:
    the last response's key and last time, and its tools (digest of the tool_use id, the
    time asked). Read so far, they end at that last time; a later read may move the ends
    (``_moved_ends``). When the last response is the one open before, read on (its later
    records in this read), the tools asked in its earlier records stay in the list."""
    tools = [[_digest(tool_id), tool_ts] for tool_id, (_, tool_ts) in (last.tools or {}).items()]
    if before is not None and before[0] == last.key:
        known = {digest for digest, _ in tools}
        tools = [*tools, *(tool for tool in before[2] if tool[0] not in known)]
        return [last.key, max(last.last_ts, before[1]), tools]
    return [last.key, last.last_ts, tools]


def _moved_ends(session: str, before: list[Any], chain: list[_Response]) -> Iterator[MovedEnd]:
    """The new ends of spans a read before ended at the last time it saw (``_open_end``),
    as a whole read ends them: the response's llm span at its last record, now maybe in
    this read; its tools at the next response's start. Each is a ``span_end`` with the id
    the span's end already has (the index keeps the later end of an id), appended only
    if the end stored is still the one this file wrote (``MovedEnd``): a response this
    file only replays keeps the end of the file that holds it."""
    key, last_ts, tools = before
    run = run_id_of(session)
    digest = _digest(key)
    same = next((r for r in chain if r.key == key), None)
    new_last = max(last_ts, same.last_ts) if same is not None else last_ts
    if new_last > last_ts:
        end = ev.SpanEnd(v=1, id=f"{_LLM_END}{digest}", ts=new_last, run=run, span=f"{_LLM_SPAN}{digest}")
        yield MovedEnd(end, was=last_ts)
    following = next((r for r in chain if r.key != key), None)
    tools_end = max(following.first_ts, new_last) if following is not None else new_last
    for tool_digest, tool_ts in tools:
        was, ts = max(tool_ts, last_ts), max(tool_ts, tools_end)
        if ts > was:
            end = ev.SpanEnd(v=1, id=f"{_TOOL_END}{tool_digest}", ts=ts, run=run, span=f"{_TOOL_SPAN}{tool_digest}")
            yield MovedEnd(end, was=was)


def _digest(key: str) -> str:
    return hashlib.blake2b(f"{NAME}\x1f{key}".encode(), digest_size=10).hexdigest()


def run_id_of(session: str) -> str:
    return f"cc-{session}"


def _project_of(file: Path) -> str:
    for parent in file.parents:
        if parent.parent.name == "projects":
            return parent.name
    return file.parent.name


@functools.lru_cache(maxsize=4096)  # asked again for every response of the subagent
def _agent_span_id(session: str, agent: str) -> str:
    return source_event_id(0, NAME, "agent", session, agent)


class ClaudeCodeImporter(Importer):
    """``laptime import claude-code [PATH...]``."""

    name: ClassVar[str] = NAME
    append_only: ClassVar[bool] = True
    # 2: the ends of spans that cross reads of a growing file (``open``, ``first_ts``; 5606586).
    state_version: ClassVar[int] = 2

    def state_format(self, extra: dict[str, Any]) -> int:
        """A state without ``"v"`` (before 2e30981) is format 2 when it has ``open``."""
        version = super().state_format(extra)
        return 2 if "v" not in extra and "open" in extra else version

    # -- where ----------------------------------------------------------------------------

    def default_paths(self) -> list[Path]:
        """``$CLAUDE_CONFIG_DIR`` (comma-separated) when set, as ccusage does; otherwise
        ``~/.config/claude/projects`` and ``~/.claude/projects``. Folders that do not
        exist are left out, unless none does (then the import says so)."""
        env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
        if env:
            bases = [Path(part.strip()).expanduser() for part in env.split(",") if part.strip()]
        else:
            home = Path.home()
            bases = [home / ".config" / "claude", home / ".claude"]
        candidates = [base / "projects" for base in bases]
        found = [p for p in candidates if p.is_dir()]
        return found or candidates

    def discover(self, path: Path) -> Iterator[Path]:
        """Every ``*.jsonl`` under ``path`` (its ``projects/`` folder when it is a config
        folder), the whole tree; sessions before the subagent files nested under them."""
        if not path.exists():
            raise FileNotFoundError(path)
        if path.is_file():
            yield path
            return
        (root,) = self.walk_roots(path)
        found: list[tuple[int, str, Path]] = []
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            depth = folder.count(os.sep)
            found.extend((depth, name, Path(folder) / name) for name in files if name.endswith(".jsonl"))
        found.sort(key=lambda item: (item[0], str(item[2])))
        for _, _, file in found:
            yield file

    def walk_roots(self, path: Path) -> list[Path]:
        """A config folder's ``projects/``; any other path itself."""
        projects = path / "projects"
        return [projects if projects.is_dir() else path]

    def detect(self, path: Path) -> bool:
        if path.is_dir():
            (root,) = self.walk_roots(path)
            return any(self._looks_like(f) for f in _first_files(root, 5))
        return path.suffix == ".jsonl" and self._looks_like(path)

    @staticmethod
    def _looks_like(file: Path) -> bool:
        try:  # open_regular: a FIFO in the tree is refused, never opened (opening one blocks)
            with open_regular(file) as handle:
                head = handle.read(16 << 10)
        except OSError:
            return False
        return b'"sessionId"' in head and (b'"type":"assistant"' in head or b'"type":"user"' in head)

    # -- reading --------------------------------------------------------------------------

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ImportItem]:
        # The module's limits, read at each call (tests lower them to cut lines small).
        scanner = LineScanner(
            file, state.offset, int(state.extra.get("line", 0)), chunk_bytes=CHUNK_BYTES, max_line_bytes=MAX_LINE_BYTES
        )
        responses: dict[str, _Response] = {}
        sessions: dict[str, _Session] = {}
        first_ts = None
        for hit in scanner:
            if hit.data is None:
                ctx.warn(hit.line, hit.problem)
                continue
            self._take(hit, file, responses, sessions, ctx)
        ctx.record(scanner.lines - int(state.extra.get("line", 0)), scanner.bytes_read)
        if scanner.first_ts is not None and state.offset == 0:
            try:
                first_ts = parse_ts(scanner.first_ts)[0]
            except ValueError:
                first_ts = None
        elif state.offset:
            # Read before: the first line's time, kept, for a run whose first usage record
            # came after that read (the user's first prompt, then an import, then the answer).
            kept = state.extra.get("first_ts")
            first_ts = kept if isinstance(kept, str) else None
        state.offset = scanner.end
        tails: dict[str, list[Any]] = dict(state.extra.get("tails") or {})
        open_ends: dict[str, list[Any]] = dict(state.extra.get("open") or {})
        state.extra = {"line": scanner.lines, "tails": tails, "open": open_ends}
        if first_ts is not None:
            state.extra["first_ts"] = first_ts
        yield from self._events(file, responses, sessions, first_ts, tails=tails, open_ends=open_ends)

    def _take(
        self,
        hit: _Hit,
        file: Path,
        responses: dict[str, _Response],
        sessions: dict[str, _Session],
        ctx: ImportContext,
    ) -> None:
        # The hot path: once per usage line (millions in a big tree), so no more than a
        # few attribute reads before the line is known to count.
        record = _decode(hit, ctx)
        if record is None:
            return
        message = record.message
        if record.type != "assistant" or message is None or message.usage is None:
            return  # e.g. a tool result that reports a subagent's usage: not a model call
        model = message.model
        if model == "<synthetic>" or record.is_api_error_message:
            return
        stamp = record.timestamp
        session = record.session_id
        if not (stamp and session and model):
            missing = [
                name
                for name, value in (("timestamp", stamp), ("sessionId", session), ("message.model", model))
                if not value
            ]
            ctx.warn(hit.line, f"assistant record without {', '.join(missing)}; skipped")
            return
        ts = canonical_ts(stamp)
        if ts is None:
            ctx.warn(hit.line, f"bad timestamp {stamp!r}; skipped")
            return
        sidechain = bool(record.is_sidechain)
        agent = (record.agent_id or file.stem) if sidechain else None
        key = message.id or f"{record.uuid or ''}@{file}:{hit.line}"
        tools: dict[str, tuple[str, str]] | None = None
        content = message.content
        if isinstance(content, list):
            for block in content:
                if block.type == "tool_use" and block.id:
                    if tools is None:
                        tools = {}
                    tools[block.id] = (block.name or "tool", ts)
        new = _Response(
            key,
            session,
            sidechain,
            agent,
            model,
            ts,
            ts,
            ts,
            hit.line,
            message.usage,
            record.request_id,
            message.stop_reason,
            record.cost_u_s_d,
            tools,
        )
        old = responses.get(key)
        if old is None:
            responses[key] = new
        else:
            first = min(old.first_ts, ts)
            last = max(old.last_ts, ts)
            if tools is None:
                merged_tools = old.tools
            elif old.tools is None:
                merged_tools = tools
            else:
                merged_tools = {**tools, **old.tools}
            if _better(new, old):
                responses[key] = new
                old = new
            old.first_ts, old.last_ts, old.tools = first, last, merged_tools
        info = sessions.get(session)
        if info is None:
            info = sessions[session] = _Session(session, ts, ts)
        else:
            info.first_ts = min(info.first_ts, ts)
            info.last_ts = max(info.last_ts, ts)
        if not sidechain or info.cwd is None:
            info.cwd = record.cwd or info.cwd
            info.git_branch = record.git_branch or info.git_branch
            info.version = record.version or info.version
        if agent is not None:
            span = info.agents.get(agent)
            if span is None:
                info.agents[agent] = [ts, ts]
            else:
                span[0], span[1] = min(span[0], ts), max(span[1], ts)

    def _events(
        self,
        file: Path,
        responses: dict[str, _Response],
        sessions: dict[str, _Session],
        first_ts: str | None,
        *,
        tails: dict[str, list[Any]],
        open_ends: dict[str, list[Any]],
    ) -> Iterator[ImportItem]:
        """The events of what was read. ``tails``: per session, the last main-chain response
        read before (key, last ts, line, whether it ended the turn), updated here, so a wait
        for the user that spans two reads of a growing file is the one a whole read gives.
        ``open_ends``: per conversation, the last response read before and its tools
        (``_open_end``), updated here, so that its llm and tool spans end where a
        whole read ends them."""
        path = str(file)
        project = _project_of(file)
        for info in sessions.values():
            run = run_id_of(info.session)
            start = min(first_ts, info.first_ts) if first_ts else info.first_ts
            attrs: dict[str, Any] = {"runner": NAME, "project": project, "session_id": info.session}
            if info.cwd:
                attrs["cwd"] = info.cwd
            if info.git_branch:
                attrs["git_branch"] = info.git_branch
            if info.version:
                attrs["claude_code_version"] = info.version
            name = Path(info.cwd).name if info.cwd else project
            source = ev.Source(NAME, path, "run")
            yield run_start(run, ts=start, name=name, attrs=attrs, source=source)
            for agent, (agent_start, agent_end) in info.agents.items():
                span = _agent_span_id(info.session, agent)
                yield ev.SpanStart(
                    v=1,
                    id=span,
                    ts=agent_start,
                    run=run,
                    parent=run,
                    span=span,
                    kind="task",
                    name=f"subagent {agent}",
                    attrs={"agent_id": agent, "sidechain": True},
                    source=source,
                )
                yield ev.SpanEnd(
                    v=1, id=source_event_id(0, NAME, "agent-end", info.session, agent), ts=agent_end, run=run, span=span
                )
            yield ev.SpanEnd(
                v=1, id=source_event_id(0, NAME, "run-end", run), ts=info.last_ts, run=run, span=run, source=source
            )
        # A tool runs from the response that asked for it to the next response of the
        # same conversation (main or one subagent), which follows the tool's result.
        chains: dict[tuple[str, str | None], list[_Response]] = {}
        for response in responses.values():
            chains.setdefault((response.session, response.agent), []).append(response)
        for chain_key, chain in chains.items():
            chain.sort(key=lambda r: (r.first_ts, r.line))
            main = chain[0].agent is None
            tail = tails.get(chain[0].session) if main else None
            if tail is not None and tail[0] not in responses:
                yield from self._user_wait(chain[0].session, tail, chain[0].first_ts, path)
            key = _chain_key(*chain_key)
            before = open_ends.get(key)
            if before is not None:
                yield from _moved_ends(chain[0].session, before, chain)
            # The response read on from before, when its earlier records asked for a tool.
            asked = before[0] if before is not None and before[2] else None
            for i, response in enumerate(chain):
                tools_end = chain[i + 1].first_ts if i + 1 < len(chain) else response.last_ts
                yield from self._response_events(response, path, max(tools_end, response.last_ts))
                if main and i + 1 < len(chain):
                    turn = _tail(response, asked_before=response.key == asked)
                    yield from self._user_wait(response.session, turn, chain[i + 1].first_ts, path)
            if main:
                tails[chain[-1].session] = _tail(chain[-1], asked_before=chain[-1].key == asked)
            open_ends[key] = _open_end(chain[-1], before)

    @staticmethod
    def _user_wait(session: str, turn_end: list[Any], next_first_ts: str, path: str) -> Iterator[ev.Event]:
        """After a main-chain response that asked for no tool (the model ended its turn),
        the session waits for the user until the next response begins: a span waiting on
        a human (docs/analysis.md, "Where the time goes"). No text is read or stored."""
        key, last_ts, line, ended_turn = turn_end
        if not ended_turn or next_first_ts <= last_ts:
            return
        digest = _digest(key)
        yield user_wait(
            run_id_of(session),
            span=f"{_WAIT_SPAN}{digest}",
            end_id=f"{_WAIT_END}{digest}",
            since=last_ts,
            until=next_first_ts,
            source=ev.Source(NAME, path, str(line)),
        )

    @staticmethod
    def _response_events(r: _Response, path: str, tools_end: str) -> Iterator[ev.Event]:
        run = run_id_of(r.session)
        parent = _agent_span_id(r.session, r.agent) if r.agent is not None else run
        digest = _digest(r.key)
        span = f"{_LLM_SPAN}{digest}"
        source = ev.Source(NAME, path, str(r.line))
        usage = r.usage
        cache_write, one_hour = _cache_write(usage)
        attrs: dict[str, Any] = {"message_id": r.key}
        if r.request_id:
            attrs["request_id"] = r.request_id
        if r.sidechain:
            # Load-bearing: the index and the append filter rank a copy marked so below
            # a main-chain copy of the same response from another file.
            attrs["sidechain"] = True
        if one_hour:
            attrs["cache_write_1h_tokens"] = one_hour
        if usage.service_tier:
            attrs["service_tier"] = usage.service_tier
        if usage.speed:
            attrs["speed"] = usage.speed
        if r.stop_reason:
            attrs["stop_reason"] = r.stop_reason
        yield ev.Span(
            v=1,
            id=span,
            ts=r.first_ts,
            run=run,
            parent=parent,
            span=span,
            kind="llm",
            name=r.model,
            source=source,
            end_id=f"{_LLM_END}{digest}",
            end_ts=r.last_ts,
        )
        yield ev.LlmUsage(
            v=1,
            id=f"{_LLM_USAGE}{digest}",
            ts=r.ts,
            run=run,
            parent=span,
            span=span,
            provider="anthropic",
            model=r.model,
            input_tokens=_int(usage.input_tokens),
            output_tokens=_int(usage.output_tokens),
            cache_read_tokens=_int(usage.cache_read_input_tokens),
            cache_write_tokens=cache_write,
            cost_usd=r.cost_usd,
            worker=r.agent or "main",
            attrs=attrs,
            source=source,
        )
        for tool_id, (tool_name, tool_ts) in (r.tools or {}).items():
            tool_digest = _digest(tool_id)
            tool_span = f"{_TOOL_SPAN}{tool_digest}"
            yield ev.Span(
                v=1,
                id=tool_span,
                ts=tool_ts,
                run=run,
                parent=parent,
                span=tool_span,
                kind="tool",
                name=tool_name,
                attrs={"tool_use_id": tool_id, "llm_span": span},
                source=source,
                end_id=f"{_TOOL_END}{tool_digest}",
                end_ts=max(tool_ts, tools_end),
            )


def _decode(hit: _Hit, ctx: ImportContext) -> _Record | None:
    """The fields of a usage line; None (and a warning) when it is not a valid record."""
    data = hit.data
    assert data is not None
    if not data.isascii():
        # msgspec does not check the UTF-8 of the strings it skips; ccusage drops such a
        # record, so it is refused here too (isascii first: most lines are ASCII).
        try:
            data.decode()
        except UnicodeDecodeError as exc:
            ctx.warn(hit.line, f"not valid JSON (not UTF-8: byte 0x{data[exc.start]:02x} at {exc.start}); skipped")
            return None
    try:
        return _record_decoder.decode(data)
    except msgspec.ValidationError as exc:
        ctx.warn(hit.line, f"bad record ({exc}); skipped")
    except msgspec.DecodeError as exc:
        ctx.warn(hit.line, f"not valid JSON ({exc}); skipped")
    return None


def _first_files(root: Path, limit: int) -> list[Path]:
    out: list[Path] = []
    for folder, _, files in os.walk(root):
        out.extend(Path(folder) / f for f in files if f.endswith(".jsonl"))
        if len(out) >= limit:
            break
    return out[:limit]
