"""Market-data trust in ``/status``, ``/metrics`` and ``/healthz``: per-stream ages, lag,
the cross-checks' counters and what a resync is waiting for.

Read at request time from the engines' :class:`~bot.market.feedhealth.FeedHealth` and the
adapters (``snapshot_wait``, ``rest_budget``); nothing here runs on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.events import NS_PER_S
from bot.engine.loop import Engine, InstrumentState
from bot.market.feed_settings import FeedCheckSettings


class LiveRunner(Protocol):
    """What is read here of :class:`bot.ops.live.LiveRunner` (a Protocol: live imports this module)."""

    @property
    def engines(self) -> Sequence[Engine]: ...

    @property
    def adapters(self) -> Mapping[str, Any]: ...

    def adapter_of(self, instrument: str) -> Any: ...


HEALTH_COUNTERS = {
    "top_mismatches": "Books invalidated because the venue's top of book contradicted them",
    "trade_mismatches": "Books invalidated because trades contradicted them",
    "depth_silences": "Books invalidated because depth went silent while other streams flowed",
    "behind_episodes": "Times a book became untradeable by falling behind (exchange-time or queue lag)",
}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def feed_fields(state: InstrumentState, now: int, waiting: str | None) -> dict[str, Any]:
    """The feed part of one ``/status`` instrument line (``waiting``: the adapter's
    ``snapshot_wait`` for it)."""
    health = state.health
    reason = state.reason
    if waiting and not state.sync.valid:
        reason = f"{waiting} ({reason})" if reason else waiting
    return {
        "tradeable": state.quotable,
        "reason": reason or None,
        "last_break": state.sync.last_break or None,
        "behind": health.behind,
        "stream_age_s": {k: _round(v) for k, v in health.stream_ages(now).items()},
        "depth_exchange_age_s": _round(health.depth_exchange_age(now)),
        "exchange_lag_s": round(health.lag_ns / NS_PER_S, 3),
        "queue_lag_s": round(health.queue_lag_ns / NS_PER_S, 4),
        "snapshot_wait": waiting,
        **health.counters.as_dict(),
    }


def for_replay_speed(market: FeedCheckSettings, speed: float) -> dict[str, float]:
    """Settings updates for an emulator replaying at ``speed`` x real time (``run --offline``):
    slower than real time, exchange time falls behind by ``1 - speed`` per second, which the
    learned clock offset must absorb (bot/market/lag.py)."""
    if speed >= 1.0:
        return {}
    needed = min(1.0, 1.0 - speed + 0.01)
    return {"exchange_clock_drift": needed} if needed > market.exchange_clock_drift else {}


def snapshot_wait(runner: LiveRunner, instrument: str) -> str | None:
    adapter = runner.adapter_of(instrument)
    wait = getattr(adapter, "snapshot_wait", None)
    return wait(instrument) if wait is not None else None


def feeds_current(runner: LiveRunner) -> Callable[[], str | None]:
    """The ``/healthz`` check: every valid book is current (not falling behind)."""

    def check() -> str | None:
        behind = [
            f"{key}: {state.health.behind}"
            for engine in runner.engines
            for key, state in engine.instruments.items()
            if state.health.behind is not None
        ]
        return "; ".join(behind) or None

    return check


class FeedCollector(Collector):
    """Per-stream ages, lags, tradeability, cross-check counters and REST weight budgets."""

    def __init__(self, runner: LiveRunner, clock: Callable[[], int]) -> None:
        self.runner = runner
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        labels = ["engine", "instrument"]
        stream_age = GaugeMetricFamily(
            "mmbot_stream_age_seconds",
            "Seconds since the last message of one stream (depth, trades, top) of an instrument",
            labels=[*labels, "stream"],
        )
        exchange_age = GaugeMetricFamily(
            "mmbot_depth_exchange_age_seconds",
            "Age of the last depth diff by its exchange time (learned clock offset removed)",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "mmbot_exchange_lag_seconds",
            "Exchange-time lag of the last depth diff above the learned clock offset",
            labels=labels,
        )
        tradeable = GaugeMetricFamily(
            "mmbot_book_tradeable", "1 if the book is valid and not falling behind", labels=labels
        )
        counters = {
            name: CounterMetricFamily(f"mmbot_book_{name}", text, labels=labels)
            for name, text in HEALTH_COUNTERS.items()
        }
        now = self.clock()
        for engine in self.runner.engines:
            for key, state in engine.instruments.items():
                values = [engine.name, key]
                health = state.health
                for stream, age in health.stream_ages(now).items():
                    if age is not None:
                        stream_age.add_metric([*values, stream], age)
                depth_age = health.depth_exchange_age(now)
                if depth_age is not None:
                    exchange_age.add_metric(values, depth_age)
                lag.add_metric(values, health.lag_ns / NS_PER_S)
                tradeable.add_metric(values, 1.0 if state.quotable else 0.0)
                counts = health.counters.as_dict()
                for name, family in counters.items():
                    family.add_metric(values, counts[name])
        yield from (stream_age, exchange_age, lag, tradeable, *counters.values())
        yield from self._rest_budgets()

    def _rest_budgets(self) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "mmbot_rest_weight_used", "REST request weight used in the window", labels=["venue"]
        )
        limit = GaugeMetricFamily(
            "mmbot_rest_weight_limit", "REST request-weight budget per window", labels=["venue"]
        )
        waiting = GaugeMetricFamily(
            "mmbot_rest_weight_wait_seconds",
            "Seconds until the request now waiting for REST weight may go (0: none waits)",
            labels=["venue"],
        )
        waited = CounterMetricFamily(
            "mmbot_rest_weight_waited_seconds", "Seconds spent waiting for REST weight", labels=["venue"]
        )
        waits = CounterMetricFamily(
            "mmbot_rest_weight_waits", "Requests that waited for REST weight", labels=["venue"]
        )
        for venue, adapter in self.runner.adapters.items():
            budget = getattr(adapter, "rest_budget", None)
            if budget is None:
                continue
            values: dict[str, Any] = budget()
            used.add_metric([venue], values["used"])
            limit.add_metric([venue], values["limit"])
            waiting.add_metric([venue], values["waiting_s"])
            waited.add_metric([venue], values["waited_s"])
            waits.add_metric([venue], values["waits"])
        yield from (used, limit, waiting, waited, waits)
