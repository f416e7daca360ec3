"""JSON Lines export: one JSON object per line, UTF-8, LF-terminated.

Values keep their types (numbers stay numbers, a missing value is ``null``), and no
text is altered: formula neutralisation is a CSV concern only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO


def write_jsonl(stream: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write each row as one JSON object (keys in ``columns`` order); returns the count."""
    n = 0
    for row in rows:
        stream.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n")
        n += 1
    return n
