"""Builds real run directories for the report tests, the way the replay pipeline writes them.

A paper exchange (real journal, SQLite) driven by the synthetic ``crash`` market and the
reference market maker of the shared benchmark (one bid, one ask, re-quoted on every
book change); every second of event time a ``sample`` typed event with the payload the
pipeline journals; ``regime_transition`` records (:func:`bot.risk.explain.to_payload`)
at the scenario's phase changes, the way the risk manager would report them; one
``strategy_switch``; ``config.json`` and ``summary.json`` beside the journal.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

from bot.core.events import NS_PER_S
from bot.emulator.synthetic import SyntheticMarket, synthetic_events
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import JournalSettings, LatencySettings, PaperLatencySettings, PaperSettings
from bot.risk.explain import Reason, Regime, RegimeTransition, to_payload
from bot.store.recovery import open_paper
from tests.specs import SPOT_BTC

PHASE_REGIME = {
    "calm": Regime.CALM,
    "withdrawal": Regime.HALTED,
    "crash": Regime.CRISIS,
    "recovery": Regime.TRENDING,
}


def build_run(run_dir: Path, *, half_spread: int = 60, seed: int = 7, seconds: float = 420.0) -> Path:
    spec = SPOT_BTC
    key = spec.key
    settings = PaperSettings(
        latency=PaperLatencySettings(
            order_entry=LatencySettings(ms=2.0),
            cancel=LatencySettings(ms=2.0),
            market_data=LatencySettings(ms=5.0),
        ),
        starting_balances={"USDT": Decimal(100_000), "BTC": Decimal("0.05")},
        equity_interval_s=10.0,
        journal=JournalSettings(enabled=True),
    )
    exchange, journal = open_paper([spec], settings, run_dir, "engine")
    assert journal is not None
    lot = 100_000  # 0.001 BTC
    maker = ReferenceMarketMaker(
        exchange, key, size=lot, half_spread=half_spread, skew=20, skew_unit=lot, max_inventory=20 * lot
    )
    market = SyntheticMarket("crash", seed=seed, spec=spec)
    phase_at = []
    for name, first, _last in market.phase_spans():
        phase_at.append((first, name))
    regime = Regime.CALM
    next_phase = 0
    next_sample = 0
    sigma = None
    last_mid = None
    start = None
    book = exchange.book(key)
    seq = 0
    for event in synthetic_events("crash", seed=seed, spec=spec):
        ts = event.local_ts
        if start is None:
            start = ts
            next_sample = ts
        if ts - start > seconds * NS_PER_S:
            break
        exchange.on_event(event)
        maker.on_event(event)
        while next_phase < len(phase_at) and event.exch_ts >= phase_at[next_phase][0]:
            name = phase_at[next_phase][1]
            next_phase += 1
            target = PHASE_REGIME.get(name, Regime.CALM)
            if target != regime:
                seq += 1
                record = RegimeTransition(
                    ts=ts,
                    instrument=key,
                    from_state=regime,
                    to_state=target,
                    rule=f"{target}.enter",
                    reasons=(Reason(rule=f"{target}.enter", metric="phase", note=name),),
                    signals={"sigma_short": sigma},
                    seq=seq,
                )
                journal.append_event("regime_transition", to_payload(record), ts, source="risk")
                regime = target
        if ts >= next_sample and book.best_bid is not None and book.best_ask is not None:
            mid = (book.best_bid + book.best_ask) / 2 * float(spec.tick_size)
            if last_mid is not None:
                change = (mid - last_mid) ** 2
                sigma = math.sqrt(change) if sigma is None else math.sqrt(0.9 * sigma**2 + 0.1 * change)
            last_mid = mid
            ledger = exchange.ledger
            quotes = {1: None, -1: None}
            for order in exchange.open_orders(key):
                quotes[int(order.side)] = float(spec.price(order.price))
            inventory = float(spec.size(ledger.position_qty(key) - ledger.start_qty(key)))
            attribution = ledger.attribution()
            payload = {
                "instrument": key,
                "mid": mid,
                "best_bid": float(spec.price(book.best_bid)),
                "best_ask": float(spec.price(book.best_ask)),
                "bid_quote": quotes[1],
                "ask_quote": quotes[-1],
                "sigma": sigma,
                "regime": str(regime),
                "inventory": inventory,
                "net_delta": inventory,
                "equity": float(ledger.equity()),
                "pnl": {
                    "spread_capture": float(attribution.spread_capture),
                    "rebates": float(attribution.rebates),
                    "fees": float(attribution.fees),
                    "inventory": float(attribution.inventory),
                    "hedge": 0.0,
                    "funding": float(attribution.funding),
                    "total": float(attribution.total),
                },
            }
            journal.append_event("sample", payload, ts, source="engine")
            next_sample += NS_PER_S
            if next_sample == start + 120 * NS_PER_S:
                journal.append_event(
                    "strategy_switch",
                    {"from": "minimal", "to": "minimal-wide", "reason": "test"},
                    ts,
                    "engine",
                )
    exchange.flush()
    journal.close()
    (run_dir / "config.json").write_text(
        json.dumps(
            {
                "strategy": {"name": "reference", "half_spread_ticks": half_spread},
                "paper": {"journal": {"directory": "journal"}},
            }
        )
    )
    (run_dir / "summary.json").write_text(json.dumps({"complete": True, "events": seq}))
    return run_dir
