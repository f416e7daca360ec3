"""The ``laptime`` command: a thin click layer over the library.

Commands live in their own modules and are imported only when used, so that
``laptime --help`` stays fast. The library never imports this package.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from laptime.cli._common import Obj
from laptime.errors import LaptimeError

DEBUG_ENV = "LAPTIME_DEBUG"
ISSUES_URL = "https://github.com/laptime-dev/laptime/issues"

# command name -> (module, attribute). Order is the order of `laptime --help`.
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("laptime.cli.demo", "demo"),
    "report": ("laptime.cli.report", "report"),
    "usage": ("laptime.cli.usage", "usage_now"),
    "compare": ("laptime.cli.compare", "compare"),
    "estimate": ("laptime.cli.estimate", "estimate"),
    "status": ("laptime.cli.status", "status"),
    "kpi": ("laptime.cli.export", "kpi"),
    "metrics": ("laptime.cli.metrics", "metrics"),
    "pricing": ("laptime.cli.pricing", "pricing"),
    "import": ("laptime.cli.importing", "import_"),
    "exec": ("laptime.cli.exec_command", "exec_"),
    "event": ("laptime.cli.event", "event"),
    "doctor": ("laptime.cli.store", "doctor"),
    "refresh": ("laptime.cli.store", "refresh"),
    "compact": ("laptime.cli.retention", "compact"),
    "webhook": ("laptime.cli.webhook", "webhook"),
    "export": ("laptime.cli.export_otlp", "export"),
    "serve": ("laptime.cli.serve", "serve"),
}

# The first paragraph of each command's help, so that `laptime --help` can list the
# commands without importing them all (that import would double its time). A test
# keeps these equal to the commands' own help.
_SUMMARIES: dict[str, str] = {
    "demo": (
        "Record a realistic multi-agent run through the SDK (a director, three parallel workers with one"
        " slow straggler, a strategist; calls on three models; a failing then passing verification; a "
        "verified checkpoint) on a simulated clock, and print its report. Each call records one more "
        "run."
    ),
    "report": ("Reports on recorded runs."),
    "usage": (
        "Import what is new in the Claude Code and Codex logs, then print their token usage and cost by "
        "day, week, month, session, model or branch, in one command (like ccusage)."
    ),
    "compare": (
        "Two runs side by side: per phase the duration, attempts, delta and % change; LLM calls, tokens "
        "and cost per model; verification and outcome; and one line saying where the time went. Deltas "
        "are B minus A. A and B are run ids or unique prefixes."
    ),
    "estimate": (
        "p10, p50 and p90 of a new run's duration and cost, drawn from similar completed runs: the same task "
        "and runner, else the same task, else the same runner (the first with at least 9 runs), the last 20 of "
        "them. p10 and p90 are widened for the number of runs so that 80% of new runs fall between them. With "
        "fewer than 9 similar runs it says so and gives no numbers (exit 0)."
    ),
    "status": (
        "The store's health: where it is, its segments, events, runs, bad lines, and whether the index "
        "is current (brought up to date if not)."
    ),
    "kpi": (
        "One run's KPIs as JSON (the latest run, or RUN: an id or a unique prefix). The JSON is the same"
        " as `laptime report RUN --json`."
    ),
    "metrics": (
        "Print the runs' figures in the Prometheus text format: runs by outcome, run and phase duration "
        "histograms, tokens by model and type, and cost by model."
    ),
    "pricing": (
        "Every model seen in the log, with the price (USD per million tokens) in effect at its last "
        "call, and where that price came from: config:<pattern> (your config), genai-prices (the price "
        "library), or unpriced (cost shown as null, never $0). Calls whose source reported a cost are "
        'counted in the "reported" column; that reported cost wins over any price.'
    ),
    "import": (
        "Import runs from the files an agent runner already wrote. Importing the same files again adds "
        "nothing; a file that grew adds only its new part."
    ),
    "exec": (
        "Run a command as a span of the current run ($LAPTIME_RUN_ID or --run), or of a new run that ends "
        "with the command (completed on exit status 0, stopped when SIGINT, SIGTERM or SIGHUP killed it, "
        "else failed)."
    ),
    "event": (
        "Append one event (a milestone, checkpoint, metric, file change, validation, error or scope "
        "violation) to a run, from a shell. The run is --run ID, else $LAPTIME_RUN_ID (set inside `laptime "
        "exec`); the event goes under --parent, else $LAPTIME_SPAN_ID, else the run. Nothing is printed; a "
        "bad argument exits 2 naming it, a failure to write (a read-only store) exits 1."
    ),
    "doctor": (
        "The log's and the index's health: segments, events, bad lines and where they are, and whether "
        "the index is current. Exits 1 when it finds bad lines."
    ),
    "refresh": ("Rebuild the index from the log. The log is the truth; the index is derived."),
    "compact": (
        "Rewrite past day segments smaller: merge each span's open and close events into one line. No "
        "valid line is dropped, so every report is the same afterwards. The two most recent days are left "
        "alone, since writers may still be appending to them."
    ),
    "webhook": "Send run webhooks by hand: one run's report now, or every delivery that failed.",
    "export": "Export runs to other systems.",
    "serve": (
        "Serve the store over HTTP: runs, KPIs, summaries, usage, phase metrics, POST /events and an OTLP/HTTP "
        "receiver (POST /v1/traces). docs/server.md lists the endpoints."
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, from a name -> module table."""

    def __init__(
        self,
        *args: Any,
        lazy_commands: dict[str, tuple[str, str]] | None = None,
        summaries: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = _COMMANDS if lazy_commands is None else lazy_commands
        self.summaries = _SUMMARIES if lazy_commands is None else (summaries or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy_commands]
        return [*self.lazy_commands, *eager]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but from the stored summaries where there is one."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            summary = self.summaries.get(name)
            if summary:
                # a stand-in command, so that click itself shortens the text exactly as it would
                rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class _Failure(click.ClickException):
    """A message for stderr and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        # click declares exit_code a class constant; ours varies per error, so it is set per instance
        vars(self)["exit_code"] = exit_code


class RootGroup(LazyGroup):
    """The ``laptime`` group: the one place where errors become messages and exit codes.

    A ``LaptimeError`` prints ``Error: <its message>`` and exits with its ``exit_code`` (2 for
    a ``UsageError``, else 1). Any other exception is a bug: one line says what failed and
    how to report it, exit 1; ``LAPTIME_DEBUG=1`` shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LaptimeError as exc:
            raise _Failure(str(exc), exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`laptime report list --json | head`): stop quietly, and
            # point stdout at /dev/null so that the interpreter's final flush fails no more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(0) from None
        except OSError as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            # A path the user gave that the system refuses (too long, no permission, not a folder):
            # the message names the path, and the store is left as it was.
            where = f"{exc.filename}: " if exc.filename else ""
            raise _Failure(f"{where}{exc.strerror or exc}", 1) from None
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            where = f" in {ctx.invoked_subcommand}" if ctx.invoked_subcommand else ""
            msg = (
                f"unexpected error{where}: {type(exc).__name__}: {exc}. This is a bug in laptime; "
                f"run again with {DEBUG_ENV}=1 for the traceback and report it at {ISSUES_URL}"
            )
            raise _Failure(msg, 1) from None


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    envvar="LAPTIME_HOME",
    help="The store folder. Default: the nearest .laptime/ above the working directory.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colour in text output (also: NO_COLOR set to anything; never when piped).",
)
@click.version_option(package_name="laptime", prog_name="laptime")
@click.pass_context
def cli(ctx: click.Context, home: str | None, no_color: bool) -> None:
    """laptime: where your AI coding-agent runs spend time and money.

    \b
    Examples:
      laptime demo                      record a simulated multi-agent run and print its report
      laptime report                    the latest run's KPI scoreboard
      laptime report list --since 7d    recent runs
      laptime report show 01a2          everything about one run (id prefix is enough)
      laptime doctor                    the log's and the index's health

    On a terminal, outcomes and changes are coloured and tables fit its width (long
    cells end in …); piped output has no colour and no cut.
    """
    ctx.obj = Obj(home=home, no_color=no_color)


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="laptime")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
