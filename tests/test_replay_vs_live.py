"""`mmbot replay` and a live run through the emulator (real websocket, real adapter) on the same
recording and config end with the same ledger.

The documented effect of network timing: live events are stamped with the wall clock when they
arrive, replay events with the recorded receive time. This test removes every way that difference
can change a decision -- zero order/cancel/market-data latencies, a zero trade window (the paper
exchange's wait for a trade to explain a depth decrease is event time), a fixed-spread profile
(quotes depend only on the book and the position), the risk manager off (its volatility clock is
event time), the falling-behind check off (the live run at full emulator speed on a loaded machine
can lag by wall-clock seconds that the replay's recorded clock never sees), no timer ticks (live
they come from the wall clock, in replay from event time, so a decision taken on a tick -- the
order manager re-placing a slot once its cancel is confirmed, which partial fills through our price
make common -- would fall between different events) -- so both runs must see the same book at every
decision and produce the same fills, fees and balances. (Mark-to-market samples are taken on time intervals, so the equity curve's points
differ; the ledger's exact holdings do not.)"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.config import Settings
from bot.emulator.replay import ReplaySource
from bot.emulator.server import EmulatorServer
from bot.engine.assemble import build_engine, load_strategy
from bot.ops.live import LiveRunner
from bot.replay import open_replay
from bot.replay.run import ReplayRun
from bot.venues.binance.adapter import BinanceMarketData
from tests.specs import SPOT_BTC
from tests.trading_kit import BUNDLED_SPOT, write_profile

NO_TIMER_S = 86_400.0
"""Timer interval longer than the recording (650 s) and the live run: no ticks in either."""

PROFILE = """
quoter = "fixed_spread"
[fixed_spread]
half_spread_ticks = 40
[ladder]
levels = 2
spacing_ticks = 30
size = "0.002"
max_position = "0.02"
inventory_shaping = 0.0
"""


def settings(data_dir: Path, overrides: dict[str, str] | None = None) -> Settings:
    zero = {"ms": 0.0}
    return Settings(
        data_dir=str(data_dir),
        engines={"btc": {"venue": "binance_spot", "symbol": "BTCUSDT"}},
        risk={"enabled": False},
        market={"max_lag_s": 0},
        http={"enabled": False},
        paper={
            "starting_balances": {"USDT": "100000", "BTC": "0.05"},
            "latency": {"order_entry": zero, "cancel": zero, "market_data": zero},
            "trade_window_ms": 0.0,
        },
        venues={"binance_spot": {"fee_tier": "lp1", **(overrides or {})}},
    )


def fills(journal: Path) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT side, price, size, liquidity, fee FROM fills ORDER BY seq").fetchall()

    return [tuple(map(str, row)) for row in rows], {}


async def live_run(tmp_path: Path, strategies: Path) -> Path:
    source = ReplaySource.from_files(BUNDLED_SPOT)
    async with EmulatorServer(
        source, host="127.0.0.1", port=0, speed=0, loop=False, start_on_snapshot=True
    ) as emulator:
        cfg = settings(tmp_path / "live", emulator.overrides("binance_spot"))
        trading = build_engine(
            "btc",
            cfg.engines["btc"],
            cfg,
            {SPOT_BTC.key: SPOT_BTC},
            profile=load_strategy(strategies, "fixed40"),
            data_dir=tmp_path / "live",
        )
        runner = LiveRunner([trading.engine], status_interval_s=3600, timer_interval_s=NO_TIMER_S)
        adapter = BinanceMarketData("binance_spot", cfg.venues.binance_spot, [SPOT_BTC], runner.sink)
        runner.add_adapter(adapter, [SPOT_BTC.key])
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(emulator.wait_finished(), timeout=240)
        await asyncio.sleep(0.5)  # let the last frames drain
        runner.stop()
        await task
        assert trading.exchange is not None
        trading.exchange.flush()
        trading.journal and trading.journal.close()
        trading.journal = None
    return tmp_path / "live" / "journal" / "btc.sqlite"


def test_replay_and_live_through_the_emulator_end_with_the_same_ledger(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fixed40", PROFILE)
    live_journal = asyncio.run(live_run(tmp_path, strategies))

    cfg = settings(tmp_path / "replay")
    replay = open_replay([str(p) for p in BUNDLED_SPOT])
    run = ReplayRun(
        cfg,
        replay,
        out=tmp_path / "replay",
        profile=load_strategy(strategies, "fixed40"),
        timer_interval_s=NO_TIMER_S,
    )
    result = run.run()
    replay.close()
    assert result.status == "complete"
    replay_journal = tmp_path / "replay" / "journal" / "btc.sqlite"

    live_fills, _ = fills(live_journal)
    replay_fills, _ = fills(replay_journal)
    assert len(replay_fills) > 20, "too few fills to compare"
    assert live_fills == replay_fills
