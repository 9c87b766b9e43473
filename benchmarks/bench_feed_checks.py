#!/usr/bin/env python3
"""Per-event cost of the market-data cross-checks (bot/market/feedhealth.py) in the engine loop.

Input: a real Binance recording (default: tests/data/binance_usdm_btcusdt_20230404.dat.gz, USD-M
``depth@0ms`` + bookTicker + trade + markPrice, ~74k events), decoded once up front (not timed).
The engine (book + Binance sync + the checks; no handlers) is fed every event with 100 ms timers
in between, as the live driver does, and a queue lag per event (as the live driver hands in).
Variants, interleaved run by run: checks **on** (the defaults: top of book 1 s, trades 1 s,
depth silence 2 s, falling behind 1 s) and **off** (every tolerance 0: only the id chain and the
any-stream staleness rule). Reported: mean ns per event by event type (median over runs), and
the difference = what the checks cost.

Usage: python benchmarks/bench_feed_checks.py [--runs 5] [--file PATH ...]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.core.events import NS_PER_S, Timer  # noqa: E402
from bot.engine.loop import Engine  # noqa: E402
from bot.market.feed_settings import FeedCheckSettings  # noqa: E402
from bot.replay.readers import open_replay  # noqa: E402

DEFAULT_FILES = [REPO / "tests" / "data" / "binance_usdm_btcusdt_20230404.dat.gz"]
OFF = FeedCheckSettings(top_mismatch_s=0, trade_mismatch_s=0, depth_silence_s=0, max_lag_s=0)
TIMER_NS = NS_PER_S // 10


def load(files: list[Path]) -> tuple[list, list]:  # type: ignore[type-arg]
    replay = open_replay(files)
    events = list(replay)
    return events, list(replay.specs.values())


def run_once(events: list, specs: list, checks: FeedCheckSettings) -> dict[str, tuple[int, int]]:  # type: ignore[type-arg]
    engine = Engine("bench", specs, checks=checks)
    on_event = engine.on_event
    counter = time.perf_counter_ns
    totals: dict[str, list[int]] = {}
    next_timer = events[0].local_ts + TIMER_NS
    gc.disable()
    try:
        for event in events:
            while event.local_ts > next_timer:
                t0 = counter()
                on_event(Timer(local_ts=next_timer))
                dt = counter() - t0
                slot = totals.setdefault("Timer", [0, 0])
                slot[0] += dt
                slot[1] += 1
                next_timer += TIMER_NS
            t0 = counter()
            on_event(event, 50_000)  # a 50 us queue lag, as measured live
            dt = counter() - t0
            slot = totals.setdefault(type(event).__name__, [0, 0])
            slot[0] += dt
            slot[1] += 1
            engine.outbox.clear()
    finally:
        gc.enable()
    state = next(iter(engine.instruments.values()))
    assert state.sync.valid and state.health.counters.as_dict() == dict.fromkeys(
        state.health.counters.__slots__, 0
    )
    return {kind: (total, count) for kind, (total, count) in totals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--file", type=Path, action="append", default=None)
    args = ap.parse_args()
    events, specs = load(args.file or DEFAULT_FILES)
    results: dict[str, dict[str, list[float]]] = {"on": {}, "off": {}}
    counts: dict[str, int] = {}
    for _ in range(args.runs):
        for name, checks in (("on", FeedCheckSettings()), ("off", OFF)):
            for kind, (total, count) in run_once(events, specs, checks).items():
                results[name].setdefault(kind, []).append(total / count)
                counts[kind] = count
            results[name].setdefault("all", []).append(0.0)
    kinds = sorted(counts, key=lambda k: -counts[k])
    print(
        f"| event | count | checks off ns/event | checks on ns/event | checks cost ns/event | (median of {args.runs}) |"
    )
    print("|---|---|---|---|---|---|")
    report = {}
    for kind in kinds:
        off = statistics.median(results["off"][kind])
        on = statistics.median(results["on"][kind])
        report[kind] = {"count": counts[kind], "off_ns": round(off), "on_ns": round(on)}
        print(f"| {kind} | {counts[kind]:,} | {off:,.0f} | {on:,.0f} | {on - off:+,.0f} | |")
    total_count = sum(counts.values())
    off_all = sum(report[k]["off_ns"] * counts[k] for k in kinds) / total_count
    on_all = sum(report[k]["on_ns"] * counts[k] for k in kinds) / total_count
    print(f"| all | {total_count:,} | {off_all:,.0f} | {on_all:,.0f} | {on_all - off_all:+,.0f} | |")
    print(
        json.dumps(
            {
                "bench": "feed_checks",
                "files": [str(f) for f in (args.file or DEFAULT_FILES)],
                "runs": args.runs,
                "median": report,
            }
        )
    )


if __name__ == "__main__":
    main()
