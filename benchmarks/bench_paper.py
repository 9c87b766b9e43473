"""Paper exchange throughput: fill simulator + ledger (+ journal) on the reference stream.

    python benchmarks/bench_paper.py [--npz /tmp/l2_1000000_s42.npz] [--n N] [--runs 5]
                                     [--fills 200000] [--profile] [--stream-only]

1. **Stream benchmark**: the shared reference L2 stream (``benchmarks/reference/gen_l2.py``
   NPZ; when absent, ``bot.paper.synthetic`` generates a stream of the same size)
   through ``PaperExchange`` (its own venue book, queues, fills, ledger) and the
   reference market maker of ``benchmarks/reference/README.md`` (one bid and one ask,
   re-quoted on every book change, post-only 0.01 lots, 200 us feed and order-entry
   latency). Journal off, then on (SQLite WAL, synchronous=normal, one transaction per
   input event with records). Events/s = events / loop time, median of ``--runs``.
   Building the event structs from the NPZ is not timed.
2. **Fills micro-benchmark**: one resting bid and a stream of sell trades at its price,
   each filling it once: every event produces exactly one fill, one ledger update and
   (journal on) one committed transaction. Fills/s, median of ``--runs``; also with
   ``commit_every=10``.

Prints markdown table rows for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.events import BookDelta, BookSnapshot, Event, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import NewOrder, TimeInForce
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import (
    JournalSettings,
    LatencySettings,
    PaperLatencySettings,
    PaperSettings,
)
from bot.paper.synthetic import synthetic_stream
from bot.store.recovery import open_paper

SPEC = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0004"),
)
KEY = SPEC.key


def load_npz(path: Path, limit: int | None) -> list[Event]:
    import numpy as np

    data = np.load(path)
    ts = data["ts"].tolist()
    kind = data["kind"].tolist()
    side = data["side"].tolist()
    price = np.rint(data["price"] / float(data["tick_size"])).astype(np.int64).tolist()
    qty = np.rint(data["qty"] / float(data["lot_size"])).astype(np.int64).tolist()
    n = len(ts) if limit is None else min(limit, len(ts))
    bids, asks = [], []
    i = 0
    while i < n and kind[i] == 0:
        (bids if side[i] > 0 else asks).append((price[i], qty[i]))
        i += 1
    events: list[Event] = [BookSnapshot(instrument=KEY, local_ts=ts[0], update_id=0, bids=bids, asks=asks)]
    update_id = 0
    for j in range(i, n):
        if kind[j] == 1:
            update_id += 1
            level = [(price[j], qty[j])]
            events.append(
                BookDelta(
                    instrument=KEY,
                    local_ts=ts[j],
                    first_id=update_id,
                    last_id=update_id,
                    prev_id=update_id - 1,
                    bids=level if side[j] > 0 else [],
                    asks=[] if side[j] > 0 else level,
                )
            )
        else:
            events.append(
                Trade(
                    instrument=KEY,
                    local_ts=ts[j],
                    price=price[j],
                    size=qty[j],
                    side=Side.BUY if side[j] > 0 else Side.SELL,
                    trade_id=j,
                )
            )
    return events


def paper_settings(journal: bool, commit_every: int = 1) -> PaperSettings:
    fast = LatencySettings(ms=0.2)
    return PaperSettings(
        latency=PaperLatencySettings(order_entry=fast, cancel=fast, market_data=fast),
        starting_balances={"USDT": Decimal(100_000_000), "BTC": Decimal(1000)},
        journal=JournalSettings(enabled=journal, commit_every=commit_every),
    )


def stream_run(
    events: list[Event], journal: bool, commit_every: int = 1, profile: bool = False
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        exchange, store = open_paper([SPEC], paper_settings(journal, commit_every), Path(tmp), "bench")
        maker = ReferenceMarketMaker(
            exchange, KEY, size=10, half_spread=8, skew=4, skew_unit=10, max_inventory=200
        )
        on_exchange, on_maker = exchange.on_event, maker.on_event
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        reports = exchange.reports
        for event in events:
            on_exchange(event)
            on_maker(event)
            if reports:  # a consumer reads the reports
                reports.clear()
        exchange.flush()
        elapsed = time.perf_counter() - start
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        result = {
            "seconds": elapsed,
            "events_per_s": len(events) / elapsed,
            "orders": float(exchange.commands),
            "fills": float(exchange.ledger.fill_count),
            "records": float(store.seq if store else 0),
        }
        if store:
            store.close()
        return result


def fills_run(n_fills: int, journal: bool, commit_every: int = 1) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        exchange, store = open_paper([SPEC], paper_settings(journal, commit_every), Path(tmp), "fills")
        t0 = 1_700_000_000_000_000_000
        exchange.on_event(
            BookSnapshot(instrument=KEY, local_ts=t0, update_id=0, bids=[(600_000, 5)], asks=[(600_001, 5)])
        )
        exchange.on_event(
            BookDelta(instrument=KEY, local_ts=t0 + 1, first_id=1, last_id=1, prev_id=0, bids=[], asks=[])
        )
        exchange.submit(
            NewOrder(
                client_id="sink",
                instrument=KEY,
                side=Side.BUY,
                price=599_990,
                size=n_fills + 1,
                tif=TimeInForce.GTX,
                ts=t0 + 1,
            )
        )
        trades = [
            Trade(instrument=KEY, local_ts=t0 + 2_000_000 + i * 1000, price=599_990, size=1, side=Side.SELL)
            for i in range(n_fills)
        ]
        on_event = exchange.on_event
        start = time.perf_counter()
        reports = exchange.reports
        for trade in trades:
            on_event(trade)
            reports.clear()
        exchange.flush()
        elapsed = time.perf_counter() - start
        assert exchange.ledger.fill_count == n_fills, exchange.ledger.fill_count
        if store:
            store.close()
        return {"seconds": elapsed, "fills_per_s": n_fills / elapsed}


def _label(journal: bool, commit_every: int) -> str:
    if not journal:
        return "off"
    return f"on (WAL), {commit_every} event{'s' if commit_every > 1 else ''}/transaction"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, default=Path("/tmp/l2_1000000_s42.npz"))
    parser.add_argument("--n", type=int, default=None, help="use only the first N events")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true", help="profile one journal-off run")
    parser.add_argument(
        "--stream-only", action="store_true", help="only the journal-off stream benchmark (matching cost)"
    )
    args = parser.parse_args()
    if args.npz.exists():
        source = f"{args.npz.name}"
        events = load_npz(args.npz, args.n)
    else:
        n = args.n or 1_000_000
        source = f"synthetic({n}, seed 42)"
        events = list(synthetic_stream(KEY, n, seed=42))
    print(f"stream: {source}, {len(events)} events", file=sys.stderr)
    if args.profile:
        stream_run(events, journal=False, profile=True)
        return 0
    rows = []
    streams = ((False, 1),) if args.stream_only else ((False, 1), (True, 1), (True, 100))
    for journal, commit_every in streams:
        runs = [stream_run(events, journal, commit_every) for _ in range(args.runs)]
        median = statistics.median(r["events_per_s"] for r in runs)
        last = runs[-1]
        work = (
            f"{int(last['orders']):,} commands, {int(last['fills']):,} fills, "
            f"{int(last['records']):,} records"
        )
        rows.append(
            f"| paper stream, journal {_label(journal, commit_every)} | {source} "
            f"| {median:,.0f} events/s | {work} | median of {args.runs} |"
        )
        print(rows[-1], file=sys.stderr)
    for journal, commit_every in () if args.stream_only else ((False, 1), (True, 1), (True, 10), (True, 100)):
        runs = [fills_run(args.fills, journal, commit_every) for _ in range(args.runs)]
        median = statistics.median(r["fills_per_s"] for r in runs)
        rows.append(
            f"| paper fills-only, journal {_label(journal, commit_every)} "
            f"| {args.fills:,} single-fill events | {median:,.0f} fills/s | one fill per event "
            f"| median of {args.runs} |"
        )
        print(rows[-1], file=sys.stderr)
    print("| benchmark | input | throughput | work | runs |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
