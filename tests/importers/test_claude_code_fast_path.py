"""The Claude Code importer's fast path must not change what is imported.

Only lines holding ``"usage":{`` are parsed, timestamps in Claude Code's own layout are
checked without a datetime, copies' token totals are computed only when compared, and
files are read in bounded chunks. Each case here would count differently if one of
those shortcuts were wrong: a prompt that talks about usage, a line cut by the read
buffer, CRLF endings, a huge line, bytes that are not UTF-8, a file that grows while it
is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importers import import_json, log_events, problems_text
from importers.cc_parity import ccusage_daily, need_ccusage, our_days, their_days, usage_json
from laptime import events as ev
from laptime.importers import claude_code
from laptime.importers.claude_code import LineScanner, canonical_ts, parse_ts

if TYPE_CHECKING:
    from laptime.store import Store

SESSION = "5f0c2a9e-1111-4b7a-9c55-00000000000f"


def _assistant(msg: str, ts: str, tokens: tuple[int, int], *, text: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/src/app",
        "sessionId": SESSION,
        "version": "2.0.14",
        "type": "assistant",
        "uuid": f"u-{msg}-{ts}",
        "requestId": f"req-{msg}",
        "timestamp": ts,
        "message": {
            "id": msg,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": tokens[0],
                "output_tokens": tokens[1],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
        **extra,
    }


def _user(text: str, ts: str = "2025-10-06T09:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {
        "parentUuid": None,
        "isSidechain": False,
        "type": "user",
        "sessionId": SESSION,
        "uuid": f"user-{ts}",
        "timestamp": ts,
        "message": {"role": "user", "content": text},
        **extra,
    }


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def _write(config: Path, lines: list[bytes], *, newline: bytes = b"\n") -> Path:
    path = config / "projects" / "-home-dev-src-app" / f"{SESSION}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + newline for line in lines))
    return path


def _tokens(store: Store) -> dict[str, list[int]]:
    return our_days(usage_json(store, "--by", "day", "--timezone", "UTC", "--no-cost"))


def _llm_events(store: Store) -> list[ev.Event]:
    return sorted((e for e in log_events(store) if isinstance(e, ev.LlmUsage)), key=lambda e: e.id)


BASE = [
    _line(_user("start")),
    _line(_assistant("msg_a", "2025-10-06T10:00:00.000Z", (100, 10))),
    _line(_assistant("msg_a", "2025-10-06T10:00:01.000Z", (100, 40))),  # the final copy
    _line(_assistant("msg_b", "2025-10-07T10:00:00.000Z", (5, 5))),
]
BASE_DAYS = {"2025-10-06": [100, 40, 0, 0], "2025-10-07": [5, 5, 0, 0]}


def test_usage_in_a_prompt_or_a_tool_result_is_no_model_call(tmp_path: Path, store: Store) -> None:
    """In a string, the mark's quotes are escaped, so a prompt quoting it is skipped
    unparsed; a tool result carrying a real ``usage`` object is parsed, and is no call."""
    prompt = _user('what does "usage":{"input_tokens":999} mean?', ts="2025-10-06T09:30:00.000Z")
    result = _user(
        "done",
        ts="2025-10-06T09:40:00.000Z",
        toolUseResult={"usage": {"input_tokens": 777, "output_tokens": 7}, "totalTokens": 784},
    )
    assert b'"usage":{' not in _line(prompt)
    assert b'"usage":{' in _line(result)
    config = tmp_path / "c"
    path = _write(config, [*BASE[:2], _line(prompt), _line(result), *BASE[2:]])
    assert [h.line for h in LineScanner(path)] == [2, 4, 5, 6]  # the prompt's line is never parsed
    summary = import_json(store, "claude-code", config)
    assert summary["skipped_records"] == 0
    assert _tokens(store) == BASE_DAYS


@pytest.mark.parametrize("chunk", [5, 9, 100, 333, 4096])
def test_a_line_cut_by_the_read_buffer_is_read_whole(
    tmp_path: Path, store: Store, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c"
    _write(config, BASE)
    import_json(store, "claude-code", config)
    expected = _llm_events(store)
    other = tmp_path / "other-store"
    monkeypatch.setattr(claude_code, "CHUNK_BYTES", chunk)
    from importers import run_cli
    from laptime.store import Store as StoreType

    small = StoreType(other)
    result = run_cli(small, "import", "claude-code", str(config), "--json")
    assert result.exit_code == 0, result.output
    assert _llm_events(small) == expected
    assert _tokens(small) == BASE_DAYS


def test_crlf_line_endings_count_the_same(tmp_path: Path, store: Store) -> None:
    config = tmp_path / "c"
    _write(config, BASE, newline=b"\r\n")
    summary = import_json(store, "claude-code", config)
    assert (summary["skipped_records"], summary["problems"]) == (0, [])
    assert _tokens(store) == BASE_DAYS


def test_a_huge_line_is_skipped_and_the_rest_counted(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claude_code, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(claude_code, "MAX_LINE_BYTES", 50_000)
    snapshot = _line({"type": "file-history-snapshot", "snapshot": {"a.py": "x" * 200_000}})  # no usage: skipped
    huge_call = _line(_assistant("msg_h", "2025-10-06T11:00:00.000Z", (1, 1), text="y" * 100_000))
    config = tmp_path / "c"
    path = _write(config, [BASE[0], snapshot, BASE[1], huge_call, *BASE[2:]])
    summary = import_json(store, "claude-code", config)
    assert problems_text(summary) == [
        f"{path}:4: a usage line of {len(huge_call):,} bytes is longer than the 50,000-byte limit; skipped"
    ]
    assert _tokens(store) == BASE_DAYS


def test_bytes_that_are_not_utf8_cost_only_their_line(tmp_path: Path, store: Store) -> None:
    broken = _line(_assistant("msg_x", "2025-10-06T12:00:00.000Z", (9, 9), text="@@")).replace(b"@@", b"\xff\xfe")
    garbage = b"\x00\x9f\x92\x96 binary"
    config = tmp_path / "c"
    path = _write(config, [BASE[0], broken, garbage, *BASE[1:]])
    summary = import_json(store, "claude-code", config)
    at = broken.index(b"\xff")
    assert problems_text(summary) == [
        f"{path}:2: not valid JSON (not UTF-8: byte 0xff at {at}); skipped",  # as ccusage, which drops it
        f"{path}:3: not a JSON object (binary or garbled line); skipped",
    ]
    assert _tokens(store) == BASE_DAYS


def test_a_file_that_grows_while_it_is_read(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes appended while the scanner reads: what is complete is read once, a half
    line is left for the next import, which reads only what follows."""
    monkeypatch.setattr(claude_code, "CHUNK_BYTES", 64)
    config = tmp_path / "c"
    path = _write(config, BASE[:2])
    later = _line(_assistant("msg_c", "2025-10-08T10:00:00.000Z", (3, 3)))
    real_iter = LineScanner.__iter__
    grown = False

    def growing(self: LineScanner) -> Any:
        nonlocal grown
        for hit in real_iter(self):
            if not grown:
                grown = True
                with path.open("ab") as handle:  # Claude Code writes on: a whole line, then half of one
                    handle.write(BASE[2] + b"\n" + BASE[3][:40])
            yield hit

    monkeypatch.setattr(LineScanner, "__iter__", growing)
    import_json(store, "claude-code", config)
    assert _tokens(store) == {"2025-10-06": [100, 40, 0, 0]}
    monkeypatch.setattr(LineScanner, "__iter__", real_iter)
    with path.open("ab") as handle:
        handle.write(BASE[3][40:] + b"\n" + later + b"\n")
    summary = import_json(store, "claude-code", config)
    assert summary["bytes_read"] == len(BASE[3]) + len(later) + 2  # only the new part
    assert summary["skipped_records"] == 0
    assert _tokens(store) == {**BASE_DAYS, "2025-10-08": [3, 3, 0, 0]}


def test_the_cases_above_equal_ccusage(tmp_path: Path, store: Store) -> None:
    need_ccusage()
    prompt = _user('"usage":{"input_tokens":1}', ts="2025-10-06T09:30:00.000Z")
    config = tmp_path / "c"
    broken = _line(_assistant("msg_x", "2025-10-06T12:00:00.000Z", (9, 9), text="@@")).replace(b"@@", b"\xff")
    _write(config, [*BASE[:2], _line(prompt), b"\xff not json", broken, *BASE[2:]], newline=b"\r\n")
    import_json(store, "claude-code", config)
    assert _tokens(store) == their_days(ccusage_daily(config, "-z", "UTC")) == BASE_DAYS


_STAMPS = [
    "2025-10-06T10:00:00.000Z",
    "2025-12-31T23:59:59.999Z",
    "2024-02-29T00:00:60.000Z",  # a leap second: kept, as parse_ts keeps it
    "2025-02-29T10:00:00.000Z",  # no such day
    "2025-10-06T24:00:00.000Z",
    "2025-10-06T10:60:00.000Z",
    "2025-10-06T10:00:61.000Z",
    "2025-10-06T10:0a:00.000Z",
    "2025-10-06T10:00:00.00xZ",
    "2025-10-06T10:00:00.123456Z",
    "2025-10-06T10:00:00Z",
    "2025-10-06T12:00:00.000+02:00",
    "2025-10-06 10:00:00.000Z",
    "2025-1０-06T10:00:00.000Z",  # a full-width digit
    "2025-10-06T10:00:0².000Z",
    "",
]


@pytest.mark.parametrize("text", _STAMPS)
def test_timestamps_are_checked_as_parse_ts_checks_them(text: str) -> None:
    try:
        expected: str | None = parse_ts(text)[0]
    except ValueError:
        expected = None
    assert canonical_ts(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z"),
        st.from_regex(r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9]\.[0-9]{3}Z\Z"),
    )
)
def test_any_text_is_a_timestamp_for_both_or_for_neither(text: str) -> None:
    try:
        expected: str | None = parse_ts(text)[0]
    except (ValueError, OverflowError):
        expected = None
    assert canonical_ts(text) == expected


_COUNT = st.one_of(st.none(), st.integers(min_value=-5, max_value=10**12))


@settings(max_examples=300, deadline=None)
@given(st.tuples(_COUNT, _COUNT, _COUNT, _COUNT), st.one_of(st.none(), st.tuples(_COUNT, _COUNT)))
def test_a_copys_total_counts_what_its_events_count(
    counts: tuple[int | None, int | None, int | None, int | None], split: tuple[int | None, int | None] | None
) -> None:
    """The inlined total that ranks copies equals the sum of the counts the events get."""
    usage = claude_code._Usage(
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_read_input_tokens=counts[2],
        cache_creation_input_tokens=counts[3],
        cache_creation=None if split is None else claude_code._CacheCreation(*split),
    )
    counted = claude_code._int
    expected = (
        counted(usage.input_tokens)
        + counted(usage.output_tokens)
        + counted(usage.cache_read_input_tokens)
        + claude_code._cache_write(usage)[0]
    )
    assert claude_code._total(usage) == expected
