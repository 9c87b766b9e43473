"""The static spread optimizer: maximise P(|move| > h) * h, move ~ N(0, sigma).

Reference figures from issue 4 (the classic one-period market-making exercise): for
sigma = 0.4 the full spreads 0.2 / 0.4 / 0.6 / 0.8 earn 0.0803 / 0.1234 / 0.1360 /
0.1269 per period, and the optimum solves 1 - Phi(x) = x phi(x): h = 0.7518 sigma.
"""

from __future__ import annotations

import pytest

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


def test_spread_optimizer_quoter_scales_with_period() -> None:
    quoter = SpreadOptimizerQuoter(SpreadOptimizerParams(sigma=10.0, period_s=4.0))
    theo = quoter.theo(state(), 1000.0, 3.0, NO_ADJUSTMENT)
    assert isinstance(theo, Theo)
    assert theo.half_spread == pytest.approx(OPTIMAL_RATIO * 10.0 * 2.0)
    assert theo.reservation == 1000.0  # symmetric, whatever the inventory
