"""Instrument specifications and exact price/size conversion.

Inside the core every price is an integer number of ticks and every size an integer
number of lots. This module owns the only conversions between those integers and the
decimal strings / ``Decimal`` values exchanges and users speak.

Terms:
- ``tick_size``: the price increment. ``price = ticks * tick_size``.
- ``lot_size``: the finest size resolution the venue publishes (book levels, trades).
  ``size = lots * lot_size``. For Binance spot this is ``10**-base_precision`` (1e-8),
  finer than the order step, because resting book levels can carry legacy sizes.
- ``qty_step``: the increment an *order* quantity must be a multiple of (Binance
  ``LOT_SIZE.stepSize``); always a multiple of ``lot_size``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import msgspec


class InstrumentKind(StrEnum):
    SPOT = "spot"
    PERP = "perp"


class ConversionError(ValueError):
    """A decimal string is not an exact multiple of the instrument's increment."""


class DecimalScaler:
    """Exact conversion of decimal strings to integer multiples of an increment.

    ``DecimalScaler(Decimal("0.01")).to_int("61737.63000000") == 6173763``. Never
    rounds: a value that is not an exact multiple raises :class:`ConversionError`.
    Written with string slicing instead of ``Decimal`` because it runs per level on
    every market-data message.
    """

    __slots__ = ("_digits", "_increment", "_unit")

    def __init__(self, increment: Decimal) -> None:
        if increment <= 0:
            raise ValueError(f"increment must be positive, got {increment}")
        exponent = increment.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        self._digits = max(0, -exponent)
        self._unit = int(increment.scaleb(self._digits))
        self._increment = increment

    @property
    def increment(self) -> Decimal:
        return self._increment

    def to_int(self, text: str) -> int:
        """Parse ``text`` (e.g. ``"0.00120000"``) into an integer count of increments."""
        digits = self._digits
        whole, dot, frac = text.partition(".")
        if dot:
            if len(frac) > digits:
                extra = frac[digits:]
                if extra.strip("0"):
                    raise ConversionError(f"{text!r} has more precision than {self._increment}")
                frac = frac[:digits]
            scaled = int(whole + frac + "0" * (digits - len(frac))) if (whole or frac) else 0
        else:
            scaled = int(whole) * 10**digits
        unit = self._unit
        if unit == 1:
            return scaled
        count, remainder = divmod(scaled, unit)
        if remainder:
            raise ConversionError(f"{text!r} is not a multiple of {self._increment}")
        return count

    def to_decimal(self, count: int) -> Decimal:
        return self._increment * count

    def to_str(self, count: int) -> str:
        return format(self._increment * count, "f")

    def from_decimal(self, value: Decimal) -> int:
        """Exact ``Decimal`` -> count; raises if not a multiple."""
        count, remainder = divmod(value, self._increment)
        if remainder:
            raise ConversionError(f"{value} is not a multiple of {self._increment}")
        return int(count)


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Trading rules of one instrument on one venue, as exact decimals."""

    venue: str
    symbol: str
    kind: InstrumentKind
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    qty_step: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    contract_size: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "qty_step"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.venue}:{self.symbol}: {name} must be positive")
        if self.qty_step % self.lot_size:
            raise ValueError(f"{self.venue}:{self.symbol}: qty_step must be a multiple of lot_size")

    @property
    def key(self) -> str:
        """Unique instrument id used in events: ``venue:SYMBOL``."""
        return f"{self.venue}:{self.symbol}"

    @property
    def prices(self) -> DecimalScaler:
        return _scaler(self.tick_size)

    @property
    def sizes(self) -> DecimalScaler:
        return _scaler(self.lot_size)

    @property
    def step_lots(self) -> int:
        """Order quantity step in lots."""
        return int(self.qty_step / self.lot_size)

    @property
    def min_qty_lots(self) -> int:
        """Minimum order quantity in lots, rounded up."""
        lots, remainder = divmod(self.min_qty, self.lot_size)
        return int(lots) + (1 if remainder else 0)

    def price(self, ticks: int) -> Decimal:
        return self.tick_size * ticks

    def size(self, lots: int) -> Decimal:
        return self.lot_size * lots

    def notional(self, ticks: int, lots: int) -> Decimal:
        return self.tick_size * ticks * self.lot_size * lots * self.contract_size


_SCALERS: dict[Decimal, DecimalScaler] = {}


def _scaler(increment: Decimal) -> DecimalScaler:
    scaler = _SCALERS.get(increment)
    if scaler is None:
        scaler = _SCALERS[increment] = DecimalScaler(increment)
    return scaler
