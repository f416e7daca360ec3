"""``laptime import``: events from the files agent runners already write."""

from __future__ import annotations

from pathlib import Path

import click

from laptime.cli._common import UsageProblem, echo_json, json_option, store_of

_FORMAT_NAMES = (
    "auto",
    "runr",
    "aidf",
    "choragen",
    "choragen-git",
    "pcc",
    "langgraph-logs",
    "claude-code",
    "codex",
    "otlp",
)


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(_FORMAT_NAMES))
# readable=False: an unreadable file is the import's warning and exit 1 (docs), not a usage error
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, readable=False))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no per-record warnings; the summary only.")
@click.option(
    "--store-text",
    is_flag=True,
    help="Also store prompt and completion text where a format has it (run names from prompts). Off by default.",
)
@json_option
@click.pass_context
def import_(  # noqa: PLR0917 - click passes each option positionally
    ctx: click.Context, fmt: str, paths: tuple[Path, ...], quiet: bool, store_text: bool, as_json: bool
) -> None:
    """Import runs from the files an agent runner already wrote. Importing the same
    files again adds nothing; a file that grew adds only its new part.

    FORMAT is one of: runr, aidf, choragen, choragen-git, pcc, langgraph-logs,
    claude-code, codex, otlp, or auto (detected per path). Without PATH, formats that
    have a default location (claude-code, codex) read it.

    Exit code: 0 when anything was imported or everything was already there, 1 when
    nothing could be imported, 2 for a usage error.

    \b
    Examples:
      laptime import runr ./runs
      laptime import claude-code                 (~/.claude/projects, $CLAUDE_CONFIG_DIR)
      laptime import auto .ai/reports .choragen/metrics/events.jsonl
    """
    from laptime.importers import UnknownFormatError, get_importer
    from laptime.importers.base import MAX_WARNINGS_SHOWN, ImportResult, detect_format, run_import, special_kind

    store = store_of(ctx)
    groups: dict[str, list[Path]] = {}
    if fmt == "auto":
        if not paths:
            raise UsageProblem("import auto needs at least one PATH to look at")
        for path in paths:
            if not path.exists():
                raise UsageProblem(f"{path}: no such file or folder")
            kind = special_kind(path)
            if kind is not None:  # detecting would open it, and a FIFO blocks the open
                click.echo(f"warning: {path}: {kind}, not a regular file; skipped", err=True)
                continue
            found = detect_format(path)
            if found is None:
                raise UsageProblem(f"{path}: not a format laptime can import; name the format instead of auto")
            groups.setdefault(found, []).append(path)
    else:
        groups[fmt] = list(paths)

    if fmt == "auto" and not groups:
        ctx.exit(1)  # every path was a special file, each already warned about
    results: list[ImportResult] = []
    for name, group in groups.items():
        try:
            importer = get_importer(name)
        except (UnknownFormatError, ImportError) as exc:
            raise UsageProblem(f"format {name}: {exc}") from None
        targets = group or importer.default_paths()
        if not targets:
            raise UsageProblem(f"import {name} needs at least one PATH")
        result = run_import(store, importer, targets, quiet=quiet, store_text=store_text)
        results.append(result)

    if as_json:
        import msgspec

        from laptime.analysis.results import Imports, ImportSummary

        echo_json(Imports(imports=[msgspec.convert(r.as_dict(), ImportSummary) for r in results]))
    else:
        for result in results:
            if not quiet:
                for problem in result.problems[:MAX_WARNINGS_SHOWN]:
                    click.echo(f"warning: {problem}", err=True)
                if len(result.problems) > MAX_WARNINGS_SHOWN:
                    click.echo(
                        f"warning: ... and {len(result.problems) - MAX_WARNINGS_SHOWN} more (--json lists them all)",
                        err=True,
                    )
            click.echo(
                f"{result.format}: {result.events_new} new events in {len(result.runs)} runs from "
                f"{result.files_read} files read ({result.files_unchanged} unchanged); "
                f"{result.events_already_stored} already stored; {result.skipped_records} records skipped"
            )
    ctx.exit(max(r.exit_code for r in results))
