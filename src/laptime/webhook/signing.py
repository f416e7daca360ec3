"""The signature of a webhook delivery: HMAC-SHA256 over the timestamp and the body.

Header ``X-Laptime-Signature: t=<unix seconds>,v1=<hex digest>``, where the digest is
``HMAC-SHA256(secret, "<t>." + body)``. Because the timestamp is signed, a receiver can
refuse a replayed delivery: it checks the digest, then that ``t`` is recent
(``verify`` does both; docs/webhooks.md shows a receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

SIGNATURE_HEADER: Final = "X-Laptime-Signature"
DEFAULT_TOLERANCE_S: Final = 300


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Laptime-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: bytes, header: str, body: bytes, *, now: float | None = None, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance_s``
    seconds of ``now``. What a receiver written in Python can call."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
