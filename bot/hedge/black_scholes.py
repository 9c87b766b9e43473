"""Black–Scholes(–Merton) prices and greeks of European options on a non-dividend asset.

Owns the option model the hedger and the deal planner use: price, delta, gamma, vega
and theta of calls (and puts, for parity checks and completeness), as plain floats
(models are floats; money is exact elsewhere). Inputs: spot ``s``, strike ``k``, time
to expiry ``t`` in years, volatility ``sigma`` (annualised, 0.8 = 80 %) and the
continuously compounded rate ``r``.

Numerics:
- The normal CDF is ``0.5 * erfc(-x / sqrt(2))``, accurate far into both tails, so deep
  in- and out-of-the-money deltas do not round to exactly 0/1 prematurely.
- ``t <= 0`` (expired) or ``sigma * sqrt(t)`` too small to matter: the option is worth
  its discounted intrinsic value; delta is 1/0 on either side of the discounted strike
  (1/2 exactly at it); gamma, vega and theta are 0 (the ATM gamma of an expiring
  option is a Dirac spike, reported as 0 rather than infinity so a hedger never sees
  an infinite number). Close to expiry but above that cutoff, the closed forms are used
  as they are: ATM gamma grows like ``1/sqrt(t)``, which is the right answer.
- Theta is ``dV/dt`` of calendar time, per year (divide by 365 for per day).

Time is an argument: nothing here reads a clock. ``year_fraction`` converts event
timestamps (ns) into years on an ACT/365 basis, the convention the deal planner uses.
"""

from __future__ import annotations

import math
from typing import NamedTuple

SQRT_2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
NS_PER_YEAR = 365 * 86_400 * 1_000_000_000
"""ACT/365: one year of event time in nanoseconds."""

_MIN_STDDEV = 1e-12
"""Below this ``sigma * sqrt(t)`` the option is treated as at expiry (intrinsic value)."""


class Greeks(NamedTuple):
    """Value and sensitivities of one option (per unit of underlying)."""

    price: float
    delta: float
    gamma: float
    vega: float
    """dV/dsigma per 1.00 of volatility (divide by 100 for per vol point)."""
    theta: float
    """dV/dt per year of calendar time (negative for a long call with r >= 0)."""


def norm_cdf(x: float) -> float:
    """Standard normal CDF, accurate in both tails."""
    return 0.5 * math.erfc(-x / SQRT_2)


def norm_pdf(x: float) -> float:
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


def year_fraction(now_ns: int, expiry_ns: int) -> float:
    """Years from ``now_ns`` to ``expiry_ns`` (ACT/365); negative once expired."""
    return (expiry_ns - now_ns) / NS_PER_YEAR


def _check(s: float, k: float, t: float, sigma: float) -> None:
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"spot must be positive and finite, got {s}")
    if not (k > 0 and math.isfinite(k)):
        raise ValueError(f"strike must be positive and finite, got {k}")
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"volatility must be >= 0 and finite, got {sigma}")
    if math.isnan(t):
        raise ValueError("time to expiry is NaN")


def d1_d2(s: float, k: float, t: float, sigma: float, r: float) -> tuple[float, float]:
    """The Black–Scholes ``d1`` and ``d2`` (requires ``sigma * sqrt(t) > 0``)."""
    stddev = sigma * math.sqrt(t)
    d1 = (math.log(s / k) + (r + 0.5 * sigma * sigma) * t) / stddev
    return d1, d1 - stddev


def _expired(s: float, k: float, t: float, sigma: float) -> bool:
    return t <= 0 or sigma * math.sqrt(t) < _MIN_STDDEV


def call_greeks(s: float, k: float, t: float, sigma: float, r: float = 0.0) -> Greeks:
    """Price and greeks of a European call."""
    _check(s, k, t, sigma)
    if _expired(s, k, t, sigma):
        discounted = k * math.exp(-r * max(t, 0.0))
        if s > discounted:
            return Greeks(s - discounted, 1.0, 0.0, 0.0, 0.0)
        return Greeks(0.0, 0.5 if s == discounted else 0.0, 0.0, 0.0, 0.0)
    d1, d2 = d1_d2(s, k, t, sigma, r)
    sqrt_t = math.sqrt(t)
    discount = math.exp(-r * t)
    n_d1 = norm_cdf(d1)
    n_d2 = norm_cdf(d2)
    pdf = norm_pdf(d1)
    price = max(s * n_d1 - k * discount * n_d2, 0.0)
    gamma = pdf / (s * sigma * sqrt_t)
    vega = s * pdf * sqrt_t
    theta = -s * pdf * sigma / (2.0 * sqrt_t) - r * k * discount * n_d2
    return Greeks(price, n_d1, gamma, vega, theta)


def put_greeks(s: float, k: float, t: float, sigma: float, r: float = 0.0) -> Greeks:
    """Price and greeks of a European put."""
    _check(s, k, t, sigma)
    if _expired(s, k, t, sigma):
        discounted = k * math.exp(-r * max(t, 0.0))
        if s < discounted:
            return Greeks(discounted - s, -1.0, 0.0, 0.0, 0.0)
        return Greeks(0.0, -0.5 if s == discounted else 0.0, 0.0, 0.0, 0.0)
    d1, d2 = d1_d2(s, k, t, sigma, r)
    sqrt_t = math.sqrt(t)
    discount = math.exp(-r * t)
    pdf = norm_pdf(d1)
    price = max(k * discount * norm_cdf(-d2) - s * norm_cdf(-d1), 0.0)
    delta = -norm_cdf(-d1)
    gamma = pdf / (s * sigma * sqrt_t)
    vega = s * pdf * sqrt_t
    theta = -s * pdf * sigma / (2.0 * sqrt_t) + r * k * discount * norm_cdf(-d2)
    return Greeks(price, delta, gamma, vega, theta)


def call_price(s: float, k: float, t: float, sigma: float, r: float = 0.0) -> float:
    return call_greeks(s, k, t, sigma, r).price


def put_price(s: float, k: float, t: float, sigma: float, r: float = 0.0) -> float:
    return put_greeks(s, k, t, sigma, r).price


def call_delta(s: float, k: float, t: float, sigma: float, r: float = 0.0) -> float:
    return call_greeks(s, k, t, sigma, r).delta
