"""``laptime event KIND ...``: append one point event to a run, from a shell."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import click

from laptime.cli._common import attrs_option, run_options, store_of
from laptime.errors import LaptimeError


class _Finite(click.ParamType[float]):
    """A finite number: JSON, and so the log, has no NaN or infinity."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE = _Finite()


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    del ctx
    if value is not None and not value.strip():
        msg = "must not be empty"
        raise click.BadParameter(msg, param=param)
    return value


class RecordError(LaptimeError):
    """The event could not be written (a read-only store, a full disk): exit 1."""


def _record(ctx: click.Context, run_id: str | None, parent: str | None, write: Callable[[Any], None]) -> None:
    """Append one event with ``write(run)`` to the joined run; any failure to record is an error."""
    from laptime.recorder import Recorder, RecorderWarning, RecordFailedWarning

    if run_id is None:
        msg = "no run to record into: give --run ID, or call this inside `laptime exec` (which sets $LAPTIME_RUN_ID)"
        raise click.UsageError(msg, ctx)
    recorder = Recorder(home=store_of(ctx).root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecorderWarning)
        with recorder.join(run_id, parent=parent) as run:
            write(run)
        recorder.close()
    for caught_warning in caught:  # a value recorded with a default (a lone surrogate escaped): say so
        if not issubclass(caught_warning.category, RecordFailedWarning):
            click.echo(f"warning: {caught_warning.message}", err=True)
    lost = [str(w.message) for w in caught if issubclass(w.category, RecordFailedWarning)]
    if lost:
        raise RecordError(lost[0])


@click.group()
def event() -> None:
    """Append one event (a milestone, checkpoint, metric, file change, validation, error or
    scope violation) to a run, from a shell. The run is --run ID, else $LAPTIME_RUN_ID
    (set inside `laptime exec`); the event goes under --parent, else $LAPTIME_SPAN_ID,
    else the run. Nothing is printed; a bad argument exits 2 naming it, a failure to
    write (a read-only store) exits 1.

    \b
    Examples:
      laptime exec -- sh -c 'make && laptime event milestone built'
      laptime event metric rows_loaded 1200 --unit rows --run 01a2f3
      laptime event file src/app.ts --change modified --lines-added 12
    """


@event.command()
@click.argument("name", callback=_not_empty)
@click.option("--status", type=click.Choice(["planned", "completed"]), default="completed", show_default=True)
@click.option("--index", type=int, help="The milestone's position in the plan.")
@run_options
@attrs_option
@click.pass_context
def milestone(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    name: str,
    status: str,
    index: int | None,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """A milestone planned or (by default) completed.

    \b
    Example:
      laptime event milestone "schema migrated" --index 2
    """
    _record(ctx, run_id, parent, lambda run: run.milestone(name, status, index=index, **attrs))


@event.command()
@click.argument("commit", required=False)
@click.option("--verified", is_flag=True, help="A passing verification preceded it (it counts for TVc).")
@run_options
@attrs_option
@click.pass_context
def checkpoint(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    commit: str | None,
    verified: bool,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """A checkpoint, at COMMIT if given.

    \b
    Example:
      laptime event checkpoint "$(git rev-parse HEAD)" --verified
    """
    _record(ctx, run_id, parent, lambda run: run.checkpoint(commit, verified=verified, **attrs))


@event.command()
@click.argument("name", callback=_not_empty)
@click.argument("value", type=FINITE)
@click.option("--unit", default="", help="The value's unit, e.g. ms, rows, bytes.")
@run_options
@attrs_option
@click.pass_context
def metric(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    name: str,
    value: float,
    unit: str,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """A custom measurement: NAME and a finite number VALUE.

    \b
    Example:
      laptime event metric bundle_size 48213 --unit bytes
    """
    _record(ctx, run_id, parent, lambda run: run.metric(name, value, unit, **attrs))


@event.command("file")
@click.argument("path", callback=_not_empty)
@click.option("--change", type=click.Choice(["created", "modified", "deleted"]), default="modified", show_default=True)
@click.option("--lines-added", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--lines-removed", type=click.IntRange(min=0), default=0, show_default=True)
@run_options
@attrs_option
@click.pass_context
def file_change(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    path: str,
    change: str,
    lines_added: int,
    lines_removed: int,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """A file the run created, modified or deleted.

    \b
    Example:
      laptime event file src/app.ts --change created --lines-added 40
    """
    _record(
        ctx,
        run_id,
        parent,
        lambda run: run.file_change(path, change, lines_added=lines_added, lines_removed=lines_removed, **attrs),
    )


@event.command()
@click.argument("command", callback=_not_empty)
@click.option("--passed/--failed", default=None, help="Whether the check passed (one of the two is required).")
@click.option("--exit-code", type=int, help="The check's exit code.")
@click.option("--duration-ms", type=FINITE, help="How long it took, in milliseconds.")
@click.option("--tier", help="The check's tier, e.g. fast, unit, full.")
@run_options
@attrs_option
@click.pass_context
def validation(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    command: str,
    passed: bool | None,
    exit_code: int | None,
    duration_ms: float | None,
    tier: str | None,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """A verification COMMAND that ran elsewhere, and whether it passed
    (`laptime exec --kind validation` records one itself).

    \b
    Example:
      laptime event validation "npm test" --failed --exit-code 1 --duration-ms 5400 --tier unit
    """
    from laptime.command import TIER_MAX, valid_tier

    if passed is None:
        msg = "give --passed or --failed"
        raise click.UsageError(msg, ctx)
    if duration_ms is not None and duration_ms < 0:
        msg = f"{duration_ms:g} is below 0"
        raise click.BadParameter(msg, ctx, param_hint="'--duration-ms'")
    if tier is not None and not valid_tier(tier):
        msg = f"{tier!r} is not a tier (letters, digits and -_.: only, at most {TIER_MAX})"
        raise click.BadParameter(msg, ctx, param_hint="'--tier'")
    _record(
        ctx,
        run_id,
        parent,
        lambda run: run.validation(
            command, passed=passed, exit_code=exit_code, duration_ms=duration_ms, tier=tier, **attrs
        ),
    )


@event.command()
@click.argument("message", callback=_not_empty)
@click.option("--type", "error_type", help="The error's type or class, e.g. TimeoutError.")
@run_options
@attrs_option
@click.pass_context
def error(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    message: str,
    error_type: str | None,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """An error that did not (necessarily) end a span.

    \b
    Example:
      laptime event error "rate limited, retrying" --type RateLimit
    """
    _record(ctx, run_id, parent, lambda run: run.error(message, error_type=error_type, **attrs))


@event.command("scope-violation")
@click.argument("path", required=False)
@click.option("--reason", help="Why it was outside the scope.")
@run_options
@attrs_option
@click.pass_context
def scope_violation(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    path: str | None,
    reason: str | None,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
) -> None:
    """The agent touched PATH (or something) outside its scope.

    \b
    Example:
      laptime event scope-violation infra/prod.tf --reason "not in the task's paths"
    """
    _record(ctx, run_id, parent, lambda run: run.scope_violation(path, reason=reason, **attrs))
