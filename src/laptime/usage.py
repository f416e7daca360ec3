"""Token usage, built from what providers return, without importing their SDKs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call, in the provider's own meaning.

    ``input_includes_cache`` is True when ``input_tokens`` already counts the cache
    reads and writes (OpenAI, OpenTelemetry) and False when it does not (Anthropic).
    ``estimated`` marks counts that were guessed rather than reported.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    input_includes_cache: bool = False
    estimated: bool = False
    provider: str = ""
    model: str = ""

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                msg = f"Usage.{name} must be a non-negative integer, got {value!r}"
                raise ValueError(msg)

    @property
    def total_tokens(self) -> int:
        """Every token the call consumed or produced, cache included, counted once."""
        cache = 0 if self.input_includes_cache else self.cache_read_tokens + self.cache_write_tokens
        return self.input_tokens + self.output_tokens + cache


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any, field: str) -> int:
    """A reported count: missing or null is 0; anything but a non-negative int is refused."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{field} must be a non-negative integer, got {value!r}"
        raise ValueError(msg)
    return value


def from_openai(response: Any) -> Usage:
    """Usage from an OpenAI-shaped chat or responses result (dict or SDK object).

    Chat Completions report ``prompt_tokens`` (cached tokens included, detailed in
    ``prompt_tokens_details.cached_tokens``); the Responses API reports
    ``input_tokens`` with ``input_tokens_details.cached_tokens``.
    """
    usage = _get(response, "usage") or {}
    prompt_key, completion_key, details_key = "prompt_tokens", "completion_tokens", "prompt_tokens_details"
    if _get(usage, prompt_key) is None and _get(usage, "input_tokens") is not None:
        prompt_key, completion_key, details_key = "input_tokens", "output_tokens", "input_tokens_details"
    details = _get(usage, details_key) or {}
    return Usage(
        input_tokens=_int(_get(usage, prompt_key), f"usage.{prompt_key}"),
        output_tokens=_int(_get(usage, completion_key), f"usage.{completion_key}"),
        cache_read_tokens=_int(_get(details, "cached_tokens"), f"usage.{details_key}.cached_tokens"),
        input_includes_cache=True,
        provider="openai",
        model=str(_get(response, "model") or ""),
    )


def from_anthropic(response: Any) -> Usage:
    """Usage from an Anthropic Messages result (dict or SDK object).

    Anthropic's ``input_tokens`` excludes cache reads and writes, which are reported
    separately; that meaning is kept.
    """
    usage = _get(response, "usage") or {}
    cache_write = _int(_get(usage, "cache_creation_input_tokens"), "usage.cache_creation_input_tokens")
    split = _get(usage, "cache_creation")
    if split:
        parts = sum(
            _int(_get(split, key), f"usage.cache_creation.{key}")
            for key in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
        )
        cache_write = parts or cache_write
    return Usage(
        input_tokens=_int(_get(usage, "input_tokens"), "usage.input_tokens"),
        output_tokens=_int(_get(usage, "output_tokens"), "usage.output_tokens"),
        cache_read_tokens=_int(_get(usage, "cache_read_input_tokens"), "usage.cache_read_input_tokens"),
        cache_write_tokens=cache_write,
        input_includes_cache=False,
        provider="anthropic",
        model=str(_get(response, "model") or ""),
    )


def estimate_tokens(text: str | bytes) -> int:
    """The chars/4 rule of thumb, rounded up so that any text costs at least a token."""
    length = len(text)
    return -(-length // CHARS_PER_TOKEN)


def estimate(prompt: str | bytes = "", completion: str | bytes = "", model: str = "", provider: str = "") -> Usage:
    """Usage guessed from text lengths (chars/4), marked ``estimated``."""
    return Usage(
        input_tokens=estimate_tokens(prompt),
        output_tokens=estimate_tokens(completion),
        estimated=True,
        model=model,
        provider=provider,
    )
