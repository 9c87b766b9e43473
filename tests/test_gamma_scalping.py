"""Gamma scalping: long calls delta-hedged on the perp over a synthetic ranging market.

The book is a deal with calls only (5 BTC struck at the money, expiring in about a day;
the loan is a dollar debt, so it carries no delta) and no spot inventory, hedged by the
real hedger (``build_hedger``) on the paper venue. Two runs of the same market differ
only by the implied volatility the options are valued with (``[hedge] volatility``):

- Long gamma means the hedger's re-hedges sell the perp after the price rose and buy it
  after the price fell (checked on every hedge: delta is increasing in the price).
- Delta-hedged, the options earn ``~ 0.5 * gamma * S^2 * (sigma_realized^2 -
  sigma_implied^2) * dt``: positive gamma PnL from the moves, theta paid for time. The
  ranging market's realized volatility (measured here from 1 s mid returns, ~0.5
  annualised) sits far between the two implied volatilities (0.05 and 3.0), so the realized scalping PnL
  (option value change + hedge PnL) beats theta in the first run and loses to it in the
  second, while the moves' part (``gamma_pnl``) is positive in both.
- The path-wise model attribution agrees with the money: option value change + the
  perp's mark-to-market at mid from the ledger (exact, spread paid added back) equals
  ``gamma_scalping + residual_delta_pnl`` (the band's unhedged delta). Hedge costs (fees
  and spread) are reported apart: with a band this tight against this much gamma, the
  low-vol run's fees are far larger than its scalping PnL -- the trade-off a band sets.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.events import NS_PER_S, Side
from bot.core.orders import OrderReport
from bot.engine.hedge_setup import build_hedger
from bot.engine.hedging import HedgePipeline
from bot.engine.loop import Engine
from bot.hedge.black_scholes import NS_PER_YEAR
from bot.paper.exchange import PaperExchange
from tests.hedge_kit import SYNTH_PERP, SYNTH_SPOT, deal_toml, hedged_settings, paired_events

START_NS = 1_700_000_000 * NS_PER_S  # 2023-11-14 22:13:20 UTC; the calls expire 2023-11-16 00:00
BAND = 0.02
VOLS = (0.05, 3.0)
"""Implied volatilities of the two runs: far below and far above the market's realized one."""


@dataclass
class Run:
    hedger: HedgePipeline
    exchange: PaperExchange
    realized_vol: float
    price: float


def run_ranging(tmp_path: Path, implied_vol: float) -> Run:
    deal = tmp_path / "calls.toml"
    deal.write_text(
        deal_toml(
            loan_delta="usd_debt", tokens="1", expiry="2023-11-16", calls=(("60000", "5"),), volatility=0.8
        )
    )
    settings = hedged_settings(
        tmp_path / "data",
        {"enabled": True, "band": BAND, "deal": str(deal), "volatility": implied_vol},
        paper={"starting_balances": {"USDT": "200000"}, "latency": {"order_entry": {"ms": 20.0}}},
    )
    engine = Engine("btc", [SYNTH_SPOT, SYNTH_PERP])
    route: list[HedgePipeline] = []

    def on_report(report: OrderReport) -> None:
        route[0].on_report(report)

    exchange = PaperExchange([SYNTH_SPOT, SYNTH_PERP], settings.paper, on_report=on_report)
    engine.add_handler(exchange.on_event)
    hedger = build_hedger("btc", settings.engines["btc"], settings, engine, exchange)
    assert hedger is not None
    route.append(hedger)
    engine.add_handler(hedger)
    log_returns: list[float] = []
    last_sample = None
    next_sample = START_NS
    for event in paired_events("ranging", seed=11, start_ts_ns=START_NS):
        engine.on_event(event)
        if event.local_ts >= next_sample and hedger.last is not None:
            next_sample += NS_PER_S
            if last_sample is not None:
                log_returns.append(math.log(hedger.last.price / last_sample))
            last_sample = hedger.last.price
    years = len(log_returns) * NS_PER_S / NS_PER_YEAR
    realized = math.sqrt(sum(r * r for r in log_returns) / years)
    assert hedger.last is not None
    return Run(hedger, exchange, realized, hedger.last.price)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Run]:
    return {vol: run_ranging(tmp_path_factory.mktemp(f"vol{vol}"), vol) for vol in VOLS}


@pytest.mark.parametrize("vol", list(VOLS))
def test_rehedges_sell_after_rises_and_buy_after_falls(runs: dict[float, Run], vol: float) -> None:
    history = list(runs[vol].hedger.history)
    assert len(history) >= 10
    sells = buys = 0
    for previous, record in itertools.pairwise(history):
        move = record.price_at_decision - previous.price_at_decision
        assert move != 0
        expected = Side.SELL if move > 0 else Side.BUY
        assert record.side == expected, f"hedge {record} after a move of {move}"
        sells += record.side == Side.SELL
        buys += record.side == Side.BUY
    assert sells >= 3 and buys >= 3  # the market ranged: both directions were scalped


def test_realized_scalping_pnl_against_theta(runs: dict[float, Run]) -> None:
    low, high = runs[VOLS[0]], runs[VOLS[1]]
    assert low.realized_vol == pytest.approx(high.realized_vol)  # the same market
    assert VOLS[0] * 4 < low.realized_vol < VOLS[1] / 4
    for run in (low, high):
        model = run.hedger.model
        assert model.theta < 0  # long options pay time decay
        assert model.gamma_pnl > 0  # and earn from the moves
    lo, hi = low.hedger.model, high.hedger.model
    # realized variance above implied: the scalping beats theta; below: theta wins
    assert lo.gamma_scalping > 0 and lo.gamma_scalping > -lo.theta
    assert hi.gamma_scalping < 0 and -hi.theta > hi.gamma_pnl
    # the higher implied vol pays far more theta on a far smaller gamma
    assert hi.theta < 5 * lo.theta
    for vol, run in runs.items():
        m = run.hedger.model
        print(
            f"\nimplied {vol}: realized vol {run.realized_vol:.3f}, hedges {len(run.hedger.history)}, "
            f"option value change {m.options_value_change:.2f}, hedge pnl {m.options_hedge_pnl:.2f}, "
            f"scalping {m.gamma_scalping:.2f} = gamma {m.gamma_pnl:.2f} + theta {m.theta:.2f}"
        )


@pytest.mark.parametrize("vol", list(VOLS))
def test_model_attribution_matches_the_ledger(runs: dict[float, Run], vol: float) -> None:
    run = runs[vol]
    hedger, ledger = run.hedger, run.exchange.ledger
    perp = ledger.position_snapshot(SYNTH_PERP.key)
    mid = Decimal(str(run.price))
    mtm_at_mid = perp.realized + mid * perp.size - perp.cost
    spread_paid = -ledger.spread_capture_of(SYNTH_PERP.key)
    money = hedger.model.options_value_change + float(mtm_at_mid + spread_paid)
    model = hedger.model.gamma_scalping + hedger.model.residual_delta_pnl
    # exact up to float rounding here: the 20 ms order latency is shorter than the 100 ms
    # between synthetic book updates, so every hedge fills at the mid it was decided at
    assert money == pytest.approx(model, abs=1e-6)
    # the hedge costs are in the ledger too, exactly
    attribution = hedger.attribution()
    assert attribution.hedge_fees == perp.fees_paid - perp.rebates > 0
    assert attribution.hedge_cost == attribution.hedge_fees + attribution.hedge_spread
