"""Deliveries to send again: a run's last delivery of an event failed, or was abandoned
at exit (``laptime webhook redeliver``); and a delivery sent by hand (``webhook send``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from laptime.config import Config
from laptime.index import Index
from laptime.recorder import Recorder
from laptime.store import Store
from laptime.webhook.delivery import DeliveryResult, deliver
from laptime.webhook.dispatch import DELIVERY_METRIC, delivery_attrs, record
from laptime.webhook.payload import body_of, run_report
from laptime.webhook.settings import FINDINGS, WebhookConfigError, WebhookSettings, resolve


@dataclass(frozen=True)
class Undelivered:
    run_id: str
    event: str  # "*" when a delivery was abandoned before the run's events were known
    status: str  # failed or abandoned


def undelivered(index: Index, run_ids: list[str] | None = None) -> list[Undelivered]:
    """Per run and event, the deliveries whose latest attempt did not get through, oldest
    first. A later success (a redelivery) settles an earlier failure."""
    rows = index.query("SELECT run, ts, id, attrs FROM metrics WHERE name = ? ORDER BY ts, id", (DELIVERY_METRIC,))
    latest: dict[tuple[str, str], str] = {}
    wanted = set(run_ids) if run_ids is not None else None
    for run, _ts, _id, attrs_text in rows:
        if wanted is not None and run not in wanted:
            continue
        attrs = json.loads(attrs_text) if isinstance(attrs_text, str) else (attrs_text or {})
        event, status = str(attrs.get("event", "*")), str(attrs.get("status", "failed"))
        if status == "delivered":
            # A success settles this event and an abandoned "every event" of the run.
            latest.pop((run, "*"), None)
        latest[(run, event)] = status
    return [Undelivered(run, event, status) for (run, event), status in latest.items() if status != "delivered"]


def settings_of(config: Config) -> WebhookSettings:
    if config.webhook is None:
        where = config.source or "the store's config.toml"
        msg = f'no [webhook] section in {where}; add one with at least url = "https://..." (docs/webhooks.md)'
        raise WebhookConfigError(msg)
    return config.webhook


def send(
    store: Store, config: Config, run_id: str, events: list[str] | None, recorder: Recorder
) -> list[DeliveryResult]:
    """Send ``run_id``'s report for ``events`` (None: every event the run fires that the
    config asks for), record each delivery, and return how each went."""
    settings = settings_of(config)
    webhook = resolve(settings)
    findings = tuple(e for e in FINDINGS if settings.fires_on(e))
    report, fired_by_run = run_report(store, config, run_id, include_spans=settings.include_spans, findings=findings)
    fired = events if events is not None else [e for e in fired_by_run if settings.fires_on(e)]
    body = body_of(report)
    results = []
    for event in fired:
        result = deliver(webhook, event=event, run_id=report.run_id, body=body)
        record(recorder, report.run_id, delivery_attrs(result, settings.endpoint), result.attempts)
        results.append(result)
    return results
