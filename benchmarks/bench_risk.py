"""Cost of the risk manager per event in the tick-to-quote path (not a test).

Streams the synthetic ``regimes`` scenario (calm -> ranging -> trend -> crisis, repeated
as needed) for a Binance BTCUSDT-like spot spec through the engine (book + sync) and the
estimators, taking an estimator snapshot on every event -- what the quoter reads -- and
then, in the "on" variant, :meth:`RiskManager.on_market` on that snapshot as well. The
events are generated once up front so generation is not timed. Reports the median of R
runs of each variant (interleaved), the risk manager's cost per event (difference of
the medians) and the ratio, as a markdown row.

Usage: python benchmarks/bench_risk.py [--events 200000] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from bot.core.events import MarketEvent
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.synthetic import synthetic_events
from bot.engine.loop import Engine
from bot.market.estimators import EstimatorParams, Estimators
from bot.risk import RiskManager, RiskSettings

SPEC = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
)


def make_events(n: int) -> list[MarketEvent]:
    events = []
    for event in synthetic_events("regimes", seed=42, spec=SPEC, repeat=True):
        events.append(event)
        if len(events) >= n:
            break
    return events


def run(events: list[MarketEvent], risk_on: bool) -> tuple[float, int]:
    """Seconds for the whole stream; transitions seen (on only)."""
    engine = Engine("bench", [SPEC])
    estimators = Estimators(SPEC.key, EstimatorParams())
    book = engine.book(SPEC.key)
    sync = engine.instruments[SPEC.key].sync
    transitions: list[object] = []
    risk = RiskManager(RiskSettings(), SPEC, sink=transitions.append)
    on_event = engine.on_event
    feed = estimators.on_event
    snapshot = estimators.snapshot
    on_market = risk.on_market
    start = time.perf_counter()
    if risk_on:
        for event in events:
            on_event(event)
            feed(event, book)
            on_market(snapshot(), book_valid=sync.valid)
    else:
        for event in events:
            on_event(event)
            feed(event, book)
            snapshot()
    return time.perf_counter() - start, len(transitions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    events = make_events(args.events)
    off: list[float] = []
    on: list[float] = []
    transitions = 0
    for _ in range(args.runs):
        off.append(run(events, False)[0])
        seconds, transitions = run(events, True)
        on.append(seconds)
    n = len(events)
    off_us = statistics.median(off) / n * 1e6
    on_us = statistics.median(on) / n * 1e6
    result = {
        "events": n,
        "runs": args.runs,
        "off_us_per_event": round(off_us, 3),
        "on_us_per_event": round(on_us, 3),
        "risk_us_per_event": round(on_us - off_us, 3),
        "ratio_on_off": round(on_us / off_us, 3),
        "transitions": transitions,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        "| events | estimators only (us/event) | + risk manager (us/event) | risk cost (us/event) | on/off |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {n:,} | {off_us:.2f} | {on_us:.2f} | {on_us - off_us:.2f} | {on_us / off_us:.2f}x |"
        f"  <!-- median of {args.runs}, {transitions} transitions -->"
    )


if __name__ == "__main__":
    main()
