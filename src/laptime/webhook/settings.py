"""``[webhook]`` in the config: checked when the config is read, every error naming the key.

Values of ``headers`` and ``secret`` may name environment variables as ``${NAME}``:
secrets belong in the environment, not in a file that is committed. The variables are
read when a delivery is made (``resolve``), so a config file never holds the secret, and
neither do the log, the reports or the exports.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

from laptime.errors import UsageError

# Which run ends fire a webhook: the outcomes a run can end with, and two findings of the
# analysis (a budget crossed; a regression beyond noise).
RUN_END_OUTCOMES: Final = ("completed", "failed", "blocked", "stopped")
FINDINGS: Final = ("budget_exceeded", "regression")
EVENT_NAMES: Final = RUN_END_OUTCOMES + FINDINGS

DEFAULT_TIMEOUT_S: Final = 5.0
DEFAULT_RETRIES: Final = 3
MAX_TIMEOUT_S: Final = 60.0
MAX_RETRIES: Final = 10
# The longest the measured program's exit waits for deliveries still in flight.
DEFAULT_EXIT_WAIT_S: Final = 10.0
MAX_EXIT_WAIT_S: Final = 300.0

_KEYS: Final = ("url", "headers", "events", "include_spans", "timeout", "retries", "secret", "exit_wait")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_RESERVED_HEADERS: Final = frozenset(
    {"content-type", "content-length", "host", "x-laptime-event", "x-laptime-run-id", "x-laptime-signature"}
)


class WebhookConfigError(UsageError):
    """``[webhook]`` is wrong, or names an environment variable that is not set."""


@dataclass(frozen=True)
class WebhookSettings:
    """The checked ``[webhook]`` section. ``headers`` and ``secret`` are as written, with
    their ``${NAME}`` references unresolved (see ``resolve``)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: tuple[str, ...] = EVENT_NAMES
    include_spans: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    secret: str | None = None
    exit_wait: float = DEFAULT_EXIT_WAIT_S

    def fires_on(self, event: str) -> bool:
        return event in self.events

    @property
    def endpoint(self) -> str:
        """Scheme, host and port of the URL: what a delivery record may say about where it
        went (a path or query can hold a token, so they are never recorded)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class ResolvedWebhook:
    """The settings with ``${NAME}`` replaced from the environment: what a delivery uses.
    Never logged, never stored."""

    settings: WebhookSettings
    headers: dict[str, str]
    secret: bytes | None


def parse_webhook(section: Any, source: str) -> WebhookSettings | None:
    """The checked ``[webhook]`` section of ``source``; None when there is none."""
    if section is None:
        return None
    if not isinstance(section, dict):
        _fail(source, "webhook", f"must be a table ([webhook]), got {type(section).__name__}")
    for key in section:
        if key not in _KEYS:
            _fail(source, f"webhook.{key}", f"is not a setting (known: {', '.join('webhook.' + k for k in _KEYS)})")
    url = section.get("url")
    if not isinstance(url, str) or not url.strip():
        _fail(source, "webhook.url", "is required: the http:// or https:// URL to POST each run's report to")
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # (read here: a port past 65535 raises only when asked for)
    except ValueError as exc:  # "http://[::1", "http://host:99999"
        _fail(source, "webhook.url", f"is not a URL: {exc}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(source, "webhook.url", "must be an http:// or https:// URL with a host")
    return WebhookSettings(
        url=url.strip(),
        headers=_headers(section.get("headers", {}), source),
        events=_events(section.get("events", list(EVENT_NAMES)), source),
        include_spans=_flag(section.get("include_spans", False), source, "webhook.include_spans"),
        timeout=_seconds(section.get("timeout", DEFAULT_TIMEOUT_S), source, "webhook.timeout", MAX_TIMEOUT_S),
        retries=_retries(section.get("retries", DEFAULT_RETRIES), source),
        secret=_secret(section.get("secret"), source),
        exit_wait=_seconds(section.get("exit_wait", DEFAULT_EXIT_WAIT_S), source, "webhook.exit_wait", MAX_EXIT_WAIT_S),
    )


def resolve(settings: WebhookSettings, environ: dict[str, str] | None = None) -> ResolvedWebhook:
    """Replace every ``${NAME}`` in the header values and the secret from the environment.
    A variable that is not set is an error naming the setting, never its value."""
    env = os.environ if environ is None else environ
    headers = {name: _expand(value, env, f"webhook.headers.{name}") for name, value in settings.headers.items()}
    secret = _expand(settings.secret, env, "webhook.secret").encode() if settings.secret is not None else None
    return ResolvedWebhook(settings, headers, secret)


def _expand(value: str, env: Any, key: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        found = env.get(name)
        if found is None:
            msg = f"{key} uses ${{{name}}}, but the environment variable {name} is not set"
            raise WebhookConfigError(msg)
        return str(found)

    return _ENV_REF.sub(one, value)


def _fail(source: str, key: str, why: str) -> NoReturn:
    msg = f"{source}: {key} {why}"
    raise WebhookConfigError(msg)


def _headers(value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, dict):
        _fail(source, "webhook.headers", "must be a table of header names to values")
    headers: dict[str, str] = {}
    for name, text in value.items():
        key = f"webhook.headers.{name}"
        if not _HEADER_NAME.match(name):
            _fail(source, key, "is not a valid HTTP header name")
        if name.lower() in _RESERVED_HEADERS:
            _fail(source, key, "is set by laptime itself and cannot be overridden")
        # The value is not shown: it may be a secret written in the file by mistake.
        if not isinstance(text, str):
            _fail(source, key, "must be a string (use ${NAME} to read it from the environment)")
        if "\r" in text or "\n" in text or "\0" in text:
            _fail(source, key, "must be one line (no CR, LF or NUL)")
        headers[name] = text
    return headers


def _events(value: Any, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        _fail(source, "webhook.events", f"must be a list of event names ({', '.join(EVENT_NAMES)})")
    for item in value:
        if item not in EVENT_NAMES:
            _fail(source, "webhook.events", f"has {item!r}, which is not one of {', '.join(EVENT_NAMES)}")
    return tuple(dict.fromkeys(value))


def _flag(value: Any, source: str, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(source, key, f"must be true or false, got {value!r}")
    return bool(value)


def _seconds(value: Any, source: str, key: str, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(source, key, f"must be a number of seconds, got {value!r}")
    if not 0 < value <= most:
        _fail(source, key, f"must be above 0 and at most {most:g} seconds, got {value!r}")
    return float(value)


def _retries(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        _fail(source, "webhook.retries", f"must be a whole number from 0 to {MAX_RETRIES}, got {value!r}")
    return int(value)


def _secret(value: Any, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        _fail(source, "webhook.secret", 'must be a non-empty string, e.g. "${LAPTIME_WEBHOOK_SECRET}"')
    if not _ENV_REF.search(value):
        # A secret written into the file would be committed with it (DESIGN.md: secrets
        # are read from the environment).
        _fail(source, "webhook.secret", 'must name an environment variable, e.g. "${LAPTIME_WEBHOOK_SECRET}"')
    return str(value)
