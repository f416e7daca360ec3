"""The Prometheus text format of ``laptime.analysis.metrics.MetricsSnapshot``, written by
``prometheus-client`` (the optional extra ``laptime[prometheus]``, imported lazily).

Metric names, labels and buckets are documented in docs/metrics.md:

- ``laptime_runs{outcome}`` (gauge): runs by outcome; a running run may end, so a gauge;
- ``laptime_run_duration_seconds`` (histogram): run durations;
- ``laptime_phase_duration_seconds{phase}`` (histogram): each run's time in each phase;
- ``laptime_tokens_total{model,provider,type}`` (counter): ``type`` is ``input`` (uncached),
  ``output``, ``cache_read`` or ``cache_write``;
- ``laptime_llm_calls_total{model,provider}`` (counter);
- ``laptime_cost_usd_total{model,provider}`` (counter): only models with a price (an
  unpriced model has no sample, never $0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laptime.errors import LaptimeError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from laptime.analysis.metrics import DurationHistogram, MetricsSnapshot

INSTALL_HINT = "pip install 'laptime[prometheus]'"
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write")


class MissingExtraError(LaptimeError):
    """An optional dependency is not installed; the message says how to install it (exit 1)."""


def _require() -> Any:
    try:
        import prometheus_client
    except ImportError:
        msg = f"laptime metrics needs the prometheus-client package, which is not installed; run: {INSTALL_HINT}"
        raise MissingExtraError(msg) from None
    return prometheus_client


def _buckets(h: DurationHistogram) -> list[tuple[str, float]]:
    return [*((repr(float(b)), float(c)) for b, c in zip(h.bounds_s, h.cumulative, strict=True)), ("+Inf", h.count)]


class SnapshotCollector:
    """A prometheus-client collector over one snapshot (the numbers are the analysis')."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        s = self.snapshot
        runs = GaugeMetricFamily("laptime_runs", "Runs by outcome.", labels=["outcome"])
        for outcome, n in s.outcomes.items():
            runs.add_metric([outcome], n)
        yield runs
        run = HistogramMetricFamily("laptime_run_duration_seconds", "Run duration (end minus start).")
        run.add_metric([], _buckets(s.run_duration), sum_value=s.run_duration.sum_s)
        yield run
        phase = HistogramMetricFamily(
            "laptime_phase_duration_seconds", "A run's summed time in a top-level phase.", labels=["phase"]
        )
        for p in s.phase_durations:
            phase.add_metric([p.phase], _buckets(p), sum_value=p.sum_s)
        yield phase
        labels = ["model", "provider"]
        tokens = CounterMetricFamily("laptime_tokens", "LLM tokens by model and type.", labels=[*labels, "type"])
        calls = CounterMetricFamily("laptime_llm_calls", "LLM calls by model.", labels=labels)
        cost = CounterMetricFamily("laptime_cost_usd", "Cost in USD by model (priced models only).", labels=labels)
        for m in s.models:
            values = (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens)
            for kind, value in zip(TOKEN_TYPES, values, strict=True):
                tokens.add_metric([m.model, m.provider, kind], value)
            calls.add_metric([m.model, m.provider], m.calls)
            if m.cost_usd is not None:
                cost.add_metric([m.model, m.provider], m.cost_usd)
        yield tokens
        yield calls
        yield cost


def prometheus_text(snapshot: MetricsSnapshot) -> str:
    """The snapshot in the Prometheus text exposition format."""
    client = _require()
    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    text: str = client.generate_latest(registry).decode()
    return text
