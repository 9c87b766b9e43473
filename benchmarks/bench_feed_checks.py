#!/usr/bin/env python3
"""Per-event cost of the market-data cross-checks (bot/market/feedhealth.py) in the engine loop.

Input: a real Binance recording (default: tests/data/binance_usdm_btcusdt_20230404.dat.gz, USD-M
``depth@0ms`` + bookTicker + trade + markPrice, ~74k events), decoded once up front (not timed).
The engine (book + Binance sync + the checks; no handlers) is fed every event with 100 ms timers
in between, as the live driver does, and a queue lag per event (as the live driver hands in).
Variants, interleaved run by run: checks **on** (the defaults: top of book 1 s, trades 1 s,
depth silence 2 s, falling behind 1 s) and **off** (every tolerance 0: only the id chain and the
any-stream staleness rule). Reported per event type: p50 and p99 of ``engine.on_event`` in ns
(median over runs; percentiles, not means, so that a preempted event on a shared machine does
not count for thousands), and the p50 difference = what the checks cost.

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


def run_once(events: list, specs: list, checks: FeedCheckSettings) -> dict[str, list[int]]:  # type: ignore[type-arg]
    engine = Engine("bench", specs, checks=checks)
    on_event = engine.on_event
    counter = time.perf_counter_ns
    samples: dict[str, list[int]] = {}
    next_timer = events[0].local_ts + TIMER_NS
    gc.disable()
    try:
        for event in events:
            while event.local_ts > next_timer:
                t0 = counter()
                on_event(Timer(local_ts=next_timer))
                samples.setdefault("Timer", []).append(counter() - t0)
                next_timer += TIMER_NS
            t0 = counter()
            on_event(event, 50_000)  # a 50 us queue lag, as measured live
            samples.setdefault(type(event).__name__, []).append(counter() - t0)
            engine.outbox.clear()
    finally:
        gc.enable()
    state = next(iter(engine.instruments.values()))
    assert state.sync.valid and not any(state.health.counters.as_dict().values())
    return samples


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--file", type=Path, action="append", default=None)
    args = ap.parse_args()
    files = args.file or DEFAULT_FILES
    events, specs = load(files)
    stats: dict[str, dict[str, list[tuple[float, float]]]] = {"on": {}, "off": {}}
    counts: dict[str, int] = {}
    everything: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
    for _ in range(args.runs):
        for name, checks in (("on", FeedCheckSettings()), ("off", OFF)):
            samples = run_once(events, specs, checks)
            merged: list[int] = []
            for kind, values in samples.items():
                stats[name].setdefault(kind, []).append((pct(values, 0.5), pct(values, 0.99)))
                counts[kind] = len(values)
                merged.extend(values)
            everything[name].append((pct(merged, 0.5), pct(merged, 0.99)))
    print(
        "| event | count | checks off p50 / p99 ns | checks on p50 / p99 ns | checks cost (p50) ns "
        f"| (median of {args.runs} runs) |"
    )
    print("|---|---|---|---|---|---|")
    report = {}

    def row(kind: str, count: int, off: list[tuple[float, float]], on: list[tuple[float, float]]) -> None:
        off50, off99 = (statistics.median(v[i] for v in off) for i in (0, 1))
        on50, on99 = (statistics.median(v[i] for v in on) for i in (0, 1))
        report[kind] = {"count": count, "off_p50": off50, "off_p99": off99, "on_p50": on50, "on_p99": on99}
        print(
            f"| {kind} | {count:,} | {off50:,.0f} / {off99:,.0f} | {on50:,.0f} / {on99:,.0f} | {on50 - off50:+,.0f} | |"
        )

    for kind in sorted(counts, key=lambda k: -counts[k]):
        row(kind, counts[kind], stats["off"][kind], stats["on"][kind])
    row("all", sum(counts.values()), everything["off"], everything["on"])
    print(
        json.dumps(
            {"bench": "feed_checks", "files": [str(f) for f in files], "runs": args.runs, "median": report}
        )
    )


if __name__ == "__main__":
    main()
