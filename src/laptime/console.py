"""The ``laptime`` console script.

``laptime usage`` run again with nothing changed prints the answer it kept
(``laptime.usage_cache``). Loading click and the CLI costs more than that whole answer
(about 15 of 40 ms), so a command line of that form is read here, without click: when it
is one the CLI reads the same way and its answer is kept and current, the answer is
printed as the CLI would print it. Anything else, or any doubt, goes to the CLI
(``laptime.cli.main``), which also keeps the answers this reads.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# `laptime usage`'s options that take a value, as the CLI spells them (laptime.cli.usage):
# option -> the parameter it sets. `--claude-code` and `--codex` may be repeated.
_VALUED = {
    "--by": "by",
    "--since": "since",
    "--until": "until",
    "--project": "project",
    "--timezone": "timezone",
    "-z": "timezone",
    "--claude-code": "--claude-code",
    "--codex": "--codex",
}
_FLAGS = {"--no-cost": "no_cost", "--json": "as_json", "-q": "quiet", "--quiet": "quiet"}


@dataclass
class UsageRequest:
    """A ``laptime [--home H] [--no-color] usage OPTIONS`` command line, read as the CLI reads it."""

    home: str | None = None
    no_color: bool = False
    by: str = "day"
    since: str | None = None
    until: str | None = None
    project: str | None = None
    timezone: str | None = None
    no_cost: bool = False
    as_json: bool = False
    quiet: bool = False
    given: dict[str, list[Path]] = field(default_factory=lambda: {"--claude-code": [], "--codex": []})


def read_usage_request(argv: list[str]) -> UsageRequest | None:
    """The request, or None when ``argv`` is not plainly one (the CLI then reads it)."""
    request = UsageRequest()
    at = 0
    while at < len(argv) and argv[at] != "usage":  # the group's options
        arg = argv[at]
        if arg == "--no-color":
            request.no_color, at = True, at + 1
        elif arg == "--home" and at + 1 < len(argv) and _plain(argv[at + 1]):
            request.home, at = argv[at + 1], at + 2
        elif arg.startswith("--home=") and _plain(arg.removeprefix("--home=")):
            request.home, at = arg.removeprefix("--home="), at + 1
        else:
            return None
    if at == len(argv):
        return None
    at += 1
    while at < len(argv):
        arg = argv[at]
        name, equals, value = arg.partition("=")
        if arg in _FLAGS:
            setattr(request, _FLAGS[arg], True)
            at += 1
            continue
        if equals and name.startswith("--") and name in _VALUED:
            at += 1
        elif not equals and arg in _VALUED and at + 1 < len(argv):
            name, value = arg, argv[at + 1]
            at += 2
        else:
            return None  # --help, an unknown option, a positional argument, "--", -zUTC...
        if not _plain(value):
            return None
        target = _VALUED[name]
        if target in request.given:
            request.given[target].append(Path(value))
        else:
            setattr(request, target, value)
    return request


def _plain(value: str) -> bool:
    """A value the CLI surely reads as this option's (not empty, not an option)."""
    return bool(value) and not value.startswith("-")


def kept_answer(request: UsageRequest) -> str | None:
    """The ``--json`` text the CLI kept for this request, if nothing it depends on changed."""
    from laptime import usage_cache
    from laptime.store import StoreError, find_store

    home = request.home if request.home is not None else os.environ.get("LAPTIME_HOME") or None
    try:
        store = find_store(home)
    except (StoreError, OSError):
        return None  # the CLI says why
    key = usage_cache.cache_key(
        store,
        request.given,
        by=request.by,
        since=request.since,
        until=request.until,
        project=request.project,
        timezone=request.timezone,
        no_cost=request.no_cost,
    )
    return None if key is None else usage_cache.cached(store, key)


def _print_kept(request: UsageRequest, text: str) -> bool:
    """Print the answer as the CLI does; False (nothing printed) when only the CLI can."""
    stdout = sys.stdout
    if stdout is None or (stdout.encoding or "").lower().replace("-", "").replace("_", "") != "utf8":
        return False  # click re-encodes for other encodings
    if request.as_json:
        lines: list[str] | None = [text]  # (as answer_lines gives it, without importing the table's view)
    else:
        from laptime.report.style import terminal_style
        from laptime.report.usage_view import answer_lines

        lines = answer_lines(text, terminal_style(no_color=request.no_color), as_json=False)
    if lines is None:
        return False  # an answer kept in another shape: the CLI computes it anew
    try:
        stdout.write("".join(f"{line}\n" for line in lines))
        stdout.flush()
    except BrokenPipeError:
        # The reader went away (`laptime usage | head`): stop quietly, as the CLI does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    return True


def main() -> None:
    """Console entry point: a kept ``laptime usage`` answer, else the CLI."""
    request = read_usage_request(sys.argv[1:])
    if request is not None:
        text = kept_answer(request)
        if text is not None and _print_kept(request, text):
            return
    from laptime.cli import main as cli_main

    cli_main()
