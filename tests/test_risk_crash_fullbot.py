"""Liquidity withdrawal (issue 5): the full bot (paper exchange, estimators, risk, fixed-spread
baseline quoter, order manager) on the synthetic crash scenario, where displayed depth on both
sides vanishes seconds before the price drops ~7 %.

What is measured, per seed, with the risk manager on and off on the same stream:
- the crash-episode PnL: equity change from the start of the withdrawal to 2 s after the crash,
  minus the mark-to-market of the inventory the bot already held when the withdrawal began
  (that exposure is inherited, not taken during the episode), marked at the book mid;
- when the bot halted, whether any quote was filled during the drop, and whether it resumes
  quoting in the recovery.
The loss with the risk manager on must be at most a quarter of the loss with it off (summed
over the seeds, each seed the same stream for both runs)."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.core.events import Timer
from bot.emulator.scenarios import CRASH_PHASES
from bot.emulator.synthetic import SyntheticMarket, synthetic_events
from bot.engine.assemble import build_engine, load_strategy
from tests.specs import USDM_BTC as SPEC
from tests.trading_kit import fast_settings, write_profile

# a shorter calm lead-in (the risk manager only needs its horizons warm), the real crash phases
PHASES = (
    msgspec.structs.replace(CRASH_PHASES[0], duration_s=40.0),
    *CRASH_PHASES[1:-1],
    msgspec.structs.replace(CRASH_PHASES[-1], duration_s=30.0),
)
BASELINE = """
quoter = "fixed_spread"
[fixed_spread]
half_spread_ticks = 3
[ladder]
levels = 2
spacing_ticks = 5
size = "0.005"
max_position = "0.05"
"""


def timed(events: Any, step: int = 100_000_000) -> Any:
    """Interleave Timer events every 100 ms, as the live driver does."""
    next_timer = None
    for event in events:
        if next_timer is None:
            next_timer = event.local_ts + step
        while event.local_ts >= next_timer:
            yield Timer(local_ts=next_timer)
            next_timer += step
        yield event


def run(risk_on: bool, seed: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    write_profile(tmp / "s", "baseline", BASELINE)
    settings = fast_settings(
        tmp / "d",
        engines={"btc": {"venue": "binance_usdm", "symbol": "BTCUSDT"}},
        risk={"enabled": risk_on, "regimes": {"short_horizon_s": 2.0, "medium_horizon_s": 10.0}},
        quoting={"refresh_ticks": 30},
        paper={
            "starting_balances": {"USDT": "100000"},
            "fees": {"binance_usdm": {"maker": "0", "taker": "0"}},
            "latency": {"order_entry": {"ms": 1.0}, "cancel": {"ms": 1.0}},
        },
    )
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPEC.key: SPEC},
        profile=load_strategy(tmp / "s", "baseline"),
        data_dir=tmp / "d",
    )
    engine, pipeline, exchange = trading.engine, trading.pipeline, trading.exchange
    assert pipeline is not None and exchange is not None
    spans = {
        name: (start, end) for name, start, end in SyntheticMarket(PHASES, seed=seed, spec=SPEC).phase_spans()
    }
    w_start, crash_end = spans["withdrawal"][0], spans["crash"][1]
    out: dict[str, Any] = {"halted_at": None, "crash_fills": 0, "quoting_in_recovery": 0}
    start: tuple[Decimal, Decimal, Decimal] | None = None
    mid_at_start = None
    fills = 0
    for event in timed(synthetic_events(PHASES, seed=seed, spec=SPEC)):
        engine.on_event(event)
        now = engine.clock.now
        mid = engine.book(SPEC.key).mid()
        if mid is None:
            continue
        price = Decimal(mid) * SPEC.tick_size
        if now >= w_start and start is None:
            inventory = Decimal(exchange.ledger.position_qty(SPEC.key)) * SPEC.lot_size
            start = (exchange.ledger.equity(marks={SPEC.key: price}), inventory, price)
            mid_at_start = mid
        if start is not None and out["halted_at"] is None and pipeline.decision.pull_all:
            out["halted_at"] = now
            out["move_at_halt"] = mid / mid_at_start - 1
        if spans["crash"][0] <= now <= crash_end and pipeline.fills > fills:
            out["crash_fills"] += pipeline.fills - fills
        fills = pipeline.fills
        if now > crash_end + 2_000_000_000 and "episode_pnl" not in out:
            assert start is not None
            equity0, inventory0, price0 = start
            equity = exchange.ledger.equity(marks={SPEC.key: price})
            out["episode_pnl"] = (equity - equity0) - inventory0 * (price - price0)
            out["drop"] = price / price0 - 1
        if now > spans["recovery"][0] and pipeline.desired.bids and pipeline.desired.asks:
            out["quoting_in_recovery"] += 1
    out["final_regime"] = pipeline.decision.regime
    trading.close()
    return out


@pytest.mark.parametrize("seeds", [(1, 2, 3, 4, 5, 6)])
def test_risk_manager_pulls_quotes_before_the_drop_and_cuts_the_crash_loss(seeds: tuple[int, ...]) -> None:
    loss_on = loss_off = Decimal(0)
    for seed in seeds:
        on, off = run(True, seed), run(False, seed)
        assert on["drop"] < Decimal("-0.03"), "the scenario must actually crash"
        # pulled during the withdrawal, before the mid has moved 1 %
        assert (
            on["halted_at"] is not None
            and on["halted_at"] < SyntheticMarket(PHASES, seed=seed, spec=SPEC).phase_spans()[2][1]
        )
        assert abs(on["move_at_halt"]) < 0.01
        assert on["crash_fills"] == 0  # nothing of ours rested in the book while it fell
        assert off["quoting_in_recovery"] > 0
        assert on["quoting_in_recovery"] > 0, "the bot must resume quoting after the recovery"
        loss_on += max(Decimal(0), -on["episode_pnl"])
        loss_off += max(Decimal(0), -off["episode_pnl"])
    assert loss_off > 0
    assert loss_on <= loss_off / 4, (loss_on, loss_off)
