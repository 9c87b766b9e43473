"""Gueant-Lehalle-Fernandez-Tapia (2013) infinite-horizon closed-form quotes.

O. Gueant, C.-A. Lehalle, J. Fernandez-Tapia, "Dealing with the inventory risk: a
solution to the market making problem", Mathematics and Financial Economics 7(4),
2013 -- the asymptotic (T -> infinity) approximations of the optimal quotes, in the
general-xi form used by Gueant (2017) and hftbacktest's GLFT tutorial:

    c1 = (1 / (xi Delta)) ln(1 + xi Delta / k)
    c2 = sqrt( gamma / (2 A Delta k) * (1 + xi Delta / k)^(k / (xi Delta) + 1) )
    bid depth  = c1 + (Delta / 2) sigma c2 + q sigma c2
    ask depth  = c1 + (Delta / 2) sigma c2 - q sigma c2

i.e. quotes centred on r = s - q * skew with half spread c1 + (Delta/2) sigma c2 and
skew = sigma c2 per unit of inventory. Inventory limits (Q): no bid when a fill would
take q above Q, no ask when it would take q below -Q. With q in quote units
(:mod:`bot.strategy`) Delta = 1. Units: ticks, seconds, A per second per side.

**Fees.** With a fee ``eps`` per unit filled (ticks; ``maker_rate * s``, negative for a
rebate) a bid filled at depth ``delta`` gains ``delta - eps``. In the GLFT (2013) HJB
equation for ``theta(t, q)`` (their Section 3, exponential intensity) the bid term is
``sup_delta A exp(-k delta) / xi * (1 - exp(-xi (delta - eps + theta(q+1) - theta(q))))``;
substituting ``delta = delta' + eps`` gives the fee-free term with ``A' = A exp(-k eps)``.
So the optimal depths are ``eps`` plus the fee-free depths computed with ``A'``: in the
closed form above ``c1`` is unchanged and ``c2`` uses ``A'`` (``c2' = c2 exp(k eps / 2)``),
and both quotes move out by ``eps``. ``tests/test_fee_quoters.py`` checks this against a
direct numerical solution of the HJB with the fee inside the Hamiltonian.
"""

from __future__ import annotations

import math

from bot.market.estimators.state import MarketState
from bot.strategy.inputs import clamp_half_spread, resolve_intensity, resolve_sigma
from bot.strategy.params import GlftParams
from bot.strategy.types import QuoteAdjustments, Theo


def glft_coefficients(gamma: float, xi: float, a: float, k: float, delta: float = 1.0) -> tuple[float, float]:
    """``(c1, c2)`` of the GLFT closed form."""
    x = xi * delta
    c1 = math.log1p(x / k) / x
    c2 = math.sqrt(gamma / (2.0 * a * delta * k) * (1.0 + x / k) ** (k / x + 1.0))
    return c1, c2


def glft_half_spread(c1: float, c2: float, sigma: float, delta: float = 1.0) -> float:
    """Half spread around the reservation price: c1 + (Delta/2) sigma c2."""
    return c1 + 0.5 * delta * sigma * c2


def glft_skew(c2: float, sigma: float) -> float:
    """Shift of both quotes per unit of inventory: sigma c2."""
    return sigma * c2


class GlftQuoter:
    """Frozen parameters plus the pure :meth:`theo`."""

    __slots__ = ("params",)

    name = "glft"

    def __init__(self, params: GlftParams) -> None:
        self.params = params

    def theo(
        self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments, fee: float = 0.0
    ) -> Theo | str:
        """Model quotes in float ticks (``fee`` per unit in ticks), or the reason there are none."""
        p = self.params
        sigma, why = resolve_sigma(state, p.sigma, p.sigma_horizon_s, p.sigma_floor)
        if why:
            return why
        a, k = resolve_intensity(state, p.intensity_source, p.a, p.k)
        if fee:
            a *= math.exp(-k * fee)
        gamma = p.gamma * adj.gamma_mult
        xi = (p.xi if p.xi is not None else p.gamma) * adj.gamma_mult
        c1, c2 = glft_coefficients(gamma, xi, a, k)
        skew = glft_skew(c2, sigma)
        half = glft_half_spread(c1, c2, sigma) * adj.spread_mult
        half = clamp_half_spread(half, p.min_half_spread_ticks, p.max_half_spread_ticks) + fee
        r = fair - skew * q
        allow_bid = q + 1.0 <= p.inventory_limit
        allow_ask = q - 1.0 >= -p.inventory_limit
        note = "" if allow_bid and allow_ask else f"inventory limit |q| <= {p.inventory_limit:g}"
        return Theo(
            fair=fair,
            reservation=r,
            half_spread=half,
            bid=r - half,
            ask=r + half,
            allow_bid=allow_bid,
            allow_ask=allow_ask,
            note=note,
        )
