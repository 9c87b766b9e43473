"""Black–Scholes prices and greeks against published numbers, parity and finite differences.

Sources:
- Hull, *Options, Futures, and Other Derivatives* (8th ed.), Example 15.6 (BSM pricing):
  S0=42, K=40, r=10 %, sigma=20 %, T=0.5 -> d1=0.7693, d2=0.6278, call 4.76, put 0.81;
  N(d1) = 0.7791.
- Hull (same book), chapter "The Greek Letters" (Ch. 18 in the 8th ed., 19 in the 9th), running
  example: S0=49, K=50, r=5 %, sigma=20 %, T=20 weeks (0.3846 y); 100,000 calls worth $240,000
  (2.40 each), delta 0.522, gamma 0.066, vega 12.1 (per 1.00 of sigma), theta -4.31 per year.
- mmbot LIBRARY_NOTES (Models): S=1, r=0, T=1, 100,000 tokens per strike at 1.25/1.50/2.00 ->
  total delta 132,610 (sigma 0.8), 177,289 (1.2), 202,372 (1.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hedge.black_scholes import (
    NS_PER_YEAR,
    Greeks,
    call_greeks,
    call_price,
    d1_d2,
    norm_cdf,
    put_greeks,
    put_price,
    year_fraction,
)


def test_hull_example_15_6_price_and_delta() -> None:
    d1, d2 = d1_d2(42, 40, 0.5, 0.2, 0.10)
    assert round(d1, 4) == 0.7693
    assert round(d2, 4) == 0.6278
    call = call_greeks(42, 40, 0.5, 0.2, 0.10)
    assert round(call.price, 2) == 4.76
    assert round(call.delta, 4) == 0.7791
    assert round(put_price(42, 40, 0.5, 0.2, 0.10), 2) == 0.81


def test_hull_greek_letters_running_example() -> None:
    g = call_greeks(49, 50, 20 / 52, 0.2, 0.05)
    assert round(g.price * 100_000, -4) == 240_000
    assert round(g.delta, 3) == 0.522
    assert round(g.gamma, 3) == 0.066
    assert round(g.vega, 1) == 12.1
    assert round(g.theta, 2) == -4.31


@pytest.mark.parametrize(("sigma", "expected"), [(0.8, 132_610), (1.2, 177_289), (1.5, 202_372)])
def test_library_notes_tiered_call_deltas(sigma: float, expected: int) -> None:
    total = sum(100_000 * call_greeks(1.0, k, 1.0, sigma, 0.0).delta for k in (1.25, 1.50, 2.00))
    assert round(total) == expected


GRID = [
    (1.0, 1.25, 1.0, 0.8, 0.0),
    (42.0, 40.0, 0.5, 0.2, 0.10),
    (100.0, 80.0, 0.1, 0.5, 0.03),
    (100.0, 130.0, 2.0, 0.3, -0.01),
    (0.05, 0.1, 0.02, 1.5, 0.0),
]


@pytest.mark.parametrize(("s", "k", "t", "sigma", "r"), GRID)
def test_put_call_parity(s: float, k: float, t: float, sigma: float, r: float) -> None:
    lhs = call_price(s, k, t, sigma, r) - put_price(s, k, t, sigma, r)
    assert lhs == pytest.approx(s - k * math.exp(-r * t), rel=1e-12, abs=1e-12 * s)
    # delta parity: delta_call - delta_put = 1; gamma and vega equal
    c, p = call_greeks(s, k, t, sigma, r), put_greeks(s, k, t, sigma, r)
    assert c.delta - p.delta == pytest.approx(1.0, abs=1e-14)
    assert c.gamma == pytest.approx(p.gamma, rel=1e-14)
    assert c.vega == pytest.approx(p.vega, rel=1e-14)
    # theta parity: theta_c - theta_p = -r K e^{-rT}
    assert c.theta - p.theta == pytest.approx(-r * k * math.exp(-r * t), abs=1e-12 * s)


@pytest.mark.parametrize("greeks", [call_greeks, put_greeks])
@pytest.mark.parametrize(("s", "k", "t", "sigma", "r"), GRID)
def test_greeks_match_finite_differences(
    greeks: Callable[..., Greeks], s: float, k: float, t: float, sigma: float, r: float
) -> None:
    g = greeks(s, k, t, sigma, r)
    h = s * 1e-4
    up, down = greeks(s + h, k, t, sigma, r).price, greeks(s - h, k, t, sigma, r).price
    assert g.delta == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-8)
    assert g.gamma == pytest.approx((up - 2 * g.price + down) / (h * h), rel=1e-3, abs=1e-6 / s)
    dv = 1e-5
    vega_fd = (greeks(s, k, t, sigma + dv, r).price - greeks(s, k, t, sigma - dv, r).price) / (2 * dv)
    assert g.vega == pytest.approx(vega_fd, rel=1e-6, abs=1e-9)
    dt = t * 1e-5
    # theta = dV/d(calendar time) = -dV/d(time to expiry)
    theta_fd = -(greeks(s, k, t + dt, sigma, r).price - greeks(s, k, t - dt, sigma, r).price) / (2 * dt)
    assert g.theta == pytest.approx(theta_fd, rel=1e-5, abs=1e-9)


def test_expired_and_zero_time_limits() -> None:
    assert call_greeks(1.2, 1.0, 0.0, 0.8) == (pytest.approx(0.2), 1.0, 0.0, 0.0, 0.0)
    assert call_greeks(0.8, 1.0, 0.0, 0.8) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert call_greeks(1.0, 1.0, 0.0, 0.8).delta == 0.5
    assert put_greeks(0.8, 1.0, -0.1, 0.8) == (pytest.approx(0.2), -1.0, 0.0, 0.0, 0.0)
    # zero volatility with time left: discounted intrinsic value
    assert call_price(1.0, 1.0, 1.0, 0.0, 0.05) == pytest.approx(1 - math.exp(-0.05))


def test_near_expiry_is_continuous_and_finite() -> None:
    tiny = 1e-9
    assert call_greeks(1.1, 1.0, tiny, 0.8).delta == pytest.approx(1.0)
    assert call_greeks(0.9, 1.0, tiny, 0.8).delta == pytest.approx(0.0, abs=1e-300)
    atm = call_greeks(1.0, 1.0, tiny, 0.8)
    assert atm.delta == pytest.approx(0.5, abs=1e-4)
    # ATM gamma grows like 1/sqrt(T) but stays finite: phi(0) / (S sigma sqrt(T))
    assert math.isfinite(atm.gamma)
    assert atm.gamma == pytest.approx(1 / math.sqrt(2 * math.pi) / (0.8 * math.sqrt(tiny)), rel=1e-3)


def test_deep_tails_do_not_collapse() -> None:
    deep_otm = call_greeks(1.0, 20.0, 0.25, 0.5)
    assert 0.0 < deep_otm.delta < 1e-20  # erfc keeps the tail instead of rounding to 0
    assert deep_otm.price >= 0.0
    deep_itm = call_greeks(20.0, 1.0, 0.25, 0.5, 0.02)
    assert deep_itm.delta == 1.0 or 1 - deep_itm.delta < 1e-15
    assert deep_itm.price == pytest.approx(20 - math.exp(-0.02 * 0.25), rel=1e-12)
    assert norm_cdf(-12.0) > 0.0


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(0.01, 1000),
    k=st.floats(0.01, 1000),
    t=st.floats(1e-4, 5),
    sigma=st.floats(0.01, 3),
    r=st.floats(-0.05, 0.2),
)
def test_bounds_hold_everywhere(s: float, k: float, t: float, sigma: float, r: float) -> None:
    c = call_greeks(s, k, t, sigma, r)
    assert max(s - k * math.exp(-r * t), 0.0) - 1e-9 * s <= c.price <= s * (1 + 1e-12)
    assert 0.0 <= c.delta <= 1.0
    assert c.gamma >= 0.0 and c.vega >= 0.0


def test_year_fraction_is_act_365_of_event_time() -> None:
    assert year_fraction(0, NS_PER_YEAR) == 1.0
    assert year_fraction(NS_PER_YEAR, 0) == -1.0


def test_bad_inputs_raise() -> None:
    for args in [
        (0.0, 1.0, 1.0, 0.5),
        (1.0, -1.0, 1.0, 0.5),
        (1.0, 1.0, 1.0, -0.1),
        (math.nan, 1.0, 1.0, 0.5),
    ]:
        with pytest.raises(ValueError):
            call_greeks(*args)
