"""The ``laptime`` command: a thin click layer over the library.

Commands live in their own modules and are imported only when used, so that
``laptime --help`` stays fast. The library never imports this package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from laptime.cli._common import Obj

# command name -> (module, attribute). Order is the order of `laptime --help`.
# A command whose module is not installed is left out.
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("laptime.cli.demo", "demo"),
    "report": ("laptime.cli.report", "report"),
    "compare": ("laptime.cli.compare", "compare"),
    "status": ("laptime.cli.status", "status"),
    "kpi": ("laptime.cli.export", "kpi"),
    "pricing": ("laptime.cli.pricing", "pricing"),
    "import": ("laptime.cli.importing", "import_"),
    "doctor": ("laptime.cli.store", "doctor"),
    "refresh": ("laptime.cli.store", "refresh"),
    "compact": ("laptime.cli.retention", "compact"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, from a name -> module table."""

    def __init__(
        self, *args: object, lazy_commands: dict[str, tuple[str, str]] | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = _COMMANDS if lazy_commands is None else lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy_commands]
        return [*(n for n, (m, _) in self.lazy_commands.items() if _module_exists(m)), *eager]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None or not _module_exists(target[0]):
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


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
