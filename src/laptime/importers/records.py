"""Parsing one source record: typed field access with errors that name the field.

The importers of runr, aidf, pcc and langgraph-logs take their fields through these
helpers, so a bad record is reported the same way everywhere: a RecordError whose
message names the field and what was wrong with it. Choragen and OTLP raise the same
RecordError from field readers of their own (their comments say why).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

MAX_INT = 2**53  # larger counts are not credible, and SQLite and JSON readers lose precision
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecordError(ValueError):
    """A source record that cannot become events; the message names the field and why.

    ``key`` is the field at fault and ``byte`` the position of a JSON syntax error, when
    known: importers of whole documents turn them into a line number.
    """

    def __init__(self, message: str, *, key: str | None = None, byte: int | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.key = key
        self.byte = byte
        self.value = value

    def line_in(self, data: bytes) -> int:
        """The 1-based line of ``data`` this error points at (1 when unknown)."""
        if self.byte is not None:
            return data.count(b"\n", 0, max(0, self.byte)) + 1
        if self.key is not None:
            key = re.escape(msgspec.json.encode(self.key))
            found = None
            if self.value is not None:
                try:
                    value = re.escape(msgspec.json.encode(self.value))
                except (TypeError, ValueError, OverflowError):
                    value = b""
                if value:
                    found = re.search(key + rb"\s*:\s*" + value, data)
            found = found or re.search(key + rb"\s*:", data)
            if found:
                return data.count(b"\n", 0, found.start()) + 1
        return 1


_BYTE_RE = re.compile(r"\(byte (\d+)\)")

#: JSON nested deeper than this is refused unparsed. msgspec (and any recursive reader)
#: raises RecursionError near Python's recursion limit (1000 frames, part of them
#: already in use), and no runner writes records anywhere near this deep.
MAX_JSON_DEPTH = 256
_TOKEN_RE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep_at(data: bytes | str) -> int | None:
    """The byte offset where ``data`` first nests JSON more than MAX_JSON_DEPTH deep
    (brackets inside strings do not count), or None. Cheap for ordinary records: text
    with at most MAX_JSON_DEPTH opening brackets in all is not scanned."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for token in _TOKEN_RE.finditer(raw):
        char = raw[token.start()]
        if char in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return token.start()
        elif char in b"]}":
            depth -= 1
    return None


def too_deep(data: bytes | str) -> bool:
    """Whether ``data`` nests JSON more than MAX_JSON_DEPTH deep."""
    return too_deep_at(data) is not None


TOO_DEEP = f"JSON nested more than {MAX_JSON_DEPTH} levels deep; skipped unparsed"


def decode_json(data: bytes | str) -> Any:
    """Parse JSON text, or raise RecordError (never anything else)."""
    deep = too_deep_at(data)
    if deep is not None:
        raise RecordError(f"not valid JSON: {TOO_DEEP}", byte=deep)
    try:
        return msgspec.json.decode(data)
    except (msgspec.MsgspecError, ValueError) as exc:
        text = str(exc)
        found = _BYTE_RE.search(text)
        size = len(data)
        byte = int(found.group(1)) if found else (size if "truncated" in text else None)
        raise RecordError(f"not valid JSON: {text}", byte=byte) from None
    except RecursionError:
        raise RecordError("not valid JSON: nested too deeply") from None


def as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(f"{what}: expected a JSON object, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:  # noqa: PLR0911 - one return per JSON type
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def get_str(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if not isinstance(value, str):
        raise RecordError(f"`{key}`: expected a string, got {type_name(value)}", key=key, value=value)
    return value


def get_int(data: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"`{key}`: expected an integer, got {type_name(value)}", key=key, value=value)
    if not -MAX_INT <= value <= MAX_INT:
        raise RecordError(f"`{key}`: {_shown(value)} is out of range", key=key, value=value)
    return value


def get_count(data: dict[str, Any], key: str) -> int:
    """A non-negative integer count; 0 when absent."""
    value = get_int(data, key)
    if value is None:
        return 0
    if value < 0:
        raise RecordError(f"`{key}`: a count cannot be negative ({value})", key=key, value=value)
    return value


def get_num(data: dict[str, Any], key: str, *, required: bool = False) -> float | None:
    """A finite, non-negative number (durations, costs)."""
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"`{key}`: expected a number, got {type_name(value)}", key=key, value=value)
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        # checked before float(), which raises OverflowError past about 1.8e308
        raise RecordError(f"`{key}`: {_shown(value)} is out of range", key=key, value=value)
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_INT:
        raise RecordError(f"`{key}`: {value} is out of range", key=key, value=value)
    if number < 0:
        raise RecordError(f"`{key}`: cannot be negative ({value})", key=key, value=value)
    return number


def get_bool(data: dict[str, Any], key: str, *, required: bool = False) -> bool | None:
    value = data.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing field `{key}`", key=key)
        return None
    if not isinstance(value, bool):
        raise RecordError(f"`{key}`: expected true or false, got {type_name(value)}", key=key, value=value)
    return value


def get_list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"`{key}`: expected an array, got {type_name(value)}", key=key, value=value)
    return value


def get_obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    return as_object(value, f"`{key}`")


def parse_ts_ns(value: Any, key: str) -> int:
    """Epoch nanoseconds for an ISO 8601 timestamp; one without an offset is taken as UTC."""
    if value is None:
        raise RecordError(f"missing field `{key}`", key=key)
    if not isinstance(value, str):
        raise RecordError(f"`{key}`: expected an ISO 8601 timestamp, got {type_name(value)}", key=key, value=value)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - _EPOCH
    except (ValueError, OverflowError):
        raise RecordError(f"`{key}`: {value[:60]!r} is not an ISO 8601 timestamp", key=key, value=value) from None
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if us < 0:
        raise RecordError(f"`{key}`: {value[:60]!r} is before 1970", key=key, value=value)
    return us * 1000


def _shown(value: int) -> str:
    """A huge integer for a message: its digit count, not its thousands of digits."""
    if value.bit_length() < 200:
        return str(value)
    return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"


def short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters, for span names and messages."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def split_exactly(total: float, weights: list[float]) -> list[float]:
    """``total`` shared out in proportion to ``weights``, so that the parts add up to
    ``total`` exactly, in any order and grouping.

    Floats cannot do this by plain proportion (0.0915 + 0.0585 is not 0.15). Here every
    part is an integer multiple of the unit of ``total``'s last bit (a power of two), and
    so is every partial sum: each is exact, and so is the final sum. The integer shares
    follow the largest-remainder rule; equal weights when they are all zero.
    """
    from fractions import Fraction

    n = len(weights)
    if n == 0:
        return []
    numerator, denominator = total.as_integer_ratio()  # the denominator is a power of two
    exact = [Fraction(w) for w in weights]
    whole = sum(exact, Fraction(0))
    if whole <= 0:
        exact, whole = [Fraction(1)] * n, Fraction(n)
    quotas = [numerator * w / whole for w in exact]
    parts = [int(q) for q in quotas]  # floor: the quotas are not negative
    by_remainder = sorted(range(n), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in by_remainder[: numerator - sum(parts)]:
        parts[i] += 1
    return [part / denominator for part in parts]
