"""Avellaneda-Stoikov (2008) quoting: reservation price and optimal spread.

M. Avellaneda, S. Stoikov, "High-frequency trading in a limit order book",
Quantitative Finance 8(3), 2008, eqs. (29)-(30) with the exponential intensity
lambda(delta) = A exp(-k delta):

    r      = s - q * gamma * sigma^2 * (T - t)
    spread = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k)

quotes ``r -/+ spread / 2``.

**Fees.** A fee ``eps`` per unit filled (ticks; ``maker_rate * s``, negative for a rebate)
changes the gain of a bid filled at depth ``delta`` to ``delta - eps``. In the paper's
first-order condition (eqs. 23-24, ``delta = (s - r) + (1/gamma) ln(1 + gamma/k)``) the
distance that matters is then ``delta - eps``; equivalently, substituting
``delta = delta' + eps`` turns the intensity ``A exp(-k delta)`` into
``A exp(-k eps) exp(-k delta')`` -- the fee-free problem with a smaller ``A``, and the
quotes above do not depend on ``A``. So each quote moves out by ``eps``:
``bid = r - spread/2 - eps``, ``ask = r + spread/2 + eps`` (the reservation price is
unchanged). (``eps`` is taken at the fair value: the error ``rate * delta`` is
second order.) ``q`` is measured from the inventory target (quote
units), so a non-zero target simply shifts the point the quoter steers to. The
horizon ``T - t`` is finite (a session end), rolling (a fixed ``T - t`` for 24/7
markets) or cyclic (the time left in the current cycle, e.g. a UTC day). Units: see
:mod:`bot.strategy` (ticks, seconds, q in quote units).
"""

from __future__ import annotations

import math

from bot.market.estimators.state import MarketState
from bot.strategy.inputs import clamp_half_spread, resolve_intensity, resolve_sigma
from bot.strategy.params import AvellanedaStoikovParams
from bot.strategy.types import QuoteAdjustments, Theo

NS_PER_S = 1_000_000_000


def reservation_price(s: float, q: float, gamma: float, sigma: float, tau: float) -> float:
    """r = s - q gamma sigma^2 (T - t)."""
    return s - q * gamma * sigma * sigma * tau


def optimal_spread(gamma: float, sigma: float, tau: float, k: float) -> float:
    """Total bid-ask spread gamma sigma^2 (T - t) + (2/gamma) ln(1 + gamma/k)."""
    return gamma * sigma * sigma * tau + (2.0 / gamma) * math.log1p(gamma / k)


def arrival_spread(gamma: float, k: float) -> float:
    """The (2/gamma) ln(1 + gamma/k) term alone (the spread column of the paper's tables)."""
    return (2.0 / gamma) * math.log1p(gamma / k)


class AvellanedaStoikovQuoter:
    """Frozen parameters plus the pure :meth:`theo`."""

    __slots__ = ("_end_ns", "params")

    name = "avellaneda_stoikov"

    def __init__(self, params: AvellanedaStoikovParams) -> None:
        self.params = params
        end = params.end_time
        self._end_ns = int(end.timestamp() * NS_PER_S) if end is not None else None

    def time_left(self, ts_ns: int) -> float | None:
        """T - t in seconds at event time ``ts_ns``; None once a finite horizon has ended."""
        p = self.params
        if p.horizon == "rolling":
            return p.horizon_s
        if p.horizon == "cycle":
            t = ts_ns / NS_PER_S - p.cycle_offset_s
            return max(p.horizon_s - t % p.horizon_s, p.min_tau_s)
        assert self._end_ns is not None
        if ts_ns >= self._end_ns:
            return None
        return (self._end_ns - ts_ns) / NS_PER_S

    def theo(
        self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments, fee: float = 0.0
    ) -> Theo | str:
        """Model quotes in float ticks (``fee`` per unit in ticks), or the reason there are none."""
        p = self.params
        tau = self.time_left(state.ts_ns)
        if tau is None:
            return "trading horizon ended"
        sigma, why = resolve_sigma(state, p.sigma, p.sigma_horizon_s, p.sigma_floor)
        if why:
            return why
        _, k = resolve_intensity(state, p.intensity_source, 0.0, p.k)
        gamma = p.gamma * adj.gamma_mult
        r = reservation_price(fair, q, gamma, sigma, tau)
        half = 0.5 * optimal_spread(gamma, sigma, tau, k) * adj.spread_mult
        half = clamp_half_spread(half, p.min_half_spread_ticks, p.max_half_spread_ticks) + fee
        return Theo(fair=fair, reservation=r, half_spread=half, bid=r - half, ask=r + half)
