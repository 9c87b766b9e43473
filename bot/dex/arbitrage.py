"""The optimal arbitrage between a constant-product pool and an outside (CEX) price.

Owns the closed form. With reserves ``x`` (tokens) and ``y`` (quote), fee factor
``g = (10000 - fee_bps) / 10000`` and an outside price ``P`` (quote per token):

- buying tokens from the pool with quote ``a`` and selling them outside earns
  ``P * g*a*x/(y + g*a) - a``, maximal at ``a* = (sqrt(P*g*x*y) - y) / g`` -- positive only
  when the pool price ``y/x`` is below ``g*P``;
- selling ``b`` tokens into the pool (bought outside) earns ``g*b*y/(x + g*b) - P*b``,
  maximal at ``b* = (sqrt(g*x*y/P) - x) / g`` -- positive only when ``y/x > P/g``.

So the pool is left alone while ``g <= (y/x)/P <= 1/g``: an arbitrageur moves it only when
the prices differ by more than about the fee, and then exactly to the band's edge. The
arbitrageur's own costs (the CEX fee and spread, gas) are ``cost_bps`` on the outside
price: it buys outside at ``P*(1 + c)`` and sells at ``P*(1 - c)``. Sizes are integers in
the pool's units (floor of the closed form, computed with :func:`math.isqrt` on exact
integers); the profit is evaluated with the router's exact ``getAmountOut``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from bot.dex.pair import UNIT, get_amount_out


@dataclass(frozen=True, slots=True)
class Arbitrage:
    """One profitable arbitrage swap on the pool."""

    zero_for_one: bool
    """True: sell tokens into the pool (its price is too high); False: buy tokens from it."""
    amount_in: int
    amount_out: int
    profit: Decimal
    """Quote units (whole quote, not smallest units) at the outside price after costs."""


def _ratio(value: Decimal | Fraction) -> tuple[int, int]:
    fraction = Fraction(value)
    return fraction.numerator, fraction.denominator


def optimal_input(
    reserve0: int, reserve1: int, price: Decimal, *, fee_bps: int = 25, cost_bps: Decimal = Decimal(0)
) -> tuple[bool, int]:
    """(zero_for_one, amount in) of the closed-form optimum; amount 0 = no profitable trade."""
    if reserve0 <= 0 or reserve1 <= 0 or price <= 0:
        return False, 0
    g_num, g_den = 10000 - fee_bps, 10000
    cost = Fraction(cost_bps) / 10000
    buy_num, buy_den = _ratio(Fraction(price) * (1 - cost))  # we sell tokens outside at this
    sell_num, sell_den = _ratio(Fraction(price) * (1 + cost))  # we buy tokens outside at this
    x, y = reserve0, reserve1
    # buy tokens from the pool: a* = (sqrt(P g x y) - y) / g, P = buy_num / buy_den
    root = math.isqrt(buy_num * g_num * x * y * buy_den * g_den)  # sqrt(P g x y) * buy_den * g_den
    a = (root - y * buy_den * g_den) * g_den // (g_num * buy_den * g_den)
    if a > 0:
        return False, a
    # sell tokens into the pool: b* = (sqrt(g x y / P) - x) / g, P = sell_num / sell_den
    root = math.isqrt(g_num * x * y * sell_den * sell_num * g_den)  # sqrt(g x y / P) * sell_num * g_den
    b = (root - x * sell_num * g_den) * g_den // (g_num * sell_num * g_den)
    if b > 0:
        return True, b
    return False, 0


def profit(
    zero_for_one: bool,
    amount_in: int,
    reserve0: int,
    reserve1: int,
    price: Decimal,
    *,
    fee_bps: int = 25,
    cost_bps: Decimal = Decimal(0),
) -> Decimal:
    """Quote earned (whole units) by this swap against the outside price, after costs."""
    cost = Decimal(cost_bps) / 10000
    if zero_for_one:
        out = get_amount_out(amount_in, reserve0, reserve1, fee_bps)
        return (Decimal(out) - Decimal(amount_in) * price * (1 + cost)) / UNIT
    out = get_amount_out(amount_in, reserve1, reserve0, fee_bps)
    return (Decimal(out) * price * (1 - cost) - Decimal(amount_in)) / UNIT


def find_arbitrage(
    reserve0: int,
    reserve1: int,
    price: Decimal,
    *,
    fee_bps: int = 25,
    cost_bps: Decimal = Decimal(0),
    min_profit: Decimal = Decimal(0),
) -> Arbitrage | None:
    """The optimal arbitrage at ``price``, or ``None`` when it would earn ``<= min_profit``."""
    zero_for_one, amount = optimal_input(reserve0, reserve1, price, fee_bps=fee_bps, cost_bps=cost_bps)
    if amount <= 0:
        return None
    earned = profit(zero_for_one, amount, reserve0, reserve1, price, fee_bps=fee_bps, cost_bps=cost_bps)
    if earned <= min_profit:
        return None
    r_in, r_out = (reserve0, reserve1) if zero_for_one else (reserve1, reserve0)
    return Arbitrage(zero_for_one, amount, get_amount_out(amount, r_in, r_out, fee_bps), earned)
