# ruff: noqa: FBT003 - PriceBook.price and PriceRule take their fields positionally, as documented
"""The compiled genai-prices table (laptime.price_table): the same prices and the same
model matching as genai-prices itself, for every model it lists; a cache file that is
keyed, rebuilt when damaged or foreign, and optional when the folder cannot be written."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import invoke
from laptime import price_table
from laptime.index import Index
from laptime.price_table import PriceTable, TableFile, cache_dir, library_stamp, load_table, table_key, table_path
from laptime.pricing import TIER_THRESHOLDS, PriceBook, Rates

if TYPE_CHECKING:
    from collections.abc import Iterator

    from laptime.price_table import Model
    from laptime.store import Store

genai_prices = pytest.importorskip("genai_prices")
from genai_prices import Usage, calc_price, data_snapshot  # noqa: E402 - only once importorskip found it
from genai_prices.types import ConditionalPrice, ModelPrice, StartDateConstraint, TimeOfDateConstraint  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
DAY_US = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    loaded, _info = load_table()
    assert loaded is not None
    return loaded


def snapshot_models() -> Iterator[tuple[Any, int, Any]]:
    """(provider, index in its list, model) of every model in the installed snapshot."""
    for provider in data_snapshot.get_snapshot().providers:
        for i, model in enumerate(provider.models):
            yield provider, i, model


def compiled(table: PriceTable, provider_id: str, i: int) -> Model:
    provider = next(p for p in table.providers if p.id == provider_id)
    return table.models(provider)[i]


def conditional(model: Any) -> list[ConditionalPrice]:
    return [] if isinstance(model.prices, ModelPrice) else list(model.prices)


def tokens(total: int, mix: int) -> dict[str, int]:
    """A call of ``total`` input tokens (cache included): no cache, or reads, 5-minute and
    1-hour writes all at once."""
    if mix % 2 == 0:
        return {"input_tokens": total, "output_tokens": 700 + total // 9}
    write = total // 5
    return {
        "input_tokens": total,
        "output_tokens": 1 + total // 11,
        "cache_read_tokens": total // 3,
        "cache_write_tokens": write,
        "cache_write_1h_tokens": write // 2,
    }


def genai_cost(model: Any, provider: Any, usage: dict[str, int], at: datetime) -> float | None:
    try:
        calc = model.calc_price(Usage(**usage), provider, genai_request_timestamp=at)
    except (ValueError, LookupError):
        return None
    return float(calc.total_price)


def table_cost(model: Model, usage: dict[str, int], at: datetime) -> float | None:
    at_us = (at - EPOCH) // timedelta(microseconds=1)
    total = usage["input_tokens"]
    segment = model.rates(at.strftime("%Y-%m-%d"), at_us % DAY_US, total)
    if segment is None:
        return None
    cread, cwrite = usage.get("cache_read_tokens", 0), usage.get("cache_write_tokens", 0)
    rates = Rates(*segment, source="genai-prices")
    return rates.cost(
        1, total - cread - cwrite, usage["output_tokens"], cread, cwrite, usage.get("cache_write_1h_tokens", 0)
    )


def instants(model: Any) -> list[datetime]:
    """Each side of every price change of the model, and a few fixed days; for time-of-day
    prices, each side of each period's start and end."""
    days = {date(2023, 6, 1), date(2025, 3, 15), date(2026, 1, 5)}
    for c in conditional(model):
        if isinstance(c.constraint, StartDateConstraint):
            days |= {c.constraint.start_date, c.constraint.start_date - timedelta(days=1)}
    times = [time(0, 0), time(13, 37, 5)]
    for c in conditional(model):
        if isinstance(c.constraint, TimeOfDateConstraint):
            for t in (c.constraint.start_time, c.constraint.end_time):
                at = datetime.combine(date(2026, 1, 5), t.replace(tzinfo=t.tzinfo or UTC)).astimezone(UTC)
                times += [at.timetz().replace(tzinfo=None), (at - timedelta(microseconds=1)).time()]
    return [datetime.combine(d, t, tzinfo=UTC) for d in sorted(days) for t in times]


def sizes(model: Any) -> list[int]:
    """Input sizes at every tier edge of the model (at the start: still the lower rate;
    one above: the tier's), and two ordinary ones."""
    found = {0, 1_234, 150_000}
    prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    for p in prices:
        for start in price_table.tier_starts(p):
            found |= {start, start + 1}
    return sorted(found)


def test_every_model_costs_what_genai_prices_says(table: PriceTable) -> None:
    """Exhaustive over the installed snapshot: every provider's every model, at each side of
    each price change, at each tier edge, with and without cache tokens."""
    checked = 0
    for provider, i, model in snapshot_models():
        entry = compiled(table, provider.id, i)
        assert entry.id == model.id
        for n, at in enumerate(instants(model)):
            for size in sizes(model):
                usage = tokens(size, n + size)
                expected = genai_cost(model, provider, usage, at)
                got = table_cost(entry, usage, at)
                assert (got is None) == (expected is None), (provider.id, model.id, at, usage)
                if expected is not None:
                    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), (provider.id, model.id, at, usage)
                checked += 1
    assert checked > 10 * sum(1 for _ in snapshot_models())


def test_price_changes_and_time_of_day_prices_are_in_the_snapshot_tested() -> None:
    """The exhaustive test above covers price periods and tiers only if the snapshot has
    them: it does (dated prices, off-peak hours, tiers at laptime's thresholds)."""
    kinds = {type(c.constraint) for _, _, m in snapshot_models() for c in conditional(m)}
    assert {StartDateConstraint, TimeOfDateConstraint} <= kinds
    assert any(sizes(m) != [0, 1_234, 150_000] for _, _, m in snapshot_models())


@settings(max_examples=300, deadline=None)
@given(
    pick=st.integers(min_value=0),
    day=st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31)),
    us_of_day=st.integers(min_value=0, max_value=DAY_US - 1),
    uncached=st.integers(min_value=0, max_value=1_200_000),
    cread=st.integers(min_value=0, max_value=600_000),
    cwrite=st.integers(min_value=0, max_value=300_000),
    one_hour=st.floats(min_value=0, max_value=1),
    output=st.integers(min_value=0, max_value=200_000),
)
def test_random_calls_cost_what_genai_prices_says(  # noqa: PLR0917 - hypothesis passes each drawn value
    pick: int, day: date, us_of_day: int, uncached: int, cread: int, cwrite: int, one_hour: float, output: int
) -> None:
    loaded, _ = load_table()
    assert loaded is not None
    models = list(snapshot_models())
    provider, i, model = models[pick % len(models)]
    usage = {
        "input_tokens": uncached + cread + cwrite,
        "output_tokens": output,
        "cache_read_tokens": cread,
        "cache_write_tokens": cwrite,
    }
    if int(cwrite * one_hour):
        usage["cache_write_1h_tokens"] = int(cwrite * one_hour)
    at = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(microseconds=us_of_day)
    expected = genai_cost(model, provider, usage, at)
    got = table_cost(compiled(loaded, provider.id, i), usage, at)
    assert got == (pytest.approx(expected, rel=1e-12, abs=1e-15) if expected is not None else None)


# -- model names ----------------------------------------------------------------------------------

REAL_NAMES = [
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5",
    "claude-opus-4-1",
    "claude-opus-4-1-20250805",
    "claude-haiku-4-5-20251001",
    "claude-3-5-sonnet-20241022",
    "Claude-Sonnet-4-5",
    "gpt-5-codex",
    "gpt-5",
    "gpt-5.2-20251211",
    "gpt-4o-mini",
    "gpt-4o-2024-08-06",
    "o3-mini",
    "gemini-2.5-pro",
    "gemini-2.5-flash-preview-05-20",
    "publishers/google/models/gemini-2.5-pro",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",  # bedrock
    "us.anthropic.claude-sonnet-4-20250514-v1:0",  # bedrock, cross-region
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-sonnet-4@20250514",  # vertex
    "claude-3-5-sonnet-v2@20241022",
    "anthropic/claude-sonnet-4.5",  # openrouter, litellm
    "openai/gpt-4o-mini",
    "deepseek-chat",
    "deepseek-reasoner",
    "grok-4",
    "mistral-large-latest",
    "meta-llama/llama-3.1-8b-instruct",
    "mystery-model-9",
    "claude-nova-9-20990101",
    "<synthetic>",
    "codex",
    "claude",
    "",
]
PROVIDERS = [
    "",
    "anthropic",
    "openai",
    "google",
    "aws",
    "bedrock",
    "vertex_ai",
    "azure",
    "openrouter",
    "litellm",
    "some-proxy",
]


def fixture_names(tmp_path: Path) -> set[tuple[str, str]]:
    """Every (model, provider) the importers read from tests/fixtures, and every quoted
    model-like name in them (the Claude Code generator's included)."""
    home = tmp_path / "fixtures-store"
    imports = [
        ("aidf", FIXTURES / "aidf"),
        ("codex", FIXTURES / "codex"),
        ("otlp", FIXTURES / "otlp"),
        ("runr", FIXTURES / "runr"),
        ("claude-code", FIXTURES / "cross-view" / "claude-code"),
        ("choragen", FIXTURES / "choragen" / "events.jsonl"),
        ("langgraph-logs", FIXTURES / "langgraph-logs"),
    ]
    for fmt, path in imports:
        result = invoke(home, "import", fmt, "-q", str(path))
        assert result.exit_code == 0, result.output
    from laptime.store import Store

    with Index(Store(home)) as index:
        index.update()
        found = {(m, p or "") for m, p in index.query("SELECT DISTINCT model, provider FROM llm_calls")}
    assert len(found) >= 8
    word = re.compile(
        r"\"((?:[a-z.]+[./])?(?:claude|gpt|gemini|o\d|codex|deepseek|<synthetic>)[^\"\s]{0,60})\"", re.IGNORECASE
    )
    for file in FIXTURES.rglob("*"):
        if file.is_file():
            found |= {(name, "") for name in word.findall(file.read_text(errors="replace"))}
    return found


def genai_find(model: str, provider: str) -> Any:
    """What laptime asked genai-prices before the table: the provider first, then the name alone."""
    snapshot = data_snapshot.get_snapshot()
    for provider_id in [provider, None] if provider else [None]:
        try:
            return snapshot.find_provider_model(model, None, provider_id, None)[1]
        except LookupError:
            continue
    return None


def test_model_names_resolve_to_the_model_genai_prices_picks(table: PriceTable, tmp_path: Path) -> None:
    owner = {id(m): (p.id, i) for p, i, m in snapshot_models()}
    names = {(name, provider) for name in REAL_NAMES for provider in PROVIDERS}
    names |= fixture_names(tmp_path)
    for p, _, m in snapshot_models():  # every id, under its own provider and alone
        names |= {(m.id, p.id), (m.id, ""), (m.id.upper(), "")}
    priced = 0
    for name, provider in sorted(names):
        expected = genai_find(name, provider)
        found = table.find(name, provider)
        if expected is None:
            assert found is None, (name, provider, found)
            continue
        priced += 1
        assert found is not None, (name, provider)
        owner_id, model = found
        models = table.models(next(p for p in table.providers if p.id == owner_id))
        assert (owner_id, next(i for i, m in enumerate(models) if m is model)) == owner[id(expected)], (name, provider)
    assert priced > 2000
    for name in ("mystery-model-9", "claude-nova-9-20990101", "<synthetic>", ""):
        assert table.find(name, "anthropic") is None or genai_find(name, "anthropic") is not None


def test_price_book_costs_what_genai_prices_calc_price_says() -> None:
    """PriceBook.price, end to end (names, providers, the table), against genai-prices'
    own calc_price, asked the way laptime asked it before the table."""
    book = PriceBook()
    at = datetime(2026, 1, 5, 17, 30, tzinfo=UTC)
    at_us = (at - EPOCH) // timedelta(microseconds=1)
    checked = 0
    for name in REAL_NAMES:
        for provider in PROVIDERS:
            for uncached, cread, cwrite, c1h, out in ((3_000, 5_000, 2_000, 0, 1_000), (250_000, 0, 8_000, 8_000, 5)):
                usage = Usage(
                    input_tokens=uncached + cread + cwrite,
                    output_tokens=out,
                    cache_read_tokens=cread,
                    cache_write_tokens=cwrite,
                    **({"cache_write_1h_tokens": c1h} if c1h else {}),
                )
                expected = None
                for provider_id in [provider, None] if provider else [None]:
                    try:
                        expected = float(
                            calc_price(usage, name, provider_id=provider_id, genai_request_timestamp=at).total_price
                        )
                        break
                    except LookupError:
                        continue
                got = book.price(name, provider, at_us, uncached, out, cread, cwrite, False, c1h)
                if expected is None:
                    assert (got.cost_usd, got.source) == (None, "unpriced"), (name, provider)
                else:
                    assert got.source == "genai-prices"
                    assert got.cost_usd == pytest.approx(expected, rel=1e-12), (name, provider)
                    checked += 1
    assert checked > 100


def test_day_exact_and_tiers_follow_the_snapshot(table: PriceTable) -> None:
    for provider, i, model in snapshot_models():
        entry = compiled(table, provider.id, i)
        prices = [c.prices for c in conditional(model)] or [model.prices]
        time_of_day = any(isinstance(c.constraint, TimeOfDateConstraint) for c in conditional(model))
        tiers_known = all(set(price_table.tier_starts(p)) <= set(TIER_THRESHOLDS) for p in prices)
        assert entry.day_exact == (not time_of_day and tiers_known), (provider.id, model.id)
        assert [p.tiers for p in entry.periods] == [price_table.tier_starts(p) for p in prices]


# -- the cache file --------------------------------------------------------------------------------


def test_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LAPTIME_CACHE_DIR")
    assert cache_dir() == tmp_path / "home" / ".cache" / "laptime"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert cache_dir() == tmp_path / "home" / ".cache" / "laptime"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "laptime"
    monkeypatch.setenv("LAPTIME_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


@pytest.fixture
def counted_builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """A fresh cache folder, and the keys of every table compiled from now on (each build
    is the real compile of the session, done once)."""
    monkeypatch.setenv("LAPTIME_CACHE_DIR", str(tmp_path / "cache"))
    built: list[str] = []
    real = price_table.compile_table
    done: dict[str, TableFile] = {}

    def compile_once(key: str) -> TableFile:
        built.append(key)
        if key not in done:
            done[key] = real(key)
        return done[key]

    monkeypatch.setattr(price_table, "compile_table", compile_once)
    return built


def current_path() -> Path:
    folder = cache_dir()
    assert folder is not None
    return table_path(folder, table_key(price_table.library_stamp()))


def test_the_table_is_built_once_then_read(counted_builds: list[str]) -> None:
    table, info = load_table()
    assert table is not None
    assert info is not None
    assert (info.rebuilt, info.path, info.problem) == (True, str(current_path()), None)
    assert info.genai_prices_version == genai_prices.__version__
    content = msgspec.msgpack.decode(current_path().read_bytes(), type=TableFile)
    assert content.key == table_key(library_stamp())
    assert content.overrides == price_table.OVERRIDES
    assert [f.name for f in current_path().parent.iterdir()] == [current_path().name]  # no temporary file left
    price_table._loaded.clear()
    again, info = load_table()
    assert again is not None
    assert info is not None
    assert (info.rebuilt, len(counted_builds)) == (False, 1)
    assert again.find("claude-sonnet-4-5", "anthropic") == table.find("claude-sonnet-4-5", "anthropic")


def _damaged(good: bytes) -> list[bytes]:
    middle = len(good) // 2
    other_key = msgspec.msgpack.decode(good, type=TableFile)
    foreign = msgspec.structs.replace(other_key, key="laptime price table 1\nlibrary genai_prices-0.0.1.dist-info")
    return [
        b"",
        b"not a price table at all",
        good[:middle],  # cut short
        good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :],  # one byte flipped
        msgspec.msgpack.encode(foreign),  # another genai-prices' table under this name
        msgspec.json.encode({"format": 1, "key": "x"}),
    ]


@pytest.mark.parametrize("damage", range(6))
def test_a_damaged_or_foreign_file_is_rebuilt_quietly(
    counted_builds: list[str], damage: int, capsys: pytest.CaptureFixture[str]
) -> None:
    load_table()
    good = current_path().read_bytes()
    current_path().write_bytes(_damaged(good)[damage])
    table, info = load_table()
    assert table is not None
    assert info is not None
    assert info.rebuilt
    assert info.problem is None  # rewritten
    assert len(counted_builds) == 2
    assert current_path().read_bytes() == good
    assert capsys.readouterr() == ("", "")
    assert table.find("gpt-4o", "openai") is not None


def test_an_unwritable_cache_folder_prices_from_memory(
    counted_builds: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, table: PriceTable
) -> None:
    """Nowhere to keep the table: genai-prices is imported for this process, only the models
    asked for are measured (as cheap as the lookup before the table), the answers are the
    same, and nothing fails."""
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder would be inside a file")
    monkeypatch.setenv("LAPTIME_CACHE_DIR", str(blocker / "laptime"))
    in_memory, info = load_table()
    assert in_memory is not None
    assert info is not None
    assert (info.path, info.rebuilt) == (None, True)
    assert info.problem is not None
    assert info.problem.startswith(f"cannot write the price table in {blocker / 'laptime'}")
    assert counted_builds == []  # not the whole table: it could not be kept
    for name in REAL_NAMES:
        for provider in PROVIDERS:
            assert in_memory.find(name, provider) == table.find(name, provider), (name, provider)
    again, _ = load_table()  # the same process does not import and match twice
    assert again is in_memory
    book = PriceBook()
    sonnet = book.price("claude-sonnet-4-5", "anthropic", 1_767_603_600_000_000, 3_000, 1_000, 5_000, 2_000, False)
    assert sonnet.cost_usd == pytest.approx(0.0330)


def test_another_genai_prices_gets_its_own_table(counted_builds: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    load_table()
    first = current_path()
    monkeypatch.setattr(
        price_table, "library_stamp", lambda: "site/genai_prices/__init__.py ['genai_prices-9.9.9.dist-info 1']"
    )
    _, info = load_table()
    assert info is not None
    assert info.rebuilt
    assert current_path() != first
    assert "9.9.9" in current_path().name
    assert first.exists()
    assert len(counted_builds) == 2


def test_config_prices_apply_on_top_of_the_table() -> None:
    from laptime.config import PriceRule

    book = PriceBook([PriceRule("sonnet", False, 1.0, 2.0, 0.1, 1.25)])
    at = 1_767_603_600_000_000
    sonnet = book.price("claude-sonnet-4-5", "anthropic", at, 1_000_000, 0, 0, 0, False)
    assert (sonnet.cost_usd, sonnet.source) == (1.0, "config:sonnet")
    haiku = book.price("claude-haiku-4-5", "anthropic", at, 1_000_000, 0, 0, 0, False)
    assert (haiku.cost_usd, haiku.source) == (pytest.approx(1.0), "genai-prices")
    assert book.resolve("claude-sonnet-4-5", "anthropic", at).library_model == "claude-sonnet-4-5"


def test_pricing_names_the_table_or_says_it_is_in_memory(
    counted_builds: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Store
) -> None:
    from helpers import T0, make_recorder
    from laptime import SimulatedClock

    with make_recorder(store, SimulatedClock(start=T0)) as rec, rec.run("r", run_id="r1") as run:
        run.llm_call("claude-sonnet-4-5", provider="anthropic", input_tokens=10)
    listed = invoke(store.root, "pricing")
    assert listed.exit_code == 0, listed.output
    assert (
        listed.output.splitlines()[-1]
        == f"price table: {current_path()} (from genai-prices {genai_prices.__version__}, compiled now)"
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LAPTIME_CACHE_DIR", str(blocker / "laptime"))
    listed = invoke(store.root, "pricing")
    assert listed.exit_code == 0, listed.output
    in_memory = f"price table: compiled in memory from genai-prices {genai_prices.__version__}"
    assert listed.output.splitlines()[-1].startswith(f"{in_memory} (cannot write the price table in ")
    assert "claude-sonnet-4-5  anthropic" in listed.output
    assert len(counted_builds) == 1
