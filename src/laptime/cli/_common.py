"""What every command shares: the store, errors with exit codes, dates, JSON output."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from laptime import when
from laptime.errors import UsageError

if TYPE_CHECKING:
    from laptime.config import Config
    from laptime.index import Index
    from laptime.report.style import Style
    from laptime.store import Store

F = TypeVar("F", bound=Callable[..., Any])

MAX_BAD_LINE_WARNINGS = 10


@dataclass
class Obj:
    """The context object: options of the top-level group."""

    home: str | None = None
    no_color: bool = False


# Bad input from the user (unknown run, bad config, bad date): exit code 2, by the root group.
UsageProblem = UsageError


def style_of(ctx: click.Context) -> Style:
    """Colour and width for text output: one decision for every command (report/style.py)."""
    from laptime.report.style import terminal_style

    obj = ctx.find_object(Obj)
    return terminal_style(no_color=bool(obj and obj.no_color))


def store_of(ctx: click.Context) -> Store:
    from laptime.store import find_store

    obj = ctx.find_object(Obj)
    return find_store(obj.home if obj else None)


def config_of(store: Store) -> Config:
    from laptime.config import load_config

    return load_config(store)


@contextmanager
def open_index(ctx: click.Context, *, update: bool = True) -> Iterator[Index]:
    """The store's index, brought up to date; new bad lines are reported on stderr."""
    from laptime.index import Index

    store = store_of(ctx)
    if not store.exists():
        msg = (
            f"no laptime store at {store.root}; record a run with the SDK, run `laptime demo`, "
            "or point --home / LAPTIME_HOME at an existing store"
        )
        raise UsageProblem(msg)
    index = Index(store)
    if index.moved_aside is not None:
        click.echo(
            f"warning: the index was unreadable; moved it to {index.moved_aside} and rebuilt it from the log", err=True
        )
    try:
        if update:
            # Waits for another process's ingest or rebuild (the busy timeout); past that,
            # the command answers from the committed index rather than fail.
            stats = index.update(wait=False)
            report_bad_lines(stats.bad_lines)
            report_unreadable(stats.unreadable)
            if stats.read_only_behind:
                click.echo(
                    f"warning: the store {store.root} is read-only; this answers from its index as last written, "
                    "without what the log gained since",
                    err=True,
                )
        with index.snapshot():  # one state of the index for the whole command
            yield index
    finally:
        index.close()


def report_bad_lines(bad: list[Any]) -> None:
    for line in bad[:MAX_BAD_LINE_WARNINGS]:
        click.echo(f"warning: {line.segment}:{line.line}: skipped a bad line: {line.reason}", err=True)
    if len(bad) > MAX_BAD_LINE_WARNINGS:
        click.echo(
            f"warning: ... and {len(bad) - MAX_BAD_LINE_WARNINGS} more bad lines (`laptime doctor` lists them)",
            err=True,
        )


def report_unreadable(unreadable: list[tuple[str, str]]) -> None:
    """One warning per segment that could not be read; the command goes on without it."""
    for path, reason in unreadable:
        click.echo(f"warning: skipped {path}: {reason} (`laptime doctor` checks the store)", err=True)


def now_us() -> int:
    return time.time_ns() // 1000


def json_option(func: F) -> F:
    """``--json``: the output format option every command that prints data shares."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def _when_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    del ctx
    return None if value is None else parse_when(value, option=f"--{param.name}")


def window_options(subject: str = "Runs started") -> Callable[[F], F]:
    """``--since`` / ``--until``: the time window (laptime.definitions: a run is in it when its
    start is), handed to the command as microseconds since the epoch (or None)."""

    def decorate(func: F) -> F:
        until = click.option(
            "--until",
            callback=_when_callback,
            help=f"{subject} before: YYYY-MM-DD, ISO datetime, or an age like 1d.",
        )
        since = click.option(
            "--since",
            callback=_when_callback,
            help=f"{subject} at or after: YYYY-MM-DD, ISO datetime, or an age like 7d.",
        )
        return since(until(func))

    return decorate


def status_option(func: F) -> F:
    """``--status``: the run filter by outcome (laptime.definitions' outcome, running and crashed included)."""
    from laptime.events import OUTCOMES

    return click.option("--status", type=click.Choice(OUTCOMES), help="Only runs with this outcome.")(func)


def summary_filter_options(func: F) -> F:
    """``report summary``'s run filters (--since/--until, --status, --task, --runner,
    --model), shared by every command that reads the same selection (``laptime metrics``)."""
    func = click.option("--model", help="Runs that called a model whose name contains this.")(func)
    func = click.option("--runner", help="Runs of this runner (exact).")(func)
    func = click.option("--task", help="Runs whose name contains this, or matches it as a glob (fix-*).")(func)
    return window_options()(status_option(func))


def echo_json(data: Any) -> None:
    """Print a result (a typed struct of laptime.analysis.results, or plain data) as JSON."""
    import msgspec

    click.echo(json_text(msgspec.to_builtins(data)))


def json_text(data: Any) -> str:
    """Plain data (``msgspec.to_builtins`` of a result) as every ``--json`` prints it."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


# Dates and ages (`--since 7d`) are read by the library (laptime.when), so the HTTP API reads them alike.
RELATIVE_WHEN = when.RELATIVE_WHEN
parse_when = when.parse_when


def crashed_after_us(store: Store) -> int:
    from laptime.definitions import crashed_after_us as to_us

    return to_us(config_of(store).crashed_after_minutes)


def _no_constant(text: str) -> float:
    msg = f"{text} is not a finite number"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        msg = f"{text} is too large for a float"
        raise ValueError(msg)
    return number


def _attrs_callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
    del ctx, param
    attrs: dict[str, Any] = {}
    for item in value:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            msg = f"{item!r} is not KEY=VALUE"
            raise click.BadParameter(msg, param_hint="'--attr'")
        try:
            # Python reads NaN, Infinity and 1e999 as JSON, but no log line can hold them
            parsed = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
        except ValueError:  # not JSON (a plain word, or one of those): the text itself
            parsed = text
        except RecursionError:
            msg = f"{key.strip()!r}: the value nests deeper than laptime reads"
            raise click.BadParameter(msg, param_hint="'--attr'") from None
        attrs[key.strip()] = parsed
    return attrs


def attrs_option(func: F) -> F:
    """``--attr KEY=VALUE`` (repeatable): attributes for the recorded event, each value
    parsed as JSON when it is JSON (``n=3``, ``ok=true``, ``tags=["a"]``), else kept as text."""
    return click.option(
        "--attr",
        "attrs",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_attrs_callback,
        help="An attribute to record (repeatable); VALUE is parsed as JSON when it is JSON, else text.",
    )(func)


def _plain_id_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    del ctx
    from laptime.recorder import plain_id

    if value is None or value == "":
        return None
    if not plain_id(value):
        msg = f"{value!r} is not a run or span id (letters, digits and -_.: only, at most 200)"
        raise click.BadParameter(msg, param=param)
    return value


def run_options(func: F) -> F:
    """``--run`` / ``--parent``: the run (and span in it) to record into, by default the
    ones ``laptime exec`` exported ($LAPTIME_RUN_ID, $LAPTIME_SPAN_ID)."""
    parent = click.option(
        "--parent",
        envvar="LAPTIME_SPAN_ID",
        callback=_plain_id_callback,
        metavar="SPAN",
        help="The span to record under. Default: $LAPTIME_SPAN_ID, else the run itself.",
    )
    run = click.option(
        "--run",
        "run_id",
        envvar="LAPTIME_RUN_ID",
        callback=_plain_id_callback,
        metavar="ID",
        help="The run to record into. Default: $LAPTIME_RUN_ID (set inside `laptime exec`).",
    )
    return run(parent(func))
