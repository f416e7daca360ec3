"""Send one webhook delivery: a signed POST, retried with exponential backoff and jitter.

httpx sends, tenacity retries. A connection that fails, a timeout, a 408, a 429 or a 5xx
is tried again, up to ``retries`` more times, waiting a random time between 0 and
``min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)`` before each ("full jitter", so that
many runs ending at once do not retry in step). Any other status is final.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from laptime.webhook.settings import ResolvedWebhook
from laptime.webhook.signing import SIGNATURE_HEADER, signature

BACKOFF_BASE_S: Final = 0.5
BACKOFF_MAX_S: Final = 8.0
_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery went. ``error`` never holds a header value, the secret or the
    URL's path and query (they may carry tokens)."""

    event: str
    run_id: str
    delivery_id: str
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None
    seconds: float


class _RetryableStatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the receiver answered HTTP {status}")
        self.status = status


def deliver(
    webhook: ResolvedWebhook,
    *,
    event: str,
    run_id: str,
    body: bytes,
    sleep: Callable[[float], None] | None = None,
    delivery_id: str | None = None,
) -> DeliveryResult:
    """POST ``body`` for ``event`` of ``run_id``; never raises for a network or HTTP problem."""
    import httpx
    import tenacity

    settings = webhook.settings
    delivery_id = delivery_id or uuid.uuid4().hex
    started = time.monotonic()
    attempts = 0
    last_status: int | None = None

    def attempt(client: httpx.Client) -> int:
        nonlocal attempts, last_status
        attempts += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "laptime-webhook",
            "X-Laptime-Event": event,
            "X-Laptime-Run-Id": run_id,
            "X-Laptime-Delivery": delivery_id,
            **webhook.headers,
        }
        if webhook.secret is not None:
            # Signed at each attempt: a retry carries a fresh timestamp, so a receiver's
            # replay window does not refuse a delivery that was slow to get through.
            headers[SIGNATURE_HEADER] = signature(webhook.secret, int(time.time()), body)
        response = client.post(settings.url, content=body, headers=headers)
        last_status = response.status_code
        if response.status_code in _RETRY_STATUSES:
            raise _RetryableStatusError(response.status_code)
        return response.status_code

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.retries + 1),
        wait=tenacity.wait_random_exponential(multiplier=BACKOFF_BASE_S, max=BACKOFF_MAX_S),
        retry=tenacity.retry_if_exception_type((httpx.TransportError, _RetryableStatusError)),
        sleep=sleep or _sleep,
        reraise=True,
    )
    error: str | None = None
    status: int | None = None
    try:
        with httpx.Client(timeout=settings.timeout, follow_redirects=False, trust_env=False) as client:
            status = retrying(attempt, client)
    except _RetryableStatusError as exc:
        error = str(exc)
    except httpx.TimeoutException:
        error = f"no answer within the timeout of {settings.timeout:g} s"
    except httpx.TransportError as exc:
        error = f"could not reach {settings.endpoint}: {_describe(exc)}"
    except Exception as exc:  # noqa: BLE001 - a delivery must never break the program it reports on
        error = f"{type(exc).__name__}: {_describe(exc)}"
    if status is not None and not 200 <= status < 300:
        error = f"the receiver answered HTTP {status}"
    delivered = error is None
    return DeliveryResult(
        event=event,
        run_id=run_id,
        delivery_id=delivery_id,
        delivered=delivered,
        attempts=attempts,
        http_status=last_status,
        error=None if delivered else _redact(error or "", webhook),
        seconds=time.monotonic() - started,
    )


def _sleep(seconds: float) -> None:
    """The wait between attempts (a module function, so tests can stand in for it)."""
    time.sleep(seconds)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _redact(text: str, webhook: ResolvedWebhook) -> str:
    """Take out anything secret that a library's message might quote."""
    settings = webhook.settings
    if settings.url != settings.endpoint:
        text = text.replace(settings.url, settings.endpoint)
    secrets = [*webhook.headers.values()]
    if webhook.secret:
        secrets.append(webhook.secret.decode(errors="replace"))
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text
