"""``laptime pricing``: every model seen, its resolved price and where it came from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from helpers import GPT, HAIKU, SONNET, T0, invoke, invoke_json, make_recorder
from laptime import SimulatedClock

if TYPE_CHECKING:
    from laptime.store import Store

CONFIG = """
[[pricing.models]]
match = "sonnet"
input_per_1m = 2
output_per_1m = 10

[[pricing.models]]
match = "sonnet"
input_per_1m = 4
output_per_1m = 20
cache_read_per_1m = 0.4
cache_write_per_1m = 5
effective_from = 2026-01-06
"""


def record(store: Store) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("priced", run_id="p1") as run:
        run.llm_call(SONNET, provider="anthropic", input_tokens=10)
        run.llm_call(HAIKU, provider="anthropic", input_tokens=10, cost_usd=0.01)
        run.llm_call(GPT, provider="openai", input_tokens=10)
        run.llm_call("mystery-model-9", input_tokens=10)
        clock.advance(86_400)
        run.llm_call(SONNET, provider="anthropic", input_tokens=10)  # on 2026-01-06: the newer price
    store.config_path.write_text(CONFIG)


def test_pricing_table(store: Store) -> None:
    record(store)
    result = invoke(store.root, "pricing")
    assert result.exit_code == 0, result.output
    *lines, table_line = result.output.splitlines()
    assert lines == [
        "model              provider   calls  reported  input  output  cache read  cache write  source",
        "-----------------  ---------  -----  --------  -----  ------  ----------  -----------  -------------",
        "claude-haiku-4-5   anthropic      1         1     $1      $5        $0.1        $1.25  genai-prices",
        "claude-sonnet-4-5  anthropic      2         0     $4     $20        $0.4           $5  config:sonnet",
        "gpt-4o             openai         1         0   $2.5     $10       $1.25         $2.5  genai-prices",
        "mystery-model-9    -              1         0      -       -           -            -  unpriced",
        "prices: USD per million tokens, in effect at each model's last call",
    ]
    info = invoke_json(store.root, "pricing")["price_table"]
    source = f"price table: {info['path']} (from genai-prices {info['genai_prices_version']}"
    assert table_line in {source + ")", source + ", compiled now)"}  # compiled by the session's first command
    assert Path(info["path"]).is_file()
    assert info["problem"] is None


def test_pricing_json(store: Store) -> None:
    record(store)
    rows = {r["model"]: r for r in invoke_json(store.root, "pricing")["models"]}
    assert rows["mystery-model-9"] == {
        "model": "mystery-model-9",
        "provider": None,
        "calls": 1,
        "reported_cost_calls": 0,
        "source": "unpriced",
        "price_at": "2026-01-05",
        "input_per_1m": None,
        "output_per_1m": None,
        "cache_read_per_1m": None,
        "cache_write_per_1m": None,
        "cache_write_1h_per_1m": None,
        "long_context_tiers": False,
        "library_model": None,
        "note": None,
    }
    sonnet = rows[SONNET]
    assert (sonnet["source"], sonnet["price_at"], sonnet["input_per_1m"]) == ("config:sonnet", "2026-01-06", 4.0)
    assert sonnet["library_model"] == "claude-sonnet-4-5"
    assert (rows[HAIKU]["source"], rows[HAIKU]["input_per_1m"]) == ("genai-prices", 1.0)
    assert rows[GPT]["output_per_1m"] == 10.0


def test_summary_prices_each_side_of_a_price_change(store: Store) -> None:
    """The sonnet call on 2026-01-05 pays $2/M input, the one on 2026-01-06 pays $4/M."""
    record(store)
    models = {m["model"]: m for m in invoke_json(store.root, "report", "summary")["models"]}
    assert models[SONNET]["cost_usd"] == 10 * 2 / 1e6 + 10 * 4 / 1e6
    assert models[HAIKU]["cost_usd"] == 0.01


def test_no_calls(store: Store) -> None:
    store.ensure()
    assert invoke(store.root, "pricing").output == "no LLM calls recorded yet\n"
