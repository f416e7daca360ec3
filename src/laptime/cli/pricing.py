"""``laptime pricing``: every model seen, its resolved price, and where it came from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from laptime.cli._common import config_of, echo_json, json_option, open_index, store_of, style_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from laptime.analysis.results import PriceTableInfo


def _per_1m(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.4f}".rstrip("0").rstrip(".") if value else "$0"


@click.command("pricing")
@json_option
@click.pass_context
def pricing(ctx: click.Context, as_json: bool) -> None:
    """Every model seen in the log, with the price (USD per million tokens) in effect at
    its last call, and where that price came from: config:<pattern> (your config),
    genai-prices (the price library), or unpriced (cost shown as null, never $0).
    Calls whose source reported a cost are counted in the "reported" column; that
    reported cost wins over any price.

    The last line names the compiled price table (genai-prices' prices, kept in the
    user's cache folder: $LAPTIME_CACHE_DIR, $XDG_CACHE_HOME/laptime or ~/.cache/laptime)
    and the genai-prices version it was compiled from.

    \b
    Examples:
      laptime pricing
      laptime pricing --json
    """
    import msgspec

    from laptime.analysis.prices import price_listing
    from laptime.pricing import PriceBook

    store = store_of(ctx)
    book = PriceBook.from_config(config_of(store))
    with open_index(ctx) as index:
        listing = price_listing(index, book)
    rows: list[dict[str, Any]] = msgspec.to_builtins(listing.models)
    if as_json:
        echo_json(listing)
        return
    style = style_of(ctx)
    if not rows:
        click.echo("no LLM calls recorded yet")
        return
    from laptime.report.format import integer, table

    body = [
        [
            r["model"],
            r["provider"] or "-",
            integer(r["calls"]),
            integer(r["reported_cost_calls"]),
            _per_1m(r["input_per_1m"]),
            _per_1m(r["output_per_1m"]),
            _per_1m(r["cache_read_per_1m"]),
            _per_1m(r["cache_write_per_1m"]),
            r["source"] + (" (+long-context tiers)" if r["long_context_tiers"] else ""),
        ]
        for r in rows
    ]
    headers = ["model", "provider", "calls", "reported", "input", "output", "cache read", "cache write", "source"]
    for line in table(headers, body, "llrrrrrrl", width=style.width):
        click.echo(line)
    click.echo(style.fit("prices: USD per million tokens, in effect at each model's last call"))
    _table_line(listing.price_table, style.fit)
    notes = sorted({r["note"] for r in rows if r["note"]})
    for note in notes:
        click.echo(style.fit(f"note: {note}"))


def _table_line(info: PriceTableInfo | None, fit: Callable[[str], str]) -> None:
    """Where genai-prices' prices were read from: the compiled table's file and version."""
    if info is None:
        return
    version = f"genai-prices {info.genai_prices_version}"
    if info.path is None:
        click.echo(fit(f"price table: compiled in memory from {version} ({info.problem})"))
        return
    built = ", compiled now" if info.rebuilt else ""
    click.echo(fit(f"price table: {info.path} (from {version}{built})"))
