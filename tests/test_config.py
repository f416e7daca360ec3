"""Config: the ``[pricing]`` section is validated, and every error names the file and key."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest

from helpers import invoke, record_simple_run
from laptime.config import ConfigError, PriceRule, load_config

if TYPE_CHECKING:
    from laptime.store import Store

GOOD = """
crashed_after_minutes = 45

[[pricing.models]]
match = "sonnet"
input_per_1m = 3
output_per_1m = 15.0
cache_read_per_1m = 0.3
cache_write_per_1m = 3.75

[[pricing.models]]
regex = "^gpt-4o(-mini)?$"
input_per_1m = 2.5
output_per_1m = 10
effective_from = 2026-01-01
"""


def test_valid_pricing_section(store: Store) -> None:
    store.ensure()
    store.config_path.write_text(GOOD)
    config = load_config(store)
    assert config.crashed_after_minutes == 45
    assert config.price_rules == (
        # one-hour cache writes default to the cache write price
        PriceRule("sonnet", False, 3.0, 15.0, 0.3, 3.75, 3.75, None, 0),  # noqa: FBT003
        # cache prices default to the input price
        PriceRule("^gpt-4o(-mini)?$", True, 2.5, 10.0, 2.5, 2.5, 2.5, date(2026, 1, 1), 1),  # noqa: FBT003
    )
    assert config.price_rules[1].matches("gpt-4o-mini")
    assert not config.price_rules[1].matches("gpt-4o-2024")
    assert config.price_rules[0].matches("claude-SONNET-4-5")
    assert config.price_rules[0].label == "config:sonnet"


def test_pricing_in_pyproject(store: Store) -> None:
    store.root.parent.mkdir(parents=True, exist_ok=True)
    (store.root.parent / "pyproject.toml").write_text(
        '[tool.laptime]\n[[tool.laptime.pricing.models]]\nmatch = "x"\ninput_per_1m = 1\noutput_per_1m = 2\n'
    )
    assert load_config(store).price_rules[0].output_per_1m == 2.0


BAD = [
    ("input_per_1m = -1\noutput_per_1m = 1", "pricing.models[1].input_per_1m must be a non-negative number", "-1"),
    ('input_per_1m = "3"\noutput_per_1m = 1', "pricing.models[1].input_per_1m must be a non-negative number", "'3'"),
    ("input_per_1m = 1\noutput_per_1m = true", "pricing.models[1].output_per_1m must be a non-negative number", "True"),
    ("input_per_1m = 1\noutput_per_1m = nan", "pricing.models[1].output_per_1m must be a non-negative number", "nan"),
    ("input_per_1m = 1\noutput_per_1m = 1\ncache_read_per_1m = -0.1", "pricing.models[1].cache_read_per_1m", "-0.1"),
    ("input_per_1m = 1\noutput_per_1m = 1\ninput_per_m = 1", "unknown key 'pricing.models[1].input_per_m'", ""),
    ("input_per_1m = 1", "pricing.models[1].output_per_1m is missing", ""),
    ("input_per_1m = 1\noutput_per_1m = 1\neffective_from = 2026-13-01x", "not valid TOML", ""),
    (
        'input_per_1m = 1\noutput_per_1m = 1\neffective_from = "soon"',
        "pricing.models[1].effective_from must be a date",
        "",
    ),
    (
        "input_per_1m = 1\noutput_per_1m = 1\neffective_from = 2026-01-01T10:00:00",
        "pricing.models[1].effective_from",
        "",
    ),
]


@pytest.mark.parametrize(("body", "message", "shown"), BAD)
def test_bad_rates_name_the_key(store: Store, body: str, message: str, shown: str) -> None:
    store.ensure()
    store.config_path.write_text(
        '[[pricing.models]]\nmatch = "ok"\ninput_per_1m = 1\noutput_per_1m = 1\n\n'
        f'[[pricing.models]]\nmatch = "x"\n{body}\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(store)
    assert str(info.value).startswith(f"{store.config_path}: ")
    assert message in str(info.value)
    assert shown in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pricing]\nmodel = []\n", "unknown key 'pricing.model' (known keys: pricing.models)"),
        ("[[pricing.models]]\ninput_per_1m = 1\noutput_per_1m = 1\n", "needs exactly one of 'pricing.models[0].match'"),
        (
            '[[pricing.models]]\nmatch = "a"\nregex = "b"\ninput_per_1m = 1\noutput_per_1m = 1\n',
            "needs exactly one of",
        ),
        (
            '[[pricing.models]]\nregex = "("\ninput_per_1m = 1\noutput_per_1m = 1\n',
            "pricing.models[0].regex is not a valid regular expression",
        ),
        ('[[pricing.models]]\nmatch = ""\ninput_per_1m = 1\noutput_per_1m = 1\n', "pricing.models[0].match must be"),
        ("pricing = 3\n", "pricing must be a table"),
    ],
)
def test_bad_pricing_shapes(store: Store, text: str, message: str) -> None:
    store.ensure()
    store.config_path.write_text(text)
    with pytest.raises(ConfigError, match=r".*") as info:
        load_config(store)
    assert message in str(info.value)


def test_cli_exits_2_and_names_the_key(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.write_text('[[pricing.models]]\nmatch = "sonnet"\ninput_per_1m = "cheap"\noutput_per_1m = 1\n')
    for args in (["pricing"], ["report", "summary"]):
        result = invoke(store.root, *args)
        assert result.exit_code == 2, result.output
        assert f"{store.config_path}: pricing.models[0].input_per_1m must be a non-negative number" in result.output
        assert "Traceback" not in result.output
