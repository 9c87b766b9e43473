"""Maker/taker fee schedules of the paper exchange.

A fee is ``notional * rate`` in the instrument's quote asset, computed exactly in
``Decimal``. A negative rate is a rebate: the fee is negative and the ledger books it
as money received. Rates come from the instrument spec (venue metadata) unless the
paper config overrides them per instrument key (``venue:SYMBOL``) or per venue.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from bot.core.instrument import InstrumentSpec


class FeeSchedule(msgspec.Struct, frozen=True, kw_only=True):
    """Maker and taker rates as fractions (``Decimal("0.0002")`` = 0.02 %)."""

    maker: Decimal
    taker: Decimal

    def rate(self, maker: bool) -> Decimal:
        return self.maker if maker else self.taker

    def fee(self, notional: Decimal, maker: bool) -> Decimal:
        """Fee for a fill of ``notional`` quote units (negative = rebate)."""
        return notional * (self.maker if maker else self.taker)

    @property
    def worst_rate(self) -> Decimal:
        """The highest rate a fill can pay (used to reserve funds for buy orders)."""
        return max(self.maker, self.taker, Decimal(0))


def schedule_for(spec: InstrumentSpec, overrides: Mapping[str, FeeSchedule] | None = None) -> FeeSchedule:
    """The schedule of ``spec``: override by instrument key, else by venue, else the spec's."""
    if overrides:
        found = overrides.get(spec.key) or overrides.get(spec.venue)
        if found is not None:
            return found
    return FeeSchedule(maker=spec.maker_fee, taker=spec.taker_fee)
