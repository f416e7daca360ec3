"""A command run as a span of a run: what ``laptime exec`` does.

The command is the caller's, and laptime stays out of its way:

- it inherits stdin, stdout, stderr and every other inherited descriptor as they are
  (no pipes, no buffering), stays in laptime's process group (so it keeps the terminal)
  and gets an empty signal mask;
- SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to laptime are passed on to it, and laptime
  waits for it. A signal the terminal sent to the whole foreground group (Ctrl-C) already
  reached the command, so it is not sent twice;
- its exit status is laptime's: ``Finished.status``, and ``exit_like`` leaves with it,
  re-raising on laptime the signal that killed the command, so the calling shell sees
  the same status (``$?`` 128+N, ``WIFSIGNALED``);
- a command that cannot be found exits 127, one that cannot be executed 126, each with
  one line on stderr, as a shell does;
- recording never changes any of this: the recorder turns a failure (a read-only store,
  a full disk) into a warning.

Signals are blocked before anything else (before the log writer's thread starts, which
would otherwise receive them) and waited for with ``sigtimedwait``, which also says who
sent each one (``si_code``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from laptime.recorder import RUN_ENV, SPAN_ENV
from laptime.store import HOME_ENV

if TYPE_CHECKING:
    from laptime.events import Outcome, SpanKind
    from laptime.recorder import Recorder, Run, SpanScope

FORWARDED_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# A signal that ends a command this way was a request to stop, not a failure of the command.
STOPPING_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
# The span kinds a command can be; a run is what it joins, an llm call is not a command.
COMMAND_KINDS: Final = ("task", "phase", "tool", "validation", "git", "other")
DEFAULT_KIND: Final = "task"
TIER_MAX: Final = 64
_TIER_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
EXIT_NOT_FOUND: Final = 127  # as sh: the command was not found
EXIT_NOT_EXECUTABLE: Final = 126  # as sh: found, but could not be executed
EXIT_SIGNAL_BASE: Final = 128  # as sh: killed by signal N is status 128+N
_SI_KERNEL: Final = 0x80  # si_code of a signal the kernel sent: the terminal's Ctrl-C, Ctrl-\ or hangup
_WAIT_SECONDS: Final = 1.0  # how long one wait for a signal lasts before the command is polled anyway
# Signals whose default action dumps core: laptime re-raising one must not leave a core of its own.
_CORE_SIGNAL_NAMES: Final = "SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGSEGV SIGSYS SIGXCPU SIGXFSZ"
_CORE_SIGNALS: Final = frozenset(getattr(signal, name) for name in _CORE_SIGNAL_NAMES.split() if hasattr(signal, name))


@dataclass(frozen=True)
class Step:
    """What to run, and how to record it."""

    argv: list[str]
    kind: SpanKind = DEFAULT_KIND
    tier: str | None = None  # a validation's tier (events.Validation.tier)
    attrs: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # join this run; None: start a new one
    parent: str | None = None  # the span to go under in a joined run; None: the run
    run_name: str | None = None  # a new run's name; None: the command's basename


@dataclass(frozen=True)
class Finished:
    """How the command ended."""

    status: int  # the shell's view: the exit code, 128+N when killed by signal N, 126/127
    exit_code: int | None  # the command's own exit code; None when killed or never started
    signal: int | None = None  # the signal that killed it
    failure: str | None = None  # why it never started ("command not found", ...)
    duration_ms: float = 0.0  # from starting it to reaping it (monotonic clock)
    forwarded: tuple[str, ...] = ()  # the signals passed on to it, by name, in order

    @property
    def outcome(self) -> Outcome:
        if self.status == 0:
            return "completed"
        return "stopped" if self.signal in STOPPING_SIGNALS else "failed"


def valid_tier(tier: str) -> bool:
    """A validation tier is a short label (``fast``, ``unit``, ``ci``): letters, digits
    and ``-_.:``, at most ``TIER_MAX`` characters, so reports can show it in a column."""
    return 0 < len(tier) <= TIER_MAX and all(char in _TIER_CHARS for char in tier)


def block_signals() -> None:
    """Hold the forwarded signals and SIGCHLD for ``sigtimedwait``. Call it before any
    thread starts: a thread that does not block them would take them (SIGTERM would end
    laptime instead of reaching the command)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {*FORWARDED_SIGNALS, signal.SIGCHLD})


def run_command(step: Step, recorder: Recorder, *, store_root: Path | None = None) -> Finished:
    """Run ``step.argv`` as a span of a new or joined run, and record how it ended.

    The command's environment names the run (``$LAPTIME_RUN_ID``), this span
    (``$LAPTIME_SPAN_ID``) and the store (``$LAPTIME_HOME``), so that a ``laptime exec``
    or SDK ``laptime.join()`` inside it records under this span.
    """
    block_signals()
    run = _open_run(step, recorder)
    span = _open_span(step, run, recorder)
    env = dict(os.environ)
    env[RUN_ENV] = run.id
    if span.span_id is not None:
        env[SPAN_ENV] = span.span_id
    if store_root is not None:
        env[HOME_ENV] = str(store_root)
    finished = _spawn_and_wait(step.argv, env)
    try:
        _close(step, finished, run, span, recorder)
    except Exception as exc:  # noqa: BLE001 - recording must never change the command's status
        recorder.warn(exc)
    return finished


def _open_run(step: Step, recorder: Recorder) -> Run:
    if step.run_id is not None:
        run = recorder.join(step.run_id, parent=step.parent)
    else:
        run = recorder.run(step.run_name or (Path(step.argv[0]).name or step.argv[0]))
    return run.__enter__()


def _open_span(step: Step, run: Run, recorder: Recorder) -> SpanScope:
    attrs: dict[str, Any] = {"argv": list(step.argv)}
    with contextlib.suppress(OSError):  # a working directory that was removed has no path
        attrs["cwd"] = str(Path.cwd())
    if step.tier is not None:
        attrs["tier"] = step.tier
    attrs.update(step.attrs)
    span = run.span(step.kind, shlex.join(step.argv), **attrs).__enter__()
    recorder.flush()  # the open span is on disk before the command starts: a crash leaves evidence
    return span


def _close(step: Step, finished: Finished, run: Run, span: SpanScope, recorder: Recorder) -> None:
    if step.kind == "validation":
        # a validation event too: verification KPIs count validations (laptime.definitions)
        run.validation(
            shlex.join(step.argv),
            passed=finished.status == 0,
            exit_code=finished.exit_code,
            duration_ms=round(finished.duration_ms, 3),
            tier=step.tier,
        )
    end: dict[str, Any] = {"exit_code": finished.exit_code, "status": finished.status}
    if finished.signal is not None:
        end["signal"] = signal.Signals(finished.signal).name
    if finished.failure is not None:
        end["failure"] = finished.failure
    if finished.forwarded:
        end["signals_forwarded"] = list(finished.forwarded)
    span.set(**end)
    if finished.outcome != "completed":
        span.set_outcome(finished.outcome)
    span.__exit__(None, None, None)
    if step.run_id is None:
        run.set(exit_code=finished.exit_code, status=finished.status)
        if finished.outcome != "completed":
            run.set_outcome(finished.outcome)
    run.__exit__(None, None, None)
    recorder.close()


def _spawn_and_wait(argv: list[str], env: dict[str, str]) -> Finished:
    started = time.monotonic_ns()
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            env,
            setsigmask=(),
            # Python ignores SIGPIPE and SIGXFSZ for itself; the command gets the defaults,
            # as subprocess's restore_signals gives them.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        return _not_started(argv[0], exc, (time.monotonic_ns() - started) / 1e6)
    forwarded: list[str] = []
    waited = {*FORWARDED_SIGNALS, signal.SIGCHLD}
    while True:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            break
        info = signal.sigtimedwait(waited, _WAIT_SECONDS)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        if info.si_code == _SI_KERNEL and _in_our_group(pid):
            continue  # the terminal sent it to the whole foreground group: the command has it
        with contextlib.suppress(ProcessLookupError):  # it has just ended: it is reaped next
            os.kill(pid, info.si_signo)
        forwarded.append(signal.Signals(info.si_signo).name)
    duration_ms = (time.monotonic_ns() - started) / 1e6
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return Finished(EXIT_SIGNAL_BASE + number, None, number, None, duration_ms, tuple(forwarded))
    code = os.waitstatus_to_exitcode(status)
    return Finished(code, code, None, None, duration_ms, tuple(forwarded))


def _in_our_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except ProcessLookupError:
        return True  # gone already: nothing to send it to


def _not_started(command: str, exc: OSError, duration_ms: float) -> Finished:
    """127 or 126 with the shell's words for why."""
    if exc.errno == errno.ENOENT:
        failure = "No such file or directory" if "/" in command else "command not found"
        return Finished(EXIT_NOT_FOUND, None, None, failure, duration_ms)
    return Finished(EXIT_NOT_EXECUTABLE, None, None, exc.strerror or str(exc), duration_ms)


def exit_like(finished: Finished) -> NoReturn:
    """Leave with the command's status: its exit code, or, when a signal killed it, the
    same signal (so the caller's ``wait`` sees a death by signal, as with the command
    itself), without a core dump of laptime's own. 128+N if the signal does not end us."""
    sys.stdout.flush()
    sys.stderr.flush()
    number = finished.signal
    if number is None:
        sys.exit(finished.status)
    if number in _CORE_SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            import resource  # Unix only, and needed only here

            resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
        signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {number})
    os._exit(finished.status)  # a signal whose default is to go on: the shell's number
