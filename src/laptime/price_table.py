"""genai-prices, compiled: the prices laptime needs, in a small file read without pydantic.

Importing genai-prices (it builds its data with pydantic) costs about 0.35 s, more than a
whole warm report. So the first process that needs a library price compiles what laptime
uses of it into one msgpack file in the user's cache folder, and every later process reads
that file (a few milliseconds) instead of importing the library:

- every provider and model genai-prices lists, with its match rules (the same matching as
  ``genai_prices.data_snapshot.DataSnapshot.find_provider_model``, including provider
  fallbacks, ``litellm`` prefixes and compact dates like ``-20250929``);
- each model's price periods in genai-prices' order (always / from a UTC day on / a time
  of the UTC day), each with its long-context tier starts and, per tier segment, the USD
  per million tokens of uncached input, output, cache reads, 5-minute and 1-hour cache
  writes, plus a fee per call, measured by genai-prices' own ``calc_price``;
- whether a model is day-exact (see ``laptime.pricing``): no time-of-day price and no tier
  start outside ``TIER_THRESHOLDS``.

Where: ``$LAPTIME_CACHE_DIR``, else ``$XDG_CACHE_HOME/laptime``, else ``~/.cache/laptime``;
one file per genai-prices installation (``prices-<format>-<version>-<crc of key>.msgpack``).

Key: ``table_key()``, the table format, ``TIER_THRESHOLDS`` and which genai-prices is
installed (``library_stamp``: its place and its dist-info's name and time, read without
importing it or ``importlib.metadata``). The file holds library prices only: the config's
``[[pricing.models]]`` apply on top, when reading (``laptime.pricing``), and the file's
``overrides`` field says so. A file whose key differs, or that does not decode, is
rebuilt; writes are atomic (a temporary file, then ``os.replace``); if the folder cannot
be written, the table is compiled in memory for this process and nothing fails.

API::

    table, info = load_table()      # None, None when genai-prices is not installed
    found = table.find(model, provider)             # (provider id, Model) or None
    found[1].rates(day, us_of_day, total_input)     # a Segment, or None (unpriced)
    info.path, info.genai_prices_version, info.rebuilt
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

FORMAT: Final = 1  # bump when the file's layout or meaning changes
CACHE_ENV: Final = "LAPTIME_CACHE_DIR"
OVERRIDES: Final = "none: [[pricing.models]] of the config apply on top, when reading"

# Every long-context tier start (total input tokens) in the genai-prices data: a call
# whose total input is above a threshold may pay another rate than one below it. Token
# groups are split at these (laptime.pricing.tier_bucket); a model with a tier elsewhere
# is not day-exact.
TIER_THRESHOLDS: Final[tuple[int, ...]] = (
    32_000,
    100_000,
    128_000,
    199_999,
    200_000,
    256_000,
    272_000,
    512_000,
    524_288,
)

_PER: Final = 1_000_000
_DAY_US: Final = 86_400_000_000

# A match rule: [op, arg]. op is starts_with, ends_with, contains, equals (arg lower-cased),
# regex (arg as is), or and/and (arg: a list of rules), or never (a rule this format does
# not know: it matches nothing, so the model is unpriced rather than mispriced).
Clause = list[Any]

# USD per million tokens: uncached input, output, cache read, 5-minute cache write, 1-hour
# cache write; then USD per call.
Segment = tuple[float, float, float, float, float, float]


class Period(msgspec.Struct, array_like=True, frozen=True):
    """One of a model's prices, and when it applies (genai-prices' ConditionalPrice)."""

    start_day: str | None  # in effect from this UTC day (YYYY-MM-DD) on
    time_of_day: tuple[int, int] | None  # in effect from..to (microseconds into the UTC day)
    tiers: tuple[int, ...]  # long-context tier starts (total input tokens), ascending
    segments: tuple[Segment, ...] | None  # one per tier segment; None: genai-prices cannot price it

    def active(self, day: str, us_of_day: int) -> bool:
        if self.start_day is not None:
            return day >= self.start_day
        if self.time_of_day is not None:
            start, end = self.time_of_day
            return (us_of_day >= start or us_of_day < end) if end < start else start <= us_of_day < end
        return True

    def segment(self, total_input: int) -> Segment | None:
        """The rates a call of ``total_input`` tokens (cache included) pays: a tier applies
        when the input is above its start (genai-prices' ``calc_unit_price``)."""
        if self.segments is None:
            return None
        k = 0
        for start in self.tiers:
            if total_input > start:
                k += 1
        return self.segments[k]


class Model(msgspec.Struct, array_like=True, frozen=True):
    id: str
    match: Clause
    periods: tuple[Period, ...]  # genai-prices' order: the last one in effect wins
    day_exact: bool

    def period(self, day: str, us_of_day: int) -> Period | None:
        """The price in effect (genai-prices' ``ModelInfo.get_prices``): the last period in
        effect, else the first one."""
        for period in reversed(self.periods):
            if period.active(day, us_of_day):
                return period
        return self.periods[0] if self.periods else None

    def rates(self, day: str, us_of_day: int, total_input: int) -> Segment | None:
        period = self.period(day, us_of_day)
        return period.segment(total_input) if period is not None else None


class Provider(msgspec.Struct, array_like=True, frozen=True):
    id: str
    model_match: Clause | None
    provider_match: Clause | None
    fallback: tuple[str, ...]  # providers whose models this one also serves (one step)
    # tuple[Model, ...], decoded when the provider is searched: decoding all 2,000-odd
    # models would cost 6 ms, against 0.3 ms for the rest of the file.
    models: msgspec.Raw


class TableFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The file's content."""

    format: int
    key: str  # table_key() of the installation it was compiled from
    genai_prices_version: str
    overrides: str  # what of the config is in the file (nothing: see OVERRIDES)
    crc: int  # zlib.crc32 of providers: a file damaged anywhere is rebuilt, not misread later
    providers: msgspec.Raw  # tuple[Provider, ...]


class TableInfo(msgspec.Struct, frozen=True):
    """Where the table in use lives, for ``laptime pricing``."""

    path: str | None  # None: the cache folder could not be written (compiled in memory)
    genai_prices_version: str
    rebuilt: bool  # compiled by this process (genai-prices was imported)
    problem: str | None = None  # why it could not be read or written, when it could not


# -- matching, as genai-prices does it -----------------------------------------------------------


_STRING_TESTS: Final[dict[str, Any]] = {
    "contains": lambda arg, text: arg in text,
    "starts_with": lambda arg, text: text.startswith(arg),
    "equals": lambda arg, text: text == arg,
    "ends_with": lambda arg, text: text.endswith(arg),
    "regex": lambda arg, text: re.search(arg, text) is not None,
}


def _is_match(clause: Clause, text: str) -> bool:
    """``text`` is lower-cased already (genai-prices lower-cases every name it matches)."""
    op, arg = clause[0], clause[1]
    test = _STRING_TESTS.get(op)
    if test is not None:
        return bool(test(arg, text))
    if op == "or":
        return any(_is_match(c, text) for c in arg)
    if op == "and":
        return all(_is_match(c, text) for c in arg)
    return False  # never


_COMPACT_DATE = re.compile(r"(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)")


def _dashed_dates(model_ref: str) -> str:
    """``-20251211`` as ``-2025-12-11`` (genai-prices' ``_normalize_compact_dated_ref``)."""

    def replace(match: re.Match[str]) -> str:
        year, month, day = (int(match.group(i)) for i in range(2, 5))
        try:
            date(year, month, day)
        except ValueError:
            return match.group(0)
        return f"{match.group(1)}{year:04d}-{month:02d}-{day:02d}"

    return _COMPACT_DATE.sub(replace, model_ref)


class PriceTable:
    """The compiled table, with genai-prices' model lookup."""

    def __init__(
        self,
        content: TableFile,
        complete: Callable[[str, int], Model] | None = None,
        providers: tuple[Provider, ...] | None = None,
    ) -> None:
        """``complete``: for a table compiled in memory with its models' match rules only
        (see ``_match_only_table``), measures the prices of (provider id, index) when found.
        ``providers``: ``content.providers`` decoded already."""
        self.content = content
        self._complete = complete
        self._completed: dict[tuple[str, int], Model] = {}
        if providers is None:
            providers = msgspec.msgpack.decode(content.providers, type=tuple[Provider, ...])
        self.providers = providers
        self._by_id = {p.id: p for p in self.providers}
        self._models: dict[str, tuple[Model, ...]] = {}

    def models(self, provider: Provider) -> tuple[Model, ...]:
        """A provider's models, in genai-prices' order (the first that matches wins)."""
        found = self._models.get(provider.id)
        if found is None:
            try:
                found = msgspec.msgpack.decode(provider.models, type=tuple[Model, ...])
            except msgspec.DecodeError:  # cannot happen past the crc check; unpriced rather than a traceback
                found = ()
            self._models[provider.id] = found
        return found

    def find(self, model: str, provider: str) -> tuple[str, Model] | None:
        """The genai-prices model a (model, provider) of the log resolves to, with the id of
        the provider whose list holds it, or None (unpriced). As laptime always asked
        genai-prices: with the provider first, then with the model name alone."""
        for provider_id in [provider, None] if provider else [None]:
            found = self._find_provider_model(model, provider_id)
            if found is not None:
                owner, i, entry = found
                if self._complete is not None:
                    if (owner, i) not in self._completed:
                        self._completed[owner, i] = self._complete(owner, i)
                    entry = self._completed[owner, i]
                return owner, entry
        return None

    def _provider_by_id(self, provider_id: str) -> Provider | None:
        normalized = provider_id.lower().strip()
        found = self._by_id.get(normalized)
        if found is not None:
            return found
        for p in self.providers:
            if p.provider_match is not None and _is_match(p.provider_match, normalized):
                return p
        return None

    def _find_provider_model(self, model_ref: str, provider_id: str | None) -> tuple[str, int, Model] | None:
        model_ref = model_ref.lower()
        if provider_id and provider_id.lower() == "litellm" and "/" in model_ref:
            actual_provider, actual_ref = model_ref.split("/", 1)
            if actual_provider and self._provider_by_id(actual_provider) is not None:
                provider_id, model_ref = actual_provider, actual_ref
        provider = self._find_provider(model_ref, provider_id)
        if provider is None:
            return None
        found = self._match_model(provider, model_ref, fallback=True)
        if found is None:
            dashed = _dashed_dates(model_ref)
            if dashed != model_ref:
                found = self._match_model(provider, dashed, fallback=True)
        return found

    def _find_provider(self, model_ref: str, provider_id: str | None) -> Provider | None:
        if provider_id is not None:
            found = self._provider_by_id(provider_id)
            if found is not None:
                return found
            if provider_id.lower() != "litellm":
                return None
        if model_ref:
            for p in self.providers:
                if p.model_match is not None and _is_match(p.model_match, model_ref):
                    return p
        return None

    def _match_model(self, provider: Provider, model_ref: str, *, fallback: bool) -> tuple[str, int, Model] | None:
        for i, m in enumerate(self.models(provider)):
            if _is_match(m.match, model_ref):
                return provider.id, i, m
        if fallback:
            for provider_id in provider.fallback:
                other = self._by_id.get(provider_id)
                if other is not None:
                    found = self._match_model(other, model_ref, fallback=False)  # one step only
                    if found is not None:
                        return found
        return None


# -- which genai-prices, and where the file goes ---------------------------------------------------


def library_stamp() -> str:
    """Which genai-prices is installed: its place and its dist-info (name with the version,
    and when it was written), without importing it or importlib.metadata (slow to import).
    ``not installed`` when it is not."""
    import importlib.util

    spec = importlib.util.find_spec("genai_prices")
    if spec is None or spec.origin is None:
        return "not installed"
    site = Path(spec.origin).parent.parent
    try:
        stamps = [
            f"{entry.name} {entry.stat().st_mtime_ns}"
            for entry in os.scandir(site)
            if entry.name.startswith("genai_prices-") and entry.name.endswith(".dist-info")
        ]
    except OSError:
        stamps = []
    if not stamps:  # installed some other way: ask the package metadata
        from importlib.metadata import PackageNotFoundError, version

        try:
            stamps = [version("genai-prices")]
        except PackageNotFoundError:
            stamps = ["unknown version"]
    return f"{spec.origin} {sorted(stamps)}"


def table_key(stamp: str) -> str:
    """What a compiled table is valid for."""
    return f"laptime price table {FORMAT}\ntiers {TIER_THRESHOLDS!r}\nlibrary {stamp}"


def cache_dir() -> Path | None:
    """The per-user cache folder: ``$LAPTIME_CACHE_DIR``, ``$XDG_CACHE_HOME/laptime`` (an
    absolute path, as the XDG spec says) or ``~/.cache/laptime``; None without a home."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # noqa: PTH117 - a str check, no Path built for a value we drop
        return Path(xdg) / "laptime"
    try:
        return Path.home() / ".cache" / "laptime"
    except RuntimeError:  # no home directory to be found
        return None


def table_path(folder: Path, key: str) -> Path:
    import zlib

    version = _version_in(key)
    safe = re.sub(r"[^0-9A-Za-z.+-]", "_", version)[:40]
    return folder / f"prices-{FORMAT}-{safe}-{zlib.crc32(key.encode()):08x}.msgpack"


def _version_in(key: str) -> str:
    found = re.search(r"genai_prices-([^ ]+?)\.dist-info", key)
    return found.group(1) if found else "unknown"


# -- loading --------------------------------------------------------------------------------------

# One table per process and file: path -> (key, the file's (mtime, size, inode) or None
# when there is no file, the table, its info). A file changed since is read again.
_loaded: dict[str, tuple[str, tuple[int, int, int] | None, PriceTable, TableInfo]] = {}


def load_table() -> tuple[PriceTable, TableInfo] | tuple[None, None]:
    """The compiled table of the installed genai-prices, read from the cache folder, or
    compiled (importing genai-prices) and saved there when missing, stale or unreadable."""
    stamp = library_stamp()
    if stamp == "not installed":
        return None, None
    key = table_key(stamp)
    folder = cache_dir()
    path = table_path(folder, key) if folder is not None else None
    signature = _signature(path)
    memo = _loaded.get(str(path))
    if memo is not None and memo[0] == key and memo[1] == signature:  # the same file (or none, again)
        return memo[2], memo[3]
    content, providers, problem = _read(path, key) if path is not None and signature is not None else (None, None, None)
    table = None
    rebuilt = content is None
    if content is None:
        problem = _writable(path.parent) if path is not None else "no home folder to keep a cache in"
        if problem is None:
            content = compile_table(key)
            problem = _write(path, content) if path is not None else None
            signature = _signature(path)
        else:  # nowhere to keep it: as before the table, genai-prices for this process only
            table = _match_only_table(key)
            content = table.content
    info = TableInfo(str(path) if problem is None else None, content.genai_prices_version, rebuilt, problem)
    table = table or PriceTable(content, providers=providers)
    _loaded[str(path)] = (key, signature, table, info)
    return table, info


def _signature(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _read(path: Path, key: str) -> tuple[TableFile | None, tuple[Provider, ...] | None, str | None]:
    """The file's table (and its providers, decoded) if it is one for ``key``; else why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"cannot read {path}: {exc.strerror or exc}"
    import zlib

    try:
        content = msgspec.msgpack.decode(data, type=TableFile)
        if content.format == FORMAT and content.key == key and zlib.crc32(content.providers) == content.crc:
            # The layout of every provider; their models are decoded when searched.
            return content, msgspec.msgpack.decode(content.providers, type=tuple[Provider, ...]), None
    except msgspec.DecodeError:
        pass
    return None, None, f"{path} was not a price table for this genai-prices (rebuilt)"


def _writable(folder: Path) -> str | None:
    """None if a file can be written in ``folder`` (made if missing), else why not."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".prices-", suffix=".probe"):
            pass
    except OSError as exc:
        return f"cannot write the price table in {folder}: {exc.strerror or exc}"
    return None


def _write(path: Path, content: TableFile) -> str | None:
    """Save the table atomically; the reason it could not be saved, or None."""
    import tempfile

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prices-", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.msgpack.encode(content))
        Path(tmp).replace(path)
        tmp = None
    except OSError as exc:
        return f"cannot write the price table in {path.parent}: {exc.strerror or exc}"
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
    return None


# -- compiling (the only place that imports genai-prices) ------------------------------------------


def compile_table(key: str) -> TableFile:
    """Read genai-prices' bundled snapshot (never the network) into a TableFile."""
    import genai_prices
    from genai_prices import data_snapshot

    return _table_file(key, genai_prices, data_snapshot.get_snapshot(), _Compiler().model)


def _match_only_table(key: str) -> PriceTable:
    """A table for this process only, when it cannot be saved: every model's match rules,
    and the prices of a model measured when it is first found. Measuring every model
    (0.5 s) would cost more than the whole lookup did before the table."""
    import genai_prices
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    compiler = _Compiler()
    originals = {p.id: p.models for p in snapshot.providers}
    content = _table_file(key, genai_prices, snapshot, compiler.match_only)
    return PriceTable(content, complete=lambda provider_id, i: compiler.model(originals[provider_id][i]))


def _table_file(key: str, library: Any, snapshot: Any, model: Callable[[Any], Model]) -> TableFile:
    import zlib

    providers = tuple(
        Provider(
            id=p.id,
            model_match=_clause(p.model_match) if p.model_match is not None else None,
            provider_match=_clause(p.provider_match) if p.provider_match is not None else None,
            fallback=tuple(p.fallback_model_providers or ()),
            models=msgspec.Raw(msgspec.msgpack.encode(tuple(model(m) for m in p.models))),
        )
        for p in snapshot.providers
    )
    body = msgspec.msgpack.encode(providers)
    version = str(getattr(library, "__version__", "") or _version_in(key))
    return TableFile(
        format=FORMAT,
        key=key,
        genai_prices_version=version,
        overrides=OVERRIDES,
        crc=zlib.crc32(body),
        providers=msgspec.Raw(body),
    )


def _clause(clause: Any) -> Clause:
    from genai_prices import types

    simple = (
        (types.ClauseStartsWith, "starts_with"),
        (types.ClauseEndsWith, "ends_with"),
        (types.ClauseContains, "contains"),
        (types.ClauseEquals, "equals"),
    )
    for cls, op in simple:
        if isinstance(clause, cls):
            return [op, str(getattr(clause, op)).lower()]
    if isinstance(clause, types.ClauseRegex):
        return ["regex", clause.regex]
    if isinstance(clause, types.ClauseOr):
        return ["or", [_clause(c) for c in clause.or_]]
    if isinstance(clause, types.ClauseAnd):
        return ["and", [_clause(c) for c in clause.and_]]
    return ["never", repr(clause)]


def tier_starts(model_price: Any) -> tuple[int, ...]:
    """Every tier start of a genai-prices ModelPrice, ascending."""
    from genai_prices.types import TieredPrices

    starts: set[int] = set()
    for value in vars(model_price).values():
        if isinstance(value, TieredPrices):
            starts.update(int(tier.start) for tier in value.tiers)
    return tuple(sorted(starts))


class _Compiler:
    def __init__(self) -> None:
        self._segments: dict[str, tuple[Segment, ...] | None] = {}  # repr(ModelPrice) -> segments

    def model(self, model: Any) -> Model:
        from genai_prices.types import ModelPrice, TimeOfDateConstraint

        plain = isinstance(model.prices, ModelPrice)
        conditional = [] if plain else list(model.prices)
        pairs = [(None, model.prices)] if plain else [(c.constraint, c.prices) for c in conditional]
        periods = tuple(self._period(constraint, prices) for constraint, prices in pairs)
        day_exact = not any(isinstance(c.constraint, TimeOfDateConstraint) for c in conditional) and all(
            set(p.tiers) <= set(TIER_THRESHOLDS) for p in periods
        )
        return Model(id=model.id, match=_clause(model.match), periods=periods, day_exact=day_exact)

    def match_only(self, model: Any) -> Model:
        """The model without its prices (see _match_only_table)."""
        return Model(id=model.id, match=_clause(model.match), periods=(), day_exact=True)

    def _period(self, constraint: Any, prices: Any) -> Period:
        from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

        start_day = None
        time_of_day = None
        if isinstance(constraint, StartDateConstraint):
            start_day = constraint.start_date.isoformat()
        elif isinstance(constraint, TimeOfDateConstraint):
            time_of_day = (_utc_us_of_day(constraint.start_time), _utc_us_of_day(constraint.end_time))
        tiers = tier_starts(prices)
        key = repr(prices)
        if key not in self._segments:
            self._segments[key] = _measure(prices, tiers)
        return Period(start_day=start_day, time_of_day=time_of_day, tiers=tiers, segments=self._segments[key])


def _utc_us_of_day(value: Any) -> int:
    """A time of day (naive: UTC) as microseconds into the UTC day."""
    from datetime import UTC, datetime

    if value.tzinfo is not None:
        value = datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()
    return int(((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond)


def probe_sizes(tiers: Sequence[int]) -> list[int]:
    """One total input size inside each tier segment (the segment's top end)."""
    if not tiers:
        return [_PER]
    return [*tiers, tiers[-1] + 1]


def _measure(model_price: Any, tiers: Sequence[int]) -> tuple[Segment, ...] | None:
    """Per tier segment, the rates genai-prices' calc_price charges: each price is linear in
    each token count within a segment, so one call per kind of token measures it."""
    from decimal import Decimal

    from genai_prices import Usage

    def calc(**values: int) -> Decimal:
        return Decimal(model_price.calc_price(Usage(**values))["total_price"])

    segments: list[Segment] = []
    try:
        for size in probe_sizes(tiers):
            fee = calc(input_tokens=0)
            uncached = calc(input_tokens=size) - fee
            read = calc(input_tokens=size, cache_read_tokens=size) - fee
            write = calc(input_tokens=size, cache_write_tokens=size) - fee
            write_1h = calc(input_tokens=size, cache_write_tokens=size, cache_write_1h_tokens=size) - fee
            output = calc(input_tokens=size, output_tokens=size) - fee - uncached
            per_1m = [float(v * _PER / size) for v in (uncached, output, read, write, write_1h)]
            segments.append((per_1m[0], per_1m[1], per_1m[2], per_1m[3], per_1m[4], float(fee)))
    except (ValueError, ArithmeticError, LookupError, TypeError):  # genai-prices cannot price it: unpriced
        return None
    return tuple(segments)


__all__ = [
    "CACHE_ENV",
    "FORMAT",
    "OVERRIDES",
    "Model",
    "Period",
    "PriceTable",
    "Provider",
    "Segment",
    "TableFile",
    "TableInfo",
    "cache_dir",
    "compile_table",
    "library_stamp",
    "load_table",
    "table_key",
    "table_path",
]
