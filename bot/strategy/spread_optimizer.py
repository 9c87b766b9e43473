"""The static spread optimizer: the half spread that maximises P(|move| > h) * h.

Set-up (a one-period model): we quote ``s -/+ h``; over the period the price moves by
``move ~ N(0, sigma)``. If ``|move| > h`` one of the quotes is taken and we earn ``h``
against the old fair value, so the expected profit per period is

    E(h) = P(|move| > h) * h = 2 * (1 - Phi(h / sigma)) * h.

For sigma = 0.4 the full spreads 0.2 / 0.4 / 0.6 / 0.8 (h = 0.1 / 0.2 / 0.3 / 0.4)
give 0.0803 / 0.1234 / 0.1360 / 0.1269 -- exactly this definition; the one-sided
``(1 - Phi(h/sigma)) * h`` gives half of each and ``P(|move| > h) * 2h`` (earning the
full spread) twice each (``tests/test_spread_optimizer.py`` checks all three).
Setting dE/dh = 0 gives ``1 - Phi(x) = x * phi(x)`` with ``x = h / sigma``, whose
root is x = 0.7518: the optimal half spread is 0.7518 sigma whatever sigma is.

As a quoter: ``h = x* * sigma * sqrt(period_s)`` around fair value, sigma in
ticks/sqrt(s) from the estimators (or fixed).
"""

from __future__ import annotations

import math

from bot.market.estimators.state import MarketState
from bot.strategy.inputs import clamp_half_spread, resolve_sigma
from bot.strategy.params import SpreadOptimizerParams
from bot.strategy.types import QuoteAdjustments, Theo

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def expected_profit(h: float, sigma: float) -> float:
    """E(h) = P(|move| > h) * h for move ~ N(0, sigma)."""
    return 2.0 * (1.0 - norm_cdf(h / sigma)) * h


def _solve_optimal_ratio() -> float:
    """Root of (1 - Phi(x)) - x phi(x) on (0, 3) by bisection (to float precision)."""
    low, high = 0.0, 3.0  # g(0) = 0.5 > 0, g(3) < 0, g decreasing in between
    for _ in range(200):
        mid = 0.5 * (low + high)
        if (1.0 - norm_cdf(mid)) - mid * norm_pdf(mid) > 0.0:
            low = mid
        else:
            high = mid
        if high - low < 1e-15:
            break
    return 0.5 * (low + high)


OPTIMAL_RATIO = _solve_optimal_ratio()
"""x* with 1 - Phi(x*) = x* phi(x*): the optimal half spread in units of sigma (0.7518...)."""


def optimal_half_spread(sigma: float) -> float:
    """argmax_h P(|move| > h) * h for move ~ N(0, sigma)."""
    return OPTIMAL_RATIO * sigma


class SpreadOptimizerQuoter:
    __slots__ = ("params",)

    name = "spread_optimizer"

    def __init__(self, params: SpreadOptimizerParams) -> None:
        self.params = params

    def theo(self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments) -> Theo | str:
        p = self.params
        sigma, why = resolve_sigma(state, p.sigma, p.sigma_horizon_s, p.sigma_floor)
        if why:
            return why
        half = optimal_half_spread(sigma * math.sqrt(p.period_s)) * adj.spread_mult
        half = clamp_half_spread(half, p.min_half_spread_ticks, p.max_half_spread_ticks)
        return Theo(fair=fair, reservation=fair, half_spread=half, bid=fair - half, ask=fair + half)
