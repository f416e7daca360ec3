"""How text views look on this output: colour or not, and how wide a line may be.

One decision for every command, so that they all behave alike: colour only when
stdout is a terminal, ``NO_COLOR`` is unset or empty (https://no-color.org) and
``--no-color`` was not given; lines fit the terminal's width on a terminal (``COLUMNS``
overrides it, as :func:`shutil.get_terminal_size` reads it) and are never cut when
the output is piped, so scripts and files get every character.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from typing import Final

ELLIPSIS: Final = "…"

# The roles a view may colour, and their ANSI codes (SGR parameters).
ROLES: Final[dict[str, str]] = {
    "good": "32",  # green: completed, faster, a trend for the better
    "bad": "31;1",  # bold red: failed, crashed, slower, a trend for the worse
    "warn": "33",  # yellow: blocked, stopped
    "info": "36",  # cyan: running
}

# An outcome word's role (outcomes from laptime.events.OUTCOMES, and the scoreboard's).
OUTCOME_ROLES: Final[dict[str, str]] = {
    "completed": "good",
    "failed": "bad",
    "crashed": "bad",
    "blocked": "warn",
    "stopped": "warn",
    "running": "info",
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RESET: Final = "\x1b[0m"


def visible_len(text: str) -> int:
    """The length of ``text`` as shown: colour codes take no room."""
    return len(_ANSI.sub("", text))


def ellipsize(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` shown characters, the last one ``…`` when it was cut.

    Colour codes are kept (they take no room) and closed when the cut drops a reset.
    """
    if width is None or visible_len(text) <= width:
        return text
    if width <= 0:
        return ""
    out: list[str] = []
    shown = 0
    coloured = False
    pos = 0
    while pos < len(text) and shown < width - 1:
        match = _ANSI.match(text, pos)
        if match:
            out.append(match.group())
            coloured = match.group() != _RESET
            pos = match.end()
            continue
        out.append(text[pos])
        shown += 1
        pos += 1
    out.append(ELLIPSIS)
    if coloured:
        out.append(_RESET)
    return "".join(out)


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal: the one check tests patch to simulate one."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


@dataclass(frozen=True)
class Style:
    """Colour on or off, and the widest a line may be (None: no limit)."""

    color: bool = False
    width: int | None = None

    def paint(self, text: str, role: str | None) -> str:
        """``text`` in the colour of ``role`` (one of :data:`ROLES`), or as is."""
        if not self.color or not role or not text:
            return text
        return f"\x1b[{ROLES[role]}m{text}{_RESET}"

    def outcome(self, word: str) -> str:
        """An outcome word in its colour: completed green, failed red, blocked yellow..."""
        return self.paint(word, OUTCOME_ROLES.get(word))

    def fit(self, line: str) -> str:
        """The line cut with ``…`` to the width, when there is one."""
        return ellipsize(line, self.width)

    def fit_all(self, lines: list[str]) -> list[str]:
        return [self.fit(line) for line in lines]


PLAIN: Final = Style()


def terminal_style(*, no_color: bool = False) -> Style:
    """The style of stdout: see the module's docstring."""
    tty = stdout_is_terminal()
    color = tty and not no_color and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size().columns if tty else None
    return Style(color=color, width=width)
