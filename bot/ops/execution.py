"""Execution mode wiring for ``mmbot run``: paper only, or paper mirrored to the testnets.

The lead-facing API::

    plan = plan_execution(settings)          # at start, before anything runs: None for paper;
                                             # InputError (exit 2) for missing keys or any
                                             # non-testnet order endpoint
    testnet = TestnetExecution.attach(plan, settings, trading, specs) if plan else None
    runner.spawn("testnet", testnet.executor.run)
    ...
    await testnet.stop()                     # before the journals close: cancels testnet
                                             # orders, journals the final totals
    testnet.status()  -> /status "execution"; testnet.collector() -> /metrics

:func:`plan_execution` builds each venue's ccxt client (no network yet) and checks the
URLs ccxt will really use (:func:`bot.venues.testnet.check_order_endpoints`).
:meth:`TestnetExecution.attach` puts a :class:`~bot.engine.mirror.MirrorVenue` between each
quoting pipeline and its paper exchange and registers the mirror for the pipeline's
venue reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.config import Settings
from bot.core.instrument import InstrumentSpec
from bot.engine.assemble import TradingEngine
from bot.engine.mirror import MirrorVenue, PaperOrder, PaperState
from bot.errors import InputError
from bot.ops.logging import register_secrets
from bot.ops.testnet import Binding, TestnetExecutor
from bot.paper.exchange import PaperExchange
from bot.risk.triggers import Trigger
from bot.store.journal import Journal
from bot.venues.testnet import TestnetClient, make_testnet_exchange

log = structlog.get_logger("bot.execution")


@dataclass
class ExecutionPlan:
    """Checked, ready-to-use testnet clients per venue (nothing sent yet)."""

    exchanges: dict[str, Any]
    secrets: tuple[str, ...]

    async def close(self) -> None:
        for exchange in self.exchanges.values():
            await exchange.close()


def quoted_venues(settings: Settings) -> list[str]:
    """Venues that orders may go to: every instrument of every quoting engine."""
    venues: list[str] = []
    for engine in settings.engines.values():
        if engine.quote:
            for key in engine.instruments():
                venue = key.split(":", 1)[0]
                if venue not in venues:
                    venues.append(venue)
    return venues


def plan_execution(settings: Settings) -> ExecutionPlan | None:
    """None for ``execution = "paper"``; otherwise checked testnet clients (InputError if unsafe)."""
    if settings.execution == "paper":
        return None
    venues = quoted_venues(settings)
    if not venues:
        raise InputError('execution = "testnet": no engine quotes (every engine has quote = false)')
    exchanges: dict[str, Any] = {}
    secrets: list[str] = []
    for venue in venues:
        venue_settings = settings.testnet.for_venue(venue)
        key, secret = venue_settings.credentials(venue)
        register_secrets(key, secret)  # masked in every log line from now on
        exchanges[venue] = make_testnet_exchange(
            venue, venue_settings, key, secret, timeout_s=settings.testnet.timeout_s
        )
        secrets += [key.get_secret_value(), secret.get_secret_value()]
    return ExecutionPlan(exchanges, tuple(secrets))


class TestnetExecution:
    """The mirrors, the executor and their reporting for one ``mmbot run``."""

    __test__ = False

    def __init__(self, executor: TestnetExecutor, mirrors: dict[str, MirrorVenue]) -> None:
        self.executor = executor
        self.mirrors = mirrors

    @classmethod
    def attach(
        cls,
        plan: ExecutionPlan,
        settings: Settings,
        trading: Sequence[TradingEngine],
        specs: dict[str, InstrumentSpec],
    ) -> TestnetExecution:
        bindings: list[Binding] = []
        mirrors: dict[str, MirrorVenue] = {}
        for item in trading:
            pipeline, exchange = item.pipeline, item.exchange
            if pipeline is None or exchange is None:
                continue
            mirror = MirrorVenue(exchange, max_queue=settings.testnet.max_queue)
            pipeline.venue = mirror
            pipeline.report_observers.append(mirror.on_report)
            mirrors[item.engine.name] = mirror
            journal = item.journal
            record = None
            if journal is not None:
                append = journal.append_event

                def record(type_: str, payload: dict[str, Any], ts: int, _append: Any = append) -> None:
                    _append(type_, payload, ts, source="testnet")

            held = False
            for key in item.engine.instruments:
                if key.split(":", 1)[0] in plan.exchanges:
                    binding = Binding(item.engine, key, specs[key], mirror, record)
                    binding.pipeline = pipeline
                    binding.paper_open = partial(paper_open_orders, exchange, key)
                    binding.last_balances = last_balances(journal, key) if journal is not None else None
                    bindings.append(binding)
                    held = True
            if held:  # no quote before the start-up reconciliation (released by the executor)
                pipeline.hold(
                    Trigger.TESTNET_RECONCILE,
                    "reconciling open orders and balances with the testnet before the first quote",
                    item.engine.clock.now,
                )
        used = {b.venue for b in bindings}
        clients = {
            venue: TestnetClient(
                venue, exchange, {b.instrument: b.spec for b in bindings if b.venue == venue}, plan.secrets
            )
            for venue, exchange in plan.exchanges.items()
            if venue in used
        }
        executor = TestnetExecutor(clients, bindings, settings.testnet)
        log.info(
            "testnet execution on",
            endpoints={venue: client.endpoint for venue, client in clients.items()},
            instruments=[b.instrument for b in bindings],
            tag=executor.tag,
        )
        return cls(executor, mirrors)

    async def stop(self) -> None:
        await self.executor.stop()

    def status(self) -> dict[str, Any]:
        return self.executor.status()

    def collector(self) -> Collector:
        return TestnetCollector(self.executor)


def paper_open_orders(exchange: PaperExchange, key: str) -> dict[str, PaperOrder]:
    """The paper exchange's open and in-flight orders of ``key`` as the mirror tracks them."""
    out: dict[str, PaperOrder] = {}
    for resting in exchange.open_orders(key):
        order = resting.order
        out[order.client_id] = PaperOrder(
            order.client_id,
            key,
            order.side,
            order.size,
            order.price,
            order.ts,
            state=PaperState.OPEN,
            filled=order.size - resting.remaining,
        )
    for client_id, command in exchange.inflight.items():
        if command.instrument == key:
            out[client_id] = PaperOrder(client_id, key, command.side, command.size, command.price, command.ts)
    return out


def last_balances(journal: Journal, key: str) -> dict[str, dict[str, str]] | None:
    """The testnet balances of ``key``'s assets journaled last (start-up or final record)."""
    found = None
    for _id, _ts, type_, _source, payload in journal.events():
        if (
            type_ in ("testnet_startup", "reconciliation")
            and isinstance(payload, dict)
            and payload.get("instrument") == key
            and isinstance(payload.get("balances"), dict)
        ):
            found = payload["balances"]
    return found


class TestnetCollector(Collector):
    """``/metrics`` for testnet execution (read at scrape time)."""

    __test__ = False

    def __init__(self, executor: TestnetExecutor) -> None:
        self.executor = executor

    def collect(self) -> Iterator[Metric]:
        executor = self.executor
        counters = CounterMetricFamily(
            "mmbot_testnet_requests", "Testnet order traffic by kind", labels=["kind"]
        )
        for kind, value in vars(executor.counters).items():
            counters.add_metric([kind], value)
        yield counters
        queued = GaugeMetricFamily("mmbot_testnet_queue", "Commands waiting for the testnet")
        queued.add_metric([], len(executor.queue) + sum(len(b.mirror.outbox) for b in executor.bindings))
        yield queued
        diffs = CounterMetricFamily(
            "mmbot_testnet_differences",
            "Reconciliation differences (testnet vs paper)",
            labels=["engine", "instrument"],
        )
        matched = CounterMetricFamily(
            "mmbot_testnet_matched", "Orders reconciled without difference", labels=["engine", "instrument"]
        )
        divergence = GaugeMetricFamily(
            "mmbot_testnet_live_divergence",
            "Open orders whose testnet and paper fills differ now",
            labels=["engine", "instrument"],
        )
        for binding in executor.bindings:
            labels = [binding.engine.name, binding.instrument]
            totals = binding.reconciler.totals
            diffs.add_metric(labels, totals.differences)
            matched.add_metric(labels, totals.matched)
            divergence.add_metric(labels, binding.live_divergence)
        yield from (diffs, matched, divergence)
