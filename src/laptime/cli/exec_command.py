"""``laptime exec [OPTIONS] [--] CMD [ARG]...``: run a command as a span of a run."""

from __future__ import annotations

import warnings
from typing import Any

import click

from laptime.cli._common import attrs_option, run_options, store_of
from laptime.command import COMMAND_KINDS, DEFAULT_KIND, TIER_MAX


@click.command(
    "exec",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": False},
)
@click.option(
    "--kind",
    type=click.Choice(COMMAND_KINDS),
    default=DEFAULT_KIND,
    show_default=True,
    help="The span's kind: validation (also counted as a verification), git, tool, task, phase or other.",
)
@click.option("--tier", help="A validation's tier, e.g. fast, unit, full (with --kind validation).")
@click.option("--name", "run_name", help="A new run's name. Default: the command's basename.")
@run_options
@attrs_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="[--] CMD [ARG]...")
@click.pass_context
def exec_(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    kind: str,
    tier: str | None,
    run_name: str | None,
    run_id: str | None,
    parent: str | None,
    attrs: dict[str, Any],
    command: tuple[str, ...],
) -> None:
    """Run a command as a span of the current run ($LAPTIME_RUN_ID or --run), or of a
    new run that ends with the command (completed on exit status 0, stopped when SIGINT,
    SIGTERM or SIGHUP killed it, else failed).

    The command keeps laptime's stdin, stdout and stderr (nothing is piped or buffered)
    and its terminal; SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to laptime are passed on
    to it, and laptime waits for it. laptime's exit status is the command's: its exit
    code; when a signal killed it, laptime kills itself with the same signal (the shell
    shows 128+N); 127 when it cannot be found, 126 when it cannot be run. A failure to
    record (a read-only store, a full disk) is a warning on stderr and changes nothing
    else. Inside, $LAPTIME_RUN_ID, $LAPTIME_SPAN_ID and $LAPTIME_HOME name the run, this
    span and the store, so a nested `laptime exec` or `laptime event` records under it.
    The span keeps argv, cwd, exit_code, status, signal and the --attr attributes; with
    --kind validation, a validation event (passed when the status is 0) as well.
    --name is used only when a new run is started.

    \b
    Examples:
      laptime exec -- pytest -q                        # a new run named "pytest"
      laptime exec --name nightly -- ./pipeline.sh     # its own `laptime exec` steps join this run
      laptime exec --kind validation --tier unit -- pytest -q tests/unit
      laptime exec --kind git -- git commit -m "fix"
      laptime exec --run 01a2f3 --attr step=build -- make
    """
    from laptime.command import Step, exit_like, run_command, valid_tier
    from laptime.recorder import Recorder, RecorderWarning

    if tier is not None:
        if kind != "validation":
            msg = "--tier is a validation's tier; give --kind validation with it"
            raise click.UsageError(msg, ctx)
        if not valid_tier(tier):
            msg = f"{tier!r} is not a tier (letters, digits and -_.: only, at most {TIER_MAX})"
            raise click.BadParameter(msg, ctx, param_hint="'--tier'")
    if parent is not None and run_id is None:
        msg = "--parent names a span of a run; give --run (or $LAPTIME_RUN_ID) with it"
        raise click.UsageError(msg, ctx)
    if command[0] == "":
        msg = "the command is empty"
        raise click.BadParameter(msg, ctx, param_hint="'CMD'")
    store_root = store_of(ctx).root  # a --home that is a file was refused already, with exit 2
    step = Step(
        argv=list(command),
        kind=kind,  # type: ignore[arg-type]  # click.Choice checked it against COMMAND_KINDS
        tier=tier,
        attrs=attrs,
        run_id=run_id,
        parent=parent,
        run_name=run_name,
    )

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        prefix = "laptime exec: warning: " if issubclass(category, RecorderWarning) else "laptime exec: "
        click.echo(f"{prefix}{message}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show  # catch_warnings restores it
        finished = run_command(step, Recorder(home=store_root), store_root=store_root)
    if finished.failure is not None:
        click.echo(f"laptime exec: {command[0]}: {finished.failure}", err=True)
    exit_like(finished)
