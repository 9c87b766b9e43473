#!/usr/bin/env python3
"""Book-update benchmark: L2 level updates per second applied to ``bot.market.book.OrderBook``.

Input: the reference stream of ``benchmarks/reference/gen_l2.py`` (seed 42), or mmbot's own synthetic
generator when that is absent (a fresh clone); see ``benchmarks/streams.py``.

Measured in one process, median of ``--runs`` runs each:
- ``naive``: the pure dict-based reference loop of ``baseline_pydict.py --bbo`` (dict per side,
  best bid/ask kept current; ``max()``/``min()`` rescans when the best level is deleted), on the same
  integer tick/lot columns;
- ``mmbot per-update``: one ``set_bid``/``set_ask`` call per level update (what a one-level event costs);
- ``mmbot per-diff``: ``apply(bids, asks)`` on consecutive runs of 34 updates (the median number of
  level changes in a Binance diff message, SOURCES.md), which is how the adapters feed the book.

Usage: python benchmarks/bench_book.py [--n 1000000] [--runs 5] [--data FILE.npz]
Prints a markdown table row per variant and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.streams import load_stream  # noqa: E402
from bot.market.book import OrderBook  # noqa: E402


def load_updates(n: int, data: Path | None) -> tuple[list[int], list[int], list[int], str]:
    (_ts, kind, side, price, qty), origin = load_stream(n, data)
    keep = [i for i, k in enumerate(kind) if k != 2]
    return [side[i] for i in keep], [price[i] for i in keep], [qty[i] for i in keep], origin


def naive_bbo(side: list[int], price: list[int], qty: list[int]) -> int:
    """baseline_pydict.replay_bbo on integer columns (the plain-Python floor)."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    bb, ba = -1, 1 << 62
    for i in range(len(side)):
        p = price[i]
        q = qty[i]
        if side[i] > 0:
            if q == 0:
                bids.pop(p, None)
                if p == bb:
                    bb = max(bids) if bids else -1
            else:
                bids[p] = q
                if p > bb:
                    bb = p
        else:
            if q == 0:
                asks.pop(p, None)
                if p == ba:
                    ba = min(asks) if asks else 1 << 62
            else:
                asks[p] = q
                if p < ba:
                    ba = p
    return bb + ba


def mmbot_per_update(side: list[int], price: list[int], qty: list[int]) -> int:
    book = OrderBook("bench")
    set_bid, set_ask = book.set_bid, book.set_ask
    for s, p, q in zip(side, price, qty, strict=True):
        if s > 0:
            set_bid(p, q)
        else:
            set_ask(p, q)
    return (book.best_bid or 0) + (book.best_ask or 0)


def make_diffs(side: list[int], price: list[int], qty: list[int], size: int = 34) -> list[tuple[list, list]]:
    diffs = []
    for start in range(0, len(side), size):
        bids, asks = [], []
        for i in range(start, min(start + size, len(side))):
            (bids if side[i] > 0 else asks).append((price[i], qty[i]))
        diffs.append((bids, asks))
    return diffs


def mmbot_per_diff(diffs: list[tuple[list, list]]) -> int:
    book = OrderBook("bench")
    apply = book.apply
    for bids, asks in diffs:
        apply(bids, asks)
    return (book.best_bid or 0) + (book.best_ask or 0)


def timed(fn, *args) -> tuple[float, int]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="events in the reference stream")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    side, price, qty, origin = load_updates(args.n, args.data)
    diffs = make_diffs(side, price, qty)
    n = len(side)
    results: dict[str, list[float]] = {"naive": [], "per_update": [], "per_diff": []}
    checks = set()
    for _ in range(args.runs):  # interleaved so machine noise hits every variant alike
        for name, fn, fargs in (
            ("naive", naive_bbo, (side, price, qty)),
            ("per_update", mmbot_per_update, (side, price, qty)),
            ("per_diff", mmbot_per_diff, (diffs,)),
        ):
            seconds, check = timed(fn, *fargs)
            results[name].append(n / seconds)
            checks.add(check)
    assert len(checks) == 1, "variants disagree on the final best bid/ask"
    med = {name: statistics.median(v) for name, v in results.items()}
    print(f"| variant | L2 updates/s (median of {args.runs}) | vs naive |")
    print("|---|---|---|")
    labels = {
        "naive": "naive dict + BBO (baseline)",
        "per_update": "mmbot OrderBook, one call per update",
        "per_diff": "mmbot OrderBook.apply, 34-level diffs",
    }
    for name, value in med.items():
        print(f"| {labels[name]} | {value:,.0f} | {value / med['naive']:.2f}x |")
    print(
        json.dumps(
            {
                "bench": "book",
                "stream": origin,
                "updates": n,
                "runs": args.runs,
                "median_updates_per_s": {k: round(v) for k, v in med.items()},
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
