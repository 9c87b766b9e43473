"""The cost inputs a quoter reads, as frozen msgspec structs: the fee rates of the venue
(:class:`FeeRates`) and the recent markouts of our fills (:class:`AdverseSelection`).

Kept apart from :mod:`bot.strategy.costs` so that module (the break-even arithmetic on the
hot path) can be compiled with mypyc, which would drop these structs' class keywords.
"""

from __future__ import annotations

import msgspec

from bot.core.instrument import InstrumentSpec


class FeeRates(msgspec.Struct, frozen=True, kw_only=True):
    """Maker and taker rates as fractions of notional (negative maker = rebate)."""

    maker: float = 0.0
    taker: float = 0.0

    @classmethod
    def from_spec(cls, spec: InstrumentSpec) -> FeeRates:
        return cls(maker=float(spec.maker_fee), taker=float(spec.taker_fee))


class AdverseSelection(msgspec.Struct, frozen=True, kw_only=True):
    """Recent markouts per side of our fills, bps (negative = the market moved against us)."""

    bid_bps: float = 0.0
    """EWMA markout of our buys (bid fills)."""
    ask_bps: float = 0.0
    """EWMA markout of our sells (ask fills)."""


NO_ADVERSE = AdverseSelection()
NO_FEES = FeeRates()
