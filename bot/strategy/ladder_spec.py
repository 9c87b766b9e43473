"""The ladder's inputs as frozen msgspec structs: an instrument's order rules in integer units
(:class:`QuoteRules`) and the ladder parameters bound to it (:class:`LadderSpec`).

Kept apart from :mod:`bot.strategy.ladder` so that module (rounding, clamping and sizing the
quotes on the hot path) can be compiled with mypyc, which would drop these structs' class
keywords. Both names are re-exported by :mod:`bot.strategy.ladder`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING

import msgspec

from bot.core.instrument import InstrumentSpec
from bot.strategy.min_size import min_size_at


class QuoteRules(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument's order rules in integer units."""

    step_lots: int
    """Order quantity step (lots)."""
    min_lots: int
    """Minimum order quantity (lots, a multiple of the step, at least one step)."""
    min_notional: int
    """Minimum ``price_ticks * size_lots`` (the venue's min notional in tick-lot units)."""

    @classmethod
    def from_spec(cls, spec: InstrumentSpec) -> QuoteRules:
        step = spec.step_lots
        min_lots = int((spec.min_qty / spec.lot_size).to_integral_value(ROUND_CEILING))
        min_lots = max(step, -(-min_lots // step) * step)
        unit = spec.tick_size * spec.lot_size * spec.contract_size
        min_notional = int((spec.min_notional / unit).to_integral_value(ROUND_CEILING))
        return cls(step_lots=step, min_lots=min_lots, min_notional=min_notional)

    def min_size_at(self, price: int) -> int:
        """Smallest valid order size (lots) at ``price`` ticks (:mod:`bot.strategy.min_size`)."""
        return min_size_at(self, price)


class LadderSpec(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`bot.strategy.params.LadderParams` bound to an instrument (lots)."""

    levels: int = 1
    spacing_ticks: int = 1
    size_lots: int
    size_growth: float = 1.0
    inventory_shaping: float = 0.0
    max_position_lots: int
    target_lots: int = 0
    post_only: bool = True
    bump_to_min: bool = True
