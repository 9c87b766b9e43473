"""Constant-product AMM liquidity position (Uniswap v2 / PancakeSwap v2 style, x * y = K).

Owns the model of one full-range LP position: ``x`` tokens and ``y`` quote units with
``x * y = K`` and pool price ``P = y / x``. Arbitrage keeps the pool price at the market
price, so the holdings are functions of price alone:

    x(P) = sqrt(K / P)          y(P) = sqrt(K * P)
    value V(P) = x P + y = 2 sqrt(K P)
    delta dV/dP = x             gamma d2V/dP2 = -x / (2 P)

Against simply holding the initial ``(x0, y0)``, the LP is worth
``2 sqrt(rho) / (1 + rho)`` times as much, ``rho = P / P0``: the impermanent loss is
``2 sqrt(rho) / (1 + rho) - 1`` (<= 0, zero only at ``rho = 1``). Fees earned are not
modelled here. A position is built from its size in quote currency, split 50/50 at
the initial price (the only split a constant-product pool accepts).

Floats: this is a model. The exact token/quote amounts to deposit are Decimal
arithmetic in the deal planner; this class gives the same numbers at the initial price.
"""

from __future__ import annotations

import math
from decimal import Decimal


def impermanent_loss(rho: float) -> float:
    """LP value relative to holding, minus 1, after the price moved by factor ``rho``."""
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"price ratio must be positive and finite, got {rho}")
    return 2.0 * math.sqrt(rho) / (1.0 + rho) - 1.0


class ConstantProductLP:
    """A full-range constant-product LP position of ``x0`` tokens and ``y0`` quote at ``p0``."""

    __slots__ = ("k", "p0", "x0", "y0")

    def __init__(self, x0: float, y0: float) -> None:
        if not (x0 > 0 and y0 > 0 and math.isfinite(x0) and math.isfinite(y0)):
            raise ValueError(f"LP holdings must be positive, got x={x0}, y={y0}")
        self.x0 = x0
        self.y0 = y0
        self.k = x0 * y0
        self.p0 = y0 / x0

    @classmethod
    def from_quote_size(cls, size_quote: Decimal | float, price: Decimal | float) -> ConstantProductLP:
        """A position worth ``size_quote`` at ``price``, half in tokens, half in quote."""
        size = float(size_quote)
        p = float(price)
        if not (size > 0 and p > 0):
            raise ValueError(f"LP size and price must be positive, got size={size_quote}, price={price}")
        return cls(x0=size / 2.0 / p, y0=size / 2.0)

    def _p(self, price: float) -> float:
        if not (price > 0 and math.isfinite(price)):
            raise ValueError(f"price must be positive and finite, got {price}")
        return price

    def tokens(self, price: float) -> float:
        """Token holdings ``x = sqrt(K / P)``."""
        return math.sqrt(self.k / self._p(price))

    def quote(self, price: float) -> float:
        """Quote holdings ``y = sqrt(K * P)``."""
        return math.sqrt(self.k * self._p(price))

    def holdings(self, price: float) -> tuple[float, float]:
        return self.tokens(price), self.quote(price)

    def value(self, price: float) -> float:
        """Mark-to-market value in quote: ``2 sqrt(K P)``."""
        return 2.0 * math.sqrt(self.k * self._p(price))

    def delta(self, price: float) -> float:
        """dV/dP = x: the LP is long exactly its token holdings."""
        return self.tokens(price)

    def gamma(self, price: float) -> float:
        """d2V/dP2 = -x / (2P): an LP is short gamma."""
        p = self._p(price)
        return -self.tokens(p) / (2.0 * p)

    def hold_value(self, price: float) -> float:
        """Value of the initial holdings had they not been deposited."""
        return self.x0 * self._p(price) + self.y0

    def impermanent_loss(self, price: float) -> float:
        """``value / hold_value - 1`` at ``price``; equals :func:`impermanent_loss` of P/P0."""
        return self.value(price) / self.hold_value(price) - 1.0
