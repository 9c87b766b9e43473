"""The static spread optimizer: maximise P(|move| > h) * h, move ~ N(0, sigma).

Reference figures from issue 4 (the classic one-period market-making exercise; sigma as in
its source: the std of the 1-second prices around their 60-second moving average): for
sigma = 0.4 the full spreads 0.2 / 0.4 / 0.6 / 0.8 earn 0.0803 / 0.1234 / 0.1360 /
0.1269 per period, and the optimum solves 1 - Phi(x) = x phi(x): h = 0.7518 sigma.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.market.estimators.maband import MovingAverageBand
from bot.strategy.params import SpreadOptimizerParams
from bot.strategy.spread_optimizer import (
    OPTIMAL_RATIO,
    SpreadOptimizerQuoter,
    expected_profit,
    norm_cdf,
    norm_pdf,
    optimal_half_spread,
)
from bot.strategy.types import NO_ADJUSTMENT, Theo
from tests.quant_helpers import market_state as state

FIGURES = {0.2: 0.0803, 0.4: 0.1234, 0.6: 0.1360, 0.8: 0.1269}


def test_expected_profit_reproduces_the_four_figures() -> None:
    for full_spread, expected in FIGURES.items():
        assert round(expected_profit(full_spread / 2, 0.4), 4) == expected


def test_which_definition_gives_the_figures() -> None:
    """P(|move| > h) * h matches; the one-sided and full-spread variants do not."""
    for full_spread, expected in FIGURES.items():
        h = full_spread / 2
        two_sided = 2 * (1 - norm_cdf(h / 0.4)) * h
        one_sided = (1 - norm_cdf(h / 0.4)) * h
        full_spread_earned = 2 * (1 - norm_cdf(h / 0.4)) * full_spread
        assert round(two_sided, 4) == expected
        assert abs(one_sided - expected) > 0.03
        assert abs(full_spread_earned - expected) > 0.07


def test_optimum_is_0_7518_sigma() -> None:
    assert round(OPTIMAL_RATIO, 4) == 0.7518
    x = OPTIMAL_RATIO
    assert 1 - norm_cdf(x) == pytest.approx(x * norm_pdf(x), abs=1e-14)
    for sigma in (0.4, 1.0, 37.0):
        h_star = optimal_half_spread(sigma)
        assert h_star == pytest.approx(0.7518 * sigma, rel=1e-4)
        # brute force: nothing on a fine grid beats it
        grid = [sigma * i / 10_000 for i in range(1, 30_000)]
        best = max(grid, key=lambda h: expected_profit(h, sigma))
        assert best == pytest.approx(h_star, abs=sigma * 1e-4)
        assert expected_profit(h_star, sigma) >= expected_profit(best, sigma)
    # sigma = 0.4: 0.3007, between the 0.6 and 0.8 full spreads, earning more than either
    best_value = expected_profit(optimal_half_spread(0.4), 0.4)
    assert all(best_value >= expected_profit(spread / 2, 0.4) for spread in FIGURES)


def test_quoter_centres_on_the_moving_average_with_sigma_of_prices_around_it() -> None:
    """As in the source: centre = the 60 s moving average (state.ma), sigma = the std of the
    1-second prices around it (state.ma_std); h = 0.7518 sigma; symmetric without skew."""
    quoter = SpreadOptimizerQuoter(SpreadOptimizerParams())
    theo = quoter.theo(state(ma=990.0, ma_std=10.0), 1000.0, 3.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo)
    assert theo.reservation == 990.0  # the average, not the mid (1000)
    assert theo.half_spread == pytest.approx(OPTIMAL_RATIO * 10.0)
    assert (theo.bid, theo.ask) == pytest.approx((990.0 - 7.5179, 990.0 + 7.5179), abs=1e-3)
    # warming up: no quotes, and a reason
    assert quoter.theo(state(), 1000.0, 0.0, NO_ADJUSTMENT) == "moving average warming up"


def test_inventory_skew_moves_the_centre_against_the_position() -> None:
    """centre = ma - skew * sigma * q: skew 0.2, sigma 10, q = 3 -> 990 - 6 = 984."""
    quoter = SpreadOptimizerQuoter(SpreadOptimizerParams(inventory_skew=0.2))
    theo = quoter.theo(state(ma=990.0, ma_std=10.0), 1000.0, 3.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo) and theo.reservation == pytest.approx(984.0)
    short = quoter.theo(state(ma=990.0, ma_std=10.0), 1000.0, -2.0, NO_ADJUSTMENT)
    assert isinstance(short, Theo) and short.reservation == pytest.approx(994.0)


def test_fee_moves_the_optimum_beyond_the_fee() -> None:
    """E(h) = P(|move| > h)(h - fee): the optimum solves 1 - Phi(x) = (x - e) phi(x); brute
    force over h agrees; with fee 0 it is 0.7518 sigma again; a rebate tightens it."""
    sigma = 10.0
    for fee in (0.0, 2.0, 5.0, 20.0, -3.0):
        h_star = optimal_half_spread(sigma, fee)
        grid = [i / 1000 for i in range(1, 100_000)]
        best = max(grid, key=lambda h, f=fee: expected_profit(h, sigma, f))
        assert h_star == pytest.approx(best, abs=2e-3)
        if fee >= 0:
            assert h_star > fee
    assert optimal_half_spread(sigma, 0.0) == pytest.approx(0.7518 * sigma, rel=1e-4)
    assert (
        optimal_half_spread(sigma, 5.0) > optimal_half_spread(sigma, 0.0) > optimal_half_spread(sigma, -3.0)
    )
    # the fee-aware quoter uses it (fee 5 ticks per unit)
    theo = SpreadOptimizerQuoter(SpreadOptimizerParams()).theo(
        state(ma=1000.0, ma_std=sigma), 1000.0, 0.0, NO_ADJUSTMENT, 5.0
    )
    assert isinstance(theo, Theo) and theo.half_spread == pytest.approx(optimal_half_spread(sigma, 5.0))


def test_moving_average_band_by_hand() -> None:
    """Window 4 samples of 1 s: mids 100, 102, 101, 105 prevail at the sample points
    -> ma = 102, std = sqrt((4 + 0 + 1 + 9) / 4) = sqrt(3.5)."""
    band = MovingAverageBand(window_s=4.0, sample_s=1.0)
    second = 1_000_000_000
    t0 = 1_700_000_000 * second
    band.on_mid(100.0, t0 + second // 2)  # first mid; sample points at whole seconds after it
    band.on_mid(102.0, t0 + 3 * second // 2)  # sample at t0+1s saw 100
    band.on_mid(101.0, t0 + 5 * second // 2)  # t0+2s saw 102
    band.on_mid(105.0, t0 + 7 * second // 2)  # t0+3s saw 101
    assert math.isnan(band.ma)  # 3 samples: not full
    band.on_mid(105.0, t0 + 9 * second // 2)  # t0+4s saw 105
    assert band.ma == pytest.approx(102.0)
    assert band.std == pytest.approx(math.sqrt(3.5))
    # a silence of 3 s repeats the last mid at each passed sample point: 105 x 3 (+ 105 again)
    band.on_mid(90.0, t0 + 15 * second // 2)
    assert band.ma == pytest.approx(105.0) and band.std == pytest.approx(0.0)


def test_band_sigma_is_about_three_times_the_one_second_move_std_on_a_random_walk() -> None:
    """A Brownian path around its own mean over W seconds has variance sigma^2 W / 6, so
    with 60 one-second samples the band's std is ~ sigma * sqrt(10) = 3.16 sigma, while the
    std of 1-second moves is sigma: the source's sigma is about 3x the old one."""
    rng = np.random.default_rng(7)
    sigma = 5.0
    second = 1_000_000_000
    band = MovingAverageBand(window_s=60.0, sample_s=1.0)
    price = 10_000.0
    stds = []
    for i in range(20_000):
        price += sigma * rng.standard_normal()
        band.on_mid(price, (i + 1) * second + 1)
        if i > 60:
            stds.append(band.std)
    ratio = float(np.sqrt(np.mean(np.square(stds)))) / sigma
    # discrete 60-sample version of W/6: (n^2 - 1) / (6 n) = 9.9917 -> sqrt = 3.161
    assert ratio == pytest.approx(math.sqrt((60**2 - 1) / (6 * 60)), rel=0.05)
