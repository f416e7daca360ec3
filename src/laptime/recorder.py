"""The recorder SDK: runs, phases and measurements, written straight to the log.

Instrumentation must never break the program it measures. Every failure inside the
recorder (a full disk, a read-only store, a bad attribute) becomes one warning and is
swallowed; the user's own exceptions pass through unchanged and are recorded as the
outcome of the span they crossed.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, cast

import msgspec

from laptime import events as ev
from laptime.clock import Clock, format_timestamp, new_id
from laptime.events import FileChangeKind, MilestoneStatus, Outcome, SpanKind
from laptime.store import Store, find_store
from laptime.usage import Usage

F = TypeVar("F", bound=Callable[..., Any])
_encode = msgspec.json.Encoder().encode
_NO_ATTRS: dict[str, Any] = {}  # shared, never mutated: events are encoded as soon as they are made


# The two lines every phase writes, built directly instead of through a Struct: about
# 1 us less per phase, a tenth of the recorder's cost. They are byte-identical to
# ``events.encode`` of the same SpanStart / SpanEnd (tests/test_recorder_lines.py
# checks it): same key order, defaults left out. Ids and timestamps are hex and digits,
# so only the user's strings (run id, name, error, attrs) go through the JSON encoder.
def span_start_line(  # noqa: PLR0917 - positional on the hot path: keyword passing costs time
    span: str, ts: str, run_json: str, parent_json: str, kind: str, name: str, attrs: dict[str, Any]
) -> bytes:
    extra = f',"attrs":{_encode(attrs).decode()}' if attrs else ""
    return (
        f'{{"type":"span_start","v":1,"id":"{span}","ts":"{ts}","run":{run_json},"parent":{parent_json}{extra},'
        f'"span":"{span}","kind":"{kind}","name":{_encode(name).decode()}}}\n'
    ).encode()


def span_end_line(  # noqa: PLR0917 - positional on the hot path
    event_id: str, ts: str, run_json: str, span: str, outcome: str, error: str | None, attrs: dict[str, Any]
) -> bytes:
    extra = f',"attrs":{_encode(attrs).decode()}' if attrs else ""
    tail = "" if outcome == "completed" else f',"outcome":"{outcome}"'
    if error is not None:
        tail += f',"error":{_encode(error).decode()}'
    return (
        f'{{"type":"span_end","v":1,"id":"{event_id}","ts":"{ts}","run":{run_json}{extra},"span":"{span}"{tail}}}\n'
    ).encode()


PROFILE_ENV = "LAPTIME_PROFILE"


class RecorderWarning(UserWarning):
    """laptime could not record something; the program being measured carries on."""


class Sink(Protocol):
    """Where encoded events go: the log writer, or an in-memory list in tests."""

    def append(self, line: bytes, day: str) -> None: ...

    def close(self) -> None: ...


class _Frame:
    """What the current context is inside: which run, which span, which worker."""

    __slots__ = ("run", "span", "worker")

    def __init__(self, run: Run, span: str, worker: str | None) -> None:
        self.run = run
        self.span = span
        self.worker = worker


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

    # -- plumbing ---------------------------------------------------------------

    def _open_sink(self) -> Callable[[bytes, str], None]:
        with self._lock:
            if self._sink is None:
                from laptime.log import LogWriter

                self.store = find_store(self._home)
                self._sink = LogWriter(self.store, flush_interval=self._flush_interval, on_error=self.warn)
            self._append = self._sink.append
            return self._append

    def emit(self, event: ev.Event) -> None:
        """Append one event; failures become a single warning per kind of failure."""
        try:
            append = self._append or self._open_sink()
            append(_encode(event) + b"\n", event.ts[:10])
        except Exception as exc:  # noqa: BLE001 - instrumentation must never break the caller
            self.warn(exc)

    def emit_line(self, line: bytes, day: str) -> None:
        """Append one already encoded line (the recorder's hot path)."""
        try:
            append = self._append or self._open_sink()
            append(line, day)
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
        with self._warn_lock:  # the log's flushing thread reports here too
            if key in self._warned:
                return
            self._warned.add(key)
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        message = f"laptime could not record events ({text}); your program continues"
        try:
            warnings.warn(message, RecorderWarning, stacklevel=3)
        except Exception:  # noqa: BLE001 - warnings turned into errors (-W error) must not break the caller either
            print(f"RecorderWarning: {message}", file=sys.stderr)

    def now(self) -> tuple[int, str]:
        """The recorder clock's time: epoch nanoseconds and the event timestamp."""
        ns = self.clock()
        return ns, format_timestamp(ns)

    def close(self) -> None:
        """Close the log writer. Safe to call twice."""
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
            return frame.run
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
        self._rec = recorder
        self._run = run
        self._kind: SpanKind = kind
        self._name = name
        self.attrs = attrs
        self.outcome: Outcome | None = None
        self.span_id: str | None = None
        self._token: contextvars.Token[_Frame | None] | None = None
        self._frame: _Frame | None = None
        self._start_ns = 0
        self._end_attrs: dict[str, Any] | None = None

    def set(self, **attrs: Any) -> None:
        """Add attributes: with the start if the span has not opened yet, else with its end."""
        if self.span_id is None:
            self.attrs.update(attrs)
        elif self._end_attrs is None:
            self._end_attrs = attrs
        else:
            self._end_attrs.update(attrs)

    # -- context manager ------------------------------------------------------------

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
            self._close(exc)
        except Exception as err:  # noqa: BLE001 - instrumentation must never break the caller
            self._rec.warn(err)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _open(self) -> None:
        frame = _current.get()
        run = self._run
        if run is None:
            run = frame.run if frame is not None else self._rec.current_run()
            if run is None:
                self._rec.warn(f"no run is active for {self._kind} {self._name!r}; start one with laptime.run(...)")
                return
        parent = frame.span if frame is not None and frame.run is run else run.id
        # The run's recorder, not the one this scope was made on: a decorator made at
        # import time is bound to the default recorder but may run in another's run.
        self._rec = rec = run._rec  # noqa: SLF001 - Run and SpanScope are one unit
        ns = rec.clock()
        span_id = new_id(ns)
        self.span_id = span_id
        self._start_ns = ns
        ts = format_timestamp(ns)
        run_json = run.id_json
        parent_json = run_json if parent == run.id else f'"{parent}"'
        rec.emit_line(span_start_line(span_id, ts, run_json, parent_json, self._kind, self._name, self.attrs), ts[:10])
        worker = self.attrs.get("worker")
        new_frame = _Frame(
            run, span_id, worker if worker is not None else (frame.worker if frame is not None else None)
        )
        self._frame = new_frame
        self._token = _current.set(new_frame)
        if run.profiling and self._kind == "phase" and parent == run.id:
            run._phase_opened(self._name, span_id)  # noqa: SLF001 - Run and SpanScope are one unit

    def _close(self, exc: BaseException | None) -> None:
        if self._frame is None:
            return
        run = self._frame.run
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                # Exited in another context than it was entered in (a generator moved
                # across tasks); restore the parent frame by hand instead.
                parent_frame = self._token.old_value
                _current.set(None if parent_frame is contextvars.Token.MISSING else parent_frame)
            self._token = None
        if exc is None and self.outcome is None:
            outcome: Outcome = "completed"
            error = None
        else:
            outcome, error = _outcome_of(exc, self.outcome)
        ns = self._rec.clock()
        ts = format_timestamp(ns)
        line = span_end_line(
            new_id(ns), ts, run.id_json, self._frame.span, outcome, error, self._end_attrs or _NO_ATTRS
        )
        self._rec.emit_line(line, ts[:10])
        if run.profiling and self._kind == "phase":
            run._phase_closed(self._name, ns - self._start_ns, self._frame.span)  # noqa: SLF001
        self._frame = None

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
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
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
        """Attach the call's usage; it is written when the span ends."""
        self._usage = usage
        self.cost_usd = cost_usd

    def _close(self, exc: BaseException | None) -> None:
        frame = self._frame
        if frame is not None:
            ns = self._rec.clock()
            usage = self._usage or Usage()
            self._rec.emit(
                _llm_event(
                    run=frame.run.id,
                    parent=frame.span,
                    span=frame.span,
                    ns=ns,
                    model=usage.model or self._name,
                    provider=usage.provider or self._provider,
                    usage=usage,
                    latency_ms=(ns - self._start_ns) / 1e6,
                    cost_usd=self.cost_usd,
                    worker=frame.worker,
                    attrs={},
                )
            )
        super()._close(exc)


def _llm_event(
    *,
    run: str,
    parent: str | None,
    span: str | None,
    ns: int,
    model: str,
    provider: str,
    usage: Usage,
    latency_ms: float | None,
    cost_usd: float | None,
    worker: str | None,
    attrs: dict[str, Any],
) -> ev.LlmUsage:
    return ev.LlmUsage(
        v=1,
        id=new_id(ns),
        ts=format_timestamp(ns),
        run=run,
        parent=parent,
        span=span,
        provider=provider,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        input_includes_cache=usage.input_includes_cache,
        latency_ms=latency_ms,
        estimated=usage.estimated,
        cost_usd=cost_usd,
        worker=worker,
        attrs=attrs,
    )


class Run(SpanScope):
    """One run: the root span, and the place to record everything that happens in it."""

    __slots__ = ("_profile_open", "_profile_timings", "id", "id_json", "profiling")

    def __init__(self, recorder: Recorder, name: str, *, run_id: str | None, attrs: dict[str, Any]) -> None:
        super().__init__(recorder, None, "run", name, attrs)
        self._run = self
        self.id = run_id or new_id(recorder.clock())
        self.id_json = _encode(self.id).decode()  # the run id as JSON, for the hand-built lines
        self.profiling = recorder.profile
        self._profile_timings: dict[str, int] = {}
        self._profile_open: set[str] = set()

    def _open(self) -> None:
        ns = self._rec.clock()
        self._start_ns = ns
        self.span_id = self.id
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
        self._frame = _Frame(self, self.id, self.attrs.get("worker"))
        self._token = _current.set(self._frame)
        self._rec._register(self)  # noqa: SLF001 - Run and Recorder are one unit

    def _close(self, exc: BaseException | None) -> None:
        self._rec._unregister(self)  # noqa: SLF001
        if self.profiling and self._profile_timings:
            self._flush_profile()
        super()._close(exc)

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
        if frame is not None and frame.run is self:
            return frame.span, frame.worker
        return self.id, self.attrs.get("worker")

    def _point(self, make: Callable[[str, str, str | None], ev.Event]) -> None:
        try:
            ns = self._rec.clock()
            parent, _ = self._where()
            self._rec.emit(make(new_id(ns), format_timestamp(ns), parent))
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
        """Record one finished model call's usage (give ``usage`` or the counts)."""
        try:
            if usage is None:
                usage = Usage(
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cache_read_tokens=cache_read_tokens,
                    cache_write_tokens=cache_write_tokens,
                    input_includes_cache=input_includes_cache,
                    estimated=estimated,
                )
            resolved_model = model or usage.model
            if not resolved_model:
                self._rec.warn("llm_call needs a model name; the call was not recorded")
                return
            ns = self._rec.clock()
            parent, frame_worker = self._where()
            self._rec.emit(
                _llm_event(
                    run=self.id,
                    parent=parent,
                    span=None,
                    ns=ns,
                    model=resolved_model,
                    provider=provider or usage.provider,
                    usage=usage,
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
        """Record a verification command and whether it passed."""
        self._point(
            lambda i, ts, parent: ev.Validation(
                v=1, id=i, ts=ts, run=self.id, parent=parent, command=command, passed=passed,
                exit_code=exit_code, duration_ms=duration_ms, tier=tier, attrs=attrs,
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
        """Record a file the run created, modified or deleted."""
        self._point(
            lambda i, ts, parent: ev.FileChange(
                v=1, id=i, ts=ts, run=self.id, parent=parent, path=path, change=change,
                lines_added=lines_added, lines_removed=lines_removed, attrs=attrs,
            )
        )  # fmt: skip

    def queue(self, *, ready: int = 0, active: int = 0, waiting: int = 0, **attrs: Any) -> None:
        """Record the work queue's depth now."""
        self._point(
            lambda i, ts, parent: ev.QueueSample(
                v=1, id=i, ts=ts, run=self.id, parent=parent, ready=ready, active=active, waiting=waiting, attrs=attrs
            )
        )

    def milestone(
        self, name: str, status: MilestoneStatus = "planned", *, index: int | None = None, **attrs: Any
    ) -> None:
        """Record a milestone being planned or completed."""
        self._point(
            lambda i, ts, parent: ev.Milestone(
                v=1, id=i, ts=ts, run=self.id, parent=parent, name=name, status=status, index=index, attrs=attrs
            )
        )

    def checkpoint(self, commit: str | None = None, *, verified: bool = False, **attrs: Any) -> None:
        """Record a checkpoint; ``verified`` when a passing verification preceded it."""
        self._point(
            lambda i, ts, parent: ev.Checkpoint(
                v=1, id=i, ts=ts, run=self.id, parent=parent, commit=commit, verified=verified, attrs=attrs
            )
        )

    def scope_violation(self, path: str | None = None, *, reason: str | None = None, **attrs: Any) -> None:
        """Record that the agent touched something outside its scope."""
        self._point(
            lambda i, ts, parent: ev.ScopeViolation(
                v=1, id=i, ts=ts, run=self.id, parent=parent, path=path, reason=reason, attrs=attrs
            )
        )

    def error(self, message: str, *, error_type: str | None = None, **attrs: Any) -> None:
        """Record an error that did not necessarily end a span."""
        self._point(
            lambda i, ts, parent: ev.ErrorEvent(
                v=1, id=i, ts=ts, run=self.id, parent=parent, message=message, error_type=error_type, attrs=attrs
            )
        )

    def metric(self, name: str, value: float, unit: str = "", **attrs: Any) -> None:
        """Record a custom measurement."""
        self._point(
            lambda i, ts, parent: ev.Metric(
                v=1, id=i, ts=ts, run=self.id, parent=parent, name=name, value=value, unit=unit, attrs=attrs
            )
        )

    def set_outcome(self, outcome: Outcome) -> None:
        """Choose the run's outcome (blocked, stopped, ...) instead of the default."""
        self.outcome = outcome


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


def phase(name: str, **attrs: Any) -> SpanScope:
    """A phase of the current run: ``with laptime.phase("plan"):`` or ``@laptime.phase("plan")``."""
    frame = _current.get()
    recorder = frame.run._rec if frame is not None else default_recorder()  # noqa: SLF001
    return SpanScope(recorder, None, "phase", name, attrs)


def current_run() -> Run | None:
    """The run the calling context is inside, if any."""
    frame = _current.get()
    return frame.run if frame is not None else default_recorder().current_run()
