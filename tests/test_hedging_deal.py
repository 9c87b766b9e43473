"""The live hedger and ``mmbot deal plan`` count the same delta for the same deal file.

A paper account holding what the worked example leaves after its opening sale (200,000
ABC of CEX ask inventory; the 500,000-token LP and the calls come from the deal file)
is hedged by the real hedger on a synthetic ABC market starting at the reference price
$1.00, one minute before the deal starts (options valued at the start: T = 1 year, as
in the plan). Its first hedge is the plan's perp hedge -- a short of 832,610 ABC with
``loan_delta = "usd_debt"`` (abc.toml), a long of 2,167,390 with ``"tokens"`` -- up to
the half-tick the synthetic mid sits below $1.00; once it is filled the hedger wants
nothing more.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.events import NS_PER_S, Side
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import OrderReport
from bot.engine.hedge_setup import build_hedger
from bot.engine.hedging import HedgePipeline
from bot.engine.loop import Engine
from bot.hedge.deal import load_deal
from bot.hedge.dealbook import date_ns
from bot.hedge.planner import plan_deal
from bot.paper.exchange import PaperExchange
from tests.hedge_kit import hedged_settings, paired_events
from tests.trading_kit import REPO

ABC = REPO / "config" / "deals" / "abc.toml"
GRID = {
    "symbol": "ABCUSDT",
    "base": "ABC",
    "quote": "USDT",
    "tick_size": Decimal("0.0001"),
    "lot_size": Decimal(1),
    "qty_step": Decimal(1),
    "min_qty": Decimal(1),
    "min_notional": Decimal(5),
}
SPOT = InstrumentSpec(venue="binance_spot", kind=InstrumentKind.SPOT, **GRID)  # type: ignore[arg-type]
PERP = InstrumentSpec(
    venue="binance_usdm",
    kind=InstrumentKind.PERP,
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
    **GRID,  # type: ignore[arg-type]
)
BAND = 5_000.0


@pytest.mark.parametrize(("loan_delta", "plan_perp"), [("usd_debt", -832_610), ("tokens", 2_167_390)])
def test_first_live_hedge_is_the_plans_perp_hedge(tmp_path: Path, loan_delta: str, plan_perp: int) -> None:
    deal_file = tmp_path / "abc.toml"
    deal_file.write_text(ABC.read_text().replace('loan_delta = "usd_debt"', f'loan_delta = "{loan_delta}"'))
    deal = load_deal(deal_file, dt.date(2026, 12, 1))
    plan = plan_deal(deal, valuation_date=dt.date(2026, 12, 1))
    assert round(plan.perp_hedge) == plan_perp
    spot_after_sale = Decimal(200_000)

    engine_settings = {
        "venue": "binance_spot",
        "symbol": "ABCUSDT",
        "hedge": {"venue": "binance_usdm", "symbol": "ABCUSDT"},
    }
    settings = hedged_settings(
        tmp_path / "data",
        {"enabled": True, "band": BAND, "deal": str(deal_file)},
        engines={"abc": engine_settings},
        paper={"starting_balances": {"USDT": "3000000", "ABC": str(spot_after_sale)}},
    )
    engine = Engine("abc", [SPOT, PERP])
    route: list[HedgePipeline] = []

    def on_report(report: OrderReport) -> None:
        route[0].on_report(report)

    exchange = PaperExchange([SPOT, PERP], settings.paper, on_report=on_report)
    engine.add_handler(exchange.on_event)
    hedger = build_hedger("abc", settings.engines["abc"], settings, engine, exchange)
    assert hedger is not None
    route.append(hedger)
    engine.add_handler(hedger)

    start = date_ns(deal.loan.start) - 60 * NS_PER_S
    for event in paired_events(
        "calm", seed=3, start_ts_ns=start, spot=SPOT, perp=PERP, start_price=Decimal(1)
    ):
        engine.on_event(event)
        if event.local_ts > start + 30 * NS_PER_S:
            break
    assert hedger.last is not None and engine.clock.now < date_ns(deal.loan.start)
    first = hedger.history[0]
    # the hedger saw the plan's book, at a mid within a tick or two of $1.00
    assert abs(first.price_at_decision - 1.0) <= 0.0003
    assert first.delta_before == pytest.approx(-plan.perp_hedge, abs=0.0003 * 110_000 + 1)
    signed = float(first.requested) * first.side
    assert signed == pytest.approx(plan.perp_hedge, abs=0.0003 * 110_000 + 1)
    assert first.side == (Side.SELL if plan_perp < 0 else Side.BUY)
    # filled in full, then nothing more to do: the live book is neutral in the file's convention
    assert first.filled == first.requested
    assert len(hedger.history) == 1 and hedger.failed == 0
    assert abs(hedger.last.net) <= BAND
    assert hedger.last.loan == (-3_000_000.0 if loan_delta == "tokens" else 0.0)
