"""``laptime webhook send|redeliver --json``: how each delivery went."""

from __future__ import annotations

from laptime.analysis.results import Result


class Delivery(Result):
    run_id: str
    event: str
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None  # never a header value, the secret, or the URL's path or query
    seconds: float


class Deliveries(Result):
    """``laptime webhook send RUN --json`` and ``laptime webhook redeliver --json``."""

    deliveries: list[Delivery]
