"""CSV export: RFC 4180, safe to open in a spreadsheet.

Written with the standard ``csv`` module: fields are separated by commas, records end
with CRLF, and a field holding a comma, a double quote, CR or LF is enclosed in double
quotes, its quotes doubled (RFC 4180, section 2). ``None`` is written as an empty field.

Formula injection (CWE-1236). A spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` as a formula, and some also act on a leading tab or carriage return. So
every *text* cell that starts with one of ``= + - @ \\t \\r`` is written with a single
quote ``'`` in front (OWASP's advice): the spreadsheet shows it as text, and a reader
that knows this can strip the quote. Numbers are written as numbers and left alone (a
negative number is not a formula); only text that came from the recorded data (task
names, models, ...) can be neutralised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
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
