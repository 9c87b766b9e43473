"""Test kit for the trading pipeline: fast-warming settings, profiles, recorded events (no sockets).

`fast_settings` shortens the estimator horizons (2 s / 10 s / 60 s) and the risk manager's so a
test sees quoting within seconds of event time instead of minutes, and puts the Binance spot
account on the market-maker programme's fee tier (maker 0 %); everything else is the production
default. `recorded_events` decodes the bundled real Binance spot recording with the
production decoder and interleaves `Timer` events every 100 ms of recorded receive time, the way
the live driver does.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.events import Event, Timer
from bot.core.instrument import InstrumentSpec
from bot.venues.binance.messages import BinanceDecoder
from tests.specs import SPOT_BTC

REPO = Path(__file__).resolve().parents[1]
BUNDLED_SPOT = [
    REPO / "bot" / "emulator" / "data" / "binance_spot_btcusdt_20240808.gz",
    REPO / "bot" / "emulator" / "data" / "binance_spot_btcusdt_20240809.gz",
]
STRATEGIES = REPO / "config" / "strategies"


def fast_settings(data_dir: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "engines": {"btc": {"venue": "binance_spot", "symbol": "BTCUSDT"}},
        "estimators": {"vol_horizons_s": [2.0, 10.0, 60.0], "vol_warmup_fraction": 0.2},
        "risk": {"regimes": {"short_horizon_s": 2.0, "medium_horizon_s": 10.0}},
        "paper": {
            "starting_balances": {"USDT": "100000", "BTC": "0.02"},
            "latency": {"order_entry": {"ms": 1.0}, "cancel": {"ms": 1.0}},
        },
        "http": {"enabled": False},
        # the Binance spot market-maker programme's maker 0 % (bot/venues/fee_tiers.py): the quoting
        # tests test the pipeline, not a fee tier
        "venues": {"binance_spot": {"fee_tier": "lp1"}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


def write_profile(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


FAST_AS = """
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

FAST_FIXED = """
quoter = "fixed_spread"
[fixed_spread]
half_spread_ticks = 150
[ladder]
levels = 1
size = "0.002"
max_position = "0.01"
"""


def recorded_events(
    files: list[Path] = BUNDLED_SPOT,
    spec: InstrumentSpec = SPOT_BTC,
    *,
    seconds: float | None = None,
    timer_ms: int = 100,
) -> Iterator[Event]:
    """Events of a raw Binance recording in file order, with Timer events in between."""
    decoder = BinanceDecoder(spec.venue, [spec])
    step = timer_ms * 1_000_000
    start = next_timer = None
    for path in files:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                stamp, _, raw = line.partition(" ")
                ts = int(stamp)
                if ts < 10**17:  # microsecond files
                    ts *= 1000
                if start is None:
                    start = ts
                    next_timer = ts + step
                if seconds is not None and ts - start > seconds * 1e9:
                    return
                while next_timer is not None and ts >= next_timer:
                    yield Timer(local_ts=next_timer)
                    next_timer += step
                if raw.startswith('{"lastUpdateId"'):
                    yield decoder.decode_snapshot(raw, spec.key, ts)
                    continue
                event = decoder.decode(raw, ts)
                if event is not None:
                    yield event
