"""Cost of the deal desk (not a test).

1. The pool alone: exact PancakeSwap v2 swaps with our LP position's accounting booked per
   swap (``PoolVenue.advance`` with a new mark each time: revaluation, noise flow, the
   closed-form arbitrage), swaps per second.
2. The whole book at full speed: ``mmbot replay synthetic:abc_calm`` over every market of
   config/abc.toml (Binance, Bybit, Bitget spot + the perp: the quoting engines with their
   obligations) without and with its ``[deal]`` (the desk's engine, deal accounts, pool,
   whole-book hedge, sale), journals off, in-process; variants interleaved, median of R runs;
   reports us per input event and the desk's share as a markdown row.

Usage: python benchmarks/bench_deal.py [--seconds 300] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from bot.config import load_settings
from bot.dex.position import to_units
from bot.engine.assemble import load_strategy
from bot.engine.deal_pool import PoolVenue
from bot.hedge.deal_settings import PoolSettings
from bot.replay import open_replay
from bot.replay.run import ReplayRun

REPO = Path(__file__).resolve().parents[1]


def pool_swaps(count: int) -> float:
    """Swaps per second through PoolVenue (mark, noise, arbitrage, accounting, a note each)."""
    pool = PoolVenue("pancakeswap", PoolSettings(noise_rate_per_s=5.0), 1, lambda kind, payload: None)
    mark = Decimal("1.0000")
    pool.lp.on_mark(mark)
    pool.pair.mint("mm", to_units(Decimal(500_000)), to_units(Decimal(500_000)))
    pool.lp.on_liquidity(Decimal(1_000_000))
    pool.start_flow(0)
    rng = random.Random(1)
    now = 0
    start = time.perf_counter()
    while pool.swaps < count:
        now += 100_000_000
        mark = (mark * Decimal(1 + rng.gauss(0, 0.002))).quantize(Decimal("0.0001"))
        pool.advance(now, mark)
    return pool.swaps / (time.perf_counter() - start)


def replay_once(seconds: float, deal: bool) -> tuple[int, float]:
    overrides: dict[str, Any] = {"http": {"enabled": False}, "paper": {"journal": {"enabled": False}}}
    if not deal:
        overrides["deal"] = {"file": None}
    settings = load_settings(REPO / "config" / "abc.toml", **overrides)
    settings = settings.model_copy(
        update={"deal": settings.deal.model_copy(update={"file": REPO / "config" / "deals" / "abc.toml"})}
        if deal
        else {}
    )
    replay = open_replay(
        f"synthetic:abc_calm?seed=1&duration={seconds:g}", instruments=settings.instruments()
    )
    profile = load_strategy(REPO / "config" / "strategies", "abc")
    with tempfile.TemporaryDirectory() as out:
        run = ReplayRun(
            settings.model_copy(update={"data_dir": Path(out)}),
            replay,
            out=Path(out),
            profile=profile,
            strategies=REPO / "config" / "strategies",
        )
        result = run.run()
    replay.close()
    return result.events, result.loop_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--swaps", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    swaps_per_s = pool_swaps(args.swaps)
    timings: dict[bool, list[float]] = {False: [], True: []}
    events = 0
    for _ in range(args.runs):
        for deal in (False, True):
            events, loop_s = replay_once(args.seconds, deal)
            timings[deal].append(loop_s / events * 1e6)
    without = statistics.median(timings[False])
    with_deal = statistics.median(timings[True])
    result = {
        "python": platform.python_version(),
        "pool_swaps_per_s": round(swaps_per_s),
        "events": events,
        "without_us_per_event": round(without, 1),
        "with_deal_us_per_event": round(with_deal, 1),
        "deal_us_per_event": round(with_deal - without, 1),
        "ratio": round(with_deal / without, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pool: {result['pool_swaps_per_s']:,} swaps/s (mark + noise + arbitrage + LP accounting)")
        print(
            "| events | without (us/event) | with the deal (us/event) | desk cost (us/event) | with/without |"
        )
        print("|---|---|---|---|---|")
        print(
            f"| {events:,} | {without:.1f} | {with_deal:.1f} | {with_deal - without:.1f} | "
            f"{with_deal / without:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
