"""Fixed symmetric spread around fair value: the baseline every model is compared to.

Quotes ``s -/+ half_spread_ticks`` whatever the inventory (the ladder's max position
still applies, and its inventory size shaping if configured). It has no model of fees:
a half spread inside the fee break-even is raised to it (:mod:`bot.strategy.costs`).
"""

from __future__ import annotations

from bot.market.estimators.state import MarketState
from bot.strategy.params import FixedSpreadParams
from bot.strategy.types import QuoteAdjustments, Theo


class FixedSpreadQuoter:
    __slots__ = ("params",)

    name = "fixed_spread"

    def __init__(self, params: FixedSpreadParams) -> None:
        self.params = params

    def theo(
        self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments, fee: float = 0.0
    ) -> Theo | str:
        half = self.params.half_spread_ticks * adj.spread_mult
        return Theo(fair=fair, reservation=fair, half_spread=half, bid=fair - half, ask=fair + half)
