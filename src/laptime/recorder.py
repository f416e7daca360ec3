"""The recorder SDK: runs, phases and measurements, written straight to the log.

Instrumentation must never break the program it measures. Every failure inside the
recorder (a full disk, a read-only store, a bad attribute) becomes one warning and is
swallowed; the user's own exceptions pass through unchanged and are recorded as the
outcome of the span they crossed.

The recorder writes only lines the log accepts. Each argument is checked when it is
given (vocabularies, types, finite numbers, UTF-8 text, encodable attributes); a bad one
warns once per call and argument, is replaced by a valid default and is kept, in a
JSON-safe form, as the event's ``attrs["invalid_<argument>"]``. See ``_Check``.
"""

from __future__ import annotations

import contextvars
import functools
import math
import operator
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast, get_args

import msgspec

from laptime import events as ev
from laptime.clock import DIGITS3, Clock, format_timestamp, ids, new_id, stamp
from laptime.events import FileChangeKind, MilestoneStatus, Outcome, SpanKind
from laptime.store import Store, find_store
from laptime.usage import Usage

F = TypeVar("F", bound=Callable[..., Any])
_encode = msgspec.json.Encoder().encode


# The two lines every span writes are built directly, as one f-string, instead of
# through a Struct and the encoder: they are the recorder's hot path. They are
# byte-identical to ``events.encode`` of the same SpanStart / SpanEnd (same key order,
# defaults left out; tests/test_recorder_lines.py checks it on every kind of span,
# clock edge and attribute). Ids and timestamps are hex and digits and the kind and
# outcome words of their vocabularies, so only the user's text (run id, name, error,
# attrs) goes through the JSON encoder; a span's name is encoded once per distinct name.
_NS_PER_MS = 1_000_000
_NAME_JSON: dict[str, str] = {}
_NAME_JSON_MAX = 4096  # names made up on the fly (f"task-{i}") must not grow it for ever
_NAME_JSON_LONGEST = 200  # nor long ones (a command line as a tool span's name), rarely repeated


def _name_json(name: str) -> str:
    """``name`` as a JSON string, kept for the next span of that name (while there is room)."""
    text = _encode(name).decode()
    if len(_NAME_JSON) < _NAME_JSON_MAX and len(name) <= _NAME_JSON_LONGEST:
        _NAME_JSON[name] = text
    return text


def _attrs_field(rec: Recorder, attrs: dict[str, Any]) -> str:
    """``,"attrs":{...}`` for a line, or, should msgspec still refuse them after
    ``_clean_attrs``, their repr under ``invalid_attrs``: the span is never lost."""
    try:
        return f',"attrs":{_encode(attrs).decode()}'
    except Exception as exc:  # noqa: BLE001 - last resort: the checks let something through
        rec.warn(exc)
        return f',"attrs":{_encode({"invalid_attrs": _safe_repr(attrs)}).decode()}'


# -- argument checks ----------------------------------------------------------------------
# Every value a caller hands the recorder is checked before it reaches a log line, so the
# SDK never writes a line the log then rejects. A bad value never raises: it warns once
# per kind of mistake (call and argument), the event is still written with a valid
# default in its place, and the raw value is kept in the event's attrs as
# ``invalid_<argument>`` (in a JSON-safe form: NaN as "nan", a lone surrogate as its
# ``\udcff`` escape, an object as its repr). The checks are type tests and membership
# tests, cheap enough for the hot path; attrs are walked only when there are any, and
# anything slower (repr, encoding trials) runs only once a value has failed them.

_OUTCOME_SET: frozenset[str] = frozenset(ev.OUTCOMES)
_SPAN_KIND_SET: frozenset[str] = frozenset(ev.SPAN_KINDS)
_FILE_CHANGE_KINDS: tuple[str, ...] = get_args(FileChangeKind)
_MILESTONE_STATUSES: tuple[str, ...] = get_args(MilestoneStatus)
_INT64_MAX = 2**63 - 1  # the index keeps counts in SQLite INTEGERs: a larger one cannot be stored
_MAX_DEPTH = 64  # attrs nested deeper than this are taken for a circular structure
_RAW_CHARS = 200  # a raw value's repr kept in attrs is cut to this many characters


def _utf8_ok(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 JSON (a lone surrogate cannot)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _safe_text(text: str) -> str:
    """``text`` with any lone surrogate written as its escape (``\\udcff``), so it encodes."""
    return text if _utf8_ok(text) else text.encode("utf-8", "backslashreplace").decode()


def _safe_repr(value: object) -> str:
    """A short, encodable description of any value; never raises."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the caller
        text = f"<{type(value).__name__} object>"
    text = _safe_text(text)
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "..."


def _safe_str(value: object) -> str:
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the caller
        return _safe_repr(value)
    return _safe_text(text)


def _raw(value: object) -> Any:
    """A raw value as it can be kept in attrs: itself when JSON can hold it, else text."""
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int:
        return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else _safe_repr(value)
    if type(value) is float:
        return value if math.isfinite(value) else repr(value)
    if type(value) is str:
        return _safe_text(value)
    return _safe_repr(value)


def _as_int(value: object) -> int | None:
    """An integer as Python understands one (numpy's too), never a bool or a float."""
    if isinstance(value, bool):
        return None
    if type(value) is int:
        return value
    try:
        return operator.index(value)  # type: ignore[arg-type]  # any object may implement __index__
    except Exception:  # noqa: BLE001 - not an integer: the caller learns it from a warning
        return None


def _attr_problem(value: object, depth: int = 0) -> str | None:  # noqa: PLR0911 - one return per kind of value
    """Why ``value`` cannot be written as an attribute, or None when it can."""
    if isinstance(value, str):
        return None if _utf8_ok(value) else "a string that is not valid UTF-8 (a lone surrogate)"
    if value is None or isinstance(value, int):
        return None
    if isinstance(value, float):
        # msgspec would write NaN and infinity as null, silently changing the value.
        return None if math.isfinite(value) else f"{value!r}, which JSON cannot hold"
    if depth >= _MAX_DEPTH:
        return f"nesting deeper than {_MAX_DEPTH} levels (a circular structure?)"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a non-string key {_safe_repr(key)}"
            problem = _attr_problem(key, depth + 1) or _attr_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            problem = _attr_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    try:  # anything else (datetime, UUID, a Struct, ...): msgspec decides
        _encode(value)
    except Exception as exc:  # noqa: BLE001 - whatever msgspec refuses is dropped
        return f"a {type(value).__name__}, which cannot be encoded as JSON ({_safe_str(exc)})"
    return None


class _Check:
    """Checks one call's arguments and collects the raw values it had to replace.

    Each method returns a valid value for its field: the argument itself when it is
    valid, else a default (named in the method), after one warning and with the raw
    value noted for ``attrs["invalid_<field>"]``.
    """

    __slots__ = ("call", "invalid", "rec")

    def __init__(self, rec: Recorder, call: str) -> None:
        self.rec = rec
        self.call = call
        self.invalid: dict[str, Any] | None = None

    def bad(self, field: str, raw: object, why: str, used: str) -> None:
        if self.invalid is None:
            self.invalid = {}
        self.invalid[f"invalid_{field}"] = _raw(raw)
        self.rec.warn_invalid(self.call, field, f"{why}; {used}; the raw value is in attrs['invalid_{field}']")

    def text(self, field: str, value: object) -> str:
        """A str; anything else becomes its ``str()``, a lone surrogate its escape."""
        if type(value) is str and _utf8_ok(value):
            return value
        if isinstance(value, str):
            plain = str.__str__(value)  # a str subclass (an enum member): its plain text
            if _utf8_ok(plain):
                return plain
            fixed, why = _safe_text(plain), "not valid UTF-8 (a lone surrogate)"
        else:
            fixed, why = _safe_str(value), f"a {type(value).__name__}, not a str"
        self.bad(field, value, why, f"recorded {fixed!r}")
        return fixed

    def optional_text(self, field: str, value: object) -> str | None:
        """None or a str, as ``text``."""
        return None if value is None else self.text(field, value)

    def choice(self, field: str, value: object, allowed: tuple[str, ...], default: str, used: str = "") -> str:
        """One word of a vocabulary; anything else becomes ``default``."""
        if isinstance(value, str):
            plain = str.__str__(value)
            if plain in allowed:
                return plain
        why = f"{_safe_repr(value)} is not one of {', '.join(allowed)}"
        self.bad(field, value, why, used or f"recorded {default!r}")
        return default

    def count(self, field: str, value: object) -> int:
        """A non-negative int (a token, line or queue count); anything else becomes 0."""
        number = _as_int(value)
        if number is not None and 0 <= number <= _INT64_MAX:
            return number
        why = f"{_safe_repr(value)} is not an int" if number is None else f"{number} is not a count from 0 to 2**63-1"
        self.bad(field, value, why, "recorded 0")
        return 0

    def optional_int(self, field: str, value: object) -> int | None:
        """None or a 64-bit int (an exit code, an index); anything else becomes None."""
        if value is None:
            return None
        number = _as_int(value)
        if number is not None and -_INT64_MAX - 1 <= number <= _INT64_MAX:
            return number
        self.bad(field, value, f"{_safe_repr(value)} is not a 64-bit int", "recorded none")
        return None

    def flag(self, field: str, value: object) -> bool:
        """A bool; anything else becomes False (a check that may not have passed did not)."""
        if isinstance(value, bool):
            return value
        self.bad(field, value, f"{_safe_repr(value)} is not a bool", "recorded False")
        return False

    def number(self, field: str, value: object) -> float:
        """A finite number (int or float); NaN, infinity and anything else become 0.0."""
        fixed = self._finite(value)
        if fixed is not None:
            return fixed
        self.bad(field, value, f"{_safe_repr(value)} is not a finite number", "recorded 0.0")
        return 0.0

    def optional_number(self, field: str, value: object) -> float | None:
        """None or a finite number; NaN, infinity and anything else become None."""
        if value is None:
            return None
        fixed = self._finite(value)
        if fixed is not None:
            return fixed
        self.bad(field, value, f"{_safe_repr(value)} is not a finite number", "recorded none")
        return None

    @staticmethod
    def _finite(value: object) -> float | None:
        if type(value) is float:
            return value if math.isfinite(value) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except (OverflowError, ValueError):  # an int too large for a float
            return None
        return number if math.isfinite(number) else None

    def attrs(self, attrs: dict[Any, Any]) -> dict[str, Any]:
        """The attrs that can be written, plus the raw values this check replaced.

        An attribute that cannot be encoded (an object msgspec refuses, a circular
        structure, NaN or infinity, a non-str key, a lone surrogate) is dropped with one
        warning; its repr is kept in ``attrs["invalid_attrs"]`` under its key.
        """
        cleaned = _clean_attrs(self.rec, self.call, attrs) if attrs else attrs
        if self.invalid is None:
            return cleaned
        return {**cleaned, **self.invalid}


def _clean_attrs(rec: Recorder, call: str, attrs: dict[Any, Any]) -> dict[str, Any]:
    """``attrs`` itself when every attribute can be written; else a copy without the rest."""
    bad: dict[Any, str] | None = None
    for key, value in attrs.items():
        if type(key) is str and key.isascii():
            problem = _attr_problem(value)
        elif not isinstance(key, str):
            problem = f"a non-string key {_safe_repr(key)}"
        else:
            problem = _attr_problem(key) or _attr_problem(value)
        if problem is not None:
            if bad is None:
                bad = {}
            bad[key] = problem
    if bad is None:
        return attrs
    kept = {key: value for key, value in attrs.items() if key not in bad}
    kept["invalid_attrs"] = {
        (_safe_text(key) if isinstance(key, str) else _safe_repr(key)): _safe_repr(attrs[key]) for key in bad
    }
    first, why = next(iter(bad.items()))
    rec.warn_invalid(
        call,
        "attrs",
        f"attribute {_safe_repr(first)} is {why}; dropped it, its repr is in attrs['invalid_attrs']",
    )
    return kept


PROFILE_ENV = "LAPTIME_PROFILE"
OTEL_ENV = "LAPTIME_OTEL"  # exporters.live.ENV
# How a process started inside a run learns which run and span it is inside: `laptime
# exec` sets both for its command, and ``join()`` reads them (docs/events.md).
RUN_ENV = "LAPTIME_RUN_ID"
SPAN_ENV = "LAPTIME_SPAN_ID"
# A parent span id taken from outside is spliced into hand-built lines unescaped, so it
# must be plain: the ids laptime and the importers make are letters, digits and these.
_PLAIN_ID = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:")
_PLAIN_ID_MAX = 200


def plain_id(text: str) -> bool:
    """Whether ``text`` can be a span id given from outside (an environment variable, a flag)."""
    return 0 < len(text) <= _PLAIN_ID_MAX and all(char in _PLAIN_ID for char in text)


class RecorderWarning(UserWarning):
    """laptime could not record something; the program being measured carries on."""


class RecordFailedWarning(RecorderWarning):
    """Events were lost: the log could not be written (a read-only store, a full disk).
    A plain ``RecorderWarning`` is a bad value that was still recorded, with a default."""


class Sink(Protocol):
    """Where encoded events go: the log writer, or an in-memory list in tests."""

    def append(self, line: bytes, day: str) -> None: ...

    def close(self) -> None: ...


# What the current context is inside: (run, span id, worker). A plain tuple, not an
# object: one is made per span, and a tuple is the cheapest immutable record.
_Frame = tuple["Run", str, str | None]


_current: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar("laptime_frame", default=None)


class Recorder:
    """Owns the store, the clock and the log writer. Use it as a context manager.

    >>> with Recorder(home="/tmp/demo/.laptime") as rec:      # doctest: +SKIP
    ...     with rec.run("fix-login-bug", runner="my-pipeline") as run:
    ...         with run.phase("plan"):
    ...             ...
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
        sink: Sink | None = None,
        profile: bool | None = None,
        profile_stream: Any = None,
        flush_interval: float = 0.2,
        otel: bool | None = None,
    ) -> None:
        self.clock: Clock = clock or time.time_ns
        self._sink: Sink | None = sink
        self._home = home
        self.store: Store | None = None
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        self._lock = threading.Lock()
        self._active: list[Run] = []
        env_profile = os.environ.get(PROFILE_ENV, "").strip().lower() not in ("", "0", "false", "no")
        self.profile = env_profile if profile is None else profile
        self._profile_stream = profile_stream
        self._flush_interval = flush_interval
        self._append: Callable[[bytes, str], None] | None = sink.append if sink is not None else None
        # Live OTLP export (laptime[otel]): LAPTIME_OTEL=1 or otel=True; see exporters.live.
        env_otel = os.environ.get(OTEL_ENV, "").strip().lower() not in ("", "0", "false", "no")
        self._otel_wanted = env_otel if otel is None else otel
        self._live: Any = None
        if self._append is not None and self._otel_wanted:
            self._append = self._tee(self._append)

    # -- plumbing ---------------------------------------------------------------

    def _open_sink(self) -> Callable[[bytes, str], None]:
        with self._lock:
            if self._sink is None:
                from laptime.log import LogWriter

                self.store = find_store(self._home)
                self._sink = LogWriter(self.store, flush_interval=self._flush_interval, on_error=self.warn)
            append = self._sink.append
            self._append = self._tee(append) if self._otel_wanted else append
            return self._append

    def _tee(self, append: Callable[[bytes, str], None]) -> Callable[[bytes, str], None]:
        """``append``, and each line to the live OTLP exporter as well."""
        from laptime.exporters.live import start

        live = self._live = start(self.warn, self._price_book)
        if live is None:
            return append

        def both(line: bytes, day: str) -> None:
            append(line, day)
            live.on_line(line)

        return both

    def _price_book(self) -> Any:
        from laptime.config import load_config
        from laptime.pricing import PriceBook

        try:
            return PriceBook.from_config(load_config(self.store)) if self.store is not None else PriceBook()
        except Exception as exc:  # noqa: BLE001 - an unpriced call is still exported
            self.warn(exc)
            return None

    def emit(self, event: ev.Event) -> None:
        """Append one event; failures become a single warning per kind of failure."""
        try:
            try:
                line = _encode(event) + b"\n"
            except Exception as exc:  # noqa: BLE001 - last resort: the checks let something through
                # Write the event without its attrs rather than lose it.
                self.warn(exc)
                line = _encode(msgspec.structs.replace(event, attrs={"invalid_attrs": _safe_repr(event.attrs)}))
                line += b"\n"
            append = self._append or self._open_sink()
            append(line, event.ts[:10])
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self.warn(exc)

    def flush(self) -> None:
        """Write buffered events to the log now."""
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            try:
                flush()
            except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
                self.warn(exc)

    def warn(self, exc: BaseException | str) -> None:
        """Warn once per distinct failure, so a full disk yields one warning, not millions."""
        key = exc if isinstance(exc, str) else f"{type(exc).__name__}:{getattr(exc, 'errno', '')}"
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {_safe_str(exc)}"
        self._warn_once(key, f"laptime could not record events ({text}); your program continues", RecordFailedWarning)

    def warn_invalid(self, call: str, field: str, detail: str) -> None:
        """Warn once per call and argument that got an invalid value (not once per value)."""
        self._warn_once(
            f"invalid:{call}:{field}",
            f"laptime got an invalid {field} in {call} ({detail}); the event was still recorded",
        )

    def _warn_once(self, key: str, message: str, category: type[RecorderWarning] = RecorderWarning) -> None:
        with self._warn_lock:  # the log's flushing thread reports here too
            if key in self._warned:
                return
            self._warned.add(key)
        message = _safe_text(message)  # a lone surrogate would break printing it
        try:
            warnings.warn(message, category, stacklevel=_caller_level())
        except Exception:  # noqa: BLE001 - warnings turned into errors (-W error) must not break the caller either
            print(f"RecorderWarning: {message}", file=sys.stderr)

    def now(self) -> tuple[int, str]:
        """The recorder clock's time: epoch nanoseconds and the event timestamp."""
        ns = self.clock()
        return ns, format_timestamp(ns)

    def close(self) -> None:
        """Close the log writer (and send what the live OTLP export holds). Safe to call twice."""
        live, self._live = self._live, None
        if live is not None:
            live.shutdown()
        if self._sink is not None:
            try:
                self._sink.close()
            except Exception as exc:  # noqa: BLE001 - closing must not raise into user code
                self.warn(exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs and spans -----------------------------------------------------------

    def run(
        self,
        name: str,
        *,
        run_id: str | None = None,
        runner: str | None = None,
        **attrs: Any,
    ) -> Run:
        """A new run. Enter it (``with``) to start it; leaving it ends it."""
        if runner is not None:
            attrs["runner"] = runner
        return Run(self, name, run_id=run_id, attrs=attrs)

    def join(self, run_id: str, *, parent: str | None = None) -> Run:
        """A run that another process started (and will end): enter it to record spans
        and events inside it, under span ``parent`` (default: the run itself). Entering
        and leaving it write nothing. A ``parent`` that is not a plain id (letters,
        digits, ``-_.:``) warns once and is replaced by the run."""
        joined = Run(self, "", run_id=run_id, attrs={})
        if parent is not None and (type(parent) is not str or not plain_id(parent)):
            self.warn_invalid("join", "parent", f"{_safe_repr(parent)} is not a plain span id; used the run")
            parent = None
        joined._joined_under = parent or joined.id  # noqa: SLF001 - Run and Recorder are one unit
        return joined

    def phase(self, name: str, **attrs: Any) -> SpanScope:
        """A phase of whatever run is current in this context."""
        return SpanScope(self, None, "phase", name, attrs)

    def span(self, kind: SpanKind, name: str, **attrs: Any) -> SpanScope:
        """A span of any kind (task, tool, git, validation, other) in the current run."""
        return SpanScope(self, None, kind, name, attrs)

    def current_run(self) -> Run | None:
        """The run this context is inside; in a bare thread, the only active run."""
        frame = _current.get()
        if frame is not None:
            return frame[0]
        with self._lock:
            if self._active:
                return self._active[0] if len(self._active) == 1 else None
        # None here: a decorator or ``laptime.phase`` bound to the default recorder,
        # called in a thread of a run that another recorder owns.
        return _sole_active_run()

    def _register(self, run: Run) -> None:
        with self._lock:
            self._active.append(run)
        with _active_runs_lock:
            _active_runs.append(run)

    def _unregister(self, run: Run) -> None:
        with self._lock:
            if run in self._active:
                self._active.remove(run)
        with _active_runs_lock:
            if run in _active_runs:
                _active_runs.remove(run)

    def _print_profile(self, run: Run, timings: Mapping[str, int]) -> None:  # noqa: ARG002 - hook signature
        stream = self._profile_stream or sys.stderr
        parts = " | ".join(f"{name} {ns / 1e9:.{_profile_digits(ns)}f}s" for name, ns in timings.items())
        try:
            print(f"[profile] {parts}" if parts else "[profile] (no phases)", file=stream, flush=True)
        except Exception as exc:  # noqa: BLE001 - a closed stream must not break the run
            self.warn(exc)


def _caller_level() -> int:
    """The ``stacklevel`` that makes a warning point at the first line outside this
    module: the user's call, however deep inside the recorder the problem was found.
    Runs only when a warning is about to be shown, never on the hot path."""
    frame = sys._getframe(1)  # noqa: SLF001 - the one way to walk the stack cheaply
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def _profile_digits(ns: int) -> int:
    return 2 if ns < 1e9 else 1


# Every run in progress in this process, whichever recorder owns it.
_active_runs: list[Run] = []
_active_runs_lock = threading.Lock()


def _sole_active_run() -> Run | None:
    with _active_runs_lock:
        return _active_runs[0] if len(_active_runs) == 1 else None


class SpanScope:
    """A span as context manager (sync or async) and as decorator (sync or async).

    As a decorator, each call opens its own span. Nested scopes become child spans,
    across threads started inside a run and across asyncio tasks (contextvars).
    """

    __slots__ = (
        "_end_attrs",
        "_frame",
        "_kind",
        "_name",
        "_rec",
        "_run",
        "_start_ns",
        "_token",
        "attrs",
        "outcome",
        "span_id",
    )

    def __init__(self, recorder: Recorder, run: Run | None, kind: SpanKind, name: str, attrs: dict[str, Any]) -> None:
        # The kind is spliced into the span_start line as it is, so it must be one of the
        # vocabulary; a bad kind becomes "other" and a bad name its text (``_Check``).
        if (
            type(kind) is not str
            or kind not in _SPAN_KIND_SET
            or type(name) is not str
            or not (name.isascii() or _utf8_ok(name))
        ):
            check = _Check(recorder, "span")
            kind = cast("SpanKind", check.choice("kind", kind, ev.SPAN_KINDS, "other"))
            name = check.text("name", name)
            if check.invalid:
                attrs.update(check.invalid)
        self._rec = recorder
        self._run = run
        self._kind: SpanKind = kind
        self._name = name
        self.attrs = attrs
        self.outcome: Outcome | None = None
        self.span_id: str | None = None
        # ``_token`` and ``_start_ns`` are set on entering, before ``_frame``, and read
        # only while ``_frame`` is set: a phase costs one attribute store less each.
        self._frame: _Frame | None = None
        self._end_attrs: dict[str, Any] | None = None

    _token: contextvars.Token[_Frame | None]
    _start_ns: int

    def set_outcome(self, outcome: Outcome) -> None:
        """Choose the span's outcome (blocked, stopped, ...) instead of the default.

        A word outside the outcome vocabulary warns once and is kept as the end's
        ``attrs["invalid_outcome"]``; the span then ends as if no outcome was chosen:
        "completed", or "failed" / "stopped" when an exception crosses it.
        """
        if type(outcome) is str and outcome in _OUTCOME_SET:
            self.outcome = outcome
            return
        self.outcome = None
        self._note_bad_outcome(outcome)

    def _note_bad_outcome(self, outcome: object) -> None:
        check = _Check(self._rec, "set_outcome")
        used = "the span ends as if none was chosen"
        chosen = check.choice("outcome", outcome, ev.OUTCOMES, "completed", used)
        if check.invalid is None:  # a str subclass of a valid word: take its plain text
            self.outcome = cast("Outcome", chosen)
            return
        self._end_attrs = {**(self._end_attrs or {}), **check.invalid}

    def set(self, **attrs: Any) -> None:
        """Add attributes: with the start if the span has not opened yet, else with its end."""
        if self.span_id is None:
            self.attrs.update(attrs)
        elif self._end_attrs is None:
            self._end_attrs = attrs
        else:
            self._end_attrs.update(attrs)

    # -- context manager ------------------------------------------------------------
    # Entering and leaving are written out in ``__enter__`` / ``__exit__`` themselves,
    # without helper calls: a Python call costs about as much as a line's formatting.

    def __enter__(self) -> Self:
        try:
            frame = _current.get()
            run = self._run
            if run is None:
                run = frame[0] if frame is not None else self._rec.current_run()
                if run is None:
                    self._rec.warn(f"no run is active for {self._kind} {self._name!r}; start one with laptime.run(...)")
                    return self
            # The run's recorder, not the one this scope was made on: a decorator made at
            # import time is bound to the default recorder but may run in another's run.
            self._rec = rec = run._rec  # noqa: SLF001 - Run and SpanScope are one unit
            ns = rec.clock()
            # clock.stamp(ns), written out: the id, and the timestamp's cached parts
            stamps = ids.cache
            offset = ns - stamps[0]
            if not 0 <= offset < _NS_PER_MS:
                stamps = ids.millisecond(ns)
                offset = ns - stamps[0]
            span_id = stamps[1] + hex(next(ids.counter))[-8:]
            self.span_id = span_id
            self._start_ns = ns
            if frame is None:
                parent, worker = run.id, None
            else:
                parent = frame[1] if frame[0] is run else run.id
                worker = frame[2]
            head = (
                run._top_head  # noqa: SLF001 - Run and SpanScope are one unit
                if parent == run.id
                else f'"run":{run.id_json},"parent":"{parent}"'  # a span id: hex, needs no escaping
            )
            attrs = self.attrs
            if attrs:
                self.attrs = attrs = _clean_attrs(rec, f"{self._kind} span", attrs)
                extra = _attrs_field(rec, attrs)
                own_worker = attrs.get("worker")
                if own_worker is not None:
                    worker = own_worker
            else:
                extra = ""
            name = self._name
            name_json = _NAME_JSON.get(name) or _name_json(name)
            line = (
                f'{{"type":"span_start","v":1,"id":"{span_id}",'
                f'"ts":"{stamps[2]}{DIGITS3[offset // 1000]}Z",{head}{extra},'
                f'"span":"{span_id}","kind":"{self._kind}","name":{name_json}}}\n'
            ).encode()
            try:
                (rec._append or rec._open_sink())(line, stamps[3])  # noqa: SLF001 - Recorder and SpanScope are one unit
            except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
                rec.warn(exc)
            frame = (run, span_id, worker)
            self._token = _current.set(frame)
            self._frame = frame
            if run.profiling and self._kind == "phase" and parent == run.id:
                run._phase_opened(name, span_id)  # noqa: SLF001 - Run and SpanScope are one unit
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(exc)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            frame = self._frame
            if frame is None:  # never opened (no run), or already closed
                return
            run = frame[0]
            rec = self._rec
            token = self._token
            try:
                _current.reset(token)
            except ValueError:
                # Exited in another context than it was entered in (a generator moved
                # across tasks); restore the parent frame by hand instead.
                parent_frame = token.old_value
                _current.set(None if parent_frame is contextvars.Token.MISSING else parent_frame)
            tail = "" if exc is None and self.outcome is None else self._outcome_tail(exc)
            end_attrs = self._end_attrs
            if end_attrs:
                end_attrs = _clean_attrs(rec, f"{self._kind} span", end_attrs)
                extra = _attrs_field(rec, end_attrs)
            else:
                extra = ""
            ns = rec.clock()
            stamps = ids.cache  # clock.stamp(ns), written out, as in __enter__
            offset = ns - stamps[0]
            if not 0 <= offset < _NS_PER_MS:
                stamps = ids.millisecond(ns)
                offset = ns - stamps[0]
            span = frame[1]
            if span is run.id:  # the run's own end: its id may be any text, so it is escaped
                span = run._id_escaped  # noqa: SLF001 - Run and SpanScope are one unit
            line = (
                f'{{"type":"span_end","v":1,"id":"{stamps[1]}{hex(next(ids.counter))[-8:]}",'
                f'"ts":"{stamps[2]}{DIGITS3[offset // 1000]}Z","run":{run.id_json}{extra},'
                f'"span":"{span}"{tail}}}\n'
            ).encode()
            try:
                (rec._append or rec._open_sink())(line, stamps[3])  # noqa: SLF001 - Recorder and SpanScope are one unit
            except Exception as err:  # noqa: BLE001 - instrumentation must never break the caller
                rec.warn(err)
            self._frame = None
            if run.profiling and self._kind == "phase":
                run._phase_closed(self._name, ns - self._start_ns, frame[1])  # noqa: SLF001
        except Exception as err:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(err)

    def _outcome_tail(self, exc: BaseException | None) -> str:
        """``,"outcome":...,"error":...`` of a span that did not simply complete."""
        chosen = self.outcome
        # ``outcome`` is a public attribute: check what was assigned to it directly too.
        if chosen is not None and (type(chosen) is not str or chosen not in _OUTCOME_SET):
            self.outcome = None
            self._note_bad_outcome(chosen)
        outcome, error = _outcome_of(exc, self.outcome)
        tail = "" if outcome == "completed" else f',"outcome":"{outcome}"'
        if error is not None:
            tail += f',"error":{_encode(error).decode()}'
        return tail

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ------------------------------------------------------------------

    def __call__(self, func: F) -> F:
        rec, run, kind, name, attrs = self._rec, self._run, self._kind, self._name, self.attrs

        import inspect  # at decoration time only, not on the import path of `laptime --help`

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with SpanScope(rec, run, kind, name, dict(attrs)):
                    return await func(*args, **kwargs)

            return cast("F", async_wrapper)

        # A generator's body runs while it is iterated, not when it is called: the span
        # must cover the iteration, or it would close before any work was done.
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with SpanScope(rec, run, kind, name, dict(attrs)):
                    return (yield from func(*args, **kwargs))

            return cast("F", generator_wrapper)

        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with SpanScope(rec, run, kind, name, dict(attrs)):
                    async for item in func(*args, **kwargs):
                        yield item

            return cast("F", async_generator_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with SpanScope(rec, run, kind, name, dict(attrs)):
                return func(*args, **kwargs)

        return cast("F", wrapper)


def _is_cancellation(exc: BaseException) -> bool:
    """An asyncio task cancelled. Without asyncio loaded, nothing can be one; this
    keeps the ~0.1 s asyncio import off the SDK's import path."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _outcome_of(exc: BaseException | None, chosen: Outcome | None) -> tuple[Outcome, str | None]:
    if exc is None:
        return (chosen or "completed"), None
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the span's end
        text = ""
    # A message may hold a lone surrogate (a file name read with surrogateescape).
    error = _safe_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    if isinstance(exc, KeyboardInterrupt | SystemExit) or _is_cancellation(exc):
        return "stopped", error
    return (chosen if chosen not in (None, "completed") else "failed"), error


class LlmScope(SpanScope):
    """An llm span that writes the call's usage when it ends.

    >>> with run.llm("claude-sonnet-4-5", provider="anthropic") as call:  # doctest: +SKIP
    ...     response = client.messages.create(...)
    ...     call.usage(laptime.from_anthropic(response))
    """

    __slots__ = ("_provider", "_usage", "cost_usd")

    def __init__(self, recorder: Recorder, run: Run | None, model: str, provider: str, attrs: dict[str, Any]) -> None:
        super().__init__(recorder, run, "llm", model, attrs)
        self._provider = provider
        self._usage: Usage | None = None
        self.cost_usd: float | None = None

    def usage(self, usage: Usage, *, cost_usd: float | None = None) -> None:
        """Attach the call's usage; it is written when the span ends (checked as ``llm_call``)."""
        self._usage = usage
        self.cost_usd = cost_usd

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        frame = self._frame
        try:
            if frame is not None:
                run, span, worker = frame
                ns = self._rec.clock()
                usage = self._usage or Usage()
                check = _Check(self._rec, "llm usage")
                self._rec.emit(
                    _llm_event(
                        check,
                        run=run.id,
                        parent=span,
                        span=span,
                        ns=ns,
                        model=getattr(usage, "model", "") or self._name,
                        provider=getattr(usage, "provider", "") or self._provider,
                        usage=usage,
                        latency_ms=(ns - self._start_ns) / 1e6,
                        cost_usd=self.cost_usd,
                        worker=worker,
                        attrs={},
                    )
                )
        except Exception as err:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(err)
        super().__exit__(exc_type, exc, tb)  # whatever the usage held, the span still ends


def _llm_event(
    check: _Check,
    *,
    run: str,
    parent: str | None,
    span: str | None,
    ns: int,
    model: object,
    provider: object,
    usage: object,
    latency_ms: object,
    cost_usd: object,
    worker: object,
    attrs: dict[str, Any],
) -> ev.LlmUsage:
    """The llm event, every value checked: bad counts become 0, bad flags False, a bad
    latency or cost none (``_Check``), the raw values kept in attrs."""

    def count(name: str) -> int:
        raw = usage.get(name, 0) if isinstance(usage, dict) else getattr(usage, name, 0)
        return check.count(name, raw)

    def flag(name: str) -> bool:
        raw = usage.get(name, False) if isinstance(usage, dict) else getattr(usage, name, False)
        return check.flag(name, raw)

    event_id, ts, _ = stamp(ns)
    return ev.LlmUsage(
        v=1,
        id=event_id,
        ts=ts,
        run=run,
        parent=parent,
        span=span,
        provider=check.text("provider", provider),
        model=check.text("model", model),
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_read_tokens=count("cache_read_tokens"),
        cache_write_tokens=count("cache_write_tokens"),
        input_includes_cache=flag("input_includes_cache"),
        latency_ms=check.optional_number("latency_ms", latency_ms),
        estimated=flag("estimated"),
        cost_usd=check.optional_number("cost_usd", cost_usd),
        worker=check.optional_text("worker", worker),
        attrs=check.attrs(attrs),
    )


class Run(SpanScope):
    """One run: the root span, and the place to record everything that happens in it."""

    __slots__ = (
        "_id_escaped",
        "_joined_under",
        "_profile_open",
        "_profile_timings",
        "_top_head",
        "id",
        "id_json",
        "profiling",
    )

    def __init__(self, recorder: Recorder, name: str, *, run_id: str | None, attrs: dict[str, Any]) -> None:
        super().__init__(recorder, None, "run", name, attrs)
        self._run = self
        if run_id is not None and (type(run_id) is not str or not _utf8_ok(run_id)):
            # A run id must be text; a bad one is replaced by a fresh id, kept in attrs.
            check = _Check(recorder, "run")
            check.bad("run_id", run_id, f"{_safe_repr(run_id)} is not a UTF-8 str", "used a new id")
            attrs.update(check.invalid or {})
            run_id = None
        self.id = run_id or new_id(recorder.clock())
        self.id_json = _encode(self.id).decode()  # the run id as JSON, for the hand-built lines
        # what a span_start line of a span directly inside this run says between ts and attrs
        self._top_head = f'"run":{self.id_json},"parent":{self.id_json}'
        self._id_escaped = self.id_json[1:-1]  # the id's JSON text between its quotes
        self.profiling = recorder.profile
        # The span new spans go under when this run was joined (``Recorder.join``), else None.
        self._joined_under: str | None = None
        self._profile_timings: dict[str, int] = {}
        self._profile_open: set[str] = set()

    def _open(self) -> None:
        ns = self._rec.clock()
        self._start_ns = ns
        self.span_id = self.id
        if self._joined_under is not None:  # another process owns the run's start and end
            frame: _Frame = (self, self._joined_under, None)
            self._token = _current.set(frame)
            self._frame = frame
            self._rec._register(self)  # noqa: SLF001 - Run and Recorder are one unit
            return
        if self.attrs:
            self.attrs = _clean_attrs(self._rec, "run", self.attrs)
        self._rec.emit(
            ev.SpanStart(
                v=1,
                id=self.id,
                ts=format_timestamp(ns),
                run=self.id,
                span=self.id,
                kind="run",
                name=self._name,
                attrs=self.attrs,
            )
        )
        frame = (self, self.id, self.attrs.get("worker"))
        self._token = _current.set(frame)
        self._frame = frame
        self._rec._register(self)  # noqa: SLF001 - Run and Recorder are one unit

    def __enter__(self) -> Self:
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(exc)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._rec._unregister(self)  # noqa: SLF001
            if self.profiling and self._profile_timings:
                self._flush_profile()
            if self._joined_under is not None and self._frame is not None:
                self._frame = None  # nothing to write: the run goes on in its own process
                _current.reset(self._token)
                return
        except Exception as err:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(err)
        super().__exit__(exc_type, exc, tb)
        try:
            from laptime.webhook.dispatch import on_run_end

            on_run_end(self._rec, self.id)
        except Exception as err:  # noqa: BLE001 - a webhook must never break the program it reports on
            self._rec.warn(err)

    # Profiling output: one line per iteration, an iteration ending when a top-level
    # phase name repeats (the loop came round again) and at the end of the run.
    # Only top-level phases count: a nested phase's time is already inside its parent's.
    def _phase_opened(self, name: str, span: str) -> None:
        if self.profiling and name in self._profile_timings:
            self._flush_profile()
        self._profile_open.add(span)

    def _phase_closed(self, name: str, elapsed_ns: int, span: str) -> None:
        if span not in self._profile_open:
            return
        self._profile_open.discard(span)
        self._profile_timings[name] = self._profile_timings.get(name, 0) + elapsed_ns

    def _flush_profile(self) -> None:
        self._rec._print_profile(self, self._profile_timings)  # noqa: SLF001
        self._profile_timings = {}

    # -- spans bound to this run ------------------------------------------------------

    def phase(self, name: str, **attrs: Any) -> SpanScope:
        """A phase (plan, implement, verify, ...): context manager or decorator."""
        return SpanScope(self._rec, self, "phase", name, attrs)

    def span(self, kind: SpanKind, name: str, **attrs: Any) -> SpanScope:
        """A span of any kind: task, tool, validation, git or other."""
        return SpanScope(self._rec, self, kind, name, attrs)

    def task(self, name: str, **attrs: Any) -> SpanScope:
        return SpanScope(self._rec, self, "task", name, attrs)

    def tool(self, name: str, **attrs: Any) -> SpanScope:
        return SpanScope(self._rec, self, "tool", name, attrs)

    def git(self, name: str, **attrs: Any) -> SpanScope:
        return SpanScope(self._rec, self, "git", name, attrs)

    def llm(self, model: str, *, provider: str = "", **attrs: Any) -> LlmScope:
        """An llm span timing a model call; give it the usage with ``call.usage(...)``."""
        return LlmScope(self._rec, self, model, provider, attrs)

    # -- point events ---------------------------------------------------------------

    def _where(self) -> tuple[str, str | None]:
        frame = _current.get()
        if frame is not None and frame[0] is self:
            return frame[1], frame[2]
        return self.id, self.attrs.get("worker")

    def _point(
        self, check: _Check, attrs: dict[str, Any], make: Callable[[str, str, str | None, dict[str, Any]], ev.Event]
    ) -> None:
        try:
            ns = self._rec.clock()
            parent, _ = self._where()
            event_id, ts, _ = stamp(ns)
            self._rec.emit(make(event_id, ts, parent, check.attrs(attrs)))
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(exc)

    def llm_call(
        self,
        model: str | None = None,
        *,
        provider: str = "",
        usage: Usage | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        input_includes_cache: bool = False,
        estimated: bool = False,
        latency_ms: float | None = None,
        cost_usd: float | None = None,
        worker: str | None = None,
        **attrs: Any,
    ) -> None:
        """Record one finished model call's usage (give ``usage`` or the counts).

        Without a model name nothing is recorded (one warning). Any other bad value is
        recorded with a default and kept in attrs: a count that is not a non-negative
        int becomes 0, a flag that is not a bool False, a latency or cost that is not a
        finite number none, a name that is not a str its ``str()``.
        """
        try:
            counts: object = usage
            if usage is None:
                counts = {
                    "input_tokens": input_tokens,
                    "output_tokens": output_tokens,
                    "cache_read_tokens": cache_read_tokens,
                    "cache_write_tokens": cache_write_tokens,
                    "input_includes_cache": input_includes_cache,
                    "estimated": estimated,
                }
            resolved_model = model or getattr(usage, "model", "")
            if not resolved_model:
                self._rec.warn("llm_call needs a model name; the call was not recorded")
                return
            ns = self._rec.clock()
            parent, frame_worker = self._where()
            self._rec.emit(
                _llm_event(
                    _Check(self._rec, "llm_call"),
                    run=self.id,
                    parent=parent,
                    span=None,
                    ns=ns,
                    model=resolved_model,
                    provider=provider or getattr(usage, "provider", ""),
                    usage=counts,
                    latency_ms=latency_ms,
                    cost_usd=cost_usd,
                    worker=worker if worker is not None else frame_worker,
                    attrs=attrs,
                )
            )
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(exc)

    def validation(
        self,
        command: str,
        *,
        passed: bool,
        exit_code: int | None = None,
        duration_ms: float | None = None,
        tier: str | None = None,
        **attrs: Any,
    ) -> None:
        """Record a verification command and whether it passed.

        A ``passed`` that is not a bool is recorded as False, an exit code that is not
        an int and a duration that is not a finite number as none (kept in attrs).
        """
        c = _Check(self._rec, "validation")
        command, passed = c.text("command", command), c.flag("passed", passed)
        exit_code, duration_ms = c.optional_int("exit_code", exit_code), c.optional_number("duration_ms", duration_ms)
        tier = c.optional_text("tier", tier)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.Validation(
                v=1, id=i, ts=ts, run=self.id, parent=parent, command=command, passed=passed,
                exit_code=exit_code, duration_ms=duration_ms, tier=tier, attrs=a,
            )
        )  # fmt: skip

    def file_change(
        self,
        path: str,
        change: FileChangeKind = "modified",
        *,
        lines_added: int = 0,
        lines_removed: int = 0,
        **attrs: Any,
    ) -> None:
        """Record a file the run created, modified or deleted.

        A change kind outside created / modified / deleted is recorded as "modified",
        a line count that is not a non-negative int as 0 (the raw values kept in attrs).
        """
        c = _Check(self._rec, "file_change")
        path = c.text("path", path)
        kind = c.choice("change", change, _FILE_CHANGE_KINDS, "modified")
        added, removed = c.count("lines_added", lines_added), c.count("lines_removed", lines_removed)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.FileChange(
                v=1, id=i, ts=ts, run=self.id, parent=parent, path=path, change=cast("FileChangeKind", kind),
                lines_added=added, lines_removed=removed, attrs=a,
            )
        )  # fmt: skip

    def queue(self, *, ready: int = 0, active: int = 0, waiting: int = 0, **attrs: Any) -> None:
        """Record the work queue's depth now (a depth that is not a non-negative int: 0)."""
        c = _Check(self._rec, "queue")
        ready, active, waiting = c.count("ready", ready), c.count("active", active), c.count("waiting", waiting)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.QueueSample(
                v=1, id=i, ts=ts, run=self.id, parent=parent, ready=ready, active=active, waiting=waiting, attrs=a
            )
        )  # fmt: skip

    def milestone(
        self, name: str, status: MilestoneStatus = "planned", *, index: int | None = None, **attrs: Any
    ) -> None:
        """Record a milestone being planned or completed.

        A status other than planned / completed is recorded as "planned", an index that
        is not an int as none (the raw values kept in attrs).
        """
        c = _Check(self._rec, "milestone")
        name = c.text("name", name)
        state = c.choice("status", status, _MILESTONE_STATUSES, "planned")
        position = c.optional_int("index", index)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.Milestone(
                v=1, id=i, ts=ts, run=self.id, parent=parent, name=name,
                status=cast("MilestoneStatus", state), index=position, attrs=a,
            )
        )  # fmt: skip

    def checkpoint(self, commit: str | None = None, *, verified: bool = False, **attrs: Any) -> None:
        """Record a checkpoint; ``verified`` when a passing verification preceded it
        (a ``verified`` that is not a bool is recorded as False)."""
        c = _Check(self._rec, "checkpoint")
        commit, verified = c.optional_text("commit", commit), c.flag("verified", verified)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.Checkpoint(
                v=1, id=i, ts=ts, run=self.id, parent=parent, commit=commit, verified=verified, attrs=a
            )
        )  # fmt: skip

    def scope_violation(self, path: str | None = None, *, reason: str | None = None, **attrs: Any) -> None:
        """Record that the agent touched something outside its scope."""
        c = _Check(self._rec, "scope_violation")
        path, reason = c.optional_text("path", path), c.optional_text("reason", reason)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.ScopeViolation(
                v=1, id=i, ts=ts, run=self.id, parent=parent, path=path, reason=reason, attrs=a
            )
        )  # fmt: skip

    def error(self, message: str, *, error_type: str | None = None, **attrs: Any) -> None:
        """Record an error that did not necessarily end a span."""
        c = _Check(self._rec, "error")
        message, error_type = c.text("message", message), c.optional_text("error_type", error_type)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.ErrorEvent(
                v=1, id=i, ts=ts, run=self.id, parent=parent, message=message, error_type=error_type, attrs=a
            )
        )  # fmt: skip

    def metric(self, name: str, value: float, unit: str = "", **attrs: Any) -> None:
        """Record a custom measurement.

        A value that is not a finite number (NaN, infinity, a str, a bool) is recorded
        as 0.0 with the raw value in ``attrs["invalid_value"]``: JSON has no NaN.
        """
        c = _Check(self._rec, "metric")
        name, number, unit = c.text("name", name), c.number("value", value), c.text("unit", unit)
        self._point(
            c, attrs, lambda i, ts, parent, a: ev.Metric(
                v=1, id=i, ts=ts, run=self.id, parent=parent, name=name, value=number, unit=unit, attrs=a
            )
        )  # fmt: skip


# -- the module-level API, on a default recorder ---------------------------------------

_default: Recorder | None = None
_default_lock = threading.Lock()


def default_recorder() -> Recorder:
    """The process-wide recorder behind ``laptime.run`` and ``laptime.phase``."""
    global _default  # noqa: PLW0603 - one lazily built recorder per process
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Recorder()
    return _default


def swap_default_recorder(recorder: Recorder | None) -> Recorder | None:
    """Make ``recorder`` the default (None: build one on next use); return the one it replaces.

    For test doubles (``laptime.testing.capture``), which put the previous one back."""
    global _default
    with _default_lock:
        previous, _default = _default, recorder
    return previous


def run(name: str, *, run_id: str | None = None, runner: str | None = None, **attrs: Any) -> Run:
    """Start a run on the default recorder: ``with laptime.run("task") as run: ...``."""
    return default_recorder().run(name, run_id=run_id, runner=runner, **attrs)


def join(run_id: str | None = None, *, parent: str | None = None) -> Run | None:
    """The run this process was started inside, on the default recorder, to enter:
    ``run_id`` and ``parent`` default to ``$LAPTIME_RUN_ID`` and ``$LAPTIME_SPAN_ID``
    (set by ``laptime exec``). None when no run is named.

    >>> with laptime.join() or laptime.run("step") as run:   # doctest: +SKIP
    ...     run.metric("rows", 1200)
    """
    run_id = run_id or os.environ.get(RUN_ENV) or None
    if run_id is None:
        return None
    if parent is None:
        parent = os.environ.get(SPAN_ENV) or None
    return default_recorder().join(run_id, parent=parent)


def phase(name: str, **attrs: Any) -> SpanScope:
    """A phase of the current run: ``with laptime.phase("plan"):`` or ``@laptime.phase("plan")``."""
    frame = _current.get()
    recorder = frame[0]._rec if frame is not None else default_recorder()  # noqa: SLF001
    return SpanScope(recorder, None, "phase", name, attrs)


def current_run() -> Run | None:
    """The run the calling context is inside, if any."""
    frame = _current.get()
    return frame[0] if frame is not None else default_recorder().current_run()
