#!/usr/bin/env python3
"""Does the live dashboard slow the trading loop? Tick-to-quote with 0..N dashboard clients.

One in-process bot per run, wired as ``mmbot run`` wires it (the ops server of
``bot.ops.server_setup``: metrics, latency histograms, control, the dashboard): the emulator serves
the bundled real Binance BTCUSDT spot recording at its recorded pace on 127.0.0.1, the real
adapter decodes it, the engine (book sync, paper exchange, estimators, risk, AS quoter, order
manager) trades it. Every run replays the same data from the start, so variants see the same
market. Variants, interleaved run by run:

- ``off``: ``http.dashboard.enabled = false`` (no dashboard code runs at all);
- ``0``: dashboard on, nobody connected (history sampled at ``max_rate_hz``);
- ``N``: N event-stream clients connected the whole run (a separate process reads them, as
  browsers would).

Measured, per run, from the first order on:

- tick-to-quote: wall clock when an order command (new or cancel) reaches the venue minus the
  adapter's receipt stamp of the market event being handled (commands sent on timer events
  are not counted);
- loop lag: how late a 1 ms sleep wakes up (a 1 kHz probe); any market message arriving while
  the loop builds a dashboard update waits that long before its receipt stamp, so this is the
  part of tick-to-quote the receipt stamp cannot see;
- the dashboard's own counters: updates built, bytes queued, mean build time.

Usage: python benchmarks/bench_dashboard.py [--seconds 45] [--runs 3] [--clients 1 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.config import Settings  # noqa: E402
from bot.core.orders import CancelOrder, NewOrder  # noqa: E402
from bot.emulator.replay import ReplaySource  # noqa: E402
from bot.emulator.server import EmulatorServer  # noqa: E402
from bot.engine.assemble import build_engine, load_strategy  # noqa: E402
from bot.ops.control import Controller  # noqa: E402
from bot.ops.live import LiveRunner  # noqa: E402
from bot.ops.logging import configure_logging  # noqa: E402
from bot.ops.server_setup import build_ops_server  # noqa: E402
from bot.venues.binance.adapter import BinanceMarketData  # noqa: E402
from bot.venues.metadata import load_instruments_async  # noqa: E402

FILES = [REPO / "bot" / "emulator" / "data" / f"binance_spot_btcusdt_2024080{d}.gz" for d in (8, 9)]
KEY = "binance_spot:BTCUSDT"
PROFILE = """
quoter = "avellaneda_stoikov"
[avellaneda_stoikov]
gamma = 1e-5
k = 0.01
horizon = "rolling"
horizon_s = 60.0
sigma_horizon_s = 10.0
min_half_spread_ticks = 1.0
[ladder]
levels = 2
spacing_ticks = 20
size = "0.001"
max_position = "0.005"
"""


async def once(variant: str, seconds: float, rate_hz: float) -> dict[str, Any]:
    source = ReplaySource.from_files(FILES).truncated(seconds + 5)
    spec = (await load_instruments_async([KEY], cache_dir=None, offline=True))[KEY]
    clients = 0 if variant in ("off", "0") else int(variant)
    latencies: list[int] = []
    lags: list[float] = []
    async with EmulatorServer(source, host="127.0.0.1", port=0, speed=1.0, loop=False) as emulator:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "strategies").mkdir()
            (Path(tmp) / "strategies" / "fast_as.toml").write_text(PROFILE)
            settings = Settings(
                data_dir=tmp,
                engines={"btc": {"venue": "binance_spot", "symbol": "BTCUSDT", "strategy": "fast_as"}},
                estimators={"vol_horizons_s": [2.0, 10.0, 60.0], "vol_warmup_fraction": 0.2},
                risk={"regimes": {"short_horizon_s": 2.0, "medium_horizon_s": 10.0}},
                http={
                    "listen": "127.0.0.1:0",
                    "dashboard": {
                        "enabled": variant != "off",
                        "max_rate_hz": rate_hz,
                        "max_clients": max(8, clients),
                    },
                },
                logging={"level": "error"},
                venues={"binance_spot": emulator.overrides("binance_spot")},
            )
            configure_logging(settings.logging)
            profile = load_strategy(Path(tmp) / "strategies", "fast_as")
            trading = build_engine(
                "btc", settings.engines["btc"], settings, {KEY: spec}, profile=profile, data_dir=Path(tmp)
            )
            engine, pipeline = trading.engine, trading.pipeline
            assert pipeline is not None
            runner = LiveRunner([engine], status_interval_s=3600)
            controller = Controller([trading], strategies_dir=Path(tmp) / "strategies", data_dir=Path(tmp))
            ops = build_ops_server(settings, runner, [trading], controller)
            current: list[Any] = [None]

            def sink(event: Any) -> None:
                current[0] = event
                try:
                    runner.sink(event)
                finally:
                    current[0] = None

            venue = pipeline.venue
            submit = venue.submit

            def timed_submit(command: Any) -> None:
                event = current[0]
                if event is not None and type(command) in (NewOrder, CancelOrder):
                    latencies.append(time.time_ns() - event.local_ts)
                submit(command)

            pipeline.venue = type("Timed", (), {"submit": staticmethod(timed_submit), "catching_up": False})()
            runner.add_adapter(
                BinanceMarketData("binance_spot", settings.venues.binance_spot, [spec], sink), [KEY]
            )

            async def probe() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    start = loop.time()
                    await asyncio.sleep(0.001)
                    if latencies:  # from the first order on: the same trading phase in every variant
                        lags.append(loop.time() - start - 0.001)

            await ops.start()
            reader = None
            if clients:
                reader = subprocess.Popen(
                    [sys.executable, __file__, "--read-streams", ops.url, str(clients)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            probe_task = asyncio.create_task(probe())
            try:
                await runner.run(seconds)
            finally:
                probe_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probe_task
                read: dict[str, Any] = {}
                if reader is not None:
                    reader.send_signal(signal.SIGTERM)
                    out, _ = reader.communicate(timeout=30)
                    read = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
                metrics = ops.registry.get_sample_value
                frames = metrics("mmbot_dashboard_frames_total") or 0
                build = metrics("mmbot_dashboard_frame_build_seconds_sum") or 0.0
                builds = metrics("mmbot_dashboard_frame_build_seconds_count") or 0
                dropped = metrics("mmbot_dashboard_dropped_total") or 0
                await ops.stop()
                trading.close()
    return {
        "variant": variant,
        "latencies_ns": latencies,
        "lags_s": lags,
        "frames": frames,
        "build_mean_us": build / builds * 1e6 if builds else 0.0,
        "dropped": dropped,
        "client_events": read.get("events", 0),
        "client_bytes": read.get("bytes", 0),
    }


async def read_streams(url: str, count: int) -> None:
    """Child process: keep ``count`` event streams open and read everything, like browsers."""
    import aiohttp

    totals = {"events": 0, "bytes": 0}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.get(url + "/dashboard/stream") as response:
            assert response.status == 200, response.status
            async for chunk in response.content.iter_any():
                totals["bytes"] += len(chunk)
                totals["events"] += chunk.count(b"\n\n")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(count)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(totals), flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def summarize(result: dict[str, Any]) -> dict[str, float]:
    lat = [v / 1000.0 for v in result["latencies_ns"]]
    lag = [v * 1e6 for v in result["lags_s"]]
    return {
        "commands": len(lat),
        "t2q_p50": pct(lat, 50),
        "t2q_p99": pct(lat, 99),
        "t2q_p999": pct(lat, 99.9),
        "lag_p50": pct(lag, 50),
        "lag_p99": pct(lag, 99),
        "lag_p999": pct(lag, 99.9),
        "lag_max": max(lag) if lag else float("nan"),
        "frames": result["frames"],
        "build_mean_us": result["build_mean_us"],
        "client_events": result["client_events"],
        "client_mb": result["client_bytes"] / 1e6,
        "dropped": result["dropped"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=45.0, help="replay seconds per run")
    ap.add_argument("--runs", type=int, default=3, help="runs per variant (interleaved)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="client counts to compare")
    ap.add_argument("--rate", type=float, default=4.0, help="http.dashboard.max_rate_hz")
    ap.add_argument("--read-streams", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read_streams:
        asyncio.run(read_streams(args.read_streams[0], int(args.read_streams[1])))
        return
    variants = ["off", "0", *(str(n) for n in args.clients)]
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for run in range(args.runs):
        for variant in variants:
            summary = summarize(asyncio.run(once(variant, args.seconds, args.rate)))
            results[variant].append(summary)
            print(f"run {run + 1} variant {variant}: {json.dumps(summary)}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(
        "| dashboard clients | commands | tick-to-quote p50 / p99 / p99.9 (µs) | loop lag p50 / p99 / p99.9 / max (µs) "
        "| updates built | mean build (µs) | events read by clients | MB read |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant in variants:
        rows = results[variant]

        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        label = "dashboard off" if variant == "off" else f"{variant} (dashboard on)"
        print(
            f"| {label} | {med('commands'):,.0f} | {med('t2q_p50'):.0f} / {med('t2q_p99'):.0f} / {med('t2q_p999'):.0f} "
            f"| {med('lag_p50'):.0f} / {med('lag_p99'):.0f} / {med('lag_p999'):.0f} / {med('lag_max'):.0f} "
            f"| {med('frames'):,.0f} | {med('build_mean_us'):.0f} | {med('client_events'):,.0f} | {med('client_mb'):.1f} |"
        )
    print(json.dumps({"bench": "dashboard", "args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
