"""Settings: ``.laptime/config.toml``, or ``[tool.laptime]`` in the nearest pyproject.toml.

Every key is checked when the file is read; an unknown key or a wrong type is an error
that names the file and the key.

Price overrides live in ``[pricing]``; each ``[[pricing.models]]`` entry maps a model
pattern to USD prices per million tokens::

    [[pricing.models]]
    match = "sonnet"              # a case-insensitive substring of the model name, or
    # regex = "^claude-.*"        # a Python regular expression (re.search), not both
    input_per_1m = 3.0            # uncached input tokens (required)
    output_per_1m = 15.0          # output tokens (required)
    cache_read_per_1m = 0.30      # optional; defaults to input_per_1m
    cache_write_per_1m = 3.75     # optional; defaults to input_per_1m
    cache_write_1h_per_1m = 6.0   # optional: cache writes kept for an hour; defaults to cache_write_per_1m
    effective_from = 2026-01-01   # optional; a date (UTC): the price applies from that day on

An error names the entry as ``pricing.models[N]`` (N counts from 0, in file order).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from laptime.errors import UsageError
from laptime.store import Store


class ConfigError(UsageError):
    """The config file is wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    """Resolved settings, with their defaults."""

    crashed_after_minutes: float = 30.0
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    price_rules: tuple[PriceRule, ...] = ()


@dataclass(frozen=True)
class PriceRule:
    """One ``[[pricing.models]]`` entry: USD per million tokens for the models it matches.

    ``input_per_1m`` prices input tokens that were neither read from nor written to the
    cache. ``position`` is the entry's place in the file (from 0).
    """

    pattern: str
    is_regex: bool
    input_per_1m: float
    output_per_1m: float
    cache_read_per_1m: float
    cache_write_per_1m: float
    cache_write_1h_per_1m: float | None = None  # None: as cache_write_per_1m
    effective_from: date | None = None
    position: int = 0

    @property
    def label(self) -> str:
        """How a price from this rule is marked: ``config:<pattern>``."""
        return f"config:{self.pattern}"

    def matches(self, model: str) -> bool:
        if self.is_regex:
            return re.search(self.pattern, model) is not None
        return self.pattern.lower() in model.lower()


_KNOWN_TOP = {"crashed_after_minutes", "pricing"}


def _pyproject_section(store: Store) -> tuple[dict[str, Any], str] | None:
    for folder in (store.root.parent, *store.root.parent.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            data = _read_toml(candidate)
            section = data.get("tool", {}).get("laptime")
            if isinstance(section, dict):
                return section, f"{candidate} [tool.laptime]"
            return None
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None


def load_config(store: Store) -> Config:
    """Read and validate the store's config; defaults when there is none."""
    data: dict[str, Any]
    if store.config_path.is_file():
        data, source = _read_toml(store.config_path), str(store.config_path)
    else:
        found = _pyproject_section(store)
        if found is None:
            return Config()
        data, source = found
    for key in data:
        if key not in _KNOWN_TOP:
            known = ", ".join(sorted(_KNOWN_TOP))
            msg = f"{source}: unknown key {key!r} (known keys: {known})"
            raise ConfigError(msg)
    crashed = data.get("crashed_after_minutes", 30.0)
    if isinstance(crashed, bool) or not isinstance(crashed, int | float) or crashed <= 0:
        msg = f"{source}: crashed_after_minutes must be a positive number of minutes, got {crashed!r}"
        raise ConfigError(msg)
    rules = _price_rules(data.get("pricing"), source)
    return Config(crashed_after_minutes=float(crashed), source=source, raw=data, price_rules=rules)


_PRICE_KEYS = ("input_per_1m", "output_per_1m", "cache_read_per_1m", "cache_write_per_1m", "cache_write_1h_per_1m")
_RULE_KEYS = ("match", "regex", *_PRICE_KEYS, "effective_from")


def _price_rules(section: Any, source: str) -> tuple[PriceRule, ...]:
    """The validated ``[pricing]`` section: every error names the file and the full key."""
    if section is None:
        return ()
    if not isinstance(section, dict):
        msg = f"{source}: pricing must be a table ([pricing]), got {section!r}"
        raise ConfigError(msg)
    for key in section:
        if key != "models":
            msg = f"{source}: unknown key 'pricing.{key}' (known keys: pricing.models)"
            raise ConfigError(msg)
    entries = section.get("models", [])
    if not isinstance(entries, list):
        msg = f"{source}: pricing.models must be an array of tables ([[pricing.models]]), got {entries!r}"
        raise ConfigError(msg)
    return tuple(_price_rule(entry, f"pricing.models[{n}]", n, source) for n, entry in enumerate(entries))


def _price_rule(entry: Any, where: str, position: int, source: str) -> PriceRule:
    if not isinstance(entry, dict):
        msg = f"{source}: {where} must be a table with match or regex and prices, got {entry!r}"
        raise ConfigError(msg)
    for key in entry:
        if key not in _RULE_KEYS:
            msg = f"{source}: unknown key '{where}.{key}' (known keys: {', '.join(_RULE_KEYS)})"
            raise ConfigError(msg)
    if ("match" in entry) == ("regex" in entry):
        msg = f"{source}: {where} needs exactly one of '{where}.match' (a substring) or '{where}.regex'"
        raise ConfigError(msg)
    is_regex = "regex" in entry
    key = "regex" if is_regex else "match"
    pattern = entry[key]
    if not isinstance(pattern, str) or not pattern:
        msg = f"{source}: {where}.{key} must be a non-empty string, got {pattern!r}"
        raise ConfigError(msg)
    if is_regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            msg = f"{source}: {where}.regex is not a valid regular expression: {exc}"
            raise ConfigError(msg) from None
    prices: dict[str, float] = {}
    for name in _PRICE_KEYS:
        if name not in entry:
            if name in ("input_per_1m", "output_per_1m"):
                msg = f"{source}: {where}.{name} is missing (USD per million tokens)"
                raise ConfigError(msg)
            continue
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            msg = f"{source}: {where}.{name} must be a non-negative number (USD per million tokens), got {value!r}"
            raise ConfigError(msg)
        prices[name] = float(value)
    effective = entry.get("effective_from")
    if effective is not None:
        effective = _effective_date(effective, f"{where}.effective_from", source)
    return PriceRule(
        pattern=pattern,
        is_regex=is_regex,
        input_per_1m=prices["input_per_1m"],
        output_per_1m=prices["output_per_1m"],
        cache_read_per_1m=prices.get("cache_read_per_1m", prices["input_per_1m"]),
        cache_write_per_1m=prices.get("cache_write_per_1m", prices["input_per_1m"]),
        cache_write_1h_per_1m=prices.get(
            "cache_write_1h_per_1m", prices.get("cache_write_per_1m", prices["input_per_1m"])
        ),
        effective_from=effective,
        position=position,
    )


def _effective_date(value: Any, key: str, source: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    msg = f"{source}: {key} must be a date like 2026-01-01 (prices change per UTC day), got {value!r}"
    raise ConfigError(msg)
