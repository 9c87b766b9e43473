"""The static spread optimizer: the half spread that maximises P(|move| > h) * h.

Set-up, as in its source (a one-period market-making note): the price is sampled every
second; its moving average over the last 60 s is the centre we quote around, and
``sigma`` is the standard deviation of the 1-second prices around that moving average
(:mod:`bot.market.estimators.maband`) -- not the standard deviation of 1-second moves,
which is about three times smaller on a random walk. We quote ``centre -/+ h``; over the
period the price deviates from the centre by ``move ~ N(0, sigma)``. If ``|move| > h``
one of the quotes is taken and we earn ``h`` against the centre, so the expected profit
per period is

    E(h) = P(|move| > h) * h = 2 * (1 - Phi(h / sigma)) * h.

For sigma = 0.4 the full spreads 0.2 / 0.4 / 0.6 / 0.8 (h = 0.1 / 0.2 / 0.3 / 0.4)
give 0.0803 / 0.1234 / 0.1360 / 0.1269 -- exactly this definition; the one-sided
``(1 - Phi(h/sigma)) * h`` gives half of each and ``P(|move| > h) * 2h`` (earning the
full spread) twice each (``tests/test_spread_optimizer.py`` checks all three).
Setting dE/dh = 0 gives ``1 - Phi(x) = x * phi(x)`` with ``x = h / sigma``, whose
root is x = 0.7518: the optimal half spread is 0.7518 sigma whatever sigma is.

**Fees.** A fill that pays ``eps`` per unit (ticks; ``maker_rate * fair``, negative for
a rebate) earns ``h - eps``: ``E(h) = 2 (1 - Phi(h/sigma)) (h - eps)``, maximised where
``1 - Phi(x) = (x - e) phi(x)``, ``e = eps / sigma`` (``e = 0`` gives 0.7518 again). The
optimum is always beyond the fee (``x > e``).

**Inventory skew** (not in the source; ``inventory_skew``, 0 = the source's symmetric
quotes): the centre moves to ``ma - inventory_skew * sigma * q`` so a long position
lowers both quotes.
"""

from __future__ import annotations

import math

from bot.market.estimators.state import MarketState
from bot.strategy.inputs import clamp_half_spread
from bot.strategy.params import SpreadOptimizerParams
from bot.strategy.types import QuoteAdjustments, Theo

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def expected_profit(h: float, sigma: float, fee: float = 0.0) -> float:
    """E(h) = P(|move| > h) * (h - fee) for move ~ N(0, sigma)."""
    return 2.0 * (1.0 - norm_cdf(h / sigma)) * (h - fee)


def optimal_ratio(e: float = 0.0) -> float:
    """x* = h*/sigma: root of (1 - Phi(x)) - (x - e) phi(x), ``e`` = fee / sigma (bisection)."""

    def g(x: float) -> float:
        return (1.0 - norm_cdf(x)) - (x - e) * norm_pdf(x)

    low = 0.0
    if g(low) <= 0.0:  # a rebate large enough that quoting at the centre is optimal
        return 0.0
    high = max(e, 0.0) + 3.0
    while g(high) > 0.0:  # g(x) < 0 for x large enough
        high += 3.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if g(mid) > 0.0:
            low = mid
        else:
            high = mid
        if high - low < 1e-15 * max(1.0, high):
            break
    return 0.5 * (low + high)


OPTIMAL_RATIO = optimal_ratio(0.0)
"""x* with 1 - Phi(x*) = x* phi(x*): the optimal half spread in units of sigma (0.7518...)."""


def optimal_half_spread(sigma: float, fee: float = 0.0) -> float:
    """argmax_h P(|move| > h) * (h - fee) for move ~ N(0, sigma)."""
    if not fee:
        return OPTIMAL_RATIO * sigma
    return optimal_ratio(fee / sigma) * sigma


class SpreadOptimizerQuoter:
    __slots__ = ("params",)

    name = "spread_optimizer"

    def __init__(self, params: SpreadOptimizerParams) -> None:
        self.params = params

    def theo(
        self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments, fee: float = 0.0
    ) -> Theo | str:
        """Quotes around the moving average (``fee`` per unit in ticks), or why there are none."""
        p = self.params
        centre = state.ma
        if not math.isfinite(centre):
            return "moving average warming up"
        sigma = p.sigma if p.sigma is not None else state.ma_std
        if not math.isfinite(sigma):
            return "moving-average band warming up"
        sigma = max(sigma, p.sigma_floor)
        if sigma <= 0.0:
            return "no price dispersion around the moving average"
        best = optimal_half_spread(sigma, fee)
        half = fee + (best - fee) * adj.spread_mult
        half = clamp_half_spread(half, p.min_half_spread_ticks, p.max_half_spread_ticks)
        r = centre - p.inventory_skew * sigma * q * adj.gamma_mult
        return Theo(fair=fair, reservation=r, half_spread=half, bid=r - half, ask=r + half)
