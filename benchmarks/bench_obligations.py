"""Cost of the obligation desk per event (not a test).

Runs the engine `mmbot run` builds for ``abc_binance`` of config/abc.toml (paper exchange,
estimators, risk, the ``abc`` Avellaneda-Stoikov profile, order manager; no journal, no
hedge) over the synthetic ``abc_calm`` ABC market, with and without its obligation
(``[obligations.engines.abc_binance]``: spread guards, the 2 x 8-level depth ladder, the
compliance meter measuring after every event). Timers every 100 ms of event time, as live.
The events are generated once up front; the variants are interleaved; reports the median of
R runs of each, the obligation's cost per event and the ratio, as a markdown row.

Usage: python benchmarks/bench_obligations.py [--seconds 600] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog

from bot.config import Settings, load_settings
from bot.core.events import Event, Timer
from bot.emulator.synthetic import synthetic_events
from bot.emulator.token_markets import market_options
from bot.engine.assemble import build_engine, load_strategy
from bot.replay.readers import shipped_spec

REPO = Path(__file__).resolve().parents[1]
NAME = "abc_binance"


def make_events(seconds: float) -> list[Event]:
    spec = shipped_spec("binance_spot:ABCUSDT")
    options = market_options(spec, 1)
    seed = options.pop("seed")
    out: list[Event] = []
    next_timer = None
    end = None
    for event in synthetic_events("abc_calm", seed=seed, spec=spec, repeat=True, **options):
        if next_timer is None:
            next_timer = event.local_ts + 100_000_000
            end = event.local_ts + int(seconds * 1e9)
        assert end is not None
        if event.local_ts > end:
            break
        while event.local_ts >= next_timer:
            out.append(Timer(local_ts=next_timer))
            next_timer += 100_000_000
        out.append(event)
    return out


def settings(obligation: bool, data_dir: Path) -> Settings:
    base = load_settings(REPO / "config" / "abc.toml", data_dir=str(data_dir))
    paper = base.paper.model_copy(
        update={"journal": base.paper.journal.model_copy(update={"enabled": False})}
    )
    update: dict[str, Any] = {"paper": paper}
    if not obligation:
        update["obligations"] = base.obligations.model_copy(update={"engines": {}})
    return base.model_copy(update=update)


def run(events: list[Event], obligation: bool) -> tuple[float, float | None]:
    """Seconds for the stream; the deal uptime (with the obligation)."""
    spec = shipped_spec("binance_spot:ABCUSDT")
    with tempfile.TemporaryDirectory() as tmp:
        s = settings(obligation, Path(tmp))
        engine_settings = s.engines[NAME].model_copy(update={"hedge": None})
        profile = load_strategy(REPO / "config" / "strategies", "abc")
        trading = build_engine(
            NAME, engine_settings, s, {spec.key: spec}, profile=profile, data_dir=Path(tmp)
        )
        on_event = trading.engine.on_event
        iterator: Iterator[Event] = iter(events)
        start = time.perf_counter()
        for event in iterator:
            on_event(event)
        elapsed = time.perf_counter() - start
        uptime = trading.obligation.meter.deal.ratio() if trading.obligation is not None else None
        trading.close()
    return elapsed, uptime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="Simulated seconds of abc_calm.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    events = make_events(args.seconds)
    off: list[float] = []
    on: list[float] = []
    uptime = None
    for _ in range(args.runs):
        off.append(run(events, False)[0])
        seconds, uptime = run(events, True)
        on.append(seconds)
    n = len(events)
    off_us, on_us = statistics.median(off) / n * 1e6, statistics.median(on) / n * 1e6
    result = {
        "events": n,
        "simulated_s": args.seconds,
        "without_us_per_event": round(off_us, 2),
        "with_us_per_event": round(on_us, 2),
        "obligation_us_per_event": round(on_us - off_us, 2),
        "ratio": round(on_us / off_us, 2),
        "uptime": uptime,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            "| events | without (us/event) | with obligation (us/event) | obligation cost (us/event) | with/without |"
        )
        print("|---|---|---|---|---|")
        print(f"| {n:,} | {off_us:.1f} | {on_us:.1f} | {on_us - off_us:.1f} | {on_us / off_us:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
