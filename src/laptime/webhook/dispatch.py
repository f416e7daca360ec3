"""Deliveries off the measured program's path, each recorded as an event in the log.

When a run recorded by the SDK ends, ``on_run_end`` starts one daemon thread that builds
the run's report, POSTs it for every configured event it fires, and appends a delivery
event (``DELIVERY_METRIC``) to the run. The program goes on at once. At interpreter exit,
``_wait_at_exit`` waits for deliveries still in flight, at most ``webhook.exit_wait``
seconds (10 by default) after exit began; what is not done by then is recorded as
``abandoned`` and can be sent again with ``laptime webhook redeliver``. That wait is the
whole bound on how long webhooks can delay the program's exit.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from laptime.recorder import Recorder
    from laptime.store import Store
    from laptime.webhook.delivery import DeliveryResult
    from laptime.webhook.settings import WebhookSettings

DELIVERY_METRIC: Final = "laptime.webhook.delivery"
STATUSES: Final = ("delivered", "failed", "abandoned")

_pending_lock = threading.Lock()
_pending: dict[threading.Thread, tuple[Recorder, str, WebhookSettings]] = {}
_exit_hook_registered = False


def delivery_attrs(result: DeliveryResult, endpoint: str) -> dict[str, Any]:
    """The attrs of a delivery event: what was sent where and how it went, and nothing
    secret (no header value, no secret, no URL path or query)."""
    attrs: dict[str, Any] = {
        "event": result.event,
        "status": "delivered" if result.delivered else "failed",
        "delivery_id": result.delivery_id,
        "endpoint": endpoint,
        "seconds": round(result.seconds, 3),
    }
    if result.http_status is not None:
        attrs["http_status"] = result.http_status
    if result.error:
        attrs["error"] = result.error
    return attrs


def record(recorder: Recorder, run_id: str, attrs: dict[str, Any], attempts: int) -> None:
    """Append one delivery event to ``run_id`` (value: the attempts made)."""
    from laptime import events as ev
    from laptime.clock import format_timestamp, new_id

    ns = recorder.clock()
    recorder.emit(
        ev.Metric(
            v=1,
            id=new_id(ns),
            ts=format_timestamp(ns),
            run=run_id,
            parent=run_id,
            name=DELIVERY_METRIC,
            value=float(attempts),
            unit="attempts",
            attrs=attrs,
        )
    )
    recorder.flush()


def on_run_end(recorder: Recorder, run_id: str) -> None:
    """Called by the SDK after a run's end is written. Returns at once: the delivery runs
    in a daemon thread. Nothing here may break the program (the caller swallows errors
    into one warning)."""
    store = recorder.store
    if store is None:
        return
    from laptime.config import load_config

    settings = load_config(store).webhook
    if settings is None:
        return
    recorder.flush()  # the report is read from the log: the run's events must be in it
    thread = threading.Thread(
        target=_deliver_run, args=(recorder, store, run_id), name=f"laptime-webhook-{run_id}", daemon=True
    )
    with _pending_lock:
        _register_exit_hook()
        _pending[thread] = (recorder, run_id, settings)
    thread.start()


def _deliver_run(recorder: Recorder, store: Store, run_id: str) -> None:
    from laptime.config import load_config
    from laptime.webhook.delivery import deliver
    from laptime.webhook.payload import body_of, run_report
    from laptime.webhook.settings import FINDINGS, resolve

    try:
        config = load_config(store)
        settings = config.webhook
        if settings is None:
            return
        findings = tuple(e for e in FINDINGS if settings.fires_on(e))
        report, events = run_report(store, config, run_id, include_spans=settings.include_spans, findings=findings)
        fired = [event for event in events if settings.fires_on(event)]
        if not fired:
            return
        webhook = resolve(settings)
        body = body_of(report)
        for event in fired:
            result = deliver(webhook, event=event, run_id=run_id, body=body)
            if not result.delivered:
                recorder.warn(
                    f"webhook {event} for run {run_id} failed after {result.attempts} attempts: {result.error}"
                )
            record(recorder, run_id, delivery_attrs(result, settings.endpoint), result.attempts)
    except Exception as exc:  # noqa: BLE001 - a webhook must never break the program it reports on
        recorder.warn(f"webhook for run {run_id}: {exc}")
    finally:
        with _pending_lock:
            _pending.pop(threading.current_thread(), None)


def _register_exit_hook() -> None:
    global _exit_hook_registered  # noqa: PLW0603 - one hook per process
    if not _exit_hook_registered:
        atexit.register(_wait_at_exit)
        _exit_hook_registered = True


def wait_for_deliveries(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for deliveries in flight; True when none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _pending_lock:
            threads = list(_pending)
        if not threads:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        threads[0].join(remaining)


def _wait_at_exit() -> None:
    with _pending_lock:
        waits = [settings.exit_wait for _, _, settings in _pending.values()]
    if not waits or wait_for_deliveries(max(waits)):
        return
    with _pending_lock:
        left = list(_pending.values())
        _pending.clear()
    for recorder, run_id, settings in left:
        try:
            recorder.warn(
                f"webhook for run {run_id} not delivered within webhook.exit_wait = {settings.exit_wait:g} s; "
                "`laptime webhook redeliver` sends it again"
            )
            attrs = {"event": "*", "status": "abandoned", "endpoint": settings.endpoint}
            record(recorder, run_id, attrs, 0)
        except Exception:  # noqa: BLE001, S110 - exiting: nothing more can be done
            pass
