"""``laptime usage`` and ``laptime report usage``: tokens and cost per day, week, month,
session or model.

``report usage`` reads the store only. ``usage`` first imports, in the same process,
what is new in the Claude Code and Codex logs (their default locations, or the paths
given), then prints the same report: one command, as ccusage is.

Both share their options (``usage_options``) and the report itself (``_report_json``),
so they parse, filter and print alike.

The warm path (nothing changed since the last ``laptime usage``) must start in a
fraction of ccusage's time (DESIGN.md, "Performance budgets"), less than importing the
index, the analysis and the price code takes. So ``laptime usage`` keeps its last
answers (``<store>/usage-cache/``, one small file per set of options) with a fingerprint
of everything the answer depends on:

- the source trees: the stat (size, mtime, inode) of every folder ``discover`` walks and
  of every ``*.jsonl`` in them; a folder's mtime changes whenever a file or folder is
  added, removed or renamed in it, so new files are seen without walking again; the
  default locations that did not exist are recorded as missing;
- the store: its log folder and every segment (anything the SDK or another import
  appends), ``config.toml`` and the ``pyproject.toml`` files config discovery looks at;
- the code and the prices: every module file of laptime and the installed genai-prices;
- the local time zone (``TZ``, ``/etc/localtime``) and the options themselves (ages
  such as ``--since 7d`` move with the clock, so they are never cached).

When every stat matches, the answer is printed without importing anything else; any
difference, even a spurious one, costs only the normal path. The sources are stat'ed
before they are imported, so a file that grows during the import is read next time.
The answers and their stamps are ``laptime.usage_cache``'s; ``laptime.console`` (the
console script) prints a kept answer before it loads click and this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from laptime import usage_cache
from laptime.cli._common import (
    UsageProblem,
    config_of,
    json_option,
    json_text,
    open_index,
    parse_when,
    store_of,
    style_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from laptime.importers.base import ImportResult
    from laptime.store import Store

F = TypeVar("F", bound="Callable[..., Any]")

_GROUPS = ("day", "week", "month", "session", "model", "branch")
# The sources `laptime usage` reads: option -> importer name. Order: the order they are read.
_SOURCES = (("--claude-code", "claude-code"), ("--codex", "codex"))


def usage_options(func: F) -> F:
    """The grouping, the filters and ``--json`` that both usage commands take."""
    decorators = (
        click.option(
            "--by", "by", type=click.Choice(_GROUPS), default="day", show_default=True, help="How to group calls."
        ),
        click.option(
            "--since", help="Calls at or after: YYYY-MM-DD (a day in --timezone), ISO datetime, or an age like 7d."
        ),
        click.option(
            "--until", help="Calls up to: YYYY-MM-DD (that whole day, in --timezone), ISO datetime, or an age."
        ),
        click.option("--project", help="Only runs whose project, cwd or repo contains this text."),
        click.option(
            "--timezone",
            "-z",
            "timezone",
            help="Time zone of days, weeks and months: an IANA name, UTC, or local (the default).",
        ),
        click.option("--no-cost", is_flag=True, help="Leave cost out (no price lookups)."),
        json_option,
    )
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


@click.command("usage")
@usage_options
@click.pass_context
def usage(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    timezone: str | None,
    no_cost: bool,
    as_json: bool,
) -> None:
    """Token usage and cost of every recorded or imported LLM call, grouped by day,
    week (ISO, from Monday), month, session (run), model or branch: the views ccusage
    users know, for every runner. A run's branch is its CI or git branch as recorded
    (vcs.branch), else the branch an importer read (Claude Code's git_branch).

    Tokens are in Anthropic's meaning: input excludes cache reads and writes, so
    total = input + output + cache write + cache read. Cost is computed from the price
    table (a cost the source reported wins); calls of unknown models are listed as
    unpriced, never counted as $0. This reads the store only: `laptime usage` also
    imports what is new in the Claude Code and Codex logs first.

    \b
    Example:
      laptime import claude-code
      laptime report usage --by day --since 2025-10-01 --timezone UTC
      laptime report usage --by model --project webapp --json
      laptime report usage --by branch --since 30d
    """
    text = _report_json(
        ctx, store_of(ctx), by=by, since=since, until=until, project=project, timezone=timezone, no_cost=no_cost
    )
    _emit(ctx, text, as_json=as_json)


@click.command("usage")
@click.option(
    "--claude-code",
    "claude_code",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Read this Claude Code config folder, projects folder or file instead of the default locations. Repeatable.",
)
@click.option(
    "--codex",
    "codex",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="PATH",
    help="Read this Codex home ($CODEX_HOME), sessions folder or file instead of the default locations. Repeatable.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no warnings about skipped records.")
@usage_options
@click.pass_context
def usage_now(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    claude_code: tuple[Path, ...],
    codex: tuple[Path, ...],
    quiet: bool,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    timezone: str | None,
    no_cost: bool,
    as_json: bool,
) -> None:
    """Import what is new in the Claude Code and Codex logs, then print their token
    usage and cost by day, week, month, session, model or branch, in one command (like ccusage).

    Without --claude-code or --codex, the default locations are read: Claude Code's
    $CLAUDE_CONFIG_DIR (several folders, comma-separated), else ~/.config/claude and
    ~/.claude; Codex's $CODEX_HOME, else ~/.codex. A default location that does not
    exist is skipped. Given any --claude-code or --codex PATH, only the paths given are
    read, and a PATH that does not exist is a usage error.

    Only new bytes are read: a log file that did not change since the last import is not
    opened. The report is `laptime report usage` over the whole store (runs recorded
    with the SDK or imported from other runners included), with the same options.
    Records that cannot be read are skipped with a warning on stderr. When nothing the
    answer depends on changed (the logs, the store, the config, the prices), the answer
    kept in .laptime/usage-cache/ is printed without reading anything else.

    \b
    Examples:
      laptime usage                              by day, in the local time zone
      laptime usage --by model --since 7d --json
      laptime usage --claude-code ~/work/.claude --by session -z UTC
    """
    store = store_of(ctx)
    given = {"--claude-code": claude_code, "--codex": codex}
    key = usage_cache.cache_key(
        store, given, by=by, since=since, until=until, project=project, timezone=timezone, no_cost=no_cost
    )
    if key is not None:
        from laptime.report.usage_view import answer_lines

        cached = usage_cache.cached(store, key)
        lines = None if cached is None else answer_lines(cached, style_of(ctx), as_json=as_json)
        if lines is not None:
            for line in lines:
                click.echo(line)
            return
    sources, absent = _sources(given)
    # Stat'ed before reading: what grows during the import is seen as a change next time.
    stamp = usage_cache.source_stamp(sources, absent)
    imported = False
    for name, paths in sources:
        result = _import_new(store, name, paths, quiet=quiet)
        if result is None:
            continue
        imported = True
        if not quiet:
            _warn(result)
    if not imported and not store.exists():
        # Nothing to import and nothing stored: say where we looked rather than create a
        # store in the working directory only to report that it is empty.
        from laptime.errors import LaptimeError

        places = ", ".join(str(p) for p in [*absent, *(p for _, paths in sources for p in paths)])
        msg = (
            f"no Claude Code or Codex logs found in {places} and no laptime store at {store.root}; "
            "give --claude-code PATH or --codex PATH, or point --home at a store"
        )
        raise LaptimeError(msg)
    stamp += usage_cache.store_stamp(store, no_cost=no_cost)
    text = _report_json(
        ctx, store, by=by, since=since, until=until, project=project, timezone=timezone, no_cost=no_cost
    )
    if key is not None:
        usage_cache.save(store, key, stamp, text)
    _emit(ctx, text, as_json=as_json)


def _sources(given: dict[str, tuple[Path, ...]]) -> tuple[list[tuple[str, list[Path]]], list[Path]]:
    """(importer name, paths) to read, and the default locations that do not exist: the
    paths given, each checked to exist (a usage error otherwise), or else the default
    locations that exist."""
    if any(given.values()):
        out = []
        for option, name in _SOURCES:
            for path in given[option]:
                if not path.exists():
                    raise UsageProblem(f"{option} {path}: no such file or folder")
            if given[option]:
                out.append((name, list(given[option])))
        return out, []
    from laptime.importers import get_importer

    found = []
    absent: list[Path] = []
    for _, name in _SOURCES:
        paths: list[Path] = []
        for path in get_importer(name).default_paths():
            (paths if path.exists() else absent).append(path)
        if paths:
            found.append((name, paths))
    return found, absent


def _import_new(store: Store, name: str, paths: list[Path], *, quiet: bool) -> ImportResult | None:
    """Import ``paths`` with the importer ``name``; None when no file changed since the
    last import (then nothing is opened but the import cache, read-only)."""
    from laptime.importers import get_importer
    from laptime.importers.base import has_changes, run_import

    importer = get_importer(name)
    if not has_changes(store, importer, paths):
        return None
    return run_import(store, importer, paths, quiet=quiet)


def _warn(result: ImportResult) -> None:
    from laptime.importers.base import MAX_WARNINGS_SHOWN

    for problem in result.problems[:MAX_WARNINGS_SHOWN]:
        click.echo(f"warning: {problem}", err=True)
    if len(result.problems) > MAX_WARNINGS_SHOWN:
        more = len(result.problems) - MAX_WARNINGS_SHOWN
        click.echo(f"warning: ... and {more} more (`laptime import {result.format} --json` lists them)", err=True)


def _report_json(
    ctx: click.Context,
    store: Store,
    *,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    timezone: str | None,
    no_cost: bool,
) -> str:
    """The usage report of the store, as ``--json`` prints it."""
    import msgspec

    from laptime.analysis.usage import UsageQueryError, resolve_zone, usage_report

    try:
        zone = resolve_zone(timezone)
    except UsageQueryError as exc:
        raise UsageProblem(f"--timezone: {exc}") from None
    since_us = _when(since, "--since", zone, end=False)
    until_us = _when(until, "--until", zone, end=True)
    prices = None
    if not no_cost:
        from laptime.pricing import PriceBook

        prices = PriceBook.from_config(config_of(store))
    with open_index(ctx) as index:
        report = usage_report(
            index, by=by, since_us=since_us, until_us=until_us, project=project, zone=zone, prices=prices
        )
    return json_text(msgspec.to_builtins(report))


def _emit(ctx: click.Context, text: str, *, as_json: bool) -> None:
    """The report as JSON, or as the table (rendered from that same JSON)."""
    if as_json:
        click.echo(text)
        return
    from laptime.report.usage_view import render

    for line in render(json.loads(text), style_of(ctx)):
        click.echo(line)


def _when(value: str | None, option: str, zone: Any, *, end: bool) -> int | None:
    from laptime.analysis.usage import UsageQueryError, day_start_us

    if value is None:
        return None
    try:
        day = day_start_us(value, zone, next_day=end)
    except UsageQueryError as exc:
        raise UsageProblem(f"{option}: {exc}") from None
    if day is not None:
        return day
    return parse_when(value, option=option)
