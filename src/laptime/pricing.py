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
   is read from its compiled table (``laptime.price_table``: a small file in the user's
   cache folder, read without pydantic); genai-prices itself is imported only when that
   table must be built, and never goes online.
4. ``unpriced``: none of the above knows the model. Its cost is ``None``, never $0.

API::

    book = PriceBook.from_config(config)            # or PriceBook(rules, library=True)
    book.price(model, provider, at_us, input_tokens, output_tokens, cache_read_tokens,
               cache_write_tokens, input_includes_cache, cache_write_1h_tokens=0,
               reported_cost_usd=None) -> Priced(cost_usd, source)
    book.rates(model, provider, day, bucket) -> Rates | None   # per-1M rates of a token group
    book.resolve(model, provider, at_us) -> Resolved            # what `laptime pricing` shows
    book.day_exact(model, provider) -> bool                     # see "Aggregates" below
    book.table_info() -> TableInfo | None                       # the compiled table in use

Token meaning: ``input_tokens`` follows ``input_includes_cache`` (OpenAI/OTel count the
cache tokens in it, Anthropic does not). genai-prices wants the total input, so tiers
are picked by the uncached input plus the cache tokens. Config prices apply
``input_per_1m`` to the uncached input only.

Aggregates. Pricing a million calls one by one is slow, and pricing summed tokens is
wrong for long-context tiers (a tier is picked by the size of ONE call's input). So
token groups are keyed by (model, provider, UTC day, tier bucket), where the bucket
(``tier_bucket``) says which of ``TIER_THRESHOLDS`` the call's total input exceeds.
Within one group every call pays the same per-token rates, so
``Rates.cost(calls, input, output, cache_read, cache_write)`` over the group's sums
equals the sum of the per-call prices (to float rounding). ``day_exact`` is False for
the few models whose prices change within a day (time-of-day prices) or whose tiers
start at a threshold outside ``TIER_THRESHOLDS``; price those per call.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final

from laptime.definitions import uncached_input
from laptime.price_table import TIER_THRESHOLDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from laptime.config import Config, PriceRule
    from laptime.price_table import Model, PriceTable, Segment, TableInfo

SOURCE_REPORTED: Final = "reported"
SOURCE_LIBRARY: Final = "genai-prices"
SOURCE_UNPRICED: Final = "unpriced"

_PER: Final = 1_000_000
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
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)).date().isoformat()


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
        self._lib_model: dict[tuple[str, str], Model | None] = {}
        self._table: tuple[PriceTable | None, TableInfo | None] | None = None

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
        else:
            found = self._library_model(model, provider)
            segment = (
                found.rates(day, at_us % _DAY_US, uncached + cache_read_tokens + cache_write_tokens)
                if found is not None
                else None
            )
            if segment is None:
                return Priced(None, SOURCE_UNPRICED)
            rates = _library_rates(segment)
        cost = rates.cost(1, uncached, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens)
        return Priced(cost, rates.source)

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

        So a cost by phase adds up to the cost by model."""
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
        None when the model is unpriced. Library prices are those in effect at the start
        of the day (the same all day for a day-exact model)."""
        key = (model, provider, day, bucket)
        if key in self._rates:
            return self._rates[key]
        rule = self._rule(model, day)
        result: Rates | None
        if rule is not None:
            result = _rule_rates(rule)
        else:
            found = self._library_model(model, provider)
            segment = found.rates(day, 0, _bucket_probe(bucket)) if found is not None else None
            result = _library_rates(segment) if segment is not None else None
        self._rates[key] = result
        return result

    def day_exact(self, model: str, provider: str) -> bool:
        """Whether ``rates`` over (day, bucket) groups prices this model exactly.

        Config prices change per day at most; only library prices that change within a
        day, or tiers outside ``TIER_THRESHOLDS``, need per-call pricing."""
        if any(rule.effective_from is None and rule.matches(model) for rule in self.rules):
            return True
        found = self._library_model(model, provider)
        return found is None or found.day_exact

    # -- what `laptime pricing` shows ---------------------------------------------------------

    def resolve(self, model: str, provider: str, at_us: int) -> Resolved:
        day = day_of_us(at_us)
        rule = self._rule(model, day)
        found = self._library_model(model, provider)
        library_model = found.id if found is not None else None
        if rule is not None:
            return Resolved(model, provider, rule.label, _rule_rates(rule), tiered=False, library_model=library_model)
        period = found.period(day, 0) if found is not None else None
        segment = period.segment(_bucket_probe(0)) if period is not None else None
        if found is None or period is None or segment is None:
            note = "" if self.table_info() is not None else "genai-prices is not installed (extra: pricing)"
            return Resolved(model, provider, SOURCE_UNPRICED, None, tiered=False, library_model=None, note=note)
        return Resolved(
            model,
            provider,
            SOURCE_LIBRARY,
            _library_rates(segment),
            tiered=bool(period.tiers),
            library_model=library_model,
        )

    def table_info(self) -> TableInfo | None:
        """The compiled genai-prices table this book reads (None: the library is off or not
        installed). Loads it, building it if it must."""
        return self._library()[1]

    # -- internals ----------------------------------------------------------------------------

    def _library(self) -> tuple[PriceTable | None, TableInfo | None]:
        if self._table is None:
            if self.library:
                from laptime.price_table import load_table

                self._table = load_table()
            else:
                self._table = (None, None)
        return self._table

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

    def _library_model(self, model: str, provider: str) -> Model | None:
        key = (model, provider)
        if key in self._lib_model:
            return self._lib_model[key]
        table = self._library()[0]
        found = table.find(model, provider) if table is not None else None
        result = found[1] if found is not None else None
        self._lib_model[key] = result
        return result


def _library_rates(segment: Segment) -> Rates:
    r_in, r_out, r_cr, r_cw, r_c1h, r_call = segment
    return Rates(r_in, r_out, r_cr, r_cw, r_c1h, r_call, SOURCE_LIBRARY)


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


def day_start_us(day: str) -> int:
    """Microseconds at the start of a UTC day."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1_000_000


__all__ = [
    "SOURCE_LIBRARY",
    "SOURCE_REPORTED",
    "SOURCE_UNPRICED",
    "TIER_THRESHOLDS",
    "PriceBook",
    "Priced",
    "Rates",
    "Resolved",
    "day_of_us",
    "day_start_us",
    "tier_bucket",
    "tier_bucket_sql",
]
