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


# ---- trading: orders, fills, regime, inventory, PnL, latencies -----------------------------

LATENCY_BUCKETS = (
    5e-6,
    10e-6,
    20e-6,
    50e-6,
    100e-6,
    200e-6,
    500e-6,
    1e-3,
    2e-3,
    5e-3,
    10e-3,
    50e-3,
    0.1,
    0.5,
    1.0,
)


class TradingCollector(Collector):
    """Orders, fills, rejects, quotes, regime, inventory and PnL of the quoting engines."""

    def __init__(self, trading: list[Any]) -> None:
        self.trading = trading

    def collect(self) -> Iterator[Metric]:
        orders = CounterMetricFamily(
            "mmbot_orders", "Order commands and venue answers", labels=["engine", "kind"]
        )
        fills = CounterMetricFamily("mmbot_fills", "Fills of our orders", labels=["engine"])
        quotes = GaugeMetricFamily("mmbot_quotes", "Desired quote levels now", labels=["engine", "side"])
        open_orders = GaugeMetricFamily(
            "mmbot_open_orders", "Our orders resting or in flight", labels=["engine"]
        )
        regime = GaugeMetricFamily(
            "mmbot_regime", "1 for the current risk regime", labels=["engine", "regime"]
        )
        inventory = GaugeMetricFamily("mmbot_inventory", "Position vs start, base units", labels=["engine"])
        net_delta = GaugeMetricFamily("mmbot_net_delta", "Hedger's net delta, base units", labels=["engine"])
        pnl = GaugeMetricFamily("mmbot_pnl", "PnL attribution, quote asset", labels=["engine", "component"])
        writable = GaugeMetricFamily(
            "mmbot_journal_writable",
            "1 while the journal writes, 0 in a write fault (halted)",
            labels=["engine"],
        )
        faults = CounterMetricFamily(
            "mmbot_journal_faults", "Journal write-fault episodes", labels=["engine"]
        )
        failures = CounterMetricFamily(
            "mmbot_journal_write_failures", "Failed journal write attempts (incl. retries)", labels=["engine"]
        )
        backlog = GaugeMetricFamily(
            "mmbot_journal_backlog", "Records waiting to be written to the journal", labels=["engine"]
        )
        markout_labels = ["engine", "horizon", "side"]
        markout_mean = GaugeMetricFamily(
            "mmbot_markout_bps",
            "Mean markout of our fills, bps (negative = adverse selection)",
            labels=markout_labels,
        )
        markout_ewma = GaugeMetricFamily(
            "mmbot_markout_ewma_bps",
            "EWMA markout of our fills, bps (the adverse-selection term)",
            labels=markout_labels,
        )
        markout_count = CounterMetricFamily(
            "mmbot_markouts", "Completed markouts of our fills", labels=markout_labels
        )
        for trading in self.trading:
            journal = getattr(trading, "journal", None)
            if journal is not None:
                label = [trading.engine.name]
                writable.add_metric(label, 1.0 if journal.fault is None else 0.0)
                faults.add_metric(label, journal.faults)
                failures.add_metric(label, journal.write_failures)
                backlog.add_metric(label, journal.backlog)
            pipeline, exchange = trading.pipeline, trading.exchange
            if pipeline is None or exchange is None:
                continue
            name = trading.engine.name
            stats = pipeline.order_manager.stats
            for kind, value in (
                ("new", stats.new_orders),
                ("cancel", stats.cancels),
                ("reject", stats.rejects),
                ("cancel_reject", stats.cancel_rejects),
                ("veto", pipeline.vetoes),
            ):
                orders.add_metric([name, kind], value)
            fills.add_metric([name], pipeline.fills)
            quotes.add_metric([name, "bid"], len(pipeline.desired.bids))
            quotes.add_metric([name, "ask"], len(pipeline.desired.asks))
            open_orders.add_metric([name], len(pipeline.order_manager.orders))
            current = pipeline.decision.regime.value
            for state in ("calm", "ranging", "trending", "crisis", "halted"):
                regime.add_metric([name, state], 1.0 if state == current else 0.0)
            inventory.add_metric([name], float(pipeline.spec.size(pipeline.position)))
            hedger = getattr(trading, "hedger", None)
            if hedger is not None:
                net_delta.add_metric([name], float(hedger.net_delta()))
            attribution = exchange.ledger.attribution()
            for component in ("spread_capture", "rebates", "fees", "inventory", "funding", "total"):
                pnl.add_metric([name, component], float(getattr(attribution, component)))
            for (horizon, side), stats in pipeline.markouts.stats.items():
                labels = [name, f"{horizon}s", "buy" if side > 0 else "sell"]
                markout_count.add_metric(labels, stats.n)
                if stats.n:
                    markout_mean.add_metric(labels, stats.mean_bps)
                    markout_ewma.add_metric(labels, stats.ewma_bps)
        yield from (orders, fills, quotes, open_orders, regime, inventory, net_delta, pnl)
        yield from (writable, faults, failures, backlog)
        yield from (markout_mean, markout_ewma, markout_count)


class LatencyMetrics:
    """Histograms the live driver feeds (``LiveRunner.observe``): time from an event handed to
    its engine to the engine being done with it -- split by whether it produced order commands
    (tick-to-quote) -- and the queue lag from the adapter's receipt stamp to processing."""

    def __init__(self, registry: CollectorRegistry, trading: list[Any]) -> None:
        from prometheus_client import Histogram

        self.tick_to_quote = Histogram(
            "mmbot_tick_to_quote_seconds",
            "Book event handed to the engine -> engine done (incl. order commands)",
            ["engine", "quoted"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_lag = Histogram(
            "mmbot_queue_lag_seconds",
            "Adapter receipt stamp -> event processing starts",
            ["instrument"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._exchanges = {t.engine.name: t.exchange for t in trading if t.exchange is not None}
        self._commands = {name: ex.commands for name, ex in self._exchanges.items()}

    def observe(self, event: Any, engine_name: str, lag_ns: int, elapsed_ns: int, book_event: bool) -> None:
        self.queue_lag.labels(event.instrument).observe(max(0, lag_ns) / 1e9)
        if not book_event:
            return
        exchange = self._exchanges.get(engine_name)
        quoted = "no"
        if exchange is not None:
            commands = exchange.commands
            if commands != self._commands[engine_name]:
                quoted = "yes"
                self._commands[engine_name] = commands
        self.tick_to_quote.labels(engine_name, quoted).observe(elapsed_ns / 1e9)
