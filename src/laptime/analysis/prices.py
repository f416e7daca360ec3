"""``laptime pricing``: every model seen, with the price in effect at its last call and its source,
and the compiled genai-prices table the library prices come from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from laptime.analysis.results import ModelPrice, PriceTableInfo, Pricing
from laptime.definitions import ts_us_sql
from laptime.pricing import day_of_us

if TYPE_CHECKING:
    from laptime.index import Index
    from laptime.pricing import PriceBook


def price_listing(index: Index, book: PriceBook) -> Pricing:
    """One row per (model, provider) in the log, by model name."""
    seen = index.query(
        f"""SELECT model, provider, COUNT(*), COUNT(cost_usd), MAX({ts_us_sql("ts")})
            FROM llm_calls GROUP BY model, provider ORDER BY model, provider"""
    )
    models = []
    for model, provider, calls, reported, last_us in seen:
        resolved = book.resolve(model, provider, last_us)
        rates = resolved.rates
        models.append(
            ModelPrice(
                model=model,
                provider=provider or None,
                calls=calls,
                reported_cost_calls=reported,
                source=resolved.source,
                price_at=day_of_us(last_us),
                input_per_1m=rates.input if rates else None,
                output_per_1m=rates.output if rates else None,
                cache_read_per_1m=rates.cache_read if rates else None,
                cache_write_per_1m=rates.cache_write if rates else None,
                cache_write_1h_per_1m=rates.cache_write_1h if rates else None,
                long_context_tiers=resolved.tiered,
                library_model=resolved.library_model,
                note=resolved.note or None,
            )
        )
    table = book.table_info()
    price_table = (
        PriceTableInfo(
            path=table.path,
            genai_prices_version=table.genai_prices_version,
            rebuilt=table.rebuilt,
            problem=table.problem,
        )
        if table is not None
        else None
    )
    return Pricing(models=models, price_table=price_table)
