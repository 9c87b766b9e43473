"""Throughput of the synthetic market generator (not a test).

Generates N events of the ``regimes`` scenario (repeated as needed) for a Binance
BTCUSDT-like spot spec and reports, median of R runs:

- core events/s: ``synthetic_events`` objects (BookSnapshot, Trade, BookDelta, MarkPrice)
- L2 records/s: level updates + trades inside ``SyntheticStep`` s (the unit the
  reference stream ``benchmarks/reference/gen_l2.py`` counts as an "event")
- steps/s (one step = one 100 ms exchange update batch)

Usage: python benchmarks/bench_synthetic.py [--events 1000000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.synthetic import SyntheticMarket, synthetic_events

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


def run_events(n: int) -> float:
    start = time.perf_counter()
    for count, _ in enumerate(synthetic_events("regimes", seed=42, spec=SPEC, repeat=True), 1):
        if count >= n:
            break
    return n / (time.perf_counter() - start)


def run_steps(n: int) -> tuple[float, float]:
    start = time.perf_counter()
    records = steps = 0
    for step in SyntheticMarket("regimes", seed=42, spec=SPEC, repeat=True):
        steps += 1
        records += len(step.bids) + len(step.asks) + len(step.trades)
        if records >= n:
            break
    elapsed = time.perf_counter() - start
    return records / elapsed, steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    events = [run_events(args.events) for _ in range(args.runs)]
    steps = [run_steps(args.events) for _ in range(args.runs)]
    result = {
        "events": args.events,
        "runs": args.runs,
        "core_events_per_s": round(statistics.median(events)),
        "l2_records_per_s": round(statistics.median(s[0] for s in steps)),
        "steps_per_s": round(statistics.median(s[1] for s in steps)),
        "seconds_for_n_core_events": round(args.events / statistics.median(events), 2),
        "seconds_for_n_l2_records": round(args.events / statistics.median(s[0] for s in steps), 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
