"""Tokens to dollars: config overrides first, then the ``genai-prices`` library, offline.

Cost is computed when reading, never stored: every LLM call is priced at the price in
effect at the call's time. Where a price comes from, in order:

1. ``reported``: the source reported the call's cost (``cost_usd`` on the event); it wins.
2. ``config:<pattern>``: a ``[[pricing.models]]`` entry of the config matches the model
   and is in effect on the call's UTC day (see ``laptime.config``). Among the matching
   entries in effect, the one with the latest ``effective_from`` wins (an entry without
   one is in effect since forever); on a tie, the first in the file.
3. ``genai-prices``: the maintained price library (the ``pricing`` extra), with the
   prices it lists for the call's date and, for long-context tiers, its input size. It
   is imported lazily (its import costs about 0.16 s) and never goes online.
4. ``unpriced``: none of the above knows the model. Its cost is ``None``, never $0.

API::

    book = PriceBook.from_config(config)            # or PriceBook(rules, library=True)
    book.price(model, provider, at_us, input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, input_includes_cache, cache_write_1h_tokens=0,
               reported_cost_usd=None) -> Priced(cost_usd, source)
    book.rates(model, provider, day, bucket) -> Rates | None   # per-1M rates of a token group
    book.resolve(model, provider, at_us) -> Resolved            # what `laptime pricing` shows
    book.day_exact(model, provider) -> bool                     # see "Aggregates" below
    book.cache_version(), book.load_cache(rows), book.new_cache_rows   # see "Cache" below

Token meaning: ``input_tokens`` follows ``input_includes_cache`` (OpenAI/OTel count the
cache tokens in it, Anthropic does not). genai-prices wants the total input, so the
cache tokens are added for Anthropic-style counts before it is called. Config prices
apply ``input_per_1m`` to the uncached input only.

Aggregates. Pricing a million calls one by one is slow, and pricing summed tokens is
wrong for long-context tiers (a tier is picked by the size of ONE call's input). So
token groups are keyed by (model, provider, UTC day, tier bucket), where the bucket
(``tier_bucket``) says which of ``TIER_THRESHOLDS`` the call's total input exceeds.
Within one group every call pays the same per-token rates, so
``Rates.cost(calls, input, output, cache_read, cache_write)`` over the group's sums
equals the sum of the per-call prices (to float rounding). ``day_exact`` is False for
the few models whose prices change within a day (time-of-day prices) or whose tiers
start at a threshold outside ``TIER_THRESHOLDS``; price those per call.

Cache. Group rates and ``day_exact`` answers from the library can be saved by the
caller (``new_cache_rows``) and handed to a later PriceBook (``load_cache``), valid for
``cache_version()`` (the genai-prices version). ``laptime.analysis.cost`` keeps them in
the index, so a warm ``report summary`` never imports genai-prices. Config prices are
never cached: they are read from the config every time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from laptime.definitions import uncached_input

if TYPE_CHECKING:
    from collections.abc import Sequence

    from laptime.config import Config, PriceRule

# Every long-context tier start (total input tokens) in the genai-prices data: a call
# whose total input is above a threshold may pay another rate than one below it.
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

SOURCE_REPORTED: Final = "reported"
SOURCE_LIBRARY: Final = "genai-prices"
SOURCE_UNPRICED: Final = "unpriced"

_PER: Final = 1_000_000

# A saved library answer: (model, provider, day, bucket, input, output, cache_read,
# cache_write, cache_write_1h, per_call) per 1M tokens; None rates: unpriced. Bucket -1
# holds day_exact (input 1.0 or 0.0) for (model, provider).
CacheRow = tuple[str, str, str, int, float | None, float | None, float | None, float | None, float | None, float | None]
_DAY_US: Final = 86_400_000_000


def tier_bucket(total_input_tokens: int) -> int:
    """How many of ``TIER_THRESHOLDS`` the call's total input (cache included) exceeds."""
    return bisect.bisect_left(TIER_THRESHOLDS, total_input_tokens)


def tier_bucket_sql(total_input: str) -> str:
    """SQL for ``tier_bucket`` of an integer expression."""
    return "(" + " + ".join(f"(({total_input}) > {t})" for t in TIER_THRESHOLDS) + ")"


def _bucket_probe(bucket: int) -> int:
    """A total input size that falls in ``bucket``."""
    return TIER_THRESHOLDS[bucket] if bucket < len(TIER_THRESHOLDS) else TIER_THRESHOLDS[-1] + 1


def day_of_us(at_us: int) -> str:
    """The UTC day (``YYYY-MM-DD``) of a timestamp in microseconds."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Priced:
    """One call's cost in USD (None when unpriced) and where its price came from."""

    cost_usd: float | None
    source: str


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for one token group, plus a fee per call (rare).

    ``input`` prices uncached input tokens (Anthropic's meaning of input).
    """

    input: float
    output: float
    cache_read: float
    cache_write: float  # cache writes kept for 5 minutes (the default)
    cache_write_1h: float  # cache writes kept for an hour (Anthropic: twice the input rate)
    per_call: float
    source: str

    def cost(  # noqa: PLR0917 - the token counts of a group, in the index's column order
        self,
        calls: int,
        input_tokens: int,
        output_tokens: int,
        cache_read: int,
        cache_write: int,
        cache_write_1h: int = 0,
    ) -> float:
        """The cost of a group. ``input_tokens`` excludes the cache tokens; ``cache_write``
        counts every cache write, ``cache_write_1h`` the part of them kept for an hour."""
        one_hour = min(max(cache_write_1h, 0), cache_write)
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_read * self.cache_read
            + (cache_write - one_hour) * self.cache_write
            + one_hour * self.cache_write_1h
        ) / _PER + calls * self.per_call


@dataclass(frozen=True)
class Resolved:
    """A model's price at one instant, as ``laptime pricing`` lists it."""

    model: str
    provider: str
    source: str  # config:<pattern>, genai-prices or unpriced
    rates: Rates | None  # base tier (short context)
    tiered: bool  # genai-prices lists other rates for long inputs
    library_model: str | None  # the genai-prices model id the name resolved to
    note: str = ""


class PriceBook:
    """Resolves prices for (model, provider, time). Cheap to build; caches lookups."""

    def __init__(self, rules: Sequence[PriceRule] = (), *, library: bool = True) -> None:
        self.rules = tuple(rules)
        self.library = library
        self._rates: dict[tuple[str, str, str, int], Rates | None] = {}
        self._rule_for: dict[tuple[str, str], PriceRule | None] = {}
        self._lib_model: dict[tuple[str, str], tuple[Any, Any] | None] = {}
        self._lib_rates: dict[tuple[int, int], Rates] = {}
        self._keep_alive: list[Any] = []  # the price objects whose id() keys _lib_rates
        # Library answers, kept by callers across processes (see load_cache): importing
        # genai-prices costs more than a whole warm `report summary`.
        self._lib_cache: dict[tuple[str, str, str, int], Rates | None] = {}
        self._exact_cache: dict[tuple[str, str], bool] = {}
        self.new_cache_rows: list[CacheRow] = []

    @classmethod
    def from_config(cls, config: Config, *, library: bool = True) -> PriceBook:
        return cls(config.price_rules, library=library)

    # -- one call --------------------------------------------------------------------------

    def price(  # noqa: PLR0917 - mirrors the llm event's fields, in order
        self,
        model: str,
        provider: str,
        at_us: int,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        input_includes_cache: bool,
        cache_write_1h_tokens: int = 0,
        *,
        reported_cost_usd: float | None = None,
    ) -> Priced:
        """The cost of one call. ``cache_write_1h_tokens`` is the part of the cache
        writes kept for an hour (priced apart by providers that do so)."""
        if reported_cost_usd is not None:
            return Priced(float(reported_cost_usd), SOURCE_REPORTED)
        uncached = uncached_input(input_tokens, cache_read_tokens, cache_write_tokens, input_includes_cache)
        day = day_of_us(at_us)
        rule = self._rule(model, day)
        if rule is not None:
            rates = _rule_rates(rule)
            cost = rates.cost(1, uncached, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
            return Priced(cost, rates.source)
        found = self._library_model(model, provider)
        if found is None:
            return Priced(None, SOURCE_UNPRICED)
        from genai_prices import Usage

        lib_provider, lib_model = found
        usage_values = {
            "input_tokens": uncached + cache_read_tokens + cache_write_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens,
        }
        if cache_write_1h_tokens:
            usage_values["cache_write_1h_tokens"] = min(max(cache_write_1h_tokens, 0), cache_write_tokens)
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)
        calc = lib_model.calc_price(Usage(**usage_values), lib_provider, genai_request_timestamp=at)
        return Priced(float(calc.total_price), SOURCE_LIBRARY)

    def call_cost(  # noqa: PLR0917 - the same arguments as price()
        self,
        model: str,
        provider: str,
        at_us: int,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        input_includes_cache: bool,
        cache_write_1h_tokens: int = 0,
        *,
        reported_cost_usd: float | None = None,
    ) -> Priced:
        """One call priced the way the views price its group: at the (day, tier bucket)
        rates wherever those are exact for the model (``day_exact``), else by ``price``.

        So a cost by phase adds up to the cost by model, and a book holding the index's
        cached rates (``load_cache``) prices a warm report without importing genai-prices."""
        if reported_cost_usd is not None:
            return Priced(float(reported_cost_usd), SOURCE_REPORTED)
        args = (model, provider, at_us, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        if not self.day_exact(model, provider):
            return self.price(*args, input_includes_cache, cache_write_1h_tokens)
        uncached = uncached_input(input_tokens, cache_read_tokens, cache_write_tokens, input_includes_cache)
        bucket = tier_bucket(uncached + cache_read_tokens + cache_write_tokens)
        rates = self.rates(model, provider, day_of_us(at_us), bucket)
        if rates is None:
            return Priced(None, SOURCE_UNPRICED)
        cost = rates.cost(1, uncached, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
        return Priced(cost, rates.source)

    # -- token groups ----------------------------------------------------------------------

    def rates(self, model: str, provider: str, day: str, bucket: int) -> Rates | None:
        """Per-1M rates for the calls of a (model, provider, UTC day, tier bucket) group;
        None when the model is unpriced."""
        key = (model, provider, day, bucket)
        if key in self._rates:
            return self._rates[key]
        rule = self._rule(model, day)
        result: Rates | None
        result = _rule_rates(rule) if rule is not None else self._library_group_rates(model, provider, day, bucket)
        self._rates[key] = result
        return result

    def _library_group_rates(self, model: str, provider: str, day: str, bucket: int) -> Rates | None:
        key = (model, provider, day, bucket)
        if key in self._lib_cache:
            return self._lib_cache[key]
        found = self._library_model(model, provider)
        result = None
        if found is not None:
            model_price = found[1].get_prices(datetime.fromisoformat(day).replace(tzinfo=UTC))
            result = self._library_rates(model_price, bucket)
        self._lib_cache[key] = result
        if result is None:
            self.new_cache_rows.append((model, provider, day, bucket, None, None, None, None, None, None))
        else:
            self.new_cache_rows.append(
                (model, provider, day, bucket, result.input, result.output, result.cache_read, result.cache_write,
                 result.cache_write_1h, result.per_call)
            )  # fmt: skip
        return result

    # -- a cache of library answers, for callers that can keep one (the index does) ----------

    def cache_version(self) -> str | None:
        """What cached library answers are valid for: the genai-prices version, or None
        when the library is off or not installed (then nothing is cached)."""
        return _library_version() if self.library else None

    def load_cache(self, rows: Sequence[CacheRow]) -> None:
        """Library answers saved by an earlier process (rows of ``new_cache_rows``)."""
        for model, provider, day, bucket, r_in, r_out, r_cr, r_cw, r_c1h, r_call in rows:
            if bucket < 0:
                self._exact_cache[(model, provider)] = bool(r_in)
            elif r_in is None or r_out is None or r_cr is None or r_cw is None or r_c1h is None or r_call is None:
                self._lib_cache[(model, provider, day, bucket)] = None
            else:
                self._lib_cache[(model, provider, day, bucket)] = Rates(
                    r_in, r_out, r_cr, r_cw, r_c1h, r_call, SOURCE_LIBRARY
                )

    def day_exact(self, model: str, provider: str) -> bool:
        """Whether ``rates`` over (day, bucket) groups prices this model exactly.

        Config prices change per day at most; only library prices that change within a
        day, or tiers outside ``TIER_THRESHOLDS``, need per-call pricing."""
        if any(rule.effective_from is None and rule.matches(model) for rule in self.rules):
            return True
        key = (model, provider)
        if key not in self._exact_cache:
            found = self._library_model(model, provider)
            exact = found is None or _day_exact(found[1])
            self._exact_cache[key] = exact
            self.new_cache_rows.append((model, provider, "", -1, 1.0 if exact else 0.0, None, None, None, None, None))
        return self._exact_cache[key]

    # -- what `laptime pricing` shows ---------------------------------------------------------

    def resolve(self, model: str, provider: str, at_us: int) -> Resolved:
        day = day_of_us(at_us)
        rule = self._rule(model, day)
        found = self._library_model(model, provider)
        library_model = found[1].id if found is not None else None
        if rule is not None:
            return Resolved(model, provider, rule.label, _rule_rates(rule), tiered=False, library_model=library_model)
        if found is None:
            note = "" if self.library and _library_available() else "genai-prices is not installed (extra: pricing)"
            return Resolved(model, provider, SOURCE_UNPRICED, None, tiered=False, library_model=None, note=note)
        model_price = found[1].get_prices(datetime.fromisoformat(day).replace(tzinfo=UTC))
        return Resolved(
            model,
            provider,
            SOURCE_LIBRARY,
            self._library_rates(model_price, 0),
            tiered=bool(_tier_starts(model_price)),
            library_model=library_model,
        )

    # -- internals ----------------------------------------------------------------------------

    def _rule(self, model: str, day: str) -> PriceRule | None:
        key = (model, day)
        if key in self._rule_for:
            return self._rule_for[key]
        on = date.fromisoformat(day)
        best: PriceRule | None = None
        for rule in self.rules:
            if rule.effective_from is not None and rule.effective_from > on:
                continue
            if not rule.matches(model):
                continue
            if best is None or (rule.effective_from or date.min) > (best.effective_from or date.min):
                best = rule
        self._rule_for[key] = best
        return best

    def _library_model(self, model: str, provider: str) -> tuple[Any, Any] | None:
        key = (model, provider)
        if key in self._lib_model:
            return self._lib_model[key]
        found = None
        if self.library and _library_available():
            from genai_prices import data_snapshot

            snapshot = data_snapshot.get_snapshot()
            attempts = [provider, None] if provider else [None]
            for provider_id in attempts:
                try:
                    found = snapshot.find_provider_model(model, None, provider_id, None)
                    break
                except LookupError:
                    continue
        self._lib_model[key] = found
        return found

    def _library_rates(self, model_price: Any, bucket: int) -> Rates:
        key = (id(model_price), bucket)
        cached = self._lib_rates.get(key)
        if cached is not None:
            return cached
        from genai_prices import Usage

        size = _bucket_probe(bucket)

        def calc(**values: int) -> Decimal:
            return Decimal(model_price.calc_price(Usage(**values))["total_price"])

        fee = calc(input_tokens=0)
        uncached = calc(input_tokens=size) - fee
        read = calc(input_tokens=size, cache_read_tokens=size) - fee
        write = calc(input_tokens=size, cache_write_tokens=size) - fee
        write_1h = calc(input_tokens=size, cache_write_tokens=size, cache_write_1h_tokens=size) - fee
        output = calc(input_tokens=size, output_tokens=size) - fee - uncached
        scale = Decimal(_PER) / size
        rates = Rates(
            input=float(uncached * scale),
            output=float(output * scale),
            cache_read=float(read * scale),
            cache_write=float(write * scale),
            cache_write_1h=float(write_1h * scale),
            per_call=float(fee),
            source=SOURCE_LIBRARY,
        )
        self._lib_rates[key] = rates
        self._keep_alive.append(model_price)
        return rates


def _rule_rates(rule: PriceRule) -> Rates:
    return Rates(
        input=rule.input_per_1m,
        output=rule.output_per_1m,
        cache_read=rule.cache_read_per_1m,
        cache_write=rule.cache_write_per_1m,
        cache_write_1h=rule.cache_write_per_1m if rule.cache_write_1h_per_1m is None else rule.cache_write_1h_per_1m,
        per_call=0.0,
        source=rule.label,
    )


@cache
def _library_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("genai_prices") is not None


@cache
def _library_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "genai-prices " + version("genai-prices")
    except PackageNotFoundError:
        return None


def _tier_starts(model_price: Any) -> set[int]:
    from genai_prices.types import TieredPrices

    starts: set[int] = set()
    for value in vars(model_price).values():
        if isinstance(value, TieredPrices):
            starts.update(tier.start for tier in value.tiers)
    return starts


def _day_exact(lib_model: Any) -> bool:
    from genai_prices.types import ModelPrice, TimeOfDateConstraint

    prices = lib_model.prices
    all_prices = [prices] if isinstance(prices, ModelPrice) else [c.prices for c in prices]
    if not isinstance(prices, ModelPrice) and any(isinstance(c.constraint, TimeOfDateConstraint) for c in prices):
        return False
    return all(_tier_starts(p) <= set(TIER_THRESHOLDS) for p in all_prices)


def day_start_us(day: str) -> int:
    """Microseconds at the start of a UTC day."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1_000_000


__all__ = [
    "SOURCE_LIBRARY",
    "SOURCE_REPORTED",
    "SOURCE_UNPRICED",
    "TIER_THRESHOLDS",
    "CacheRow",
    "PriceBook",
    "Priced",
    "Rates",
    "Resolved",
    "day_of_us",
    "day_start_us",
    "tier_bucket",
    "tier_bucket_sql",
]
