"""Config: the ``[pricing]`` section is validated, and every error names the file and key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from typing import TYPE_CHECKING

import pytest

from helpers import T0, invoke, make_recorder, record_simple_run
from laptime import SimulatedClock
from laptime.config import MAX_MODEL_CHARS, ConfigError, PriceRule, load_config, regex_problem

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
        # past the limits of the parsers below (re's repeat count, urllib's IPv6 and port, tomllib's depth)
        (
            '[[pricing.models]]\nregex = "a{99999999999}"\ninput_per_1m = 1\noutput_per_1m = 1\n',
            "pricing.models[0].regex is not a valid regular expression",
        ),
        ('[webhook]\nurl = "http://[::1"\n', "webhook.url is not a URL: Invalid IPv6 URL"),
        ('[webhook]\nurl = "http://127.0.0.1:99999/x"\n', "webhook.url is not a URL: Port out of range 0-65535"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML here: arrays or tables nested deeper"),
    ],
)
def test_bad_pricing_shapes(store: Store, text: str, message: str) -> None:
    from laptime.errors import UsageError

    store.ensure()
    store.config_path.write_text(text)
    with pytest.raises(UsageError, match=r".*") as info:  # a ConfigError ([webhook]'s own for its table)
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


# -- numbers out of range, files that are not UTF-8 or not files: exit 2, no traceback ------


def _report_list_fails(store: Store, message: str) -> None:
    """``laptime --home STORE report list`` exits 2 with exactly ``Error: MESSAGE``."""
    result = invoke(store.root, "report", "list")
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {message}\n"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "-inf", "1e308", "525601"])
def test_crashed_after_out_of_range(store: Store, value: str) -> None:
    record_simple_run(store, "r1")
    store.config_path.write_text(f"crashed_after_minutes = {value}\n", encoding="utf-8")
    shown = repr(float(value)) if value != "525601" else value
    if value == "-inf":
        expected = f"{store.config_path}: crashed_after_minutes must be a positive number of minutes, got -inf"
    else:
        expected = (
            f"{store.config_path}: crashed_after_minutes must be a finite number of minutes, at most 525600 "
            f"(a year), got {shown}"
        )
    _report_list_fails(store, expected)


def test_crashed_after_negative(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.write_text("crashed_after_minutes = -5\n", encoding="utf-8")
    _report_list_fails(
        store, f"{store.config_path}: crashed_after_minutes must be a positive number of minutes, got -5"
    )


def test_crashed_after_a_year_is_accepted(store: Store) -> None:
    store.ensure()
    store.config_path.write_text("crashed_after_minutes = 525600\n", encoding="utf-8")
    assert load_config(store).crashed_after_minutes == 525_600


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("input_per_1m", "inf", "inf"),
        ("input_per_1m", "nan", "nan"),
        ("output_per_1m", "1e308", "1e+308"),
        ("cache_read_per_1m", "-inf", "-inf"),
        ("cache_write_1h_per_1m", "1000000.5", "1000000.5"),
    ],
)
def test_price_out_of_range(store: Store, key: str, value: str, shown: str) -> None:
    record_simple_run(store, "r1")
    prices = {"input_per_1m": "1", "output_per_1m": "1", key: value}
    body = "".join(f"{k} = {v}\n" for k, v in prices.items())
    store.config_path.write_text(f'[[pricing.models]]\nmatch = "sonnet"\n{body}', encoding="utf-8")
    _report_list_fails(
        store,
        f"{store.config_path}: pricing.models[0].{key} must be a non-negative number (USD per million tokens), "
        f"at most 1000000, got {shown}",
    )


def test_highest_price_is_accepted(store: Store) -> None:
    store.ensure()
    store.config_path.write_text(
        '[[pricing.models]]\nmatch = "x"\ninput_per_1m = 1000000\noutput_per_1m = 0\n', encoding="utf-8"
    )
    assert load_config(store).price_rules[0].input_per_1m == 1_000_000


def test_config_not_utf8(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.write_bytes("# caf\u00e9\ncrashed_after_minutes = 5\n".encode("latin-1"))
    _report_list_fails(store, f"{store.config_path}: not UTF-8 text (byte 0xe9 at offset 5); save it as UTF-8")


def test_pyproject_not_utf8(store: Store) -> None:
    record_simple_run(store, "r1")
    pyproject = store.root.parent / "pyproject.toml"
    pyproject.write_bytes("[tool.laptime]\n".encode("utf-16"))
    _report_list_fails(store, f"{pyproject}: not UTF-8 text (byte 0xff at offset 0); save it as UTF-8")


def test_config_is_a_folder(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.mkdir()
    # a pyproject section must not be used instead: the user meant the store's config
    (store.root.parent / "pyproject.toml").write_text("[tool.laptime]\ncrashed_after_minutes = 5\n", encoding="utf-8")
    _report_list_fails(
        store, f"{store.config_path}: is a folder, not a file; laptime reads its settings from a file of that name"
    )


def test_pyproject_is_a_folder(store: Store) -> None:
    record_simple_run(store, "r1")
    pyproject = store.root.parent / "pyproject.toml"
    pyproject.mkdir()
    _report_list_fails(
        store, f"{pyproject}: is a folder, not a file; laptime reads its settings from a file of that name"
    )


def test_config_is_a_dangling_link(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.symlink_to(store.root / "nowhere.toml")
    _report_list_fails(
        store, f"{store.config_path}: is a link to nothing; laptime reads its settings from a file of that name"
    )


def test_config_is_a_fifo(store: Store) -> None:
    record_simple_run(store, "r1")
    os.mkfifo(store.config_path)  # opening it would wait for a writer forever
    _report_list_fails(
        store, f"{store.config_path}: is not a regular file; laptime reads its settings from a file of that name"
    )


# -- regex patterns that could hang a report are refused when the config is read ------------

SLOW_PATTERNS = [
    ("(a+)+$", "nests a quantifier inside a repeated group"),
    ("(a*)*", "nests a quantifier inside a repeated group"),
    ("(a+)*b", "nests a quantifier inside a repeated group"),
    ("(a?){30}$", "nests a quantifier inside a repeated group"),
    (r"^(\w+\s?)*$", "nests a quantifier inside a repeated group"),
    ("([a-z]+-)+x", "nests a quantifier inside a repeated group"),
    ("(?:(?=a+)b)+", "nests a quantifier inside a repeated group"),
    ("(a|ab)*c", "repeats an alternation whose branches can match the same text"),
    ("(a|a)+$", "repeats an alternation whose branches can match the same text"),
    ("(?:.|a)+$", "repeats an alternation whose branches can match the same text"),
    ("(?:A|ab){2,}$", "repeats an alternation whose branches can match the same text"),  # case folding may be on
    ("(?:a|b?)+$", "repeats an alternation whose branches can match the same text"),
    ("(?:x|[a-z]y)+$", "repeats an alternation whose branches can match the same text"),
    (".*.*.*x", "has 3 repeating quantifiers (*, +, {m,n}); at most 2 are allowed"),
    (".*a?.*a?a?x", "has 5 quantifiers; at most 4 are allowed"),
    ("a" * 201, "is longer than 200 characters"),
]


@pytest.mark.parametrize(("pattern", "reason"), SLOW_PATTERNS)
def test_slow_regex_is_refused_at_load(store: Store, pattern: str, reason: str) -> None:
    store.ensure()
    store.config_path.write_text(
        '[[pricing.models]]\nmatch = "ok"\ninput_per_1m = 1\noutput_per_1m = 1\n\n'
        f"[[pricing.models]]\nregex = '{pattern}'\ninput_per_1m = 1\noutput_per_1m = 1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(store)
    assert str(info.value).startswith(f"{store.config_path}: pricing.models[1].regex {pattern!r} could take too long")
    assert f"it {reason}" in str(info.value)


@pytest.mark.parametrize(
    "pattern",
    [
        "^gpt-4o(-mini)?$",
        r"^gpt-4o(-mini)?(-\d{4}-\d{2}-\d{2})?$",  # exact {4} repeats give no choice to undo
        "^claude-.*",
        "^claude-.*-4-.*$",
        "^(?:claude|gpt)-",
        "(?:foo|bar)+$",  # branches start differently
        "(?:ab|cd)*$",
        "(a{2})+$",
        "(?i)(a|b)+",  # the parser turns it into the class [ab]
        "^my-finetune-",
        "a" * 200,
    ],
)
def test_ordinary_regex_is_accepted(store: Store, pattern: str) -> None:
    store.ensure()
    store.config_path.write_text(
        f"[[pricing.models]]\nregex = '{pattern}'\ninput_per_1m = 1\noutput_per_1m = 1\n", encoding="utf-8"
    )
    assert load_config(store).price_rules[0].pattern == pattern
    assert regex_problem(pattern) is None


def test_slow_regex_exits_2_through_the_cli(store: Store) -> None:
    record_simple_run(store, "r1")
    store.config_path.write_text(
        '[[pricing.models]]\nregex = "(a+)+$"\ninput_per_1m = 1\noutput_per_1m = 1\n', encoding="utf-8"
    )
    _report_list_fails(
        store,
        f"{store.config_path}: pricing.models[0].regex '(a+)+$' could take too long to match: it nests a "
        "quantifier inside a repeated group, like (a+)+ or (a?){30}. Use a simpler pattern, or match "
        "(a substring); see docs/config.md",
    )


def test_long_model_names_never_match_a_regex() -> None:
    rule = PriceRule("^a+$", True, 1.0, 1.0, 1.0, 1.0)  # noqa: FBT003 - the dataclass's own field order
    assert rule.matches("a" * MAX_MODEL_CHARS)
    assert not rule.matches("a" * (MAX_MODEL_CHARS + 1))
    substring = PriceRule("a", False, 1.0, 1.0, 1.0, 1.0)  # noqa: FBT003 - the dataclass's own field order
    assert substring.matches("a" * 10_000)  # a substring test is linear: no cap needed


def _record_model(store: Store, model: str) -> None:
    clock = SimulatedClock(start=T0)
    with make_recorder(store, clock) as rec, rec.run("slow", run_id="s1") as run:
        run.llm_call(model, provider="anthropic", input_tokens=1, output_tokens=1)


def _report_list_in_a_subprocess(store: Store) -> subprocess.CompletedProcess[str]:
    """A pattern that hangs hangs the whole process: only a subprocess can be timed out."""
    return subprocess.run(
        [sys.executable, "-c", "from laptime.cli import cli; cli()", "--home", str(store.root), "report", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_catastrophic_pattern_cannot_hang_a_report(store: Store) -> None:
    _record_model(store, "a" * 40 + "!")  # (a+)+$ tries 2**40 ways on this name
    store.config_path.write_text(
        '[[pricing.models]]\nregex = "(a+)+$"\ninput_per_1m = 1\noutput_per_1m = 1\n', encoding="utf-8"
    )
    started = time.monotonic()
    done = _report_list_in_a_subprocess(store)
    assert time.monotonic() - started < 20
    assert done.returncode == 2, done.stderr
    assert "pricing.models[0].regex '(a+)+$' could take too long to match" in done.stderr
    assert "Traceback" not in done.stderr


def test_long_model_name_cannot_hang_a_report(store: Store) -> None:
    # .*.*$x is allowed (two repeats); it costs about n**3 steps on a name of n letters
    _record_model(store, "a" * 5000)
    store.config_path.write_text(
        '[[pricing.models]]\nregex = ".*.*$x"\ninput_per_1m = 1\noutput_per_1m = 1\n', encoding="utf-8"
    )
    started = time.monotonic()
    done = _report_list_in_a_subprocess(store)
    assert time.monotonic() - started < 20
    assert done.returncode == 0, done.stderr
