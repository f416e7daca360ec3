"""The ``laptime`` command: a thin click layer over the library.

Commands live in their own modules and are imported only when used, so that
``laptime --help`` stays fast. The library never imports this package.
"""

from __future__ import annotations

import importlib
import sys

import click

from laptime.cli._common import Obj

# command name -> (module, attribute). Order is the order of `laptime --help`.
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("laptime.cli.demo", "demo"),
    "report": ("laptime.cli.report", "report"),
    "doctor": ("laptime.cli.store", "doctor"),
    "refresh": ("laptime.cli.store", "refresh"),
}


def register(name: str, module: str, attribute: str) -> None:
    """Add a command; feature modules call this from their own registration list."""
    _COMMANDS[name] = (module, attribute)


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        del ctx
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        del ctx
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    envvar="LAPTIME_HOME",
    help="The store folder. Default: the nearest .laptime/ above the working directory.",
)
@click.version_option(package_name="laptime", prog_name="laptime")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """laptime: where your AI coding-agent runs spend time and money.

    \b
    Examples:
      laptime demo                      record a simulated multi-agent run and print its report
      laptime report                    the latest run's KPI scoreboard
      laptime report list --since 7d    recent runs
      laptime report show 01a2          everything about one run (id prefix is enough)
      laptime doctor                    the log's and the index's health
    """
    ctx.obj = Obj(home=home)


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="laptime")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
