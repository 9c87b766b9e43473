#!/usr/bin/env python3
"""Tick-to-quote latency inside the core: from a book event handed to the engine to the order
commands it emits (paper exchange, estimators, risk manager, quoter, order manager all running).

Input: the reference stream (``benchmarks/streams.py``: ``benchmarks/reference/gen_l2.py`` seed 42, or
mmbot's synthetic generator when absent), turned into core events: the snapshot rows into one
``BookSnapshot``, each level update into a one-level ``BookDelta``, each trade into a ``Trade``.
Every book event is timed (``perf_counter_ns`` around ``engine.on_event``); the report gives
p50/p99/p99.9 over all book events and over the book events that emitted at least one order
command (the ones where a quote actually changed). ``--risk off`` disables the risk manager to
measure its cost. ``--checks off`` turns the market-data cross-checks off (every ``[market]``
tolerance 0) to measure theirs; ``--book-ticker`` adds a venue top-of-book message (``TopOfBook``
with the book's update id, as Binance's bookTicker) after every diff that changes the best bid or ask,
so the top-of-book check runs too (those messages are not timed as book events). Each book event is
handed a 50 us queue lag, as the live driver does. No journal (its cost: bench_paper.py).

Usage: python benchmarks/bench_tick_to_quote.py [--n 1000000] [--runs 3] [--risk on|off|both]
       [--checks on|off|both] [--book-ticker]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.streams import load_stream  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.core.events import BookDelta, BookSnapshot, Side, TopOfBook, Trade  # noqa: E402
from bot.core.instrument import InstrumentKind, InstrumentSpec  # noqa: E402
from bot.engine.assemble import build_engine  # noqa: E402
from bot.market.book import OrderBook  # noqa: E402
from bot.strategy.profile import StrategyProfile  # noqa: E402

SPEC = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
    min_notional=Decimal("5"),
    maker_fee=Decimal("-0.00005"),
    taker_fee=Decimal("0.0005"),
)
PROFILE = {
    "name": "bench_as",
    "quoter": "avellaneda_stoikov",
    "avellaneda_stoikov": {
        "gamma": 0.001,
        "k": 0.1,
        "horizon": "rolling",
        "horizon_s": 60.0,
        "sigma_horizon_s": 10.0,
        "min_half_spread_ticks": 2.0,
    },
    "ladder": {"levels": 1, "size": "0.01", "max_position": "0.2"},
}


def with_book_ticker(evs: list):  # type: ignore[no-untyped-def]
    """``evs`` plus a TopOfBook after each diff that moves the best bid or ask (1 us later)."""
    book = OrderBook(SPEC.key)
    out = []
    top = (None, None)
    for event in evs:
        out.append(event)
        if type(event) is BookSnapshot:
            book.load(event.bids, event.asks, event.update_id)
        elif type(event) is BookDelta:
            book.apply(event.bids, event.asks)
            now = (book.best_bid, book.best_ask)
            if now != top and now[0] is not None and now[1] is not None:
                top = now
                out.append(
                    TopOfBook(
                        instrument=event.instrument,
                        local_ts=event.local_ts + 1000,
                        exch_ts=event.exch_ts,
                        update_id=event.last_id,
                        bid_price=now[0],
                        bid_size=book.best_bid_size,
                        ask_price=now[1],
                        ask_size=book.best_ask_size,
                    )
                )
    return out


def events(n: int):  # type: ignore[no-untyped-def]
    (ts, kind, side, price, qty), origin = load_stream(n)
    key = SPEC.key
    out = []
    snap_bids, snap_asks = [], []
    i = 0
    while i < len(ts) and kind[i] == 0:
        (snap_bids if side[i] > 0 else snap_asks).append((price[i], qty[i]))
        i += 1
    out.append(
        BookSnapshot(
            instrument=key,
            local_ts=ts[0] + 200_000,
            exch_ts=ts[0],
            update_id=1000,
            bids=sorted(snap_bids, reverse=True),
            asks=sorted(snap_asks),
        )
    )
    uid = 1000
    for j in range(i, len(ts)):
        local = ts[j] + 200_000
        if kind[j] == 2:
            out.append(
                Trade(
                    instrument=key,
                    local_ts=local,
                    exch_ts=ts[j],
                    price=price[j],
                    size=qty[j],
                    side=Side(side[j]),
                )
            )
        else:
            uid += 1
            level = [(price[j], qty[j])]
            first = 1000 if uid == 1001 else uid  # the first diff straddles the snapshot id
            out.append(
                BookDelta(
                    instrument=key,
                    local_ts=local,
                    exch_ts=ts[j],
                    first_id=first,
                    last_id=uid,
                    prev_id=uid - 1,
                    bids=level if side[j] > 0 else [],
                    asks=[] if side[j] > 0 else level,
                )
            )
    return out, origin


CHECKS_OFF = {"top_mismatch_s": 0, "trade_mismatch_s": 0, "depth_silence_s": 0, "max_lag_s": 0}


def run_once(evs: list, risk: bool, checks: bool = True) -> tuple[list[int], list[int], int]:
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        market={} if checks else CHECKS_OFF,
        data_dir=str(tmp),
        engines={"bench": {"venue": "binance_spot", "symbol": "BTCUSDT"}},
        estimators={"vol_horizons_s": [10.0, 300.0, 3600.0], "vol_warmup_fraction": 0.1},
        risk={"enabled": risk},
        paper={
            "journal": {"enabled": False},
            "starting_balances": {"USDT": "1000000", "BTC": "10"},
            "latency": {"order_entry": {"ms": 0.2}, "cancel": {"ms": 0.2}, "market_data": {"ms": 0.2}},
        },
        http={"enabled": False},
    )
    trading = build_engine(
        "bench",
        settings.engines["bench"],
        settings,
        {SPEC.key: SPEC},
        profile=StrategyProfile.model_validate(PROFILE),
        data_dir=tmp,
    )
    engine, exchange = trading.engine, trading.exchange
    assert exchange is not None
    on_event = engine.on_event
    counter = time.perf_counter_ns
    all_ns: list[int] = []
    quoting_ns: list[int] = []
    gc.disable()
    try:
        for event in evs:
            if type(event) is Trade or type(event) is TopOfBook:
                on_event(event, 50_000)
                continue
            before = exchange.commands
            t0 = counter()
            on_event(event, 50_000)
            dt = counter() - t0
            all_ns.append(dt)
            if exchange.commands != before:
                quoting_ns.append(dt)
    finally:
        gc.enable()
    commands = exchange.commands
    trading.close()
    return all_ns, quoting_ns, commands


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--risk", choices=["on", "off", "both"], default="both")
    ap.add_argument("--checks", choices=["on", "off", "both"], default="on")
    ap.add_argument("--book-ticker", action="store_true")
    args = ap.parse_args()
    evs, origin = events(args.n)
    if args.book_ticker:
        evs = with_book_ticker(evs)
    risks = [True, False] if args.risk == "both" else [args.risk == "on"]
    checks = [True, False] if args.checks == "both" else [args.checks == "on"]
    modes = [(risk, check) for risk in risks for check in checks]
    print(
        f"| risk | checks | book events | p50 µs | p99 µs | p99.9 µs | quoting events p50 / p99 / p99.9 µs | commands | (median of {args.runs}) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    report = {}
    rows: dict[tuple[bool, bool], list[tuple[float, ...]]] = {mode: [] for mode in modes}
    for _ in range(args.runs):
        for mode in modes:  # interleaved, so that a change of machine load hits every variant alike
            all_ns, quoting_ns, commands = run_once(evs, *mode)
            rows[mode].append(
                (
                    pct(all_ns, 0.5),
                    pct(all_ns, 0.99),
                    pct(all_ns, 0.999),
                    pct(quoting_ns, 0.5),
                    pct(quoting_ns, 0.99),
                    pct(quoting_ns, 0.999),
                    len(all_ns),
                    commands,
                )
            )
    for (risk, check), measured in rows.items():
        med = [statistics.median(r[k] for r in measured) for k in range(8)]
        name = f"risk {'on' if risk else 'off'}, checks {'on' if check else 'off'}"
        print(
            f"| {'on' if risk else 'off'} | {'on' if check else 'off'} | {int(med[6]):,} | {med[0]:.1f} | "
            f"{med[1]:.1f} | {med[2]:.1f} | {med[3]:.1f} / {med[4]:.1f} / {med[5]:.1f} | {int(med[7]):,} | |"
        )
        report[name] = med
    print(
        json.dumps(
            {
                "bench": "tick_to_quote",
                "stream": origin,
                "book_ticker": args.book_ticker,
                "runs": args.runs,
                "median": report,
            }
        )
    )


if __name__ == "__main__":
    main()
