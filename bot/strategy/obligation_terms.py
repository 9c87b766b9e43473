"""An obligation bound to an instrument, in exact integer arithmetic.

:class:`ObligationTerms` holds the measured terms of :class:`ObligationParams` in the
instrument's units: the spread limit and the band as exact fractions, the required
depths in *tick-lots* (``price_ticks * size_lots``; one tick-lot is ``tick_size *
lot_size * contract_size`` of quote currency, rounded up so a depth that counts as
met really is). The quoting layer and the compliance meter share these helpers, so
"within the band" and "spread met" mean the same thing to both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from bot.core.instrument import InstrumentSpec
from bot.strategy.obligation_params import ObligationParams


def _ratio(percent: Decimal) -> tuple[int, int]:
    num, den = (percent / 100).as_integer_ratio()
    return num, den


def _tick_lots(amount: Decimal, unit: Decimal) -> int:
    return int((amount / unit).to_integral_value(ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class ObligationTerms:
    """One instrument's obligation in ticks, lots and exact fractions."""

    instrument: str
    unit: Decimal
    """Quote currency per tick-lot."""
    spread_num: int
    spread_den: int
    band_num: int
    band_den: int
    bid_depth_tl: int
    ask_depth_tl: int
    min_spread_tl: int
    min_uptime: float
    params: ObligationParams

    # ---- spread ----------------------------------------------------------------------

    def spread_ok(self, bid: int, ask: int) -> bool:
        """(ask - bid) / ask <= max spread, exactly."""
        return (ask - bid) * self.spread_den <= self.spread_num * ask

    @staticmethod
    def spread_pct(bid: int, ask: int) -> float:
        """(ask - bid) / ask in percent (reporting)."""
        return (ask - bid) / ask * 100.0

    def scaled_spread(self, share: Decimal) -> tuple[int, int]:
        """The spread limit times ``share`` (e.g. spread_use_pct / 100) as a fraction."""
        num, den = share.as_integer_ratio()
        return self.spread_num * num, self.spread_den * den

    # ---- band ------------------------------------------------------------------------

    def band_lo(self, two_mid: int) -> int:
        """Lowest bid price (ticks) inside the band around mid = two_mid / 2."""
        num = two_mid * (self.band_den - self.band_num)
        den = 2 * self.band_den
        return -(-num // den)

    def band_hi(self, two_mid: int) -> int:
        """Highest ask price (ticks) inside the band around mid = two_mid / 2."""
        return two_mid * (self.band_den + self.band_num) // (2 * self.band_den)

    def offset_price(self, two_mid: int, share: tuple[int, int], side: int) -> int:
        """The price ``share`` (num, den) of the band away from mid: below for bids (side > 0,
        rounded down), above for asks (rounded up)."""
        big_n = self.band_num * share[0]
        big_d = self.band_den * share[1]
        if side > 0:
            return two_mid * (big_d - big_n) // (2 * big_d)
        return -((-two_mid * (big_d + big_n)) // (2 * big_d))

    def required_tl(self, side: int) -> int:
        return self.bid_depth_tl if side > 0 else self.ask_depth_tl

    def quote(self, tick_lots: int) -> Decimal:
        """Tick-lots -> quote currency."""
        return tick_lots * self.unit


def bind_terms(params: ObligationParams, spec: InstrumentSpec) -> ObligationTerms:
    """``params`` in ``spec``'s units."""
    unit = spec.tick_size * spec.lot_size * spec.contract_size
    spread_num, spread_den = _ratio(params.max_spread_pct)
    band_num, band_den = _ratio(params.band_pct)
    return ObligationTerms(
        instrument=spec.key,
        unit=unit,
        spread_num=spread_num,
        spread_den=spread_den,
        band_num=band_num,
        band_den=band_den,
        bid_depth_tl=_tick_lots(params.bid_depth, unit),
        ask_depth_tl=_tick_lots(params.ask_depth, unit),
        min_spread_tl=_tick_lots(params.min_spread_notional, unit),
        min_uptime=float(params.min_uptime_pct) / 100.0,
        params=params,
    )
