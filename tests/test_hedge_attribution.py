"""Path-wise attribution of hedged options and LPs (bot.hedge.attribution) against the
second-order Taylor expansion: for small steps, a delta-hedged position earns
``0.5 * gamma * dS^2 + theta * dt`` per step (Black–Scholes PDE bookkeeping; the LP's
constant-product gamma is -x / (2P), LIBRARY_NOTES)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.hedge.amm import ConstantProductLP
from bot.hedge.attribution import ModelPnl
from bot.hedge.black_scholes import NS_PER_YEAR, call_greeks
from bot.hedge.delta import DeltaBook, OptionPosition

T0 = 1_800_000_000 * 10**9
EXPIRY = T0 + NS_PER_YEAR // 12  # one month
STEP_NS = 60 * 10**9


def zigzag(n: int, step: float, start: float = 100.0) -> list[float]:
    """Up 3, down 2, ...: a ranging path with a slow upward drift."""
    path, price = [start], start
    for i in range(n):
        price += step if i % 5 < 3 else -step
        path.append(price)
    return path


def test_hedged_call_earns_half_gamma_ds2_plus_theta() -> None:
    book = DeltaBook()
    book.add_option(
        OptionPosition(asset="X", strike=Decimal(100), quantity=Decimal(10), expiry_ns=EXPIRY, volatility=0.6)
    )
    model = ModelPnl()
    expected_gamma = expected_theta = 0.0
    path = zigzag(400, 0.05)
    for i, price in enumerate(path):
        now = T0 + i * STEP_NS
        model.update(now, book.breakdown("X", price, now))
        if i + 1 < len(path):
            g = call_greeks(price, 100.0, (EXPIRY - now) / NS_PER_YEAR, 0.6)
            expected_gamma += 0.5 * 10 * g.gamma * (path[i + 1] - price) ** 2
            expected_theta += 10 * g.theta * STEP_NS / NS_PER_YEAR
    assert model.gamma_scalping == pytest.approx(model.options_value_change + model.options_hedge_pnl)
    assert model.theta == pytest.approx(expected_theta, rel=1e-12)
    assert model.gamma_pnl == pytest.approx(expected_gamma, rel=0.02)
    assert model.gamma_pnl > 0 > model.theta
    # no spot, perp or LP: the unhedged delta is the options' own, so residual = -hedge share
    assert model.residual_delta_pnl == pytest.approx(-model.options_hedge_pnl)
    assert model.off_ledger_pnl == pytest.approx(model.options_value_change)


def test_hedged_lp_loses_half_its_gamma_ds2() -> None:
    book = DeltaBook()
    lp = ConstantProductLP.from_quote_size(Decimal(1_000_000), Decimal(100))
    book.add_lp("X", lp)
    book.set_perp("X", Decimal(0))
    model = ModelPnl()
    path = zigzag(300, 0.2)
    expected = 0.0
    for i, price in enumerate(path):
        model.update(T0 + i * STEP_NS, book.breakdown("X", price, T0 + i * STEP_NS))
        if i + 1 < len(path):
            expected += 0.5 * lp.gamma(price) * (path[i + 1] - price) ** 2
    assert model.lp_value_change == pytest.approx(lp.value(path[-1]) - lp.value(path[0]))
    assert model.lp_hedged == pytest.approx(expected, rel=0.02)
    assert model.lp_hedged < 0  # short gamma: the hedged LP bleeds on every round trip


def test_restored_start_keeps_the_origin_of_value_changes() -> None:
    book = DeltaBook()
    book.add_option(
        OptionPosition(asset="X", strike=Decimal(100), quantity=Decimal(1), expiry_ns=EXPIRY, volatility=0.6)
    )
    first = ModelPnl()
    first.update(T0, book.breakdown("X", 100.0, T0))
    origin = first.start_payload()
    later = ModelPnl()
    later.restore_start(int(origin["start_ns"]), float(origin["price"]), float(origin["options_value"]), 0.0)
    later.update(T0 + STEP_NS, book.breakdown("X", 103.0, T0 + STEP_NS))
    value_now = call_greeks(103.0, 100.0, (EXPIRY - T0 - STEP_NS) / NS_PER_YEAR, 0.6).price
    assert later.options_value_change == pytest.approx(value_now - origin["options_value"])
    assert later.options_hedge_pnl == 0.0  # path sums restart with the process
