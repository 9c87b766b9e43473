"""The HTTP endpoints of a live bot, wired to its runner, engines, controller and deals.

:func:`build_ops_server` is what ``mmbot run`` serves (``bot/commands/run.py``); the server itself
is :mod:`bot.ops.http`, its parts :mod:`bot.ops.metrics`, :mod:`bot.ops.feeds`,
:mod:`bot.ops.dashboard` and :mod:`bot.ops.control`.
"""

from __future__ import annotations

import time
from typing import Any

from bot.config import Settings
from bot.core.events import NS_PER_S
from bot.engine.assemble import TradingEngine
from bot.engine.deal_setup import DealRun
from bot.errors import InputError
from bot.ops.control import Controller
from bot.ops.dashboard import attach_dashboard
from bot.ops.deal_metrics import DealCollector
from bot.ops.execution import TestnetExecution
from bot.ops.feeds import FeedCollector, feeds_current
from bot.ops.http import Limits, OpsServer
from bot.ops.live import LiveRunner
from bot.ops.metrics import LatencyMetrics, TradingCollector, adapter_stats, build_registry
from bot.ops.obligations_metrics import ObligationCollector


def build_ops_server(
    settings: Settings,
    runner: LiveRunner,
    trading: list[TradingEngine],
    controller: Controller,
    testnet: TestnetExecution | None = None,
    deals: list[DealRun] | None = None,
) -> OpsServer:
    """The bot's HTTP endpoints as ``mmbot run`` serves them: ``/metrics`` (Prometheus, with the
    trading, feed, obligation, deal and latency collectors), ``/status``, ``/healthz`` with its
    checks (feeds fresh and current, books valid, journals writable), the control API (kill,
    resume, strategy switch) and, when enabled, the dashboard."""
    host, port = settings.http.host_port
    registry = build_registry(runner, time.time_ns)
    registry.register(TradingCollector(trading))
    registry.register(FeedCollector(runner, time.time_ns))
    registry.register(ObligationCollector(trading))
    registry.register(DealCollector(deals or []))
    runner.observe = LatencyMetrics(registry, trading).observe
    if testnet is not None:
        registry.register(testnet.collector())
    ops = OpsServer(
        registry=registry,
        status=lambda: {
            "instruments": runner.status_lines(),
            "engines": [t.status() for t in trading],
            "obligations": [t.obligation.summary() for t in trading if t.obligation is not None],
            "deals": [d.status() for d in deals or []],
            "adapters": {v: adapter_stats(a) for v, a in runner.adapters.items()},
            "execution": testnet.status() if testnet is not None else {"mode": "paper"},
            "http": ops.connection_stats(),
        },
        host=host,
        port=port,
        token=settings.http.control_token(),
        limits=Limits(
            max_connections=settings.http.max_connections,
            idle_timeout_s=settings.http.idle_timeout_s,
            read_timeout_s=settings.http.read_timeout_s,
            request_timeout_s=settings.http.request_timeout_s,
            max_body_bytes=settings.http.max_body_bytes,
        ),
    )
    stale_after_ns = int(settings.market.stale_after_s * NS_PER_S)

    def books_valid() -> str | None:
        bad = [
            f"{line['instrument']}: {line['reason'] or line['state']}"
            for line in runner.status_lines()
            if not line["valid"]
        ]
        return "; ".join(bad) or None

    def feeds_fresh() -> str | None:
        now = time.time_ns()
        stale = []
        for engine in runner.engines:
            for key, state in engine.instruments.items():
                if not state.last_event_ts:
                    stale.append(f"{key}: no data yet")
                elif now - state.last_event_ts > stale_after_ns:
                    stale.append(f"{key}: silent {(now - state.last_event_ts) / NS_PER_S:.1f}s")
        return "; ".join(stale) or None

    def journal_writable() -> str | None:
        bad = []
        for t in trading:
            journal = t.journal
            if journal is not None and journal.fault is not None:
                bad.append(f"{t.engine.name}: {journal.fault} (backlog {journal.backlog} records)")
        return "; ".join(bad) or None

    ops.add_check("feeds_fresh", feeds_fresh)
    ops.add_check("books_valid", books_valid)
    ops.add_check("feeds_current", feeds_current(runner))
    ops.add_check("journal_writable", journal_writable)

    def switch(body: dict[str, str]) -> dict[str, Any]:
        name = body.get("name")
        if not name:
            raise ValueError('body must be {"name": "<profile>"}')
        try:
            return controller.switch(name, "http")
        except InputError as exc:
            raise ValueError(str(exc)) from None

    ops.add_control("kill", lambda body: controller.kill(body.get("reason") or "http kill", "http"))
    ops.add_control("resume", lambda body: controller.resume(body.get("reason") or "http resume", "http"))
    ops.add_control("strategy", switch, fields=("name",))
    if settings.http.dashboard.enabled:
        attach_dashboard(settings.http.dashboard, ops, trading, registry, controller.strategies_dir)
    return ops
