"""`mmbot run --offline` with engines on Bybit and OKX (and a hedge on another venue than the
quote): the registry creates one adapter per venue, the in-process emulator serves every
protocol on one port from real recordings, and every book syncs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.run import run_bot
from bot.config import load_settings
from bot.errors import InputError
from tests.venue_harness import BYBIT_FILE, OKX_FILE

BINANCE = Path(__file__).resolve().parent / "data" / "binance_usdm_btcusdt_20230404.dat.gz"


async def test_offline_run_streams_binance_bybit_and_okx_engines_together(tmp_path: Path) -> None:
    config = tmp_path / "venues.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path}"

[http]
enabled = false

[market]
stale_after_s = 30
status_interval_s = 60

[engines.btc]
venue = "binance_usdm"
symbol = "BTCUSDT"
hedge = {{ venue = "bybit_linear", symbol = "XRPUSDT" }}

[engines.okx]
venue = "okx_spot"
symbol = "BTC-USDT"
hedge = {{ venue = "okx_swap", symbol = "UNI-USD-SWAP" }}

[venues.bybit_linear]
depth = 500

[offline]
replay = ["{BINANCE}", "{BYBIT_FILE}", "{OKX_FILE}"]
speed = 1.0
loop = true
"""
    )
    settings = load_settings(config)
    summary = await run_bot(settings, offline=True, duration_s=3.0)
    rows = {row["instrument"]: row for row in summary["instruments"]}
    assert set(rows) == {
        "binance_usdm:BTCUSDT",
        "bybit_linear:XRPUSDT",
        "okx_spot:BTC-USDT",
        "okx_swap:UNI-USD-SWAP",
    }
    for key, row in rows.items():
        assert row["snapshots"] >= 1, key
        assert row["applied"] > 0, key
        assert row["gaps"] == 0 and row["crossed"] == 0 and row["checksum_failures"] == 0, key
    assert rows["okx_spot:BTC-USDT"]["checksums"] > 0
    assert set(summary["adapters"]) == {"binance_usdm", "bybit_linear", "okx_spot", "okx_swap"}
    for venue, stats in summary["adapters"].items():
        assert stats["connections_opened"] >= 1 and stats["decode_errors"] == 0, venue


async def test_offline_run_refuses_engines_the_replay_cannot_serve(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f"""
[http]
enabled = false

[engines.xrp]
venue = "bybit_linear"
symbol = "XRPUSDT"
hedge = {{ venue = "okx_swap", symbol = "BTC-USDT-SWAP" }}

[offline]
replay = ["{BYBIT_FILE}"]
"""
    )
    with pytest.raises(InputError, match=r"no data for okx_swap:BTC-USDT-SWAP.*serves bybit_linear:XRPUSDT"):
        await run_bot(load_settings(config), offline=True, duration_s=1.0)
