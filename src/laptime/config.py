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

Numbers must be finite and in range (``nan``, ``inf`` or ``1e308`` would poison every
duration or cost computed from them): ``crashed_after_minutes`` is above 0 and at most
``MAX_CRASHED_AFTER_MINUTES`` (a year); prices are from 0 to ``MAX_PRICE_PER_1M``.

A ``regex`` must match in bounded time: Python's ``re`` backtracks, and has no timeout,
so a pattern like ``(a+)+$`` against a long model name could hang every report. It is
checked when the config is read (``regex_problem``): no longer than
``MAX_PATTERN_CHARS``; no quantifier inside a repeated group (``(a+)+``, ``(a*)*``,
``(a+)*``, ``(a?){30}``); no alternation under a repeat whose branches may start with
the same character or match nothing (``(a|ab)*``, ``(a|a?)+``); at most ``MAX_REPEATS``
repeating quantifiers (``*``, ``+``, ``{m,n}``) and ``MAX_QUANTIFIERS`` variable ones in
all (``?`` included; an exact ``{4}`` counts as none), which bounds the polynomial cost
of ``.*.*.*``. And a model name
longer than ``MAX_MODEL_CHARS`` never matches a regex entry (it is no model name).
"""

from __future__ import annotations

import importlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from laptime.definitions import DEFAULT_CRASHED_AFTER_MINUTES
from laptime.errors import UsageError
from laptime.store import Store
from laptime.webhook.settings import WebhookSettings, parse_webhook


class ConfigError(UsageError):
    """The config file is wrong; the message names the file and the key."""


MAX_CRASHED_AFTER_MINUTES: Final = 525_600  # a year: a longer silence is no running run
MAX_PRICE_PER_1M: Final = 1_000_000  # USD per million tokens: $1 a token is no real price
MAX_PATTERN_CHARS: Final = 200
MAX_MODEL_CHARS: Final = 200
# Each variable quantifier multiplies the ways a failing match is retried; measured on a
# 200-character name, `.*.*.*$x` takes 0.5 s and `.*a?.*a?.*a?$x` 7 s, `.*a?.*a?$x` 0.2 s.
MAX_REPEATS: Final = 2  # *, + and {m,n} (m < n, n above 1)
MAX_QUANTIFIERS: Final = 4  # every variable quantifier, ? included; x{4} counts as none


@dataclass(frozen=True)
class Config:
    """Resolved settings, with their defaults."""

    crashed_after_minutes: float = DEFAULT_CRASHED_AFTER_MINUTES
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    price_rules: tuple[PriceRule, ...] = ()
    webhook: WebhookSettings | None = None  # [webhook]: see laptime.webhook.settings
    budget_rules: tuple[BudgetRule, ...] = ()


BudgetScope = Literal["default", "runner", "task"]


@dataclass(frozen=True)
class BudgetRule:
    """One table of ``[budgets]``: the limits per run it sets; None where it sets none.

    ``scope`` says which runs it is for: every run (``[budgets]``), the runs of one runner
    (``[budgets.runner.NAME]``, ``pattern`` the runner's name exactly) or of the tasks whose
    name matches a glob (``[budgets.task."fix-*"]``). Which rule applies to a run, and
    how the limits combine, is ``laptime.analysis.budgets``' job.
    """

    scope: BudgetScope
    pattern: str
    cost_usd: float | None = None
    duration_ms: int | None = None
    tokens: int | None = None
    position: int = 0  # place in the file, from 0: the first of two equal globs wins

    @property
    def label(self) -> str:
        """How reports name the rule: ``budgets``, ``budgets.runner.ci``, ``budgets.task."fix-*"``."""
        if self.scope == "default":
            return "budgets"
        return f"budgets.{self.scope}.{_toml_key(self.pattern)}"


def _toml_key(key: str) -> str:
    """A TOML key as a config file spells it: bare when it can be, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


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
            return _regex_matches(self.pattern, model)
        return self.pattern.lower() in model.lower()


@lru_cache(maxsize=4096)
def _regex_matches(pattern: str, model: str) -> bool:
    """``re.search``, kept per (pattern, model): views ask again for every day and group.

    A name longer than ``MAX_MODEL_CHARS`` is not matched: the checks on the pattern
    bound the work per character, the cap bounds the characters."""
    if len(model) > MAX_MODEL_CHARS:
        return False
    return re.search(pattern, model) is not None


# re's own parser (what re.compile runs), so the check sees the pattern as re will.
# Its node kinds are compared by name: re._parser has no type stubs.
_REPEAT_NODES = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_MAX_CLASS_RANGE = 4096  # a wider [a-z] range counts as "any character" for the overlap check


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` could take exponential or high polynomial time to match, or None.

    A static check, so a bad pattern is refused when the config is read instead of
    hanging a report later. It is conservative: it may refuse a pattern that would
    have been fast, never the other way round for the shapes it knows (nested
    quantifiers, overlapping alternation under a repeat, many quantifiers in a row)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is longer than {MAX_PATTERN_CHARS} characters"
    parser: Any = importlib.import_module("re._parser")
    counts = {"repeats": 0, "quantifiers": 0}
    problem = _walk(list(parser.parse(pattern)), inside_repeat=False, counts=counts)
    if problem is None and counts["repeats"] > MAX_REPEATS:
        problem = f"has {counts['repeats']} repeating quantifiers (*, +, {{m,n}}); at most {MAX_REPEATS} are allowed"
    if problem is None and counts["quantifiers"] > MAX_QUANTIFIERS:
        problem = f"has {counts['quantifiers']} quantifiers; at most {MAX_QUANTIFIERS} are allowed"
    return problem


def _walk(items: list[Any], *, inside_repeat: bool, counts: dict[str, int]) -> str | None:
    """The first problem in a parsed (sub)pattern; ``inside_repeat``: under * + {m,n}."""
    for op, av in items:
        name = op.name
        children: list[list[Any]] = []
        inner = inside_repeat
        if name in _REPEAT_NODES:
            low, high, body = av
            # x{4} gives the engine no choice to take back; x?, x*, x+ and x{2,5} do
            variable = low != high
            if inside_repeat and variable:
                return "nests a quantifier inside a repeated group, like (a+)+ or (a?){30}"
            if variable:
                counts["quantifiers"] += 1
                counts["repeats"] += high > 1
            inner = inside_repeat or high > 1
            children = [list(body)]
        elif name == "BRANCH":
            branches = [list(b) for b in av[1]]
            if inside_repeat and _branches_overlap(branches):
                return "repeats an alternation whose branches can match the same text, like (a|ab)*"
            children = branches
        elif name == "SUBPATTERN":
            children = [list(av[3])]
        elif name in {"ASSERT", "ASSERT_NOT"}:
            children = [list(av[1])]
        elif name == "ATOMIC_GROUP":
            children = [list(av)]
        elif name == "GROUPREF_EXISTS":
            children = [list(part) for part in av[1:] if part is not None]
        for child in children:
            problem = _walk(child, inside_repeat=inner, counts=counts)
            if problem is not None:
                return problem
    return None


def _branches_overlap(branches: list[list[Any]]) -> bool:
    """Whether two branches may start with the same character (or one matches nothing)."""
    seen: set[int] = set()
    for branch in branches:
        chars = _first_chars(branch)
        if chars is None or seen & chars:
            return True
        seen |= chars
    return False


def _first_chars(items: list[Any]) -> set[int] | None:
    """The characters a match of ``items`` can start with, both cases of each letter;
    None when that is not known or could be anything (or the match may be empty)."""
    for op, av in items:
        if op.name != "AT":  # ^, $, \b are zero width: look at what follows them
            return _node_first_chars(op.name, av)
    return None


def _node_first_chars(name: str, av: Any) -> set[int] | None:
    if name == "LITERAL":
        return _both_cases({av})
    if name == "IN":
        return _class_chars(av)
    if name == "SUBPATTERN":
        return _first_chars(list(av[3]))
    if name in _REPEAT_NODES and av[0] >= 1:  # x+ or x{2,}: starts as x does
        return _first_chars(list(av[2]))
    return _branch_first_chars(av[1]) if name == "BRANCH" else None


def _branch_first_chars(branches: list[Any]) -> set[int] | None:
    union: set[int] = set()
    for branch in branches:
        chars = _first_chars(list(branch))
        if chars is None:
            return None
        union |= chars
    return union


def _class_chars(members: list[Any]) -> set[int] | None:
    chars: set[int] = set()
    for op, av in members:
        if op.name == "LITERAL":
            chars.add(av)
        elif op.name == "RANGE" and av[1] - av[0] <= _MAX_CLASS_RANGE:
            chars.update(range(av[0], av[1] + 1))
        else:  # a negated class, \w, \d, a wide range: could be anything
            return None
    return _both_cases(chars)


def _both_cases(chars: set[int]) -> set[int]:
    """Case folding may be on ((?i)), so a and A count as the same first character."""
    out = set(chars)
    for code in chars:
        for other in (chr(code).lower(), chr(code).upper()):
            if len(other) == 1:
                out.add(ord(other))
    return out


_KNOWN_TOP = {"crashed_after_minutes", "pricing", "webhook", "budgets"}


def _pyproject_section(store: Store) -> tuple[dict[str, Any], str] | None:
    for folder in (store.root.parent, *store.root.parent.parents):
        candidate = folder / "pyproject.toml"
        _refuse_non_file(candidate)
        if candidate.is_file():
            data = _read_toml(candidate)
            section = data.get("tool", {}).get("laptime")
            if isinstance(section, dict):
                return section, f"{candidate} [tool.laptime]"
            return None
    return None


def _refuse_non_file(path: Path) -> None:
    """Something that is not a file where a config file goes is an error, not "no config":
    silently falling back to defaults (or to another file) would hide the user's settings."""
    if path.is_file() or not (path.exists() or path.is_symlink()):
        return
    if path.is_dir():
        msg = f"{path}: is a folder, not a file; laptime reads its settings from a file of that name"
    elif path.is_symlink() and not path.exists():
        msg = f"{path}: is a link to nothing; laptime reads its settings from a file of that name"
    else:
        msg = f"{path}: is not a regular file; laptime reads its settings from a file of that name"
    raise ConfigError(msg)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except UnicodeDecodeError as exc:
        # tomllib decodes the whole file as UTF-8 first; a Latin-1 or UTF-16 file fails here
        msg = f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = f"{path}: not valid TOML here: arrays or tables nested deeper than laptime reads"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None


def load_config(store: Store) -> Config:
    """Read and validate the store's config; defaults when there is none."""
    data: dict[str, Any]
    _refuse_non_file(store.config_path)
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
    crashed = data.get("crashed_after_minutes", DEFAULT_CRASHED_AFTER_MINUTES)
    if isinstance(crashed, bool) or not isinstance(crashed, int | float) or crashed <= 0:
        msg = f"{source}: crashed_after_minutes must be a positive number of minutes, got {crashed!r}"
        raise ConfigError(msg)
    if not math.isfinite(crashed) or crashed > MAX_CRASHED_AFTER_MINUTES:
        # nan passes "<= 0"; inf and 1e308 overflow the microseconds computed from it
        msg = (
            f"{source}: crashed_after_minutes must be a finite number of minutes, at most "
            f"{MAX_CRASHED_AFTER_MINUTES} (a year), got {crashed!r}"
        )
        raise ConfigError(msg)
    rules = _price_rules(data.get("pricing"), source)
    webhook = parse_webhook(data.get("webhook"), source)
    budgets = _budget_rules(data.get("budgets"), source)
    return Config(
        crashed_after_minutes=float(crashed),
        source=source,
        raw=data,
        price_rules=rules,
        webhook=webhook,
        budget_rules=budgets,
    )


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
        except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999}: a count past re's limit
            msg = f"{source}: {where}.regex is not a valid regular expression: {exc}"
            raise ConfigError(msg) from None
        problem = regex_problem(pattern)
        if problem is not None:
            msg = (
                f"{source}: {where}.regex {pattern!r} could take too long to match: it {problem}. "
                "Use a simpler pattern, or match (a substring); see docs/config.md"
            )
            raise ConfigError(msg)
    prices: dict[str, float] = {}
    for name in _PRICE_KEYS:
        if name not in entry:
            if name in ("input_per_1m", "output_per_1m"):
                msg = f"{source}: {where}.{name} is missing (USD per million tokens)"
                raise ConfigError(msg)
            continue
        value = entry[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= MAX_PRICE_PER_1M
        ):
            msg = (
                f"{source}: {where}.{name} must be a non-negative number (USD per million tokens), "
                f"at most {MAX_PRICE_PER_1M}, got {value!r}"
            )
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


# -- [budgets] -------------------------------------------------------------------------------------

MAX_BUDGET_COST_USD: Final = 1_000_000  # a million dollars for one run is no budget
MAX_BUDGET_DURATION_S: Final = 31_536_000  # a year, in seconds
MAX_BUDGET_TOKENS: Final = 10**15
_LIMIT_KEYS: Final = ("cost_usd", "duration", "tokens")
_BUDGET_SCOPES: Final = ("runner", "task")


def _budget_rules(section: Any, source: str) -> tuple[BudgetRule, ...]:
    """The validated ``[budgets]`` section: the default first, then runners, then tasks, each in
    file order. Every error names the file and the full key."""
    if section is None:
        return ()
    if not isinstance(section, dict):
        msg = f"{source}: budgets must be a table ([budgets]), got {section!r}"
        raise ConfigError(msg)
    known = ", ".join(f"budgets.{k}" for k in (*_LIMIT_KEYS, *_BUDGET_SCOPES))
    for key in section:
        if key not in _LIMIT_KEYS and key not in _BUDGET_SCOPES:
            msg = f"{source}: unknown key 'budgets.{key}' (known keys: {known})"
            raise ConfigError(msg)
    rules: list[BudgetRule] = []
    limits = {k: v for k, v in section.items() if k in _LIMIT_KEYS}
    if limits:
        rules.append(_budget_rule("default", "", limits, "budgets", source, 0))
    for scope in _BUDGET_SCOPES:
        tables = section.get(scope, {})
        if not isinstance(tables, dict):
            msg = f"{source}: budgets.{scope} must be a table of tables ([budgets.{scope}.NAME]), got {tables!r}"
            raise ConfigError(msg)
        for position, (pattern, entry) in enumerate(tables.items()):
            where = f"budgets.{scope}.{_toml_key(pattern)}"
            if not pattern:
                msg = f"{source}: {where}: the {scope} name must not be empty"
                raise ConfigError(msg)
            if not isinstance(entry, dict):
                msg = f"{source}: {where} must be a table with cost_usd, duration or tokens, got {entry!r}"
                raise ConfigError(msg)
            rules.append(_budget_rule(scope, pattern, entry, where, source, position))
    return tuple(rules)


def _budget_rule(  # noqa: PLR0917 - one call site, each argument named there
    scope: BudgetScope, pattern: str, entry: dict[str, Any], where: str, source: str, position: int
) -> BudgetRule:
    for key in entry:
        if key not in _LIMIT_KEYS:
            msg = (
                f"{source}: unknown key '{where}.{key}' (known keys: {', '.join(f'{where}.{k}' for k in _LIMIT_KEYS)})"
            )
            raise ConfigError(msg)
    if not entry:
        msg = f"{source}: {where} sets no limit; give cost_usd, duration or tokens"
        raise ConfigError(msg)
    cost = entry.get("cost_usd")
    duration = entry.get("duration")
    tokens = entry.get("tokens")
    if cost is not None:
        cost = float(_limit(cost, f"{where}.cost_usd", "USD", MAX_BUDGET_COST_USD, source, integer=False))
    if duration is not None:
        seconds = _limit(duration, f"{where}.duration", "seconds", MAX_BUDGET_DURATION_S, source, integer=False)
        duration = round(seconds * 1000)
    if tokens is not None:
        tokens = int(_limit(tokens, f"{where}.tokens", "tokens", MAX_BUDGET_TOKENS, source, integer=True))
    return BudgetRule(scope, pattern, cost_usd=cost, duration_ms=duration, tokens=tokens, position=position)


def _limit(value: Any, key: str, unit: str, most: int, source: str, *, integer: bool) -> float:
    """A limit: a finite number above 0 (a whole number for tokens), at most ``most``."""
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or not 0 < value <= most:
        what = "a whole number" if integer else "a number"
        msg = f"{source}: {key} must be {what} of {unit} above 0, at most {most}, got {value!r}"
        raise ConfigError(msg)
    return float(value)
