"""Usage from provider responses (OpenAI, Anthropic) and the chars/4 estimator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from laptime.usage import Usage, estimate, estimate_tokens, from_anthropic, from_openai


def test_openai_chat_completions_keep_cached_tokens_inside_input() -> None:
    response = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 64},
        },
    }
    usage = from_openai(response)
    assert usage == Usage(
        input_tokens=2006,
        output_tokens=300,
        cache_read_tokens=1920,
        cache_write_tokens=0,
        input_includes_cache=True,
        estimated=False,
        provider="openai",
        model="gpt-4o-2024-08-06",
    )
    # OpenAI's prompt_tokens already count the cached ones: no double counting.
    assert usage.total_tokens == 2306


def test_openai_responses_api_shape() -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "model": "o4-mini",
        "usage": {
            "input_tokens": 5000,
            "input_tokens_details": {"cached_tokens": 4096},
            "output_tokens": 812,
            "output_tokens_details": {"reasoning_tokens": 640},
            "total_tokens": 5812,
        },
    }
    usage = from_openai(response)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (5000, 812, 4096)
    assert usage.input_includes_cache
    assert (usage.provider, usage.model) == ("openai", "o4-mini")
    assert usage.total_tokens == 5812


def test_openai_sdk_objects_are_read_by_attribute() -> None:
    response = SimpleNamespace(
        model="gpt-4o",
        usage=SimpleNamespace(prompt_tokens=10, completion_tokens=2, prompt_tokens_details=None),
    )
    usage = from_openai(response)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (10, 2, 0)


def test_openai_without_usage_is_all_zero_not_an_error() -> None:
    usage = from_openai({"model": "gpt-4o"})
    assert usage.total_tokens == 0
    assert usage.model == "gpt-4o"


def test_anthropic_keeps_cache_outside_input_and_sums_the_5m_and_1h_writes() -> None:
    response = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-sonnet-4-5-20250929",
        "usage": {
            "input_tokens": 12,
            "output_tokens": 450,
            "cache_read_input_tokens": 30_000,
            "cache_creation_input_tokens": 2_500,
            "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 500},
            "service_tier": "standard",
        },
    }
    usage = from_anthropic(response)
    assert usage == Usage(
        input_tokens=12,
        output_tokens=450,
        cache_read_tokens=30_000,
        cache_write_tokens=2_500,
        input_includes_cache=False,
        provider="anthropic",
        model="claude-sonnet-4-5-20250929",
    )
    assert usage.total_tokens == 12 + 450 + 30_000 + 2_500


def test_anthropic_split_wins_over_the_total_and_the_total_is_used_without_a_split() -> None:
    split_only = {"usage": {"input_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 700}}}
    assert from_anthropic(split_only).cache_write_tokens == 700
    total_only = {"usage": {"input_tokens": 1, "cache_creation_input_tokens": 900}}
    assert from_anthropic(total_only).cache_write_tokens == 900
    empty_split = {
        "usage": {
            "cache_creation_input_tokens": 900,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        }
    }
    assert from_anthropic(empty_split).cache_write_tokens == 900


def test_anthropic_nulls_count_as_zero() -> None:
    usage = from_anthropic(
        {"model": "m", "usage": {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": None}}
    )
    assert usage.cache_read_tokens == 0


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("x" * 401, 101), (b"12345678", 2)],
)
def test_estimate_tokens_is_chars_over_4_rounded_up(text: str | bytes, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_marks_its_counts_as_estimated() -> None:
    usage = estimate("p" * 10, "c" * 7, model="local-llm", provider="ollama")
    assert usage == Usage(input_tokens=3, output_tokens=2, estimated=True, provider="ollama", model="local-llm")
    assert not from_openai({"usage": {"prompt_tokens": 1}}).estimated
    assert not from_anthropic({"usage": {"input_tokens": 1}}).estimated


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"])
@pytest.mark.parametrize("bad", [-1, 1.5, "12", True, None])
def test_invalid_usage_counts_raise_naming_the_field(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"Usage\.{field} must be a non-negative integer, got {bad!r}"):
        Usage(**{field: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("response", "field"),
    [
        ({"usage": {"prompt_tokens": -3}}, "usage.prompt_tokens"),
        ({"usage": {"prompt_tokens": 3, "completion_tokens": "7"}}, "usage.completion_tokens"),
        (
            {"usage": {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2.5}}},
            "usage.prompt_tokens_details.cached_tokens",
        ),
        ({"usage": {"input_tokens": 3, "output_tokens": True}}, "usage.output_tokens"),
        (
            {"usage": {"input_tokens": 3, "input_tokens_details": {"cached_tokens": -1}}},
            "usage.input_tokens_details.cached_tokens",
        ),
    ],
)
def test_invalid_openai_counts_raise_naming_the_field(response: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be a non-negative integer"):
        from_openai(response)


@pytest.mark.parametrize(
    ("usage", "field"),
    [
        ({"input_tokens": -1}, "usage.input_tokens"),
        ({"output_tokens": "450"}, "usage.output_tokens"),
        ({"cache_read_input_tokens": 1.0}, "usage.cache_read_input_tokens"),
        ({"cache_creation_input_tokens": -5}, "usage.cache_creation_input_tokens"),
        ({"cache_creation": {"ephemeral_1h_input_tokens": "9"}}, "usage.cache_creation.ephemeral_1h_input_tokens"),
    ],
)
def test_invalid_anthropic_counts_raise_naming_the_field(usage: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be a non-negative integer"):
        from_anthropic({"model": "claude", "usage": usage})
