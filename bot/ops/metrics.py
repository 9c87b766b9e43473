"""Prometheus metrics, read from the components at scrape time.

The collector pulls the counters the core already keeps (engine events, sync
counters, adapter statistics) when Prometheus scrapes ``/metrics``, so the hot path
pays nothing for metrics. Components that need observations on the hot path (e.g.
latency histograms) register their own prometheus-client metrics on the same
registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.events import NS_PER_S
from bot.ops.live import LiveRunner

SYNC_COUNTERS = {
    "applied": "Book diffs applied",
    "gaps": "Update-id chain breaks detected",
    "resyncs": "Times a book was invalidated and resynced",
    "dropped": "Duplicate or late diffs dropped while live",
    "crossed": "Diffs that left a book crossed",
    "stale": "Feeds that went silent while live",
    "snapshots": "Snapshots loaded",
    "snapshot_retries": "Snapshots too old for the buffered diffs",
    "overflow": "Diffs lost to a full pre-snapshot buffer",
    "checksums": "Venue book checksums verified (OKX)",
    "checksum_failures": "Venue book checksums that did not match (OKX): book resynced",
}


class RunnerCollector(Collector):
    """Exposes engine, book and adapter state of a :class:`LiveRunner`."""

    def __init__(self, runner: LiveRunner, clock: Callable[[], int]) -> None:
        self.runner = runner
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        events = CounterMetricFamily(
            "mmbot_engine_events", "Events processed by an engine", labels=["engine"]
        )
        for engine in runner.engines:
            events.add_metric([engine.name], engine.events)
        yield events
        families = {
            name: CounterMetricFamily(f"mmbot_book_{name}", help_text, labels=["engine", "instrument"])
            for name, help_text in SYNC_COUNTERS.items()
        }
        valid = GaugeMetricFamily(
            "mmbot_book_valid", "1 if the book is valid (quotable)", labels=["engine", "instrument"]
        )
        levels = GaugeMetricFamily(
            "mmbot_book_levels", "Price levels in the book", labels=["engine", "instrument"]
        )
        age = GaugeMetricFamily(
            "mmbot_feed_age_seconds", "Seconds since the last market event", labels=["engine", "instrument"]
        )
        spread = GaugeMetricFamily(
            "mmbot_book_spread", "Best ask minus best bid (price units)", labels=["engine", "instrument"]
        )
        now = self.clock()
        for engine in runner.engines:
            for key, state in engine.instruments.items():
                labels = [engine.name, key]
                counters = state.sync.counters.as_dict()
                for name, family in families.items():
                    family.add_metric(labels, counters[name])
                valid.add_metric(labels, 1.0 if state.sync.valid else 0.0)
                levels.add_metric(labels, len(state.book))
                if state.last_event_ts:
                    age.add_metric(labels, (now - state.last_event_ts) / NS_PER_S)
                bid, ask = state.book.best_bid, state.book.best_ask
                if bid is not None and ask is not None:
                    spread.add_metric(labels, float(state.spec.price(ask - bid)))
        yield from families.values()
        yield from (valid, levels, age, spread)
        adapters = CounterMetricFamily(
            "mmbot_adapter_events", "Adapter statistics by venue and kind", labels=["venue", "kind"]
        )
        for venue, adapter in runner.adapters.items():
            for kind, value in adapter_stats(adapter).items():
                if isinstance(value, int | float):
                    adapters.add_metric([venue, kind], value)
        yield adapters
        restarts = CounterMetricFamily("mmbot_task_restarts", "Supervised task restarts", labels=["task"])
        for task, count in runner.task_restarts.items():
            restarts.add_metric([task], count)
        yield restarts


def adapter_stats(adapter: Any) -> dict[str, Any]:
    stats = getattr(adapter, "stats", None)
    if stats is None:
        return {}
    if hasattr(stats, "as_dict"):
        return dict(stats.as_dict())
    if isinstance(stats, dict):
        return dict(stats)
    return dict(vars(stats))


def build_registry(runner: LiveRunner, clock: Callable[[], int]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(RunnerCollector(runner, clock))
    return registry
