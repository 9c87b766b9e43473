"""``mmbot run --offline`` with a hedged engine (config/hedged.toml): the in-process emulator
serves the bundled spot and USD-M recordings over real websockets, the real adapters feed
the engine, and the hedger sells the starting BTC inventory on the perp."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.commands.run import load_profiles, run_bot
from bot.config import load_settings
from tests.trading_kit import REPO


def test_offline_run_with_hedging_trades_the_perp(tmp_path: Path) -> None:
    settings = load_settings(REPO / "config" / "hedged.toml", data_dir=str(tmp_path), http={"enabled": False})
    engine = settings.engines["btcusdt"]
    assert engine.hedge is not None and settings.hedge.enabled
    strategies = REPO / "config" / "strategies"
    summary = asyncio.run(
        run_bot(
            settings,
            offline=True,
            duration_s=6.0,
            profiles=load_profiles(settings, strategies, None),
            strategies=strategies,
        )
    )
    lines = {row["instrument"]: row for row in summary["instruments"]}
    assert lines["binance_usdm:BTCUSDT"]["valid"] and lines["binance_spot:BTCUSDT"]["valid"]
    with sqlite3.connect(tmp_path / "journal" / "btcusdt.sqlite") as db:
        kinds = dict(db.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
        done = db.execute("SELECT payload FROM events WHERE type = 'hedge_done' ORDER BY id").fetchone()
    assert kinds.get("hedge_order", 0) >= 1 and kinds.get("hedge_done", 0) >= 1
    assert '"side":-1' in done[0] and '"filled":"0.020' in done[0]  # the 0.02 BTC starting inventory
    pnl = summary["engines"][0]["pnl"]
    assert float(pnl["fees"]) < 0  # the taker hedge paid its fee
