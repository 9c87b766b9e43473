"""Constant-product LP: holdings, value, delta, gamma and impermanent loss.

Source: the constant-product closed forms (Uniswap v2 whitepaper, x*y = k; mmbot
LIBRARY_NOTES "Models"): x = sqrt(K/P), y = sqrt(K*P), delta = x, gamma = -x/(2P),
impermanent loss vs holding = 2*sqrt(rho)/(1+rho) - 1. The loss table checked below
(1.25x: -0.6 %, 1.5x: -2.0 %, 2x: -5.7 %, 3x: -13.4 %, 4x: -20.0 %, 5x: -25.5 %) is the
widely cited one from Pintail, "Uniswap: A Good Deal for Liquidity Providers?" (2019).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.hedge.amm import ConstantProductLP, impermanent_loss


def test_fifty_fifty_split_at_the_initial_price() -> None:
    lp = ConstantProductLP.from_quote_size(1_000_000, 1.0)
    assert lp.holdings(1.0) == (500_000.0, 500_000.0)
    assert lp.value(1.0) == 1_000_000.0
    lp2 = ConstantProductLP.from_quote_size(1_000_000, 0.25)
    assert lp2.tokens(0.25) == pytest.approx(2_000_000.0)
    assert lp2.quote(0.25) == pytest.approx(500_000.0)


@pytest.mark.parametrize("price", [0.01, 0.25, 0.8, 1.0, 1.7, 4.0, 100.0])
def test_holdings_follow_the_closed_form(price: float) -> None:
    lp = ConstantProductLP.from_quote_size(1_000_000, 1.0)
    k = 500_000.0 * 500_000.0
    x, y = lp.holdings(price)
    assert x == pytest.approx(math.sqrt(k / price), rel=1e-15)
    assert y == pytest.approx(math.sqrt(k * price), rel=1e-15)
    assert x * y == pytest.approx(k, rel=1e-12)  # the invariant
    assert y / x == pytest.approx(price, rel=1e-12)  # pool price = market price
    assert lp.value(price) == pytest.approx(x * price + y, rel=1e-12)


@pytest.mark.parametrize("price", [0.05, 0.5, 1.0, 2.0, 9.0])
def test_delta_and_gamma_are_derivatives_of_value(price: float) -> None:
    lp = ConstantProductLP.from_quote_size(1_000_000, 1.0)
    h = price * 1e-4
    up, mid, down = lp.value(price + h), lp.value(price), lp.value(price - h)
    assert lp.delta(price) == pytest.approx((up - down) / (2 * h), rel=1e-8)
    assert lp.delta(price) == lp.tokens(price)
    assert lp.gamma(price) == pytest.approx((up - 2 * mid + down) / (h * h), rel=1e-4)
    assert lp.gamma(price) == pytest.approx(-lp.tokens(price) / (2 * price), rel=1e-15)
    assert lp.gamma(price) < 0


@pytest.mark.parametrize(
    ("rho", "loss_pct"),
    [(1.25, -0.6), (1.5, -2.0), (2.0, -5.7), (3.0, -13.4), (4.0, -20.0), (5.0, -25.5)],
)
def test_impermanent_loss_table(rho: float, loss_pct: float) -> None:
    assert round(100 * impermanent_loss(rho), 1) == loss_pct


@given(rho=st.floats(1e-4, 1e4), p0=st.floats(0.01, 100.0))
def test_impermanent_loss_formula_matches_position(rho: float, p0: float) -> None:
    lp = ConstantProductLP.from_quote_size(10_000, p0)
    assert lp.impermanent_loss(p0 * rho) == pytest.approx(impermanent_loss(rho), rel=1e-9, abs=1e-12)
    assert impermanent_loss(rho) <= 0.0
    assert impermanent_loss(rho) == pytest.approx(impermanent_loss(1 / rho), rel=1e-9, abs=1e-12)


def test_no_loss_without_a_move_and_bad_inputs() -> None:
    assert impermanent_loss(1.0) == 0.0
    with pytest.raises(ValueError):
        impermanent_loss(0.0)
    with pytest.raises(ValueError):
        ConstantProductLP.from_quote_size(0, 1.0)
    with pytest.raises(ValueError):
        ConstantProductLP.from_quote_size(1000, 1.0).tokens(-1.0)
