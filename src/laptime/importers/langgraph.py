"""A LangGraph-style system's ``llm_logs/request_*.json`` and ``response_*.json``.

Each file is one whole JSON document, written once. A request and the response that
answers it make one **run**: one worker attempt at one task. The run id is
``<task_id>:<stem of the request file>`` (or of the response file, for a response
whose request is not there). Inside the run there is one ``llm`` span from the
request to the response, with one LlmUsage whose token counts are estimates
(``estimated: true``): input is the request's ``estimated_tokens`` (its
``total_chars // 4``), output is the characters of the response's AI messages and
tool calls, divided by 4. ``files_modified`` become FileChange events and the
response's ``status`` the run's outcome (table in ``docs/importers.md``).

Pairing: in each folder, the files of one task are taken in timestamp order, and each
response answers the latest request before it that no other response answered yet.
Timestamps without an offset (these logs write local time) are read as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from laptime import events as ev
from laptime.importers.base import (
    FileState,
    ImportContext,
    Importer,
    find_files,
    open_regular,
    read_regular_bytes,
    run_start,
    source_event_id,
    timestamp,
)
from laptime.importers.records import (
    RecordError,
    as_object,
    decode_json,
    get_count,
    get_list,
    get_obj,
    get_str,
    parse_ts_ns,
    short,
    type_name,
)

IMPORTER = "langgraph-logs"
_MS = 1_000_000

STATUS_OUTCOMES: dict[str, ev.Outcome] = {
    "complete": "completed",
    "completed": "completed",
    "done": "completed",
    "awaiting_qa": "completed",
    "failed": "failed",
    "failed_qa": "failed",
    "error": "failed",
    "blocked": "blocked",
    "waiting_human": "blocked",
    "abandoned": "stopped",
}


@dataclass(frozen=True)
class Request:
    """What a response needs of its request."""

    stem: str
    task_id: str
    ts_ns: int
    estimated_tokens: int
    name: str
    model: str


@dataclass(frozen=True)
class Header:
    kind: str  # "request" or "response"
    stem: str
    task_id: str
    ts_ns: int


def file_kind(path: Path) -> str | None:
    if path.suffix != ".json":
        return None
    if path.name.startswith("request_"):
        return "request"
    if path.name.startswith("response_"):
        return "response"
    return None


def _task_id(doc: dict[str, Any]) -> str:
    task_id = get_str(doc, "task_id", required=True)
    assert task_id is not None
    if not task_id.strip():
        raise RecordError("`task_id` is empty", key="task_id")
    return task_id


def _content_chars(value: Any) -> int:
    """Characters of a message's content: a string, or a list of parts (text or JSON)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(msgspec.json.encode(value))


def _task_name(messages: list[Any]) -> str:
    for message in messages:
        if isinstance(message, dict) and message.get("type") in ("HumanMessage", "human"):
            content = message.get("content")
            if isinstance(content, str) and content.strip():
                first = content.strip().splitlines()[0]
                return short(first.removeprefix("Task:").strip() or first)
    return ""


def parse_request(data: bytes, stem: str, *, keep_text: bool = False) -> Request:
    """The parts of a request file a run needs. Raises RecordError.

    The run's name is the first line of the prompt only with ``keep_text`` (the user's
    opt-in, ``laptime import --store-text``); otherwise the run is named by its task id."""
    doc = as_object(decode_json(data), "the request")
    task_id = _task_id(doc)
    ts_ns = parse_ts_ns(doc.get("timestamp"), "timestamp")
    messages = get_list(doc, "messages")
    for i, message in enumerate(messages):
        as_object(message, f"`messages[{i}]`")
    estimated = doc.get("estimated_tokens")
    if estimated is not None:
        tokens = get_count(doc, "estimated_tokens")
    elif doc.get("total_chars") is not None:
        tokens = get_count(doc, "total_chars") // 4
    else:
        tokens = sum(_content_chars(m.get("content")) for m in messages) // 4
    config = get_obj(doc, "config")
    model = config.get("model") or config.get("model_name")
    return Request(
        stem=stem,
        task_id=task_id,
        ts_ns=ts_ns,
        estimated_tokens=tokens,
        name=_task_name(messages) if keep_text else "",
        model=model if isinstance(model, str) and model else "unknown",
    )


def read_header(data: bytes, kind: str, stem: str) -> Header:
    doc = as_object(decode_json(data), f"the {kind}")
    return Header(kind, stem, _task_id(doc), parse_ts_ns(doc.get("timestamp"), "timestamp"))


def _run_id(task_id: str, stem: str) -> str:
    return f"{task_id}:{stem}"


def request_events(req: Request, file: str) -> list[ev.Event]:
    """A request opens its run and the llm span; the response closes them."""
    run_id = _run_id(req.task_id, req.stem)
    src = ev.Source(IMPORTER, file, req.stem)
    ts = timestamp(req.ts_ns)
    llm = source_event_id(req.ts_ns, IMPORTER, run_id, "llm")
    return [
        run_start(
            run_id, ts=ts, name=req.name or req.task_id, attrs={"runner": IMPORTER, "task_id": req.task_id}, source=src
        ),
        ev.SpanStart(v=1, id=llm, ts=ts, run=run_id, parent=run_id, span=llm, kind="llm", name=req.model, source=src),
    ]


def response_events(data: bytes, stem: str, file: str, request: Request | None) -> list[ev.Event]:
    """The events of one response, given the request it answers (None when it is not there)."""
    doc = as_object(decode_json(data), "the response")
    task_id = _task_id(doc)
    ts_ns = parse_ts_ns(doc.get("timestamp"), "timestamp")
    status = get_str(doc, "status") or ""
    files = get_list(doc, "files_modified")
    messages = get_list(doc, "messages")
    output_chars = 0
    input_chars = 0
    ai_messages = 0
    for i, item in enumerate(messages):
        message = as_object(item, f"`messages[{i}]`")
        kind = message.get("type")
        if kind is not None and not isinstance(kind, str):
            raise RecordError(f"`messages[{i}].type`: expected a string, got {type_name(kind)}", key="type")
        chars = _content_chars(message.get("content"))
        if kind in ("AIMessage", "ai", "AIMessageChunk"):
            ai_messages += 1
            calls = message.get("tool_calls")
            output_chars += chars + (len(msgspec.json.encode(calls)) if calls else 0)
        else:
            input_chars += chars
    src = ev.Source(IMPORTER, file, stem)
    out: list[ev.Event] = []
    if request is not None and request.task_id == task_id:
        run_id = _run_id(task_id, request.stem)
        start_ns = min(request.ts_ns, ts_ns)
        input_tokens = request.estimated_tokens
        model = request.model
    else:
        run_id = _run_id(task_id, stem)
        start_ns = ts_ns
        input_tokens = input_chars // 4
        model = "unknown"
        out += request_events(Request(stem, task_id, ts_ns, input_tokens, _task_name(messages), model), file)
    llm = source_event_id(start_ns, IMPORTER, run_id, "llm")
    word = status.strip().lower()
    outcome = STATUS_OUTCOMES.get(word, "stopped") if word else "completed"
    common: dict[str, Any] = {"v": 1, "ts": timestamp(ts_ns), "run": run_id, "source": src}
    out.append(
        ev.LlmUsage(
            **common,
            id=source_event_id(start_ns, IMPORTER, run_id, "llm_usage"),
            parent=run_id,
            span=llm,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_chars // 4,
            latency_ms=(ts_ns - start_ns) / _MS if request is not None else None,
            estimated=True,
            attrs={"ai_messages": ai_messages},
        )
    )
    out.append(
        ev.SpanEnd(
            **common,
            id=source_event_id(start_ns, IMPORTER, run_id, "llm_end"),
            parent=run_id,
            span=llm,
            outcome=outcome,
        )
    )
    seen: set[str] = set()
    for i, path in enumerate(files):
        if not isinstance(path, str):
            raise RecordError(f"`files_modified[{i}]`: expected a path, got {type_name(path)}", key="files_modified")
        if path in seen or not path:
            continue
        seen.add(path)
        out.append(
            ev.FileChange(
                **common,
                id=source_event_id(start_ns, IMPORTER, run_id, "file", path),
                parent=run_id,
                path=path,
                change="modified",
            )
        )
    out.append(
        ev.SpanEnd(
            **common,
            id=source_event_id(start_ns, IMPORTER, run_id, "run_end"),
            span=run_id,
            outcome=outcome,
            attrs={"source_outcome": status} if status else {},
        )
    )
    return out


class LangGraphLogsImporter(Importer):
    """``llm_logs/request_*.json`` and ``response_*.json`` pairs."""

    name: ClassVar[str] = "langgraph-logs"
    append_only: ClassVar[bool] = False

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, Request | None]] = {}

    def discover(self, path: Path) -> Iterator[Path]:
        return find_files(path, ("request_*.json", "response_*.json"))  # the names file_kind knows

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return file_kind(path) is not None and _has_task_id(path)
        return any(
            _has_task_id(p) for p in list(path.glob("request_*.json"))[:3] + list(path.glob("response_*.json"))[:3]
        )

    def read(self, file: Path, state: FileState, ctx: ImportContext) -> Iterator[ev.Event]:
        data = read_regular_bytes(file)
        state.offset = len(data)
        ctx.record(1, len(data))
        kind = file_kind(file)
        if not data.strip():
            ctx.warn(None, "empty file")
            return
        try:
            if kind == "request":
                events = request_events(parse_request(data, file.stem, keep_text=self.store_text), str(file))
            else:
                request = self._pairs(file.parent).get(file.stem)
                events = response_events(data, file.stem, str(file), request)
        except RecordError as exc:
            ctx.warn(exc.line_in(data), str(exc))
            return
        yield from events

    def _pairs(self, folder: Path) -> dict[str, Request | None]:
        """Response stem -> the request it answers, for one folder (read once per import)."""
        if folder in self._folders:
            return self._folders[folder]
        headers: list[Header] = []
        requests: dict[str, Request] = {}
        for path in sorted(folder.glob("*.json")):
            kind = file_kind(path)
            if kind is None:
                continue
            try:
                data = read_regular_bytes(path)  # never a FIFO's blocking open
                if kind == "request":
                    req = parse_request(data, path.stem, keep_text=self.store_text)
                    requests[path.stem] = req
                    headers.append(Header("request", path.stem, req.task_id, req.ts_ns))
                else:
                    headers.append(read_header(data, kind, path.stem))
            except (OSError, RecordError):
                continue  # reported when that file itself is read
        pairs: dict[str, Request | None] = {}
        waiting: dict[str, str] = {}  # task -> latest unanswered request stem
        for header in sorted(headers, key=lambda h: (h.ts_ns, h.kind, h.stem)):
            if header.kind == "request":
                waiting[header.task_id] = header.stem
            else:
                stem = waiting.pop(header.task_id, None)
                pairs[header.stem] = requests.get(stem) if stem is not None else None
        self._folders[folder] = pairs
        return pairs


def _has_task_id(path: Path) -> bool:
    try:
        with open_regular(path) as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"task_id"' in head
