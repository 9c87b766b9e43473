#!/usr/bin/env python3
"""Receipt-to-order latency over a real loopback websocket.

The emulator serves the bundled real Binance BTCUSDT spot recording at its recorded pace on
127.0.0.1; the real adapter decodes each frame and stamps it with the wall clock on receipt
(``local_ts``); the engine (book sync, paper exchange, estimators, risk, AS quoter, order manager)
handles it. For every order command the pipeline sends, the latency is wall clock at ``submit``
minus the receipt stamp of the event being handled. Reported: p50 / p99 / p99.9 over all commands
of ``--seconds`` of replay, median of ``--runs`` runs.

Usage: python benchmarks/bench_loopback_latency.py [--seconds 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.config import Settings  # noqa: E402
from bot.emulator.replay import ReplaySource  # noqa: E402
from bot.emulator.server import EmulatorServer  # noqa: E402
from bot.engine.assemble import build_engine, load_strategy  # noqa: E402
from bot.ops.live import LiveRunner  # noqa: E402
from bot.venues.binance.adapter import BinanceMarketData  # noqa: E402
from bot.venues.metadata import load_instruments_async  # noqa: E402

FILES = [REPO / "bot" / "emulator" / "data" / f"binance_spot_btcusdt_2024080{d}.gz" for d in (8, 9)]
KEY = "binance_spot:BTCUSDT"


async def once(seconds: float) -> list[int]:
    source = ReplaySource.from_files(FILES).truncated(seconds + 5)
    spec = (await load_instruments_async([KEY], cache_dir=None, offline=True))[KEY]
    latencies: list[int] = []
    async with EmulatorServer(source, host="127.0.0.1", port=0, speed=1.0, loop=False) as emulator:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=tmp,
                engines={"btc": {"venue": "binance_spot", "symbol": "BTCUSDT"}},
                estimators={"vol_horizons_s": [2.0, 10.0, 60.0], "vol_warmup_fraction": 0.2},
                risk={"regimes": {"short_horizon_s": 2.0, "medium_horizon_s": 10.0}},
                http={"enabled": False},
                venues={"binance_spot": emulator.overrides("binance_spot")},
            )
            profile = load_strategy(REPO / "config" / "strategies", "as_default")
            profile = profile.model_copy(
                update={
                    "avellaneda_stoikov": profile.avellaneda_stoikov.model_copy(
                        update={"sigma_horizon_s": 10.0}
                    )
                }
            )
            trading = build_engine(
                "btc", settings.engines["btc"], settings, {KEY: spec}, profile=profile, data_dir=Path(tmp)
            )
            engine, pipeline = trading.engine, trading.pipeline
            assert pipeline is not None
            submit = pipeline.venue.submit

            def timed_submit(command):  # type: ignore[no-untyped-def]
                latencies.append(time.time_ns() - engine.clock.now)
                submit(command)

            pipeline.venue = type("Timed", (), {"submit": staticmethod(timed_submit), "catching_up": False})()
            runner = LiveRunner([engine], status_interval_s=3600)
            runner.add_adapter(
                BinanceMarketData("binance_spot", settings.venues.binance_spot, [spec], runner.sink), [KEY]
            )
            await runner.run(seconds)
            trading.close()
    return latencies


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    rows = []
    for _ in range(args.runs):
        lat = asyncio.run(once(args.seconds))
        rows.append((pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999), len(lat)))
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(
        f"| receipt -> order command over loopback ws (median of {args.runs}) | p50 {med[0]:.1f} µs | "
        f"p99 {med[1]:.1f} µs | p99.9 {med[2]:.1f} µs | {int(med[3]):,} commands |"
    )
    print(
        json.dumps(
            {
                "bench": "loopback_latency",
                "seconds": args.seconds,
                "runs": args.runs,
                "median_us": {"p50": med[0], "p99": med[1], "p99.9": med[2]},
                "commands": med[3],
            }
        )
    )


if __name__ == "__main__":
    main()
