"""CSV export: RFC 4180, safe to open in a spreadsheet.

Written with the standard ``csv`` module: fields are separated by commas, records end
with CRLF, and a field holding a comma, a double quote, CR or LF is enclosed in double
quotes, its quotes doubled (RFC 4180, section 2). ``None`` is written as an empty field.

Formula injection (CWE-1236). A spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula, and some also act on a leading tab or carriage return. So
every *text* cell whose first non-blank character is one of ``= + - @ \\t \\r`` is
written with a single quote ``'`` in front (OWASP's advice): the spreadsheet shows it as
text, and a reader that knows this can strip the quote. Two evasions are covered too:

- leading blanks: spreadsheets (and users pasting) skip leading spaces, so ``"  =1+1"``
  or ``"\\u00a0=1+1"`` is a formula as well. Any Unicode whitespace counts as a blank,
  and so do the invisible zero-width characters (U+200B-U+200D, U+2060, U+FEFF);
- look-alike triggers: the full-width forms of ``= + - @`` (U+FF1D, U+FF0B, U+FF0D,
  U+FF20), which a spreadsheet used with an East Asian input method may fold to ASCII,
  and for the same reason the small forms (U+FE62, U+FE63, U+FE66, U+FE6B) and U+2212
  MINUS SIGN. Quoting a text cell that merely looks odd costs nothing; missing one
  that runs costs a formula.

Numbers are written as numbers and left alone (a negative number is not a formula, and
``-1.5`` must stay summable); only text that came from the recorded data (task names,
models, ...) can be neutralised. Every number laptime exports is an ``int`` or a
``float``, never a numeric-looking string.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_TRIGGERS = frozenset(
    "=+-@\t\r"  # what OWASP lists
    "\uff1d\uff0b\uff0d\uff20"  # full-width = + - @
    "\ufe66\ufe62\ufe63\ufe6b"  # small-form = + - @
    "\u2212"  # MINUS SIGN
)
# Characters that are not whitespace for str.isspace() but are invisible, so a cell
# that starts with them looks (and may be read) as if it started with what follows.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _starts_with_trigger(text: str) -> bool:
    """Whether the first character that is not a blank is a formula trigger.

    Tab and CR are triggers as well as whitespace, so they are checked first."""
    for char in text:
        if char in FORMULA_TRIGGERS:
            return True
        if not (char.isspace() or char in _INVISIBLE):
            return False
    return False


def neutralize(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and _starts_with_trigger(value):
        return "'" + value
    return value


def cell(value: Any) -> Any:
    """What the csv writer gets for one value: empty for None, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralize(value)


def write_csv(stream: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a header and the rows (in ``columns`` order); returns the number of rows.

    Open ``stream`` with ``newline=""``, as the ``csv`` module requires.
    """
    writer = csv.writer(stream, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
        n += 1
    return n
